// The loader's search path and error, and the inventory read through the fake NVML loaded
// in-process by the same dlopen path the provider uses.
#include <cstdlib>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_nvml_env.h"
#include "nvml/inventory.h"
#include "nvml/library.h"
#include "nvml/options.h"
#include "nvml/provider.h"

namespace deviceapi::nvml {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The search order under the driver root (NVSentinel's), trailing slashes tolerated.
TEST(NvmlLibrary, CandidatePaths) {
  EXPECT_THAT(
      CandidatePaths("/run/nvidia/driver/"),
      ElementsAre("/run/nvidia/driver/usr/lib64/libnvidia-ml.so.1",
                  "/run/nvidia/driver/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
                  "/run/nvidia/driver/usr/lib/libnvidia-ml.so.1",
                  "/run/nvidia/driver/lib64/libnvidia-ml.so.1", "/run/nvidia/driver/lib/libnvidia-ml.so.1"));
  EXPECT_EQ(CandidatePaths("/")[0], "/usr/lib64/libnvidia-ml.so.1");
}

// A driver root without the library: NOT_FOUND naming every place tried.
TEST(NvmlLibrary, MissingIsNotFound) {
  auto lib = NvmlLibrary::Load("/nonexistent-driver-root");
  ASSERT_FALSE(lib.ok());
  EXPECT_EQ(lib.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(lib.status().message()),
              HasSubstr("/nonexistent-driver-root/usr/lib64/libnvidia-ml.so.1"));
  EXPECT_THAT(std::string(lib.status().message()), HasSubstr("system default"));
}

// The fake found at <root>/usr/lib64 yields the configured inventory, normalized.
TEST(NvmlLibrary, LoadsFakeAndReadsInventory) {
  nvmltest::FakeNvmlEnv env(nvmltest::DefaultDevices(2));
  ::setenv("FAKE_NVML_CONFIG", env.config_path().c_str(), 1);
  auto lib = NvmlLibrary::Load(env.root());
  ASSERT_TRUE(lib.ok()) << lib.status();
  EXPECT_EQ((*lib)->path(), env.root() + "/usr/lib64/libnvidia-ml.so.1");
  auto devices = EnumerateDevices(**lib, "/nonexistent-sysfs");
  ASSERT_TRUE(devices.ok()) << devices.status();
  ASSERT_EQ(devices->size(), 2u);
  const GpuInventory& inv = (*devices)[1].inventory;
  EXPECT_EQ(inv.uuid, env.devices()[1]["uuid"]);
  EXPECT_EQ(inv.product_name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(inv.memory_bytes, 85520809984ULL);
  EXPECT_EQ(inv.pci_bus_id, "0000:28:00.0");
  EXPECT_EQ(inv.minor_number, 1);
  EXPECT_EQ(inv.numa_node, 0);
  EXPECT_EQ(inv.architecture, "Hopper");
  EXPECT_EQ(inv.compute_capability, "9.0");
  EXPECT_EQ(inv.driver_version, "550.54.15");
  EXPECT_EQ(inv.serial, "1652321000001");
  EXPECT_EQ((*devices)[1].probe.fatal_error, NVML_SUCCESS);

  // Failure switches: lost, pending retirement, remap failure; the NUMA node falls back to sysfs.
  auto cfg = env.devices();
  cfg[0]["lost"] = true;
  cfg[1]["pending_retirement"] = true;
  cfg[1]["remap_failure"] = true;
  cfg[1]["retired_pages"] = 3;
  cfg[1]["numa_node"] = -1;
  env.SetDevices(cfg);
  devices = EnumerateDevices(**lib, "/nonexistent-sysfs");
  ASSERT_TRUE(devices.ok());
  EXPECT_EQ((*devices)[0].probe.fatal_error, NVML_ERROR_GPU_IS_LOST);
  EXPECT_EQ((*devices)[0].inventory.uuid, env.devices()[0]["uuid"]);
  EXPECT_TRUE((*devices)[1].probe.retirement_pending);
  EXPECT_TRUE((*devices)[1].probe.remap_failure);
  EXPECT_EQ((*devices)[1].probe.retired_pages, 3u);
  EXPECT_EQ((*devices)[1].inventory.numa_node, -1);
  ::unsetenv("FAKE_NVML_CONFIG");
}

// NVML_FI_DEV_GET_GPU_RECOVERY_ACTION through nvmlDeviceGetFieldValues: the value when the device
// has it, nullopt with the per-field NOT_SUPPORTED when it does not, GPU_IS_LOST for a lost GPU,
// nullopt for a value this build does not know; the probe carries it too.
TEST(NvmlLibrary, ReadsGpuRecoveryActionFromFieldValues) {
  auto cfg = nvmltest::DefaultDevices(3);
  cfg[0]["field_values"] = {{"230", NVML_GPU_RECOVERY_ACTION_NODE_REBOOT}};
  cfg[2]["field_values"] = {{"230", 7}};
  nvmltest::FakeNvmlEnv env(cfg);
  ::setenv("FAKE_NVML_CONFIG", env.config_path().c_str(), 1);
  auto lib = NvmlLibrary::Load(env.root());
  ASSERT_TRUE(lib.ok()) << lib.status();
  ASSERT_NE((*lib)->fn().DeviceGetFieldValues, nullptr);
  auto devices = EnumerateDevices(**lib, "/nonexistent-sysfs");
  ASSERT_TRUE(devices.ok()) << devices.status();
  ASSERT_EQ(devices->size(), 3u);

  nvmlReturn_t ret = NVML_ERROR_UNKNOWN;
  EXPECT_EQ(ReadGpuRecoveryAction(**lib, (*devices)[0].handle, &ret), GpuRecoveryAction::kNodeReboot);
  EXPECT_EQ(ret, NVML_SUCCESS);
  EXPECT_EQ((*devices)[0].probe.recovery_action, GpuRecoveryAction::kNodeReboot);
  EXPECT_EQ(ReadGpuRecoveryAction(**lib, (*devices)[1].handle, &ret), std::nullopt);
  EXPECT_EQ(ret, NVML_ERROR_NOT_SUPPORTED);
  EXPECT_EQ((*devices)[1].probe.recovery_action, std::nullopt);
  EXPECT_EQ((*devices)[1].probe.fatal_error, NVML_SUCCESS);  // NOT_SUPPORTED is not a fault
  EXPECT_EQ(ReadGpuRecoveryAction(**lib, (*devices)[2].handle, &ret), std::nullopt);
  EXPECT_EQ(ret, NVML_ERROR_UNKNOWN);

  // The fake re-reads its config: a changed value is seen at once; a lost GPU answers GPU_IS_LOST.
  cfg[1]["field_values"] = {{"230", NVML_GPU_RECOVERY_ACTION_DRAIN_AND_RESET}};
  cfg[0]["lost"] = true;
  env.SetDevices(cfg);
  EXPECT_EQ(ReadGpuRecoveryAction(**lib, (*devices)[1].handle), GpuRecoveryAction::kDrainAndReset);
  EXPECT_EQ(ReadGpuRecoveryAction(**lib, (*devices)[0].handle, &ret), std::nullopt);
  EXPECT_EQ(ret, NVML_ERROR_GPU_IS_LOST);
  ::unsetenv("FAKE_NVML_CONFIG");
}

TEST(Inventory, Helpers) {
  EXPECT_EQ(NormalizePciBusId("00000000:3B:00.0"), "0000:3b:00.0");
  EXPECT_EQ(NormalizePciBusId("00010000:3B:00.0"), "00010000:3b:00.0");
  EXPECT_EQ(ArchitectureName(NVML_DEVICE_ARCH_BLACKWELL), "Blackwell");
  EXPECT_EQ(ArchitectureName(NVML_DEVICE_ARCH_UNKNOWN), "");
  EXPECT_EQ(GpuObjectName("GPU-ABCD-12"), "gpu-abcd-12");
  EXPECT_EQ(ProductLabelValue("NVIDIA H100 80GB HBM3"), "NVIDIA-H100-80GB-HBM3");
  EXPECT_EQ(ProductLabelValue(" (x) "), "x");
}

ParseResult Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "nvml-provider");
  std::ostringstream out;
  auto r = ParseProviderOptions(static_cast<int>(args.size()), args.data(), out);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : ParseResult{};
}

// Environment fallbacks (the device plugin's variables included); a flag wins over its variable.
TEST(Options, EnvironmentFallbacks) {
  ::setenv("NVIDIA_DEVICE_API_TARGET", "unix:///tmp/env.sock", 1);
  ::setenv("NVIDIA_DRIVER_ROOT", "/env/driver", 1);
  ::setenv("PROVIDER_ID", "env-provider", 1);
  ::setenv("DP_DISABLE_HEALTHCHECKS", "all", 1);
  ::setenv("DP_ENABLE_HEALTHCHECKS", "48,79", 1);
  ParseResult r = Parse({"--driver-root", "/flag/driver"});
  EXPECT_EQ(r.options.server_address, "unix:///tmp/env.sock");
  EXPECT_EQ(r.options.driver_root, "/flag/driver");
  EXPECT_EQ(r.options.provider_id, "env-provider");
  EXPECT_TRUE(r.options.xid_overrides.disable.all);
  EXPECT_EQ(r.options.xid_overrides.enable.xids, (std::set<uint64_t>{48, 79}));
  XidPolicy p(r.options.xid_policy, r.options.xid_overrides);
  EXPECT_EQ(p.Classify(79).cls, XidClass::kCritical);
  EXPECT_EQ(p.Classify(95).cls, XidClass::kIgnored);
  for (const char* v : {"NVIDIA_DEVICE_API_TARGET", "NVIDIA_DRIVER_ROOT", "PROVIDER_ID",
                        "DP_DISABLE_HEALTHCHECKS", "DP_ENABLE_HEALTHCHECKS"}) {
    ::unsetenv(v);
  }
}

TEST(Options, DefaultsAndValidation) {
  ParseResult r = Parse({"--server-address", "unix:///tmp/a.sock"});
  EXPECT_EQ(r.options.driver_root, "/run/nvidia/driver");
  EXPECT_EQ(r.options.health_port, 8082);
  EXPECT_TRUE(r.options.health_check);
  EXPECT_EQ(r.options.reconcile_interval, absl::Seconds(30));
  EXPECT_EQ(r.options.heartbeat_interval, absl::Seconds(10));
  EXPECT_EQ(r.options.xid_policy, XidPolicyMode::kCatalog);
  r = Parse({"--server-address", "/tmp/a.sock", "--xid-policy", "device-plugin", "--reconcile-interval", "1m",
             "--critical-xids", "94", "-v=3", "--health-check=false"});
  EXPECT_EQ(r.options.xid_policy, XidPolicyMode::kDevicePlugin);
  EXPECT_EQ(r.options.reconcile_interval, absl::Minutes(1));
  EXPECT_EQ(r.options.xid_overrides.critical, (std::set<uint64_t>{94}));
  EXPECT_EQ(r.options.verbosity, 3);
  EXPECT_FALSE(r.options.health_check);
  // Go flag semantics: the bare flag is true, and it does not swallow the next argument.
  r = Parse({"--health-check", "--driver-root", "/d"});
  EXPECT_TRUE(r.options.health_check);
  EXPECT_EQ(r.options.driver_root, "/d");
  r = Parse({"--health-check=0"});
  EXPECT_FALSE(r.options.health_check);

  std::ostringstream out;
  for (std::vector<const char*> bad :
       std::vector<std::vector<const char*>>{{"x", "--server-address", "dns:///example.com:443"},
                                             {"x", "--reconcile-interval", "5"},
                                             {"x", "--xid-policy", "strict"},
                                             {"x", "--nvml-missing", "maybe"},
                                             {"x", "--provider-id", "Not A Label"},
                                             {"x", "--ignored-xids", "all"}}) {
    EXPECT_FALSE(ParseProviderOptions(static_cast<int>(bad.size()), bad.data(), out).ok()) << bad[1];
  }
}

}  // namespace
}  // namespace deviceapi::nvml
