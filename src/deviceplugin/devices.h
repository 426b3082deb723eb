// What the plugin advertises, derived purely from the Device API's GPUs and the config: one
// resource per advertised name, each with its devices (a whole GPU, or one replica of it).
// No gRPC, no clock, no locks: unit-tested on its own.
#ifndef DEVICEAPI_DEVICEPLUGIN_DEVICES_H_
#define DEVICEAPI_DEVICEPLUGIN_DEVICES_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "device/v1alpha1/gpu.pb.h"
#include "deviceplugin/config.h"

namespace deviceapi::deviceplugin {

// The separator of replica IDs, as NVIDIA's: "<id>::<i>".
inline constexpr std::string_view kReplicaSeparator = "::";
inline constexpr std::string_view kSharedSuffix = ".shared";
inline constexpr std::string_view kGpuResource = "nvidia.com/gpu";

// The kubelet's health values.
inline constexpr std::string_view kHealthy = "Healthy";
inline constexpr std::string_view kUnhealthy = "Unhealthy";

// One physical GPU as the plugin sees it.
struct Gpu {
  std::string uuid;     // spec.uuid, e.g. "GPU-5d1c..."
  std::string name;     // metadata.name
  int index = 0;        // rank by PCI bus ID (NVML's enumeration order), 0-based
  int minor = -1;       // /dev/nvidia<minor>; -1 unknown
  int numa_node = -1;   // -1 unknown
  bool healthy = true;  // after the health rule and the API-unavailable grace
  bool operator==(const Gpu&) const = default;
};

// One advertised device.
struct Device {
  std::string id;    // what the kubelet sees: the GPU's UUID, or "<uuid>::<replica>"
  int gpu = 0;       // index into ResourceState::gpus
  int replica = -1;  // -1: a whole GPU
  bool operator==(const Device&) const = default;
};

// One advertised resource (one socket, one registration).
struct ResourceState {
  std::string name;             // e.g. "nvidia.com/gpu" or "nvidia.com/gpu.shared"
  int replicas = 1;             // 1: whole GPUs; >= 2: time-sliced
  std::vector<Gpu> gpus;        // the physical GPUs behind it, in index order
  std::vector<Device> devices;  // in GPU order, then replica order
  bool shared() const { return replicas > 1; }
  bool operator==(const ResourceState&) const = default;

  // The device with advertised ID `id`, or nullptr.
  const Device* Find(std::string_view id) const;
  bool Healthy(const Device& d) const { return gpus[static_cast<size_t>(d.gpu)].healthy; }
  const Gpu& GpuOf(const Device& d) const { return gpus[static_cast<size_t>(d.gpu)]; }
};

// Splits "<base>::<i>" into base and replica; no separator: {id, -1}.
std::pair<std::string_view, int> SplitReplicaId(std::string_view id);

// The physical GPUs, sorted into index order (by PCI bus ID, then UUID). `healthy` is computed by
// the caller (see HealthOf in manager) and passed per GPU name.
std::vector<Gpu> GpusFromApi(const std::vector<nvidia::nvsentinel::v1alpha1::Gpu>& objects,
                             const std::map<std::string, bool>& healthy_by_name);

// The advertised resources for `gpus` under `config`: a GPU selected by a timeSlicing resource is
// advertised as that resource's replicas; every other GPU as a whole device of "nvidia.com/gpu".
// A resource with no GPUs is still returned (it advertises an empty list) so that its
// registration does not come and go with the inventory. Sorted by name.
std::vector<ResourceState> BuildResources(const std::vector<Gpu>& gpus, const PluginConfig& config);

// The advertised resource names under `config` (no GPUs needed): what the plugin registers.
std::vector<std::string> ResourceNames(const PluginConfig& config);

}  // namespace deviceapi::deviceplugin

#endif  // DEVICEAPI_DEVICEPLUGIN_DEVICES_H_
