// The real gpu-device-plugin binary against a fake kubelet (fake_kubelet.h) in a temp directory,
// the real device-api-server (in-process TestServer) and, where health comes from NVML, the real
// nvml-provider on the fake NVML. Waits poll with deadlines; nothing sleeps to synchronize.
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
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "deviceapi/deviceapi.h"
#include "fake_kubelet.h"
#include "fake_nvml_env.h"
#include "integration/harness.h"
#include "testutil/test_server.h"

namespace deviceapi::dptest {
namespace {

using ::testing::HasSubstr;
namespace v1 = ::nvidia::nvsentinel::v1alpha1;

constexpr absl::Duration kDeadline = absl::Seconds(30);
constexpr char kGpu[] = "nvidia.com/gpu";
constexpr char kShared[] = "nvidia.com/gpu.shared";

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Device IDs of a list, and how many of them are Healthy.
std::set<std::string> Ids(const v1beta1::ListAndWatchResponse& l) {
  std::set<std::string> ids;
  for (const auto& d : l.devices()) ids.insert(d.id());
  return ids;
}
int CountHealth(const v1beta1::ListAndWatchResponse& l, const std::string& prefix,
                const std::string& health) {
  int n = 0;
  for (const auto& d : l.devices()) n += d.id().rfind(prefix, 0) == 0 && d.health() == health ? 1 : 0;
  return n;
}
std::string GpuOf(const std::string& id) { return id.substr(0, id.find("::")); }

class PluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    plugin_dir_ = dir_.path() + "/device-plugins";
    std::filesystem::create_directories(plugin_dir_);
    kubelet_ = std::make_unique<FakeKubelet>(plugin_dir_);
  }

  void TearDown() override {
    if (plugin_ != nullptr) {
      plugin_->Signal(SIGTERM);
      plugin_->WaitFor(absl::Seconds(10));
    }
    if (provider_ != nullptr) {
      provider_->Signal(SIGTERM);
      provider_->WaitFor(absl::Seconds(10));
    }
    kubelet_.reset();
    if (HasFailure()) {
      std::cerr << "---- plugin log ----\n" << PluginLog() << "----\n";
      if (!provider_log_.empty())
        std::cerr << "---- provider log ----\n" << itest::ReadFile(provider_log_) << "----\n";
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

  // GPUs written straight into the API (no provider): `n` GPUs, NVMLReady=True, NUMA i/2.
  void CreateGpus(int n) {
    for (int i = 0; i < n; ++i) {
      v1::Gpu g;
      const std::string uuid = "GPU-" + std::to_string(1000 + i) + "-aaaa-bbbb-cccc-dddddddddddd";
      g.mutable_metadata()->set_name(Lower(uuid));
      g.mutable_spec()->set_uuid(uuid);
      g.mutable_spec()->set_pci_bus_id("00000000:" + std::to_string(10 + i) + ":00.0");
      g.mutable_spec()->set_minor_number(i);
      g.mutable_spec()->set_numa_node(i / 2);
      *g.mutable_status()->add_conditions() =
          MakeCondition("NVMLReady", kConditionTrue, "Healthy", "ok", absl::Now());
      auto created = gpus_->Create(g);
      ASSERT_TRUE(created.ok()) << created.status();
      uuids_.push_back(uuid);
    }
  }

  void SetReady(const std::string& uuid, bool ready) {
    ASSERT_TRUE(RetryOnConflict(kDefaultRetry, [&]() -> absl::Status {
                  auto g = gpus_->Get(Lower(uuid));
                  if (!g.ok()) return g.status();
                  SetCondition(g->mutable_status(),
                               MakeCondition("NVMLReady", ready ? kConditionTrue : kConditionFalse,
                                             ready ? "OperatorCleared" : "XID79", "test", absl::Now()));
                  return gpus_->UpdateStatus(*g).status();
                }).ok());
  }

  void StartProvider(int gpus) {
    nvml_ = std::make_unique<nvmltest::FakeNvmlEnv>(nvmltest::DefaultDevices(gpus));
    for (const auto& d : nvml_->devices()) uuids_.push_back(d["uuid"]);
    provider_log_ = dir_.File("provider.log");
    provider_ = itest::ChildProcess::Spawn(
        {{NVML_PROVIDER_BIN, "--server-address", server_->target(), "--driver-root", nvml_->root(),
          "--health-check=false", "--sysfs-root", nvml_->root() + "/sys", "-v", "1"},
         {{"FAKE_NVML_CONFIG", nvml_->config_path()}},
         "",
         provider_log_,
         ""});
    ASSERT_NE(provider_, nullptr);
  }

  void WriteConfig(const std::string& yaml) {
    config_path_ = dir_.File("config.yaml");
    std::ofstream(config_path_ + ".tmp") << yaml;
    std::filesystem::rename(config_path_ + ".tmp", config_path_);
  }

  void StartPlugin(std::vector<std::string> extra = {}) {
    metrics_port_ = itest::PickFreePort();
    std::vector<std::string> argv = {GPU_DEVICE_PLUGIN_BIN,
                                     "--server-address",
                                     server_->target(),
                                     "--device-plugin-path",
                                     plugin_dir_,
                                     "--metrics-bind-address",
                                     "127.0.0.1:" + std::to_string(metrics_port_),
                                     "-v",
                                     "1"};
    if (!config_path_.empty()) argv.insert(argv.end(), {"--config-file", config_path_});
    argv.insert(argv.end(), extra.begin(), extra.end());
    plugin_log_ = dir_.File("plugin-" + std::to_string(++plugin_starts_) + ".log");
    plugin_ = itest::ChildProcess::Spawn({argv, {}, "", plugin_log_, ""});
    ASSERT_NE(plugin_, nullptr);
  }

  std::string PluginLog() const { return plugin_log_.empty() ? "" : itest::ReadFile(plugin_log_); }
  std::string Metrics() const { return itest::HttpGet(metrics_port_, "/metrics").body; }

  bool WaitDevices(const std::string& resource, size_t n, int healthy) {
    return kubelet_->WaitList(
        resource,
        [&](const auto& l) {
          return l.devices_size() == static_cast<int>(n) && FakeKubelet::Healthy(l) == healthy;
        },
        kDeadline);
  }

  itest::TempDir dir_;
  std::string plugin_dir_;
  std::unique_ptr<FakeKubelet> kubelet_;
  std::unique_ptr<testing::TestServer> server_;
  std::unique_ptr<Clientset> clientset_;
  GpuInterfacePtr gpus_;
  std::unique_ptr<nvmltest::FakeNvmlEnv> nvml_;
  std::unique_ptr<itest::ChildProcess> provider_;
  std::string provider_log_;
  std::unique_ptr<itest::ChildProcess> plugin_;
  std::string plugin_log_;
  int plugin_starts_ = 0;
  std::string config_path_;
  int metrics_port_ = 0;
  std::vector<std::string> uuids_;
};

constexpr char kTenReplicas[] = R"(version: v1
sharing:
  timeSlicing:
    resources:
    - name: nvidia.com/gpu
      replicas: 10
)";

// 2 GPUs x 10 replicas from the real provider: 20 devices; XID 79 on one GPU makes all 10 of its
// replicas Unhealthy (not one); an operator clearing NVMLReady makes them Healthy again.
TEST_F(PluginTest, XidMarksEveryReplicaUnhealthyAndClearingRecovers) {
  StartServer();
  StartProvider(2);
  WriteConfig(kTenReplicas);
  kubelet_->Start();
  StartPlugin();
  ASSERT_TRUE(kubelet_->WaitRegistrations(1, kDeadline));
  const v1beta1::RegisterRequest reg = kubelet_->registrations()[0];
  EXPECT_EQ(reg.version(), "v1beta1");
  EXPECT_EQ(reg.resource_name(), kGpu);
  EXPECT_EQ(reg.endpoint(), "nvidia-gpu.sock");
  auto opts = kubelet_->Options(kGpu);
  ASSERT_TRUE(opts.has_value());
  EXPECT_TRUE(opts->get_preferred_allocation_available());
  EXPECT_FALSE(opts->pre_start_required());

  ASSERT_TRUE(WaitDevices(kGpu, 20, 20))
      << kubelet_->Latest(kGpu).value_or(v1beta1::ListAndWatchResponse()).DebugString();
  auto list = *kubelet_->Latest(kGpu);
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(Ids(list).count(uuids_[0] + "::" + std::to_string(i))) << i;
    EXPECT_TRUE(Ids(list).count(uuids_[1] + "::" + std::to_string(i))) << i;
  }
  for (const auto& d : list.devices()) ASSERT_EQ(d.topology().nodes_size(), 1) << d.DebugString();

  nvml_->Inject(uuids_[0], "79");
  ASSERT_TRUE(kubelet_->WaitList(
      kGpu, [&](const auto& l) { return CountHealth(l, uuids_[0], "Unhealthy") == 10; }, kDeadline));
  list = *kubelet_->Latest(kGpu);
  EXPECT_EQ(CountHealth(list, uuids_[1], "Healthy"), 10);
  EXPECT_EQ(list.devices_size(), 20);

  SetReady(uuids_[0], true);
  ASSERT_TRUE(WaitDevices(kGpu, 20, 20));
  EXPECT_THAT(Metrics(),
              HasSubstr("gpu_device_plugin_devices{health=\"healthy\",resource=\"nvidia.com/gpu\"} 20"));
  EXPECT_TRUE(kubelet_->violations().empty());
}

// The kubelet restarts: it deletes the plugin's socket and re-creates kubelet.sock. The plugin
// stops its old server completely, then serves and registers exactly once more.
TEST_F(PluginTest, KubeletRestartRegistersOnceAfterTheOldServerIsGone) {
  StartServer();
  CreateGpus(2);
  WriteConfig(kTenReplicas);
  kubelet_->Start();
  StartPlugin();
  ASSERT_TRUE(kubelet_->WaitRegistrations(1, kDeadline));
  ASSERT_TRUE(WaitDevices(kGpu, 20, 20));

  kubelet_->Restart();
  ASSERT_TRUE(kubelet_->WaitRegistrations(2, kDeadline)) << PluginLog();
  ASSERT_TRUE(WaitDevices(kGpu, 20, 20));
  // No third registration follows.
  EXPECT_FALSE(kubelet_->WaitRegistrations(3, absl::Seconds(2)));
  EXPECT_TRUE(kubelet_->violations().empty()) << ::testing::PrintToString(kubelet_->violations());
  EXPECT_TRUE(std::filesystem::exists(plugin_dir_ + "/nvidia-gpu.sock"));
  EXPECT_THAT(Metrics(), HasSubstr("gpu_device_plugin_kubelet_restarts_total 1"));
  // The new server answers.
  v1beta1::AllocateResponse out;
  EXPECT_TRUE(kubelet_->Allocate(kGpu, {uuids_[1] + "::3"}, &out).ok());
}

// The whole directory is removed and created again (a kubelet reinstall): the plugin notices the
// new kubelet.sock even though it appeared while nothing watched the directory.
TEST_F(PluginTest, DirectoryRecreatedReRegisters) {
  StartServer();
  CreateGpus(1);
  kubelet_->Start();
  StartPlugin();
  ASSERT_TRUE(kubelet_->WaitRegistrations(1, kDeadline));
  kubelet_->Stop();
  std::filesystem::remove_all(plugin_dir_);
  std::filesystem::create_directories(plugin_dir_);
  kubelet_->Start();
  ASSERT_TRUE(kubelet_->WaitRegistrations(2, kDeadline)) << PluginLog();
  ASSERT_TRUE(WaitDevices(kGpu, 1, 1));
  EXPECT_TRUE(std::filesystem::exists(plugin_dir_ + "/nvidia-gpu.sock"));
  EXPECT_TRUE(kubelet_->violations().empty());
}

// No kubelet when the plugin starts: it keeps serving and registers once kubelet.sock appears.
TEST_F(PluginTest, RegistersWhenTheKubeletComesLater) {
  StartServer();
  CreateGpus(1);
  StartPlugin();
  ASSERT_TRUE(
      itest::PollUntil([&] { return std::filesystem::exists(plugin_dir_ + "/nvidia-gpu.sock"); }, kDeadline));
  EXPECT_THAT(itest::HttpGet(metrics_port_, "/readyz").status, 503);
  kubelet_->Start();
  ASSERT_TRUE(kubelet_->WaitRegistrations(1, kDeadline)) << PluginLog();
  ASSERT_TRUE(WaitDevices(kGpu, 1, 1));
  EXPECT_EQ(kubelet_->Latest(kGpu)->devices(0).id(), uuids_[0]);
  ASSERT_TRUE(
      itest::PollUntil([&] { return itest::HttpGet(metrics_port_, "/readyz").status == 200; }, kDeadline));
  EXPECT_FALSE(kubelet_->WaitRegistrations(2, absl::Seconds(1)));
}

// Allocate: failRequestsGreaterThanOne with NVIDIA's exact words; replicas map back to their GPU,
// de-duplicated; unknown IDs are refused.
TEST_F(PluginTest, AllocateRules) {
  StartServer();
  CreateGpus(2);
  WriteConfig(R"(version: v1
flags:
  plugin:
    passDeviceSpecs: true
sharing:
  timeSlicing:
    failRequestsGreaterThanOne: true
    resources:
    - name: nvidia.com/gpu
      replicas: 10
)");
  kubelet_->Start();
  StartPlugin();
  ASSERT_TRUE(WaitDevices(kGpu, 20, 20));
  v1beta1::AllocateResponse out;
  grpc::Status s = kubelet_->Allocate(kGpu, {uuids_[0] + "::0", uuids_[1] + "::0"}, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(
      s.error_message(),
      "invalid allocation request for \"nvidia.com/gpu\": invalid request: maximum request size for shared "
      "resources is 1; found 2");
  s = kubelet_->Allocate(kGpu, {"GPU-nope::1"}, &out);
  EXPECT_EQ(
      s.error_message(),
      "invalid allocation request for \"nvidia.com/gpu\": invalid request: unknown device: GPU-nope::1");

  out.Clear();
  ASSERT_TRUE(kubelet_->Allocate(kGpu, {uuids_[1] + "::7"}, &out).ok());
  ASSERT_EQ(out.container_responses_size(), 1);
  EXPECT_EQ(out.container_responses(0).envs().at("NVIDIA_VISIBLE_DEVICES"), uuids_[1]);
  std::set<std::string> specs;
  for (const auto& d : out.container_responses(0).devices()) specs.insert(d.container_path());
  EXPECT_EQ(specs, (std::set<std::string>{"/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm",
                                          "/dev/nvidia-uvm-tools"}));

  // An Unhealthy device is refused with a clear error.
  SetReady(uuids_[0], false);
  ASSERT_TRUE(kubelet_->WaitList(
      kGpu, [&](const auto& l) { return FakeKubelet::Healthy(l) == 10; }, kDeadline));
  s = kubelet_->Allocate(kGpu, {uuids_[0] + "::2"}, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("unhealthy"));
  const std::string m = Metrics();
  EXPECT_THAT(m, HasSubstr("gpu_device_plugin_allocation_failures_total{reason=\"request_too_large\","
                           "resource=\"nvidia.com/gpu\"} 1"));
  EXPECT_THAT(m, HasSubstr("gpu_device_plugin_allocations_total{resource=\"nvidia.com/gpu\"} 1"));
}

// distributed: a container asking for two replicas gets two GPUs while another GPU has room,
// whatever the kubelet lists first; packed fills the busiest GPU but still one replica per GPU.
TEST_F(PluginTest, PreferredAllocationSpreadsReplicas) {
  StartServer();
  CreateGpus(2);
  WriteConfig(kTenReplicas);
  kubelet_->Start();
  StartPlugin();
  ASSERT_TRUE(WaitDevices(kGpu, 20, 20));
  std::vector<std::string> available;
  for (int i = 0; i < 10; ++i) available.push_back(uuids_[0] + "::" + std::to_string(i));
  for (int i = 0; i < 10; ++i) available.push_back(uuids_[1] + "::" + std::to_string(i));
  v1beta1::PreferredAllocationResponse out;
  ASSERT_TRUE(kubelet_->Preferred(kGpu, available, {}, 2, &out).ok());
  ASSERT_EQ(out.container_responses_size(), 1);
  ASSERT_EQ(out.container_responses(0).deviceids_size(), 2);
  EXPECT_NE(GpuOf(out.container_responses(0).deviceids(0)), GpuOf(out.container_responses(0).deviceids(1)));
  // GPU 0 has 6 replicas taken: distributed prefers GPU 1 for a single replica.
  std::vector<std::string> partly(available.begin() + 6, available.end());
  out.Clear();
  ASSERT_TRUE(kubelet_->Preferred(kGpu, partly, {}, 1, &out).ok());
  EXPECT_EQ(GpuOf(out.container_responses(0).deviceids(0)), uuids_[1]);
  // must_include is honoured, and the second replica comes from the other GPU.
  out.Clear();
  ASSERT_TRUE(kubelet_->Preferred(kGpu, partly, {uuids_[0] + "::8"}, 2, &out).ok());
  EXPECT_EQ(out.container_responses(0).deviceids(0), uuids_[0] + "::8");
  EXPECT_EQ(GpuOf(out.container_responses(0).deviceids(1)), uuids_[1]);
}

// renameByDefault advertises nvidia.com/gpu.shared on nvidia-gpu.shared.sock.
TEST_F(PluginTest, RenameByDefaultAdvertisesShared) {
  StartServer();
  CreateGpus(1);
  WriteConfig(R"(version: v1
sharing:
  timeSlicing:
    renameByDefault: true
    resources:
    - name: nvidia.com/gpu
      replicas: 4
)");
  kubelet_->Start();
  StartPlugin();
  ASSERT_TRUE(kubelet_->WaitRegistrations(1, kDeadline));
  EXPECT_EQ(kubelet_->registrations()[0].resource_name(), kShared);
  EXPECT_EQ(kubelet_->registrations()[0].endpoint(), "nvidia-gpu.shared.sock");
  ASSERT_TRUE(WaitDevices(kShared, 4, 4));
  EXPECT_FALSE(kubelet_->WaitRegistrations(2, absl::Seconds(1)));
}

// Per-resource devices: GPU 0 shared 4 ways as nvidia.com/gpu.shared, GPU 1 whole as nvidia.com/gpu.
TEST_F(PluginTest, PerResourceDevicesShareSomeGpusAndNotOthers) {
  StartServer();
  CreateGpus(2);
  WriteConfig(R"(version: v1
sharing:
  timeSlicing:
    resources:
    - name: nvidia.com/gpu
      rename: nvidia.com/gpu.shared
      replicas: 4
      devices: [0]
)");
  kubelet_->Start();
  StartPlugin();
  ASSERT_TRUE(kubelet_->WaitRegistrations(2, kDeadline));
  ASSERT_TRUE(WaitDevices(kShared, 4, 4));
  ASSERT_TRUE(WaitDevices(kGpu, 1, 1));
  EXPECT_EQ(Ids(*kubelet_->Latest(kGpu)), std::set<std::string>{uuids_[1]});
  for (const std::string& id : Ids(*kubelet_->Latest(kShared))) EXPECT_EQ(GpuOf(id), uuids_[0]);
  // Health follows each GPU into its own resource.
  SetReady(uuids_[0], false);
  ASSERT_TRUE(WaitDevices(kShared, 4, 0));
  EXPECT_EQ(FakeKubelet::Healthy(*kubelet_->Latest(kGpu)), 1);
}

// The Device API stops: the last known health is kept for the grace, then every device is
// Unhealthy; when the API is back, devices are Healthy again.
TEST_F(PluginTest, UnreachableApiMarksDevicesUnhealthyOnlyAfterTheGrace) {
  StartServer();
  CreateGpus(2);
  kubelet_->Start();
  StartPlugin({"--api-unavailable-grace", "3s"});
  ASSERT_TRUE(WaitDevices(kGpu, 2, 2));
  const absl::Time stopped = absl::Now();
  server_->Stop();
  ASSERT_TRUE(WaitDevices(kGpu, 2, 0));
  const absl::Duration took = absl::Now() - stopped;
  std::cout << "devices Unhealthy " << absl::FormatDuration(took) << " after the API stopped (grace 3s)\n";
  EXPECT_GE(took, absl::Seconds(3));
  // Nothing Unhealthy was sent before the grace ran out.
  for (const auto& [at, l] : kubelet_->History(kGpu)) {
    if (at < stopped + absl::Seconds(3) - absl::Milliseconds(50)) {
      EXPECT_EQ(FakeKubelet::Healthy(l), 2);
    }
  }
  EXPECT_THAT(Metrics(), HasSubstr("gpu_device_plugin_device_api_grace_expired 1"));
  server_->Restart();
  ASSERT_TRUE(WaitDevices(kGpu, 2, 2)) << PluginLog();
}

// GPUs deleted from the API disappear from the list; new ones appear.
TEST_F(PluginTest, ListFollowsTheInventory) {
  StartServer();
  CreateGpus(3);
  kubelet_->Start();
  StartPlugin();
  ASSERT_TRUE(WaitDevices(kGpu, 3, 3));
  ASSERT_TRUE(gpus_->Delete(Lower(uuids_[1])).ok());
  ASSERT_TRUE(WaitDevices(kGpu, 2, 2));
  EXPECT_EQ(Ids(*kubelet_->Latest(kGpu)), (std::set<std::string>{uuids_[0], uuids_[2]}));
}

// SIGHUP with an invalid file keeps the old config; with a valid one the servers restart with it.
TEST_F(PluginTest, SighupReloads) {
  StartServer();
  CreateGpus(1);
  WriteConfig(kTenReplicas);
  kubelet_->Start();
  StartPlugin();
  ASSERT_TRUE(WaitDevices(kGpu, 10, 10));
  WriteConfig("sharing:\n  timeSlicing:\n    resources:\n    - name: nvidia.com/gpu\n      replicas: 1\n");
  plugin_->Signal(SIGHUP);
  ASSERT_TRUE(itest::PollUntil(
      [&] { return PluginLog().find("keeping the current config") != std::string::npos; }, kDeadline));
  EXPECT_THAT(PluginLog(), HasSubstr("replicas: must be at least 2, got 1"));
  EXPECT_THAT(Metrics(), HasSubstr("gpu_device_plugin_config_reloads_total{result=\"error\"} 1"));
  EXPECT_FALSE(plugin_->Exited());
  EXPECT_EQ(kubelet_->registrations().size(), 1u);

  WriteConfig("sharing:\n  timeSlicing:\n    resources:\n    - name: nvidia.com/gpu\n      replicas: 3\n");
  plugin_->Signal(SIGHUP);
  ASSERT_TRUE(kubelet_->WaitRegistrations(2, kDeadline));
  ASSERT_TRUE(WaitDevices(kGpu, 3, 3));
  EXPECT_TRUE(kubelet_->violations().empty());
}

// SIGTERM: gone within a second, socket removed.
TEST_F(PluginTest, SigtermExitsPromptlyAndRemovesTheSocket) {
  StartServer();
  CreateGpus(1);
  kubelet_->Start();
  StartPlugin();
  ASSERT_TRUE(WaitDevices(kGpu, 1, 1));
  ASSERT_TRUE(std::filesystem::exists(plugin_dir_ + "/nvidia-gpu.sock"));
  const absl::Time t = absl::Now();
  plugin_->Signal(SIGTERM);
  itest::ExitInfo e = plugin_->WaitFor(absl::Seconds(5));
  ASSERT_TRUE(e.exited) << e.ToString();
  EXPECT_EQ(e.exit_code, 0);
  EXPECT_LT(absl::Now() - t, absl::Seconds(2)) << "goal: within a second";
  EXPECT_FALSE(std::filesystem::exists(plugin_dir_ + "/nvidia-gpu.sock"));
  plugin_.reset();
  ASSERT_TRUE(itest::PollUntil([&] { return kubelet_->StreamEnded(kGpu); }, kDeadline));
}

// A bad config: one clear error naming the key, exit code 2, nothing served.
TEST_F(PluginTest, InvalidConfigExitsWithTheKey) {
  StartServer();
  WriteConfig("sharing:\n  timeSlicing:\n    resources:\n    - name: nvidia.com/gpu\n      replicas: ten\n");
  StartPlugin();
  itest::ExitInfo e = plugin_->WaitFor(absl::Seconds(10));
  ASSERT_TRUE(e.exited);
  EXPECT_EQ(e.exit_code, 2);
  EXPECT_THAT(PluginLog(), HasSubstr("sharing.timeSlicing.resources[0].replicas"));
  EXPECT_FALSE(std::filesystem::exists(plugin_dir_ + "/nvidia-gpu.sock"));
  plugin_.reset();
}

// --device-plugin-path writable by everyone (no sticky bit): refused at start, exit 1, nothing served.
TEST_F(PluginTest, RefusesAWorldWritablePluginDirectory) {
  StartServer();
  ASSERT_EQ(::chmod(plugin_dir_.c_str(), 0777), 0);
  StartPlugin();
  itest::ExitInfo e = plugin_->WaitFor(absl::Seconds(10));
  ASSERT_TRUE(e.exited) << e.ToString();
  EXPECT_EQ(e.exit_code, 1);
  EXPECT_THAT(PluginLog(), HasSubstr("refusing --device-plugin-path: directory " + plugin_dir_ +
                                     " is writable by everyone (mode 0777, no sticky bit)"));
  EXPECT_THAT(PluginLog(), HasSubstr("chmod o-w " + plugin_dir_));
  EXPECT_FALSE(std::filesystem::exists(plugin_dir_ + "/nvidia-gpu.sock"));
  plugin_.reset();
}

// At the socket's path: a link is refused (its target untouched), a live socket (another plugin)
// is refused, a stale one replaced; each refusal is retried. The socket is 0660.
TEST_F(PluginTest, SocketPathRulesAndMode) {
  StartServer();
  CreateGpus(1);
  const std::string sock = plugin_dir_ + "/nvidia-gpu.sock";
  const std::string target = dir_.File("target");
  std::ofstream(target) << "keep";
  ASSERT_EQ(::chmod(target.c_str(), 0644), 0);
  ASSERT_EQ(::symlink(target.c_str(), sock.c_str()), 0);
  kubelet_->Start();
  StartPlugin();
  ASSERT_TRUE(itest::PollUntil(
      [&] { return PluginLog().find("refusing " + sock + ": it is a symbolic link") != std::string::npos; },
      kDeadline));
  EXPECT_EQ(itest::ReadFile(target), "keep");
  struct stat st {};
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);

  // Another process serving the path.
  ASSERT_EQ(::unlink(sock.c_str()), 0);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, sock.c_str(), sizeof(a.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(fd, 16), 0);
  ASSERT_TRUE(itest::PollUntil(
      [&] {
        return PluginLog().find("refusing " + sock + ": another process is serving it") != std::string::npos;
      },
      kDeadline));
  // Gone: its socket is stale now, removed and served at the next try.
  ::close(fd);
  ASSERT_TRUE(WaitDevices(kGpu, 1, 1));
  ASSERT_EQ(::lstat(sock.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_THAT(PluginLog(), HasSubstr("removed stale socket " + sock));
}

}  // namespace
}  // namespace deviceapi::dptest
