// The real npd-gpu-monitor binary in both modes, against the real device-api-server (in-process
// TestServer) and the real nvml-provider on the fake NVML. In serve mode a test gRPC client plays
// Node Problem Detector (GetMetadata, then CheckHealth every 100 ms, keepalive pings); in check
// mode the binary is run the way NPD's custom plugin monitor runs it. Waits poll with deadlines.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <google/protobuf/empty.pb.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "deviceapi/deviceapi.h"
#include "fake_nvml_env.h"
#include "integration/harness.h"
#include "npd/external/v1/external_monitor.grpc.pb.h"
#include "testutil/test_server.h"

namespace deviceapi::npdtest {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
namespace ext = ::npd::external::v1;
namespace v1 = ::nvidia::nvsentinel::v1alpha1;

constexpr absl::Duration kDeadline = absl::Seconds(30);

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const ext::Condition* Find(const ext::Status& s, const std::string& type) {
  for (const auto& c : s.conditions()) {
    if (c.type() == type) return &c;
  }
  return nullptr;
}

// Plays NPD: one channel with NPD's keepalive (here much more frequent than NPD's 30 s, to prove
// the monitor accepts pings without calls in flight), GetMetadata, CheckHealth on a counter.
class FakeNpd {
 public:
  explicit FakeNpd(const std::string& socket) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 200);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 1000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    channel_ = grpc::CreateCustomChannel("unix://" + socket, grpc::InsecureChannelCredentials(), args);
    stub_ = ext::ExternalMonitor::NewStub(channel_);
  }
  grpc::Status Metadata(ext::MonitorMetadata* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ctx.set_wait_for_ready(true);
    return stub_->GetMetadata(&ctx, google::protobuf::Empty(), out);
  }
  std::optional<ext::Status> Check(std::map<std::string, std::string> params = {}) {
    ext::HealthCheckRequest req;
    req.set_sequence(++sequence_);
    for (auto& [k, v] : params) (*req.mutable_parameters())[k] = v;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ext::Status out;
    if (!stub_->CheckHealth(&ctx, req, &out).ok()) return std::nullopt;
    for (const auto& e : out.events()) events_.push_back(e);
    return out;
  }
  grpc::Status Stop() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    google::protobuf::Empty out;
    return stub_->Stop(&ctx, google::protobuf::Empty(), &out);
  }
  // Checks every 100 ms until `pred` holds for an answer.
  std::optional<ext::Status> CheckUntil(const std::function<bool(const ext::Status&)>& pred,
                                        absl::Duration deadline = kDeadline) {
    const absl::Time end = absl::Now() + deadline;
    while (absl::Now() < end) {
      std::optional<ext::Status> s = Check();
      if (s && pred(*s)) return s;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return std::nullopt;
  }
  const std::vector<ext::Event>& events() const { return events_; }
  grpc_connectivity_state state() { return channel_->GetState(false); }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ext::ExternalMonitor::Stub> stub_;
  int64_t sequence_ = 0;
  std::vector<ext::Event> events_;
};

class MonitorTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto* p : {&monitor_, &provider_}) {
      if (*p != nullptr) {
        (*p)->Signal(SIGTERM);
        (*p)->WaitFor(absl::Seconds(10));
      }
    }
    if (HasFailure()) {
      std::cerr << "---- monitor log ----\n" << itest::ReadFile(monitor_log_) << "----\n";
    }
  }

  void StartServer() {
    server_ = testing::TestServer::Start("memory://");
    Config c = Config::Default();
    c.target = server_->target();
    c.timeout = absl::Seconds(10);
    auto cs = Clientset::NewForConfig(c);
    ASSERT_TRUE(cs.ok()) << cs.status();
    clientset_ = std::move(*cs);
    gpus_ = clientset_->DeviceV1alpha1().Gpus();
  }

  void StartProvider(int n) {
    nvml_ = std::make_unique<nvmltest::FakeNvmlEnv>(nvmltest::DefaultDevices(n));
    provider_ = itest::ChildProcess::Spawn(
        {{NVML_PROVIDER_BIN, "--server-address", server_->target(), "--driver-root", nvml_->root(),
          "--health-check=false", "--sysfs-root", nvml_->root() + "/sys", "--reconcile-interval", "1h"},
         {{"FAKE_NVML_CONFIG", nvml_->config_path()}},
         "",
         dir_.File("provider.log"),
         ""});
    ASSERT_NE(provider_, nullptr);
    ASSERT_TRUE(itest::PollUntil(
        [&] {
          auto l = gpus_->List();
          return l.ok() && l->items_size() == n;
        },
        kDeadline));
  }

  void StartMonitor(std::vector<std::string> extra = {}) {
    socket_ = dir_.File("npd/npd-gpu-monitor.sock");
    metrics_port_ = itest::PickFreePort();
    std::vector<std::string> argv = {NPD_GPU_MONITOR_BIN,
                                     "serve",
                                     "--server-address",
                                     server_->target(),
                                     "--socket",
                                     socket_,
                                     "--metrics-bind-address",
                                     "127.0.0.1:" + std::to_string(metrics_port_),
                                     "--api-unavailable-grace",
                                     "1s",
                                     "-v",
                                     "2"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    monitor_log_ = dir_.File("monitor-" + std::to_string(++starts_) + ".log");
    monitor_ = itest::ChildProcess::Spawn({argv, {}, "", monitor_log_, ""});
    ASSERT_NE(monitor_, nullptr);
    ASSERT_TRUE(itest::PollUntil([&] { return std::filesystem::exists(socket_); }, kDeadline));
  }

  // Runs check mode; returns {exit code, stdout}.
  std::pair<int, std::string> RunCheck(std::vector<std::string> args, const std::string& target = "") {
    std::vector<std::string> argv = {NPD_GPU_MONITOR_BIN, "check", "--server-address",
                                     target.empty() ? server_->target() : target};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string out = dir_.File("check.out");
    auto p = itest::ChildProcess::Spawn({argv, {}, "", out, dir_.File("check.err")});
    if (p == nullptr) return {-1, ""};
    itest::ExitInfo e = p->WaitFor(absl::Seconds(20));
    std::string text = itest::ReadFile(out);
    if (!text.empty() && text.back() == '\n') text.pop_back();
    return {e.exited ? e.exit_code : -1, text};
  }

  void SetReady(int i) {
    const std::string name = Lower(nvml_->devices()[i]["uuid"]);
    ASSERT_TRUE(RetryOnConflict(kDefaultRetry, [&]() -> absl::Status {
                  auto g = gpus_->Get(name);
                  if (!g.ok()) return g.status();
                  SetCondition(g->mutable_status(), MakeCondition("NVMLReady", kConditionTrue,
                                                                  "OperatorCleared", "test", absl::Now()));
                  return gpus_->UpdateStatus(*g).status();
                }).ok());
  }

  std::string Uuid(int i) const { return nvml_->devices()[i]["uuid"]; }
  std::string Short(int i) const { return Lower(Uuid(i)).substr(0, 12); }

  itest::TempDir dir_;
  std::unique_ptr<testing::TestServer> server_;
  std::unique_ptr<Clientset> clientset_;
  GpuInterfacePtr gpus_;
  std::unique_ptr<nvmltest::FakeNvmlEnv> nvml_;
  std::unique_ptr<itest::ChildProcess> provider_;
  std::unique_ptr<itest::ChildProcess> monitor_;
  std::string monitor_log_;
  std::string socket_;
  int metrics_port_ = 0;
  int starts_ = 0;
};

bool Is(const ext::Status& s, const std::string& type, ext::ConditionStatus status) {
  const ext::Condition* c = Find(s, type);
  return c != nullptr && c->status() == status;
}

// GPUUnhealthy False, then True naming the GPU after XID 79 with one GPUXID79 event, then False
// again after recovery; the transition changes only with the status.
TEST_F(MonitorTest, XidMakesGpuUnhealthyOnceAndRecovers) {
  StartServer();
  StartProvider(2);
  StartMonitor({"--expected-gpus", "2"});
  FakeNpd npd(socket_);
  ext::MonitorMetadata md;
  ASSERT_TRUE(npd.Metadata(&md).ok());
  EXPECT_EQ(md.name(), "npd-gpu-monitor");
  EXPECT_EQ(md.api_version(), "v1");
  EXPECT_THAT(std::vector<std::string>(md.supported_conditions().begin(), md.supported_conditions().end()),
              ::testing::ElementsAre("GPUUnhealthy", "GPUHealthUnknown", "GPUCountMismatch"));

  auto healthy =
      npd.CheckUntil([](const ext::Status& s) { return Is(s, "GPUUnhealthy", ext::CONDITION_STATUS_FALSE); });
  ASSERT_TRUE(healthy.has_value());
  EXPECT_EQ(healthy->source(), "npd-gpu-monitor");
  ASSERT_EQ(healthy->conditions_size(), 3);
  EXPECT_EQ(Find(*healthy, "GPUUnhealthy")->reason(), "GPUsHealthy");
  EXPECT_EQ(Find(*healthy, "GPUCountMismatch")->reason(), "GPUCountMatches");
  EXPECT_EQ(Find(*healthy, "GPUHealthUnknown")->status(), ext::CONDITION_STATUS_FALSE);
  const int64_t healthy_since = Find(*healthy, "GPUUnhealthy")->transition().seconds();
  EXPECT_GT(healthy_since, 0);

  nvml_->Inject(Uuid(1), "79");
  auto sick =
      npd.CheckUntil([](const ext::Status& s) { return Is(s, "GPUUnhealthy", ext::CONDITION_STATUS_TRUE); });
  ASSERT_TRUE(sick.has_value());
  const ext::Condition* c = Find(*sick, "GPUUnhealthy");
  EXPECT_EQ(c->reason(), "GPUUnhealthy");
  EXPECT_EQ(c->message(), "1/2 GPUs unhealthy: " + Short(1) + " (XID79)");
  // A second of checks more: the event came exactly once, the condition stayed put.
  for (int i = 0; i < 10; ++i) {
    auto again = npd.Check();
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(Find(*again, "GPUUnhealthy")->message(), c->message());
    EXPECT_EQ(Find(*again, "GPUUnhealthy")->transition().seconds(), c->transition().seconds());
    absl::SleepFor(absl::Milliseconds(100));
  }
  int xid_events = 0;
  for (const auto& e : npd.events()) {
    if (e.reason() == "GPUXID79") {
      ++xid_events;
      EXPECT_EQ(e.severity(), ext::SEVERITY_WARN);
      EXPECT_THAT(e.message(), StartsWith("XID79 on " + Short(1)));
      EXPECT_GT(e.timestamp().seconds(), 0);
    }
  }
  EXPECT_EQ(xid_events, 1);

  SetReady(1);
  ASSERT_TRUE(npd.CheckUntil(
      [](const ext::Status& s) { return Is(s, "GPUUnhealthy", ext::CONDITION_STATUS_FALSE); }));
  const std::string m = itest::HttpGet(metrics_port_, "/metrics").body;
  EXPECT_THAT(m, HasSubstr("npd_gpu_monitor_xid_events_total{xid=\"79\"} 1"));
  EXPECT_THAT(m, HasSubstr("npd_gpu_monitor_condition{status=\"False\",type=\"GPUUnhealthy\"} 1"));
}

// A GPU deleted from the API: GPUCountMismatch; the expected count also comes from NPD's parameters.
TEST_F(MonitorTest, CountMismatchWhenAGpuIsDeleted) {
  StartServer();
  StartProvider(2);
  StartMonitor({"--expected-gpus", "2"});
  FakeNpd npd(socket_);
  ASSERT_TRUE(npd.CheckUntil(
      [](const ext::Status& s) { return Is(s, "GPUCountMismatch", ext::CONDITION_STATUS_FALSE); }));
  auto p = npd.Check({{"expected_gpus", "3"}});
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(Find(*p, "GPUCountMismatch")->message(), "2/3 GPUs present");
  // The provider would register the GPU again: stop it first (its GPUs stay).
  provider_->Signal(SIGTERM);
  ASSERT_TRUE(provider_->WaitFor(absl::Seconds(10)).exited);
  provider_.reset();
  ASSERT_TRUE(gpus_->Delete(Lower(Uuid(0))).ok());
  auto s = npd.CheckUntil(
      [](const ext::Status& s) { return Is(s, "GPUCountMismatch", ext::CONDITION_STATUS_TRUE); });
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(Find(*s, "GPUCountMismatch")->reason(), "GPUCountMismatch");
  EXPECT_EQ(Find(*s, "GPUCountMismatch")->message(), "1/2 GPUs present");
}

// The Device API stops: every condition Unknown (never False); back to False when it returns.
TEST_F(MonitorTest, UnknownWhileTheServerIsDown) {
  StartServer();
  StartProvider(1);
  StartMonitor();
  FakeNpd npd(socket_);
  ASSERT_TRUE(npd.CheckUntil(
      [](const ext::Status& s) { return Is(s, "GPUUnhealthy", ext::CONDITION_STATUS_FALSE); }));
  server_->Stop();
  auto down = npd.CheckUntil(
      [](const ext::Status& s) { return Is(s, "GPUUnhealthy", ext::CONDITION_STATUS_UNKNOWN); });
  ASSERT_TRUE(down.has_value());
  for (const auto& c : down->conditions()) {
    EXPECT_EQ(c.status(), ext::CONDITION_STATUS_UNKNOWN) << c.type();
    EXPECT_EQ(c.reason(), "DeviceAPIUnavailable");
  }
  server_->Restart();
  ASSERT_TRUE(npd.CheckUntil(
      [](const ext::Status& s) { return Is(s, "GPUUnhealthy", ext::CONDITION_STATUS_FALSE); }));
}

// NPD's keepalive pings with no call in flight do not get the connection closed.
TEST_F(MonitorTest, KeepalivePingsAreAccepted) {
  StartServer();
  StartProvider(1);
  StartMonitor();
  FakeNpd npd(socket_);
  ext::MonitorMetadata md;
  ASSERT_TRUE(npd.Metadata(&md).ok());
  absl::SleepFor(absl::Seconds(2));  // ~10 pings, no calls
  EXPECT_EQ(npd.state(), GRPC_CHANNEL_READY);
  EXPECT_TRUE(npd.Check().has_value());
  EXPECT_EQ(npd.state(), GRPC_CHANNEL_READY);
}

// Stop does not end the process unless --exit-on-stop.
TEST_F(MonitorTest, StopEndsTheProcessOnlyWhenAsked) {
  StartServer();
  StartProvider(1);
  StartMonitor();
  {
    FakeNpd npd(socket_);
    ASSERT_TRUE(npd.Stop().ok());
    absl::SleepFor(absl::Milliseconds(500));
    EXPECT_FALSE(monitor_->Exited());
    EXPECT_TRUE(npd.Check().has_value());
  }
  monitor_->Signal(SIGTERM);
  ASSERT_TRUE(monitor_->WaitFor(absl::Seconds(5)).exited);
  EXPECT_FALSE(std::filesystem::exists(socket_));
  StartMonitor({"--exit-on-stop"});
  FakeNpd npd(socket_);
  ASSERT_TRUE(npd.Stop().ok());
  itest::ExitInfo e = monitor_->WaitFor(absl::Seconds(5));
  ASSERT_TRUE(e.exited);
  EXPECT_EQ(e.exit_code, 0);
  monitor_.reset();
}

// The socket: mode 0660, a stale file is replaced, a live one is refused.
TEST_F(MonitorTest, SocketRules) {
  StartServer();
  StartProvider(1);
  // A stale socket: bound once, its process gone.
  std::filesystem::create_directories(dir_.File("npd"));
  {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    const std::string path = dir_.File("npd/npd-gpu-monitor.sock");
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ::close(fd);
  }
  StartMonitor();
  FakeNpd npd(socket_);
  ext::MonitorMetadata md;
  ASSERT_TRUE(npd.Metadata(&md).ok());
  struct stat st {};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  // A second monitor on the live socket refuses and leaves it alone.
  const std::string log = dir_.File("second.log");
  auto second =
      itest::ChildProcess::Spawn({{NPD_GPU_MONITOR_BIN, "serve", "--server-address", server_->target(),
                                   "--socket", socket_, "--metrics-bind-address", "0"},
                                  {},
                                  "",
                                  log,
                                  ""});
  ASSERT_NE(second, nullptr);
  itest::ExitInfo e = second->WaitFor(absl::Seconds(10));
  ASSERT_TRUE(e.exited);
  EXPECT_NE(e.exit_code, 0);
  EXPECT_THAT(itest::ReadFile(log), HasSubstr("another process is serving"));
  EXPECT_TRUE(npd.Check().has_value());
}

// serve refuses a --socket in a directory everyone can write, or a link at --socket (exit 1, the
// link and its target left alone), before it dials anything.
TEST_F(MonitorTest, SocketRefusedInAWorldWritableDirectoryOrThroughALink) {
  auto serve = [&](const std::string& socket, const std::string& log) {
    auto p = itest::ChildProcess::Spawn(
        {{NPD_GPU_MONITOR_BIN, "serve", "--server-address", "unix://" + dir_.File("none.sock"), "--socket",
          socket, "--metrics-bind-address", "0"},
         {},
         "",
         log,
         ""});
    if (p == nullptr) return itest::ExitInfo{};
    return p->WaitFor(absl::Seconds(10));
  };
  const std::string open = dir_.File("open");
  ASSERT_EQ(::mkdir(open.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(open.c_str(), 0777), 0);
  itest::ExitInfo e = serve(open + "/npd.sock", dir_.File("open.log"));
  ASSERT_TRUE(e.exited) << e.ToString();
  EXPECT_EQ(e.exit_code, 1);
  EXPECT_THAT(itest::ReadFile(dir_.File("open.log")),
              HasSubstr("refusing " + open + "/npd.sock: its directory " + open +
                        " is writable by everyone (mode 0777, no sticky bit); use a directory only root or "
                        "this user can write"));
  EXPECT_FALSE(std::filesystem::exists(open + "/npd.sock"));

  const std::string target = dir_.File("target");
  std::ofstream(target) << "keep";
  ASSERT_EQ(::mkdir(dir_.File("npd").c_str(), 0700), 0);
  const std::string link = dir_.File("npd/npd-gpu-monitor.sock");
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  e = serve(link, dir_.File("link.log"));
  ASSERT_TRUE(e.exited) << e.ToString();
  EXPECT_EQ(e.exit_code, 1);
  EXPECT_THAT(itest::ReadFile(dir_.File("link.log")),
              HasSubstr("refusing " + link + ": it is a symbolic link to " + target));
  EXPECT_EQ(itest::ReadFile(target), "keep");
  struct stat st {};
  ASSERT_EQ(::lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

// check: --state-file is never written or read through a link (the target is left alone) nor in a
// directory everyone can write (exit 2, the reason on stdout); it is created 0600.
TEST_F(MonitorTest, CheckModeStateFileRules) {
  StartServer();
  const std::string passwd = dir_.File("passwd");
  std::ofstream(passwd) << "root:x:0:0:root:/root:/bin/sh\n";
  ASSERT_EQ(::chmod(passwd.c_str(), 0644), 0);
  const std::string link = dir_.File("xid.state");
  ASSERT_EQ(::symlink(passwd.c_str(), link.c_str()), 0);
  auto [code, line] = RunCheck({"--condition", "GPUXID", "--state-file", link, "--max-output", "4096"});
  EXPECT_EQ(code, 2);
  EXPECT_THAT(line, StartsWith("state file: refusing " + link + ": it is a symbolic link to " + passwd));
  EXPECT_EQ(itest::ReadFile(passwd), "root:x:0:0:root:/root:/bin/sh\n");
  struct stat st {};
  ASSERT_EQ(::stat(passwd.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  ASSERT_EQ(::lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  // The default --max-output still starts with the reason.
  std::tie(code, line) = RunCheck({"--condition", "GPUXID", "--state-file", link});
  EXPECT_EQ(code, 2);
  EXPECT_THAT(line, StartsWith("state file: refusing"));

  const std::string open = dir_.File("open");
  ASSERT_EQ(::mkdir(open.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(open.c_str(), 0777), 0);
  std::tie(code, line) =
      RunCheck({"--condition", "GPUXID", "--state-file", open + "/xid.state", "--max-output", "4096"});
  EXPECT_EQ(code, 2);
  EXPECT_THAT(line, HasSubstr("its directory " + open + " is writable by everyone"));
  EXPECT_FALSE(std::filesystem::exists(open + "/xid.state"));

  const std::string good = dir_.File("good.state");
  std::tie(code, line) = RunCheck({"--condition", "GPUXID", "--state-file", good});
  EXPECT_EQ(code, 0) << line;
  ASSERT_EQ(::lstat(good.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// Check mode: exit code and one short line per condition, as NPD's custom plugin protocol wants.
TEST_F(MonitorTest, CheckModeFollowsTheGpus) {
  StartServer();
  StartProvider(2);
  const std::string state = dir_.File("xid.state");
  auto [code, line] = RunCheck({"--condition", "GPUUnhealthy"});
  EXPECT_EQ(code, 0);
  EXPECT_EQ(line, "All GPUs are healthy");
  std::tie(code, line) = RunCheck({"--condition", "GPUXID", "--state-file", state});
  EXPECT_EQ(code, 0);
  EXPECT_EQ(line, "No new GPU XIDs (first check)");
  std::tie(code, line) = RunCheck({"--condition", "GPUCountMismatch", "--expected-gpus", "4"});
  EXPECT_EQ(code, 1);
  EXPECT_EQ(line, "2/4 GPUs present");
  std::tie(code, line) = RunCheck({"--condition", "GPUHealthUnknown"});
  EXPECT_EQ(code, 0);

  nvml_->Inject(Uuid(0), "79");
  ASSERT_TRUE(itest::PollUntil(
      [&] {
        return RunCheck({"--condition", "GPUUnhealthy"}).first == 1;
      },
      kDeadline));
  std::tie(code, line) = RunCheck({"--condition", "GPUUnhealthy"});
  EXPECT_EQ(line, "1/2 GPUs unhealthy: " + Short(0) + " (XID79)");
  EXPECT_LE(line.size(), 80u);
  std::tie(code, line) = RunCheck({"--condition", "GPUXID", "--state-file", state});
  EXPECT_EQ(code, 1);
  EXPECT_EQ(line, "XID79 on " + Short(0));
  std::tie(code, line) = RunCheck({"--condition", "GPUXID", "--state-file", state});
  EXPECT_EQ(code, 0) << "each XID is reported once";
  std::tie(code, line) = RunCheck({"--condition", "GPUUnhealthy", "--max-output", "16"});
  EXPECT_EQ(code, 1);
  EXPECT_LE(line.size(), 16u);
  EXPECT_THAT(line, ::testing::EndsWith("..."));
}

// Check mode answers Unknown (2) within its deadline when the socket is missing or the server hangs.
TEST_F(MonitorTest, CheckModeUnknownWhenUnreachableOrHung) {
  StartServer();
  auto [code, line] = RunCheck({"--condition", "GPUUnhealthy"}, "unix://" + dir_.File("missing.sock"));
  EXPECT_EQ(code, 2);
  EXPECT_THAT(line, StartsWith("Device API unreachable"));
  EXPECT_LE(line.size(), 80u);
  // A socket that accepts connections and never answers.
  const std::string hung = dir_.File("hung.sock");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, hung.c_str(), sizeof(a.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(fd, 16), 0);
  const absl::Time t = absl::Now();
  std::tie(code, line) = RunCheck({"--condition", "GPUUnhealthy", "--timeout", "300ms"}, "unix://" + hung);
  EXPECT_EQ(code, 2);
  EXPECT_THAT(line, StartsWith("Device API unreachable"));
  EXPECT_LT(absl::Now() - t, absl::Seconds(5));
  ::close(fd);
  // Bad flags are Unknown too, with the reason on stdout.
  std::tie(code, line) = RunCheck({"--condition", "GPUSad"});
  EXPECT_EQ(code, 2);
  EXPECT_THAT(line, HasSubstr("--condition"));
}

}  // namespace
}  // namespace deviceapi::npdtest
