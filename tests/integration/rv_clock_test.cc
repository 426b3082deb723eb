// Resource versions never go back across a restart, even when the wall clock does: the real
// server binary, its clock stepped back a day with libfaketime (Debian's faketime package) between
// two runs on the same socket directory.
//
// memory:// keeps a high-water mark file beside the socket (storage/rv_mark.h); sqlite:// keeps
// its last RV in the database. The control run with --rv-mark-file=none shows the test can fail:
// there the RVs do go back, which is what a Go informer never recovers from.
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "device/v1alpha1/gpu.grpc.pb.h"
#include "harness.h"

namespace deviceapi::itest {
namespace {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;
using ::testing::HasSubstr;

constexpr char kFaketimeLib[] = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

bool HaveFaketime() { return std::ifstream(kFaketimeLib).good(); }

// The environment that steps the server's wall clock by `offset` (libfaketime syntax, "-1d").
// The monotonic clock is left alone: gRPC's timers run on it.
std::map<std::string, std::string> ClockEnv(const std::string& offset) {
  std::map<std::string, std::string> env = PreloadEnv(kFaketimeLib);
  env["FAKETIME"] = offset;
  env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1";
  env["FAKETIME_NO_CACHE"] = "1";
  return env;
}

uint64_t ToRv(const std::string& s) {
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') ADD_FAILURE() << "not a resource version: \"" << s << "\"";
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

// Every RV a client saw from one server run.
struct SeenRvs {
  std::vector<uint64_t> rvs;
  uint64_t Max() const { return rvs.empty() ? 0 : *std::max_element(rvs.begin(), rvs.end()); }
  uint64_t Min() const { return rvs.empty() ? 0 : *std::min_element(rvs.begin(), rvs.end()); }
};

// A few writes and lists against `target`; each RV handed out is recorded.
void Exercise(const std::string& target, const std::string& prefix, SeenRvs* seen) {
  auto stub = v1::GpuService::NewStub(MakeChannel(target));
  auto list = [&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::ListGpusRequest req;
    v1::ListGpusResponse out;
    const grpc::Status s = stub->ListGpus(&ctx, req, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
    seen->rvs.push_back(ToRv(out.gpu_list().metadata().resource_version()));
  };
  list();  // the RV of the (possibly empty) list comes first: a client may hold it alone
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::CreateGpuRequest req;
    req.mutable_gpu()->mutable_metadata()->set_name(prefix + std::to_string(i));
    req.mutable_gpu()->mutable_spec()->set_uuid("GPU-" + prefix + std::to_string(i));
    v1::Gpu out;
    const grpc::Status s = stub->CreateGpu(&ctx, req, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
    seen->rvs.push_back(ToRv(out.metadata().resource_version()));
  }
  list();
}

// Runs the server twice on `dir` with `args`: first with the real clock, ended with `stop`, then
// with the clock a day back. Returns the RVs of both runs.
std::pair<SeenRvs, SeenRvs> RunAcrossClockStep(const TempDir& dir, const std::vector<std::string>& args,
                                               int stop) {
  SeenRvs before, after;
  {
    ServerProcess::Config cfg;
    cfg.extra_args = args;
    auto s = ServerProcess::Start(dir, cfg);
    if (!s) return {};
    Exercise(s->target(), "a", &before);
    s->process().Signal(stop);
    const ExitInfo e = s->process().WaitFor(kExitDeadline);
    EXPECT_TRUE(e.exited) << e.ToString();
  }
  {
    ServerProcess::Config cfg;
    cfg.extra_args = args;
    cfg.env = ClockEnv("-1d");
    auto s = ServerProcess::Start(dir, cfg);
    if (!s) return {};
    Exercise(s->target(), "b", &after);
  }
  return {before, after};
}

TEST(RvClock, MemoryRvsGrowAcrossARestartWithTheClockSteppedBack) {
  if (!HaveFaketime()) GTEST_SKIP() << kFaketimeLib << " missing (Debian package faketime)";
  for (const int stop : {SIGTERM, SIGKILL}) {
    SCOPED_TRACE(stop == SIGTERM ? "graceful stop" : "kill -9");
    TempDir dir;
    const auto [before, after] = RunAcrossClockStep(dir, {"--datastore-endpoint=memory://"}, stop);
    ASSERT_EQ(before.rvs.size(), 5u);
    ASSERT_EQ(after.rvs.size(), 5u);
    EXPECT_GT(after.Min(), before.Max()) << "an RV after the restart is not above every RV before it";
    // The mark file sits beside the socket (<dir>/api.sock -> <dir>/api.rv) and covers every RV.
    const std::string mark = ReadFile(dir.File("api.rv"));
    ASSERT_FALSE(mark.empty());
    EXPECT_GE(std::stoull(mark), after.Max());
  }
}

TEST(RvClock, ControlWithoutTheMarkFileTheRvsGoBack) {
  if (!HaveFaketime()) GTEST_SKIP() << kFaketimeLib << " missing (Debian package faketime)";
  TempDir dir;
  const auto [before, after] =
      RunAcrossClockStep(dir, {"--datastore-endpoint=memory://", "--rv-mark-file=none"}, SIGTERM);
  ASSERT_EQ(after.rvs.size(), 5u);
  // A day of microseconds back: this is the failure the mark file prevents (and proof that the
  // clock step reaches the server).
  EXPECT_LT(after.Max(), before.Min());
  EXPECT_FALSE(std::ifstream(dir.File("api.rv")).good()) << "--rv-mark-file=none wrote a mark file";
}

TEST(RvClock, SqliteRvsGrowAcrossARestartWithTheClockSteppedBack) {
  if (!HaveFaketime()) GTEST_SKIP() << kFaketimeLib << " missing (Debian package faketime)";
  TempDir dir;
  const auto [before, after] =
      RunAcrossClockStep(dir, {"--datastore-endpoint=sqlite://" + dir.File("state.db")}, SIGKILL);
  ASSERT_EQ(after.rvs.size(), 5u);
  // The state survives, so the first list may name the very RV the last one did (same state, same
  // RV); every write after the restart is above every RV before it.
  EXPECT_GE(after.rvs[0], before.Max());
  EXPECT_GT(after.rvs[1], before.Max());
  EXPECT_FALSE(std::ifstream(dir.File("api.rv")).good()) << "sqlite:// needs no mark file";
}

TEST(RvClock, ACorruptMarkFileIsRefusedAndKept) {
  TempDir dir;
  { std::ofstream(dir.File("api.rv")) << "12x4\n"; }
  ServerProcess::Config cfg;
  cfg.extra_args = {"--datastore-endpoint=memory://"};
  auto s = ServerProcess::Spawn(dir, cfg, 0, 0);
  ASSERT_TRUE(s);
  const ExitInfo e = s->process().WaitFor(kStartDeadline);
  ASSERT_TRUE(e.exited) << "the server started with a corrupt mark file";
  EXPECT_NE(e.exit_code, 0) << e.ToString();
  EXPECT_THAT(s->Log(), HasSubstr(dir.File("api.rv") + " does not hold one decimal resource version"));
  EXPECT_EQ(ReadFile(dir.File("api.rv")), "12x4\n") << "the corrupt mark file was changed";
}

TEST(RvClock, AnExplicitMarkFileIsUsedAndOnlyForMemory) {
  TempDir dir;
  const std::string mark = dir.File("state/rv-mark");
  ASSERT_EQ(::mkdir(dir.File("state").c_str(), 0700), 0);
  {
    ServerProcess::Config cfg;
    cfg.extra_args = {"--datastore-endpoint=memory://", "--rv-mark-file=" + mark};
    auto s = ServerProcess::Start(dir, cfg);
    ASSERT_TRUE(s);
    SeenRvs seen;
    Exercise(s->target(), "x", &seen);
    EXPECT_GE(std::stoull(ReadFile(mark)), seen.Max());
    EXPECT_FALSE(std::ifstream(dir.File("api.rv")).good());
  }
  ServerProcess::Config cfg;
  cfg.extra_args = {"--datastore-endpoint=sqlite://" + dir.File("state.db"), "--rv-mark-file=" + mark};
  auto s = ServerProcess::Spawn(dir, cfg, 0, 0);
  ASSERT_TRUE(s);
  const ExitInfo e = s->process().WaitFor(kStartDeadline);
  ASSERT_TRUE(e.exited);
  EXPECT_NE(e.exit_code, 0) << e.ToString() << "\n" << s->Log();
  EXPECT_THAT(s->Log(), HasSubstr("--rv-mark-file \"" + mark + "\": only memory:// uses it"));
}

}  // namespace
}  // namespace deviceapi::itest
