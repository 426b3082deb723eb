// gpu-device-plugin's configuration: NVIDIA's config file format (version v1; flags.plugin.*,
// sharing.timeSlicing.*), its environment variables, and our flags. Precedence, as NVIDIA's:
// command-line flag > environment variable > config file > default.
//
// Unlike NVIDIA's plugin, sharing.timeSlicing.resources[].rename and .devices are honoured per
// resource (NVIDIA discards them), so one node can share some GPUs and not others.
#ifndef DEVICEAPI_DEVICEPLUGIN_CONFIG_H_
#define DEVICEAPI_DEVICEPLUGIN_CONFIG_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace deviceapi::deviceplugin {

enum class DeviceListStrategy { kEnvvar, kVolumeMounts, kCdiAnnotations, kCdiCri };
enum class DeviceIdStrategy { kUuid, kIndex };
enum class SharedAllocationPolicy { kDistributed, kPacked };

std::string_view DeviceListStrategyName(DeviceListStrategy s);          // "envvar", "volume-mounts", ...
std::string_view DeviceIdStrategyName(DeviceIdStrategy s);              // "uuid", "index"
std::string_view SharedAllocationPolicyName(SharedAllocationPolicy p);  // "distributed", "packed"

// sharing.timeSlicing.resources[].devices: "all" (default), a positive count (the first N GPUs in
// index order), or a list of GPU indices ("0") and/or UUIDs ("GPU-...").
struct DeviceSelector {
  enum class Kind { kAll, kCount, kList };
  Kind kind = Kind::kAll;
  int count = 0;                  // kCount
  std::vector<std::string> list;  // kList: indices as decimal strings, or UUIDs as written
  bool operator==(const DeviceSelector&) const = default;
};

// One sharing.timeSlicing.resources[] entry.
struct ReplicatedResource {
  std::string name;    // the resource it shares, e.g. "nvidia.com/gpu" (only that one is known)
  std::string rename;  // advertised name; "" = `name`, or `name`.shared when renameByDefault
  int replicas = 0;    // >= 2
  DeviceSelector devices;
  bool operator==(const ReplicatedResource&) const = default;
};

struct TimeSlicing {
  bool rename_by_default = false;
  bool fail_requests_greater_than_one = false;
  std::vector<ReplicatedResource> resources;  // empty: no sharing
  bool operator==(const TimeSlicing&) const = default;
};

struct PluginConfig {
  std::string version = "v1";
  // flags.plugin.*
  std::vector<DeviceListStrategy> device_list_strategies = {DeviceListStrategy::kEnvvar};
  DeviceIdStrategy device_id_strategy = DeviceIdStrategy::kUuid;
  bool pass_device_specs = false;
  SharedAllocationPolicy shared_allocation_policy = SharedAllocationPolicy::kDistributed;
  std::string cdi_annotation_prefix = "cdi.k8s.io/";  // flags.plugin.cdiAnnotationPrefix
  // flags.nvidiaDevRoot: host root of /dev/nvidia* for device specs ("/" = the host's /dev).
  std::string nvidia_dev_root = "/";
  // sharing.timeSlicing
  TimeSlicing time_slicing;
  bool operator==(const PluginConfig&) const = default;
};

// Values given by flags or environment variables; set ones replace the file's.
struct ConfigOverrides {
  std::optional<std::vector<DeviceListStrategy>> device_list_strategies;
  std::optional<DeviceIdStrategy> device_id_strategy;
  std::optional<bool> pass_device_specs;
  std::optional<SharedAllocationPolicy> shared_allocation_policy;
  std::optional<std::string> cdi_annotation_prefix;
  std::optional<std::string> nvidia_dev_root;
};

// Parses a config document (YAML, or JSON which is YAML). `source` names it in errors (a path).
// Every error is INVALID_ARGUMENT and names the key, e.g.
//   "config.yaml: sharing.timeSlicing.resources[0].replicas: must be at least 2, got 1".
// Unknown keys are errors (a misspelt key must not silently do nothing). Empty `version` = v1.
absl::StatusOr<PluginConfig> ParseConfig(std::string_view text, std::string_view source);

// Reads and parses `path` (NOT_FOUND / INVALID_ARGUMENT naming the path).
absl::StatusOr<PluginConfig> LoadConfigFile(const std::string& path);

// Applies `overrides` over `config`.
void ApplyOverrides(const ConfigOverrides& overrides, PluginConfig& config);

// Reads NVIDIA's environment variables into overrides, only those that are set:
// DEVICE_LIST_STRATEGY (comma-separated), DEVICE_ID_STRATEGY, PASS_DEVICE_SPECS,
// SHARED_DEVICES_ALLOCATION_POLICY, CDI_ANNOTATION_PREFIX, NVIDIA_DEV_ROOT. `getenv` is injectable
// for tests. A bad value is an INVALID_ARGUMENT naming the variable.
using Getenv = std::function<const char*(const char*)>;
absl::StatusOr<ConfigOverrides> OverridesFromEnvironment(const Getenv& getenv = {});

// Parsers for single values, shared by the file, the env and the flags; the error names `key`.
absl::StatusOr<std::vector<DeviceListStrategy>> ParseDeviceListStrategies(std::string_view text,
                                                                          std::string_view key);
absl::StatusOr<DeviceIdStrategy> ParseDeviceIdStrategy(std::string_view text, std::string_view key);
absl::StatusOr<SharedAllocationPolicy> ParseSharedAllocationPolicy(std::string_view text,
                                                                   std::string_view key);

}  // namespace deviceapi::deviceplugin

#endif  // DEVICEAPI_DEVICEPLUGIN_CONFIG_H_
