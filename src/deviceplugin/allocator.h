// Allocation decisions for one resource, pure: GetPreferredAllocation's choice and Allocate's
// validation and container response. No gRPC server, no locks, no clock.
#ifndef DEVICEAPI_DEVICEPLUGIN_ALLOCATOR_H_
#define DEVICEAPI_DEVICEPLUGIN_ALLOCATOR_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "deviceplugin/config.h"
#include "deviceplugin/devices.h"
#include "deviceplugin/v1beta1/api.pb.h"

namespace deviceapi::deviceplugin {

// Chooses `size` device IDs out of `available` for one container, keeping every `must_include`.
// Whole GPUs (replicas == 1): fewest NUMA nodes first (the node of must_include preferred), then
// index order. Replicas: never two replicas of one GPU while another GPU has an available replica;
// `distributed` prefers the GPU with the fewest replicas allocated (allocated = its replicas not in
// `available`), `packed` the most; ties by GPU index. Unknown or unhealthy IDs in `available` are
// skipped. Errors: INVALID_ARGUMENT for size < 1, must_include not in available, or fewer usable
// devices than `size` ("not enough available devices to satisfy allocation: ...").
absl::StatusOr<std::vector<std::string>> PreferredAllocation(const ResourceState& resource,
                                                             const std::vector<std::string>& available,
                                                             const std::vector<std::string>& must_include,
                                                             int size, SharedAllocationPolicy policy);

// Checks one container's request as NVIDIA's ValidateRequest does, in its order: unknown IDs
// ("unknown device: <id>"), then failRequestsGreaterThanOne on a shared resource ("maximum request
// size for shared resources is 1; found <n>"), then unhealthy devices ("device <id> is unhealthy").
// Errors are INVALID_ARGUMENT, worded
//   invalid allocation request for "<resource>": invalid request: <reason>
// for the first two (NVIDIA's exact text) and an empty request is refused too.
absl::Status ValidateAllocateRequest(const ResourceState& resource, const std::vector<std::string>& ids,
                                     bool fail_requests_greater_than_one);

// The container response for a validated request: replica IDs map back to their physical GPUs,
// de-duplicated, in first-seen order; the GPUs are named by UUID or index (deviceIDStrategy) and
// handed over by every configured deviceListStrategy:
//   envvar:           NVIDIA_VISIBLE_DEVICES=<id>,<id>
//   volume-mounts:    NVIDIA_VISIBLE_DEVICES=/var/run/nvidia-container-devices and one read-only
//                     mount /dev/null -> /var/run/nvidia-container-devices/<id> per GPU
//   cdi-annotations:  annotation <cdi_annotation_prefix>nvidia-device-plugin_<request-unique suffix>
//                     = k8s.device-plugin.nvidia.com/gpu=<id>,...
//   cdi-cri:          cdi_devices k8s.device-plugin.nvidia.com/gpu=<id>
// and, with passDeviceSpecs, DeviceSpecs (rw) for /dev/nvidia<minor> of each GPU, /dev/nvidiactl,
// /dev/nvidia-uvm, /dev/nvidia-uvm-tools (host path under nvidia_dev_root).
// `annotation_suffix` makes the CDI annotation key unique per response (callers pass a random one;
// tests a fixed one).
v1beta1::ContainerAllocateResponse ContainerResponse(const ResourceState& resource,
                                                     const std::vector<std::string>& ids,
                                                     const PluginConfig& config,
                                                     const std::string& annotation_suffix);

}  // namespace deviceapi::deviceplugin

#endif  // DEVICEAPI_DEVICEPLUGIN_ALLOCATOR_H_
