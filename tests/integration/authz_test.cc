// Writer authorization against the real device-api-server binary: the server decides writes by the
// connecting process's uid/gid (SO_PEERCRED), so each scenario runs authz_client, which drops from
// root to another uid before it connects. Reads stay open to every uid that can open the socket;
// writes need --writer-uids/--writer-gids, and a provider's condition types (--provider-uids,
// --provider-conditions) are that provider's and the operators' (--operator-uids) only.
// Needs root (CI runs as root); skipped otherwise.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "device/v1alpha1/gpu.grpc.pb.h"
#include "harness.h"

namespace deviceapi::itest {
namespace {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;
using ::testing::HasSubstr;

constexpr int kOk = 0;
constexpr int kDenied = 7;  // PERMISSION_DENIED

// One operation's outcome as authz_client printed it.
struct OpResult {
  std::string op;
  int code = -1;
  std::string message;
};

class AuthzTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: runs clients as other uids (setuid)";
    // Other uids must reach the socket: the directory and the socket are opened up explicitly.
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
  }

  // Starts the server with the socket (and a read-only socket) open to everyone plus `args`.
  void StartServer(std::vector<std::string> args) {
    ServerProcess::Config config;
    config.extra_args = {"--socket-mode=0666", "--read-only-bind-address=unix://" + dir_.File("ro.sock")};
    config.extra_args.insert(config.extra_args.end(), args.begin(), args.end());
    server_ = ServerProcess::Start(dir_, config);
    ASSERT_NE(server_, nullptr);
  }

  // Runs `ops` as `as` ("UID:GID[:G1.G2]"; empty: root) against `target` (default: the API socket).
  std::vector<OpResult> RunAs(const std::string& as, const std::vector<std::string>& ops,
                              std::string target = "") {
    std::vector<std::string> argv = {AUTHZ_CLIENT_BIN, "--target",
                                     target.empty() ? server_->target() : target};
    if (!as.empty()) {
      argv.push_back("--as");
      argv.push_back(as);
    }
    argv.insert(argv.end(), ops.begin(), ops.end());
    const CommandResult r = RunCommand(dir_, argv, "", absl::Seconds(60));
    EXPECT_TRUE(r.exit.exited && r.exit.exit_code == 0) << r.Describe();
    std::vector<OpResult> out;
    for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
      std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(' ', 2));
      OpResult o;
      o.op = f[0];
      if (f.size() > 1) {
        EXPECT_TRUE(absl::SimpleAtoi(f[1], &o.code)) << line;
      }
      if (f.size() > 2) o.message = f[2];
      out.push_back(std::move(o));
    }
    EXPECT_EQ(out.size(), ops.size()) << r.Describe();
    return out;
  }

  // One operation as `as`.
  OpResult One(const std::string& as, const std::string& op, std::string target = "") {
    std::vector<OpResult> r = RunAs(as, {op}, std::move(target));
    return r.empty() ? OpResult{op, -1, "no result"} : r[0];
  }

  // The value of device_api_server_writes_denied_total for `uid` and `reason` (0 when absent).
  double Denied(const std::string& uid, const std::string& reason) {
    const HttpResponse m = HttpGet(server_->metrics_port(), "/metrics");
    EXPECT_EQ(m.status, 200) << m.error;
    for (absl::string_view line : absl::StrSplit(m.body, '\n')) {
      if (!absl::StartsWith(line, "device_api_server_writes_denied_total{")) continue;
      if (!absl::StrContains(line, absl::StrCat("uid=\"", uid, "\"")) ||
          !absl::StrContains(line, absl::StrCat("reason=\"", reason, "\"")))
        continue;
      double v = 0;
      EXPECT_TRUE(absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &v)) << line;
      return v;
    }
    return 0;
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
};

std::string Describe(const OpResult& r) { return absl::StrCat(r.op, " -> ", r.code, " ", r.message); }

// Default flags: another uid reads (List, Get, Watch) but every write is PERMISSION_DENIED, naming
// its uid and the flags; the denials are counted by uid; root still writes.
TEST_F(AuthzTest, OtherUidReadsButCannotWrite) {
  StartServer({});
  ASSERT_EQ(One("", "create:gpu-a").code, kOk);
  const std::vector<std::string> reads = {"list", "get:gpu-a", "watch"};
  for (const OpResult& r : RunAs("12345:12345", reads)) EXPECT_EQ(r.code, kOk) << Describe(r);
  const std::vector<std::string> writes = {"create:gpu-b", "update:gpu-a", "set:gpu-a:XReady:True",
                                           "patch:gpu-a:XReady:True", "delete:gpu-a"};
  for (const OpResult& r : RunAs("12345:12345", writes)) {
    EXPECT_EQ(r.code, kDenied) << Describe(r);
    EXPECT_THAT(r.message, HasSubstr("writes are not allowed for uid 12345 (gid 12345, pid "));
    EXPECT_THAT(r.message, HasSubstr("not in --writer-uids [0] or --writer-gids []"));
  }
  EXPECT_EQ(Denied("12345", "not_writer"), 5);
  EXPECT_EQ(One("", "set:gpu-a:XReady:True").code, kOk);
  EXPECT_EQ(One("", "get:gpu-a").code, kOk);
  EXPECT_EQ(Denied("0", "not_writer"), 0);
}

// --writer-gids: a peer whose primary or supplementary group is listed writes; others do not.
TEST_F(AuthzTest, WriterGidMayWrite) {
  StartServer({"--writer-gids=4242"});
  EXPECT_EQ(One("12345:4242", "create:gpu-g1").code, kOk);
  EXPECT_EQ(One("12345:100:7.4242", "create:gpu-g2").code, kOk);
  const OpResult denied = One("12345:100:7", "create:gpu-g3");
  EXPECT_EQ(denied.code, kDenied) << Describe(denied);
  EXPECT_THAT(denied.message, HasSubstr("--writer-gids [4242]"));
}

// --writer-uids replaces the default: the listed uid writes, root (no longer listed) does not.
TEST_F(AuthzTest, WriterUidsFlag) {
  StartServer({"--writer-uids=12345"});
  EXPECT_EQ(One("12345:12345", "create:gpu-u").code, kOk);
  const OpResult root = One("", "delete:gpu-u");
  EXPECT_EQ(root.code, kDenied) << Describe(root);
  EXPECT_THAT(root.message, HasSubstr("writes are not allowed for uid 0"));
  EXPECT_EQ(One("", "get:gpu-u").code, kOk);
}

// The read-only socket answers reads and refuses every write, root's too, with its own message.
TEST_F(AuthzTest, ReadOnlySocketStillReadOnly) {
  StartServer({});
  ASSERT_EQ(One("", "create:gpu-r").code, kOk);
  const std::string ro = "unix://" + dir_.File("ro.sock");
  for (const OpResult& r : RunAs("12345:12345", {"list", "get:gpu-r", "watch"}, ro)) {
    EXPECT_EQ(r.code, kOk) << Describe(r);
  }
  for (const std::string& as : {std::string("12345:12345"), std::string()}) {
    const OpResult w = One(as, "delete:gpu-r", ro);
    EXPECT_EQ(w.code, kDenied) << Describe(w);
    EXPECT_THAT(w.message, HasSubstr("it serves the API read-only"));
  }
  EXPECT_EQ(Denied("12345", "read_only"), 1);
  EXPECT_EQ(Denied("0", "read_only"), 1);
}

// Per-provider ownership: provider b (23456) may not set, clear or delete-with provider a's
// condition, writes its own and unclaimed ones; a writes its own; the operator (root) clears a's.
TEST_F(AuthzTest, ProviderOwnsItsConditions) {
  StartServer({"--writer-uids=0,12345,23456", "--provider-uids=a=12345,b=23456",
               "--provider-conditions=a=AReady,b=BReady", "--operator-uids=0"});
  const std::string a = "12345:12345", b = "23456:23456";
  ASSERT_EQ(One("", "create:gpu-o").code, kOk);
  EXPECT_EQ(One(a, "set:gpu-o:AReady:True").code, kOk);

  OpResult r = One(b, "set:gpu-o:AReady:False");
  EXPECT_EQ(r.code, kDenied) << Describe(r);
  EXPECT_THAT(
      r.message,
      HasSubstr("condition AReady is owned by provider a (uids [12345]); uid 23456 may not change it"));
  EXPECT_EQ(One(b, "set:gpu-o:BReady:True").code, kOk) << "its own, a's left as it was";
  EXPECT_EQ(One(b, "set:gpu-o:Custom:True").code, kOk) << "unclaimed";
  r = One(b, "patch:gpu-o:BReady:False");  // replaces the list: drops AReady
  EXPECT_EQ(r.code, kDenied) << Describe(r);
  EXPECT_THAT(r.message, HasSubstr("uid 23456 may not remove it"));
  r = One(b, "clear:gpu-o:AReady");
  EXPECT_EQ(r.code, kDenied) << Describe(r);
  r = One(a, "clear:gpu-o:BReady");
  EXPECT_EQ(r.code, kDenied) << Describe(r);
  EXPECT_THAT(r.message, HasSubstr("condition BReady is owned by provider b (uids [23456])"));
  r = One(b, "delete:gpu-o");
  EXPECT_EQ(r.code, kDenied) << Describe(r);
  EXPECT_THAT(r.message, HasSubstr("may not delete a GPU that carries it"));
  EXPECT_EQ(Denied("23456", "not_owner"), 4);
  EXPECT_EQ(Denied("12345", "not_owner"), 1);

  EXPECT_EQ(One("", "clear:gpu-o:AReady").code, kOk) << "the operator clears a's condition";
  EXPECT_EQ(One(b, "delete:gpu-o").code, kOk) << "only b's own and unclaimed conditions left";
  EXPECT_EQ(One("", "get:gpu-o").code, 5) << "NOT_FOUND: deleted";
}

// Inconsistent provider flags stop the binary at start-up with a one-line error naming the flag.
TEST(AuthzFlagsTest, InconsistentProvidersAreRejected) {
  TempDir dir;
  const CommandResult r = RunCommand(
      dir, {DEVICE_API_SERVER_BIN, "--bind-address=unix://" + dir.File("api.sock"), "--provider-uids=a=1"},
      "", absl::Seconds(20));
  ASSERT_TRUE(r.exit.exited) << "server started despite bad configuration";
  EXPECT_EQ(r.exit.exit_code, 1) << r.Describe();
  EXPECT_THAT(r.err, HasSubstr("--provider-uids names provider \"a\" but --provider-conditions does not"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace
}  // namespace deviceapi::itest
