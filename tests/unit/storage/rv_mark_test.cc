// The resource-version high-water mark file (storage/rv_mark.h) and a memory store that keeps
// its RVs under it: the file always covers every RV handed out, a write whose mark cannot be
// recorded fails with UNAVAILABLE and consumes nothing, and OpenStore starts above the mark.
#include "storage/rv_mark.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "storage/open_store.h"
#include "storage/serving/serving_store.h"

namespace deviceapi::storage {
namespace {

using ::testing::HasSubstr;

class RvMarkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rvmark.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string File(const std::string& name) const { return dir_ + "/" + name; }
  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::string dir_;
};

v1::Gpu MakeGpu(const std::string& name) {
  v1::Gpu g;
  g.mutable_metadata()->set_name(name);
  g.mutable_metadata()->set_namespace_("default");
  g.mutable_spec()->set_uuid("GPU-" + name);
  return g;
}

uint64_t Rv(const StoredPtr& o) { return std::stoull(o->metadata().resource_version()); }

TEST_F(RvMarkTest, MissingFileIsZeroAndReserveRecordsDurably) {
  auto mark = RvMark::Open(File("a.rv"));
  ASSERT_TRUE(mark.ok()) << mark.status();
  EXPECT_EQ((*mark)->mark(), 0u);
  ASSERT_TRUE((*mark)->Reserve(1234).ok());
  EXPECT_EQ(Read(File("a.rv")), "1234\n");
  struct stat st {};
  ASSERT_EQ(::stat(File("a.rv").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // Never down.
  ASSERT_TRUE((*mark)->Reserve(1000).ok());
  EXPECT_EQ(Read(File("a.rv")), "1234\n");
  auto again = RvMark::Open(File("a.rv"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->mark(), 1234u);
  EXPECT_EQ((*again)->StartAfter(10), 1234u);
  EXPECT_EQ((*again)->StartAfter(5000), 5000u);
}

TEST_F(RvMarkTest, CorruptContentIsRefusedAndKept) {
  for (const std::string content : {"", "abc\n", "12 34\n", "-5\n", "99999999999999999999999\n"}) {
    SCOPED_TRACE(content);
    std::ofstream(File("bad.rv"), std::ios::trunc) << content;
    auto mark = RvMark::Open(File("bad.rv"));
    ASSERT_FALSE(mark.ok());
    EXPECT_EQ(mark.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(mark.status().message()), HasSubstr(File("bad.rv")));
    EXPECT_EQ(Read(File("bad.rv")), content);
  }
}

TEST_F(RvMarkTest, LinksAndNonFilesAreRefused) {
  ASSERT_EQ(::symlink(File("elsewhere").c_str(), File("link.rv").c_str()), 0);
  EXPECT_FALSE(RvMark::Open(File("link.rv")).ok());
  EXPECT_FALSE(std::filesystem::exists(File("elsewhere")));
  ASSERT_EQ(::mkdir(File("dir.rv").c_str(), 0700), 0);
  EXPECT_FALSE(RvMark::Open(File("dir.rv")).ok());
  EXPECT_FALSE(RvMark::Open(File("no/such/dir/x.rv")).ok());
}

TEST_F(RvMarkTest, DefaultPathSitsBesideTheSocket) {
  EXPECT_EQ(DefaultRvMarkPath("/var/run/nvidia-device-api/device-api.sock"),
            "/var/run/nvidia-device-api/device-api.rv");
  EXPECT_EQ(DefaultRvMarkPath("/tmp/x/api"), "/tmp/x/api.rv");
  EXPECT_EQ(DefaultRvMarkPath("/tmp/x/.sock"), "/tmp/x/.sock.rv");
}

TEST_F(RvMarkTest, StoreNeverHandsOutAnRvAboveTheFile) {
  auto mark = RvMark::Open(File("s.rv"), /*window=*/3);
  ASSERT_TRUE(mark.ok());
  ASSERT_TRUE((*mark)->Reserve(100 + 3).ok());
  auto store = ServingStore::Create(StoreConfig{}, 100, *std::move(mark));
  for (int i = 0; i < 20; ++i) {
    auto created = store->Create(MakeGpu("g" + std::to_string(i)));
    ASSERT_TRUE(created.ok()) << created.status();
    EXPECT_EQ(Rv(*created), 101u + static_cast<uint64_t>(i));
    EXPECT_GE(std::stoull(Read(File("s.rv"))), Rv(*created));
  }
}

TEST_F(RvMarkTest, AWriteWhoseMarkCannotBeRecordedFailsAndConsumesNothing) {
  const std::string sub = File("run");
  ASSERT_EQ(::mkdir(sub.c_str(), 0700), 0);
  auto mark = RvMark::Open(sub + "/api.rv", /*window=*/2);
  ASSERT_TRUE(mark.ok());
  ASSERT_TRUE((*mark)->Reserve(10 + 2).ok());
  auto store = ServingStore::Create(StoreConfig{}, 10, *std::move(mark));
  ASSERT_TRUE(store->Create(MakeGpu("a")).ok());  // RV 11
  ASSERT_TRUE(store->Create(MakeGpu("b")).ok());  // RV 12: the mark's last
  // The run directory disappears (the next mark cannot be written).
  std::filesystem::rename(sub, File("gone"));
  auto failed = store->Create(MakeGpu("c"));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(failed.status().message()), HasSubstr("resource version mark"));
  EXPECT_EQ(store->CurrentResourceVersion(), 12u);
  EXPECT_EQ(store->Get(ObjectKey{"default", "c"}, "").status().code(), absl::StatusCode::kNotFound);
  // Back again: the write succeeds with the very next RV.
  std::filesystem::rename(File("gone"), sub);
  auto ok = store->Create(MakeGpu("c"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(Rv(*ok), 13u);
  EXPECT_GE(std::stoull(Read(sub + "/api.rv")), 13u);
}

TEST_F(RvMarkTest, OpenStoreStartsAboveTheMarkAndReservesBeforeServing) {
  // A mark far ahead of the wall clock: an earlier run with a clock in the future.
  const uint64_t ahead = ServingStore::WallClockStartRv() + 86'400'000'000ull;
  std::ofstream(File("m.rv")) << ahead << "\n";
  StoreConfig config;
  config.rv_mark_file = File("m.rv");
  auto store = OpenStore("memory://", config);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->CurrentResourceVersion(), ahead);
  EXPECT_GT(std::stoull(Read(File("m.rv"))), ahead);
  auto created = (*store)->Create(MakeGpu("a"));
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(Rv(*created), ahead + 1);
  // Without a mark file the store starts from the wall clock, below it.
  auto plain = OpenStore("memory://", StoreConfig{});
  ASSERT_TRUE(plain.ok());
  EXPECT_LT((*plain)->CurrentResourceVersion(), ahead);
}

}  // namespace
}  // namespace deviceapi::storage
