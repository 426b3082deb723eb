// Enumerates the GPUs NVML sees: inventory (the contract's GpuSpec fields) and the health signals
// that NVML events do not cover (pending page retirement, row remapping, retired pages), read
// every reconcile.
#ifndef DEVICEAPI_NVML_INVENTORY_H_
#define DEVICEAPI_NVML_INVENTORY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nvml/library.h"
#include "nvml/xid_policy.h"

namespace deviceapi::nvml {

struct GpuInventory {
  std::string uuid;  // "GPU-..." as NVML reports it
  std::string product_name;
  uint64_t memory_bytes = 0;
  std::string pci_bus_id;  // "0000:01:00.0" (lower-case, 4-digit domain)
  int32_t minor_number = -1;
  int32_t numa_node = -1;          // -1 = unknown
  std::string architecture;        // "Hopper"
  std::string compute_capability;  // "9.0"
  std::string driver_version;
  std::string serial;

  bool operator==(const GpuInventory&) const = default;
};

// Health signals read by polling.
struct DeviceHealthProbe {
  // NVML_SUCCESS, or the first fatal error a call on this device returned: NVML_ERROR_GPU_IS_LOST
  // or NVML_ERROR_RESET_REQUIRED. (NOT_SUPPORTED and the like are "feature absent", not faults.)
  nvmlReturn_t fatal_error = NVML_SUCCESS;
  bool retirement_pending = false;        // nvmlDeviceGetRetiredPagesPendingStatus (pre-Ampere)
  bool remap_pending = false;             // nvmlDeviceGetRemappedRows isPending (Ampere+)
  bool remap_failure = false;             // nvmlDeviceGetRemappedRows failureOccurred (latched)
  std::optional<uint64_t> retired_pages;  // both causes; nullopt when not supported
  // NVML_FI_DEV_GET_GPU_RECOVERY_ACTION; nullopt when not supported (older drivers and GPUs).
  std::optional<GpuRecoveryAction> recovery_action;
};

struct EnumeratedDevice {
  unsigned int index = 0;
  nvmlDevice_t handle = nullptr;  // null when the handle could not be had (see probe.fatal_error)
  GpuInventory inventory;         // uuid empty when the device could not be identified
  DeviceHealthProbe probe;
};

// "0000:01:00.0" from NVML's "00000000:01:00.0" (and any case): lower-case, 4-digit domain when
// the upper half of the domain is zero.
std::string NormalizePciBusId(std::string_view bus_id);
// "Hopper" for NVML_DEVICE_ARCH_HOPPER, ... "" for unknown values.
std::string ArchitectureName(nvmlDeviceArchitecture_t arch);
// True for the NVML errors that mean the GPU itself is in trouble (GPU_IS_LOST, RESET_REQUIRED).
bool IsFatalDeviceError(nvmlReturn_t ret);

// Reads every device. `sysfs_root` (normally "/sys") is where the NUMA node is read from when NVML
// does not report it. Fails only when the device count cannot be read; per-device trouble is
// recorded in the device's probe.
absl::StatusOr<std::vector<EnumeratedDevice>> EnumerateDevices(const NvmlLibrary& nvml,
                                                               std::string_view sysfs_root = "/sys");

// The device's NVML recovery action (nvmlDeviceGetFieldValues, NVML_FI_DEV_GET_GPU_RECOVERY_ACTION),
// or nullopt when the entry point is missing, the call or the field answers an error (NOT_SUPPORTED
// on drivers before R565 and on GPUs without it), or the value is one this build does not know.
// `ret` (optional) receives the first error: the call's, else the field's.
std::optional<GpuRecoveryAction> ReadGpuRecoveryAction(const NvmlLibrary& nvml, nvmlDevice_t device,
                                                       nvmlReturn_t* ret = nullptr);

// Reads the polled health signals of one device.
DeviceHealthProbe ProbeDeviceHealth(const NvmlLibrary& nvml, nvmlDevice_t device);

}  // namespace deviceapi::nvml

#endif  // DEVICEAPI_NVML_INVENTORY_H_
