// The sqlite:// backend's start-up rules, checked with the real binary: one
// server per database (a second process is refused and leaves the file
// alone), corrupt or unknown files refused, and the ?synchronous= setting.
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "device/v1alpha1/gpu.grpc.pb.h"
#include "harness.h"
#include "testutil/sqlite_files.h"

namespace deviceapi::itest {
namespace {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;
using ::deviceapi::testing::FileState;
using ::deviceapi::testing::Snap;
using ::testing::HasSubstr;

grpc::Status CreateGpu(const std::string& target, const std::string& name) {
  auto stub = v1::GpuService::NewStub(MakeChannel(target));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::CreateGpuRequest req;
  req.mutable_gpu()->mutable_metadata()->set_name(name);
  req.mutable_gpu()->mutable_spec()->set_uuid("GPU-" + name);
  v1::Gpu out;
  return stub->CreateGpu(&ctx, req, &out);
}

grpc::Status GetGpu(const std::string& target, const std::string& name) {
  auto stub = v1::GpuService::NewStub(MakeChannel(target));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::GetGpuRequest req;
  req.set_name(name);
  v1::GetGpuResponse out;
  return stub->GetGpu(&ctx, req, &out);
}

// Runs a server that must fail to start; returns its log.
std::string ExpectStartRefused(const TempDir& dir, const std::string& endpoint, const std::string& sock) {
  ServerProcess::Config cfg;
  cfg.socket_path = dir.File(sock);
  cfg.extra_args = {"--datastore-endpoint=" + endpoint};
  auto s = ServerProcess::Spawn(dir, cfg, 0, 0);
  if (!s) return "";
  const ExitInfo e = s->process().WaitFor(kStartDeadline);
  EXPECT_TRUE(e.exited) << "the server did not exit\n" << s->Log();
  EXPECT_EQ(e.term_signal, 0) << e.ToString();
  EXPECT_NE(e.exit_code, 0) << e.ToString() << "\n" << s->Log();
  return s->Log();
}

TEST(SqliteServer, SecondServerOnTheSameDatabaseIsRefused) {
  TempDir dir;
  const std::string db = dir.File("data/state.db");
  ServerProcess::Config cfg;
  cfg.extra_args = {"--datastore-endpoint=sqlite://" + db};
  auto first = ServerProcess::Start(dir, cfg);
  ASSERT_TRUE(first);
  ASSERT_TRUE(CreateGpu(first->target(), "gpu-1").ok());
  const FileState main_before = Snap(db), wal_before = Snap(db + "-wal");
  ASSERT_TRUE(main_before.exists);

  const std::string log = ExpectStartRefused(dir, "sqlite://" + db, "second.sock");
  EXPECT_THAT(log, HasSubstr("\"" + db + "\" is in use by another process"));
  EXPECT_THAT(log, HasSubstr("pid " + std::to_string(first->process().pid())));
  EXPECT_EQ(Snap(db), main_before) << "the refused server modified the database";
  EXPECT_EQ(Snap(db + "-wal"), wal_before) << "the refused server modified the WAL";

  // The first server is unaffected.
  EXPECT_TRUE(GetGpu(first->target(), "gpu-1").ok());
  EXPECT_TRUE(CreateGpu(first->target(), "gpu-2").ok());

  // Once it is gone (even by SIGKILL: the kernel drops the lock), the database opens again.
  first->process().Signal(SIGKILL);
  ASSERT_TRUE(first->process().WaitFor(kExitDeadline).exited);
  auto second = ServerProcess::Start(dir, cfg);
  ASSERT_TRUE(second);
  EXPECT_TRUE(GetGpu(second->target(), "gpu-1").ok());
  EXPECT_TRUE(GetGpu(second->target(), "gpu-2").ok());
}

TEST(SqliteServer, CorruptDatabaseIsRefusedUntouched) {
  TempDir dir;
  const std::string db = dir.File("state.db");
  {
    std::ofstream f(db, std::ios::binary);
    f << "SQLite format 3";
    f << std::string(1, '\0');
    for (int i = 0; i < 4096; ++i) f << static_cast<char>(i * 31 + 7);
  }
  const FileState before = Snap(db);
  const std::string log = ExpectStartRefused(dir, "sqlite://" + db, "c.sock");
  EXPECT_THAT(log, HasSubstr("\"" + db + "\""));
  EXPECT_THAT(log, HasSubstr("left as it is"));
  EXPECT_EQ(Snap(db), before);
}

TEST(SqliteServer, SynchronousSetting) {
  TempDir dir;
  const std::string db = dir.File("state.db");
  const std::string log = ExpectStartRefused(dir, "sqlite://" + db + "?synchronous=off", "s.sock");
  EXPECT_THAT(log, HasSubstr("synchronous=\"off\" is not supported"));
  EXPECT_FALSE(Snap(db).exists);

  ServerProcess::Config cfg;
  cfg.extra_args = {"--datastore-endpoint=sqlite://" + db + "?synchronous=normal"};
  auto s = ServerProcess::Start(dir, cfg);
  ASSERT_TRUE(s);
  EXPECT_TRUE(CreateGpu(s->target(), "gpu-1").ok());
  EXPECT_TRUE(Snap(db).exists);
}

}  // namespace
}  // namespace deviceapi::itest
