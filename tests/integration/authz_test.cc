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
#include <nlohmann/json.hpp>

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
// --audit-log: every write attempt, allowed or refused, on either socket, is one JSON line with the
// caller's uid/gid/pid, the verb, the object, the resulting resourceVersion and the code; reads are
// not audited. The records are counted in device_api_server_audit_records_total.
TEST_F(AuthzTest, AuditLogHoldsEveryWriteAttempt) {
  const std::string log = dir_.File("audit/audit.log");
  ASSERT_EQ(::mkdir(dir_.File("audit").c_str(), 0750), 0);
  StartServer({"--audit-log=" + log});
  ASSERT_EQ(One("", "create:gpu-a").code, kOk);
  ASSERT_EQ(One("", "list").code, kOk);
  ASSERT_EQ(One("12345:12345", "set:gpu-a:XReady:True").code, kDenied);
  ASSERT_EQ(One("", "set:gpu-a:XReady:True").code, kOk);
  ASSERT_EQ(One("12345:12345", "delete:gpu-a", "unix://" + dir_.File("ro.sock")).code, kDenied);
  ASSERT_EQ(One("", "delete:gpu-a").code, kOk);

  std::vector<nlohmann::json> lines;
  for (absl::string_view line : absl::StrSplit(ReadFile(log), '\n', absl::SkipEmpty())) {
    lines.push_back(nlohmann::json::parse(line));
  }
  ASSERT_EQ(lines.size(), 5u) << ReadFile(log);  // four writes and the refused delete; no read
  struct Want {
    int64_t uid;
    const char* socket;
    const char* verb;
    const char* code;
    bool has_rv;
  };
  const Want want[] = {{0, "api", "create", "OK", true},
                       {12345, "api", "update_status", "PermissionDenied", false},
                       {0, "api", "update_status", "OK", true},
                       {12345, "read-only", "delete", "PermissionDenied", false},
                       {0, "api", "delete", "OK", true}};
  for (size_t i = 0; i < lines.size(); ++i) {
    const nlohmann::json& j = lines[i];
    SCOPED_TRACE(j.dump());
    EXPECT_EQ(j.at("uid").get<int64_t>(), want[i].uid);
    EXPECT_EQ(j.at("gid").get<int64_t>(), want[i].uid);
    EXPECT_GT(j.at("pid").get<int64_t>(), 0);
    EXPECT_EQ(j.at("socket"), want[i].socket);
    EXPECT_EQ(j.at("verb"), want[i].verb);
    EXPECT_EQ(j.at("namespace"), "default");
    EXPECT_EQ(j.at("name"), "gpu-a");
    EXPECT_EQ(j.at("code"), want[i].code);
    EXPECT_EQ(!j.at("resourceVersion").get<std::string>().empty(), want[i].has_rv);
    EXPECT_EQ(j.at("message").get<std::string>().empty(), std::string(want[i].code) == "OK");
  }
  struct stat st {};
  ASSERT_EQ(::stat(log.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const HttpResponse m = HttpGet(server_->metrics_port(), "/metrics");
  EXPECT_THAT(m.body, HasSubstr("device_api_server_audit_records_total{result=\"written\"} 5"));
}

// An audit log the server must not write through (a symlink) stops start-up with the reason.
TEST_F(AuthzTest, AuditLogThroughASymlinkIsRefused) {
  ASSERT_EQ(::symlink(dir_.File("elsewhere").c_str(), dir_.File("audit.log").c_str()), 0);
  ServerProcess::Config config;
  config.extra_args = {"--audit-log=" + dir_.File("audit.log")};
  auto server = ServerProcess::Spawn(dir_, config, PickFreePort(), PickFreePort());
  ASSERT_NE(server, nullptr);
  const ExitInfo e = server->process().WaitFor(kExitDeadline);
  EXPECT_TRUE(e.exited && e.exit_code != 0) << e.ToString();
  EXPECT_THAT(server->Log(), HasSubstr("--audit-log=" + dir_.File("audit.log")));
  EXPECT_THAT(server->Log(), HasSubstr("symlink"));
}

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
