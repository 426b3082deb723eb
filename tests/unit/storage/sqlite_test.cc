// The sqlite:// backend: ServingStore over a SqlitePersister. Durability across
// reopen, write failures that leave no trace, and clear start-up errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "storage/serving/serving_store.h"
#include "storage/sqlite/sqlite_persister.h"
#include "testutil/sqlite_files.h"
#include "testutil/test_server.h"

namespace deviceapi::storage {
namespace {

using ::deviceapi::testing::WriteLock;

using ::testing::HasSubstr;

using ::deviceapi::testing::TempDir;

v1::Gpu MakeGpu(const std::string& name, const std::string& ns = "default") {
  v1::Gpu g;
  g.mutable_metadata()->set_name(name);
  g.mutable_metadata()->set_namespace_(ns);
  g.mutable_metadata()->set_uid("uid-" + name);
  g.mutable_spec()->set_uuid("GPU-" + name);
  return g;
}

uint64_t Rv(const StoredPtr& o) { return std::stoull(o->metadata().resource_version()); }

StorePtr MustOpen(const std::string& path, const SqliteOptions& opts = {}) {
  auto s = OpenSqliteStore(path, StoreConfig{}, opts);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : nullptr;
}

std::vector<std::string> Dump(Store& store) {
  auto l = store.List(ListOptions{});
  EXPECT_TRUE(l.ok()) << l.status();
  std::vector<std::string> out;
  if (l.ok()) {
    for (const auto& o : l->items) out.push_back(o->Object()->DebugString());
  }
  return out;
}

UpdateFn SetLabel(const std::string& k, const std::string& v) {
  return [k, v](const v1::Gpu& cur) -> absl::StatusOr<std::shared_ptr<v1::Gpu>> {
    auto next = CopyObject(cur);
    (*next->mutable_metadata()->mutable_labels())[k] = v;
    return next;
  };
}

// Objects, their RVs and the store RV survive a reopen; new RVs are above
// every earlier one.
TEST(SqliteStore, ObjectsAndRvSurviveReopen) {
  TempDir dir;
  const std::string path = dir.path() + "/nested/dir/state.db";  // the directory is created
  std::vector<std::string> before;
  uint64_t last = 0;
  {
    StorePtr s = MustOpen(path);
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->Create(MakeGpu("a")).ok());
    ASSERT_TRUE(s->Create(MakeGpu("b")).ok());
    ASSERT_TRUE(s->Create(MakeGpu("c", "other")).ok());
    ASSERT_TRUE(s->Update({"default", "b"}, SetLabel("pool", "x")).ok());
    ASSERT_TRUE(s->Delete({"default", "a"}, {}).ok());
    before = Dump(*s);
    last = s->CurrentResourceVersion();
    s->Shutdown();
  }
  ASSERT_EQ(before.size(), 2u);
  StorePtr s = MustOpen(path);
  ASSERT_TRUE(s);
  EXPECT_EQ(Dump(*s), before);
  EXPECT_GE(s->CurrentResourceVersion(), last);
  auto b = s->Get({"default", "b"}, "");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)->metadata().labels().at("pool"), "x");
  EXPECT_TRUE(absl::IsNotFound(s->Get({"default", "a"}, "").status()));
  auto n = s->Create(MakeGpu("d"));
  ASSERT_TRUE(n.ok());
  EXPECT_GT(Rv(*n), last);
  // The RV of an object from before the reopen is not "ahead".
  EXPECT_TRUE(s->Get({"default", "b"}, (*b)->metadata().resource_version()).ok());
}

// Reopening without writes never moves the RV backwards.
TEST(SqliteStore, RvNeverGoesBackAcrossEmptyRestarts) {
  TempDir dir;
  const std::string path = dir.path() + "/state.db";
  uint64_t prev = 0;
  for (int i = 0; i < 3; ++i) {
    StorePtr s = MustOpen(path);
    ASSERT_TRUE(s);
    EXPECT_GE(s->CurrentResourceVersion(), prev);
    prev = s->CurrentResourceVersion();
  }
}

// A write that cannot be persisted fails UNAVAILABLE and leaves no trace: no
// RV consumed, no history (so no event), memory and disk unchanged.
TEST(SqliteStore, PersistFailureChangesNothing) {
  TempDir dir;
  const std::string path = dir.path() + "/state.db";
  StorePtr s = MustOpen(path, SqliteOptions{.busy_timeout = absl::Milliseconds(20)});
  ASSERT_TRUE(s);
  auto a = s->Create(MakeGpu("a"));
  ASSERT_TRUE(a.ok());
  const uint64_t rv = s->CurrentResourceVersion();
  const StoreStats stats = s->Stats();
  const auto before = Dump(*s);
  {
    WriteLock lock(path);
    auto c = s->Create(MakeGpu("b"));
    EXPECT_TRUE(absl::IsUnavailable(c.status())) << c.status();
    EXPECT_THAT(std::string(c.status().message()), HasSubstr("not persisted"));
    auto u = s->Update({"default", "a"}, SetLabel("pool", "y"));
    EXPECT_TRUE(absl::IsUnavailable(u.status())) << u.status();
    auto d = s->Delete({"default", "a"}, {});
    EXPECT_TRUE(absl::IsUnavailable(d.status())) << d.status();
    EXPECT_EQ(s->CurrentResourceVersion(), rv);
    EXPECT_EQ(s->Stats().history_events, stats.history_events);
    EXPECT_EQ(Dump(*s), before);
    EXPECT_TRUE(absl::IsNotFound(s->Get({"default", "b"}, "").status()));
  }
  // Once the lock is gone writes work again, and the next RV is the next one.
  auto b = s->Create(MakeGpu("b"));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(Rv(*b), rv + 1);
  const auto after = Dump(*s);
  s->Shutdown();
  s.reset();
  StorePtr again = MustOpen(path);
  ASSERT_TRUE(again);
  EXPECT_EQ(Dump(*again), after);
}

// A persister that fails on demand: the serving layer's contract, without SQLite.
class FlakyPersister : public Persister {
 public:
  explicit FlakyPersister(bool* fail) : fail_(fail) {}
  absl::StatusOr<PersistedState> Load() override { return PersistedState{}; }
  absl::Status Commit(const Event&) override {
    return *fail_ ? absl::InternalError("disk on fire") : absl::OkStatus();
  }
  absl::Status RecordRv(uint64_t) override { return absl::OkStatus(); }

 private:
  bool* fail_;
};

TEST(PersisterContract, FailedCommitIsUnavailableAndInvisible) {
  bool fail = false;
  auto store = ServingStore::CreateWithPersister(StoreConfig{}, std::make_unique<FlakyPersister>(&fail));
  ASSERT_TRUE(store.ok());
  ServingStore& s = **store;
  ASSERT_TRUE(s.Create(MakeGpu("a")).ok());
  const uint64_t rv = s.CurrentResourceVersion();
  fail = true;
  auto c = s.Create(MakeGpu("b"));
  EXPECT_TRUE(absl::IsUnavailable(c.status())) << c.status();
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("disk on fire"));
  EXPECT_EQ(s.CurrentResourceVersion(), rv);
  EXPECT_EQ(s.Stats().history_events, 1u);
  EXPECT_EQ(s.Stats().objects, 1u);
  fail = false;
  auto b = s.Create(MakeGpu("b"));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(Rv(*b), rv + 1);
}

// A file that is not a SQLite database fails start-up with a clear message.
TEST(SqliteStore, NonDatabaseFileFailsStartup) {
  TempDir dir;
  const std::string path = dir.path() + "/state.db";
  {
    std::ofstream f(path);
    for (int i = 0; i < 200; ++i) f << "this is not a database, just some text\n";
  }
  auto s = OpenStore("sqlite://" + path, StoreConfig{});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr(path));
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("not a database"));
}

// A database whose pages are damaged fails start-up (integrity check or open).
TEST(SqliteStore, CorruptDatabaseFailsStartup) {
  TempDir dir;
  const std::string path = dir.path() + "/state.db";
  {
    StorePtr s = MustOpen(path);
    ASSERT_TRUE(s);
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(s->Create(MakeGpu("gpu-" + std::to_string(i))).ok());
    s->Shutdown();
  }
  // Fold the WAL into the main file, then scribble over everything after the header page.
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE", nullptr, nullptr,
                 nullptr);
    sqlite3_close(db);
  }
  const auto size = std::filesystem::file_size(path);
  ASSERT_GT(size, 4096u);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    std::string junk(size - 100, '\xA5');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto s = OpenStore("sqlite://" + path, StoreConfig{});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr(path));
}

TEST(SqliteStore, BadPaths) {
  TempDir dir;
  auto rel = OpenStore("sqlite://relative/state.db", StoreConfig{});
  EXPECT_TRUE(absl::IsInvalidArgument(rel.status())) << rel.status();
  EXPECT_THAT(std::string(rel.status().message()), HasSubstr("absolute"));
  EXPECT_FALSE(OpenStore("sqlite://", StoreConfig{}).ok());
  // The parent "directory" is a regular file.
  { std::ofstream(dir.path() + "/file") << "x"; }
  auto under_file = OpenStore("sqlite://" + dir.path() + "/file/state.db", StoreConfig{});
  ASSERT_FALSE(under_file.ok());
  EXPECT_THAT(std::string(under_file.status().message()), HasSubstr("cannot create directory"));
  // The path is a directory.
  auto is_dir = OpenStore("sqlite://" + dir.path(), StoreConfig{});
  ASSERT_FALSE(is_dir.ok());
  EXPECT_THAT(std::string(is_dir.status().message()), HasSubstr("is a directory"));
}

}  // namespace
}  // namespace deviceapi::storage
