#include "nvml/inventory.h"

#include <cctype>
#include <fstream>

#include "common/strings.h"

namespace deviceapi::nvml {

using common::Cat;

std::string NormalizePciBusId(std::string_view bus_id) {
  std::string s(bus_id);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const size_t colon = s.find(':');
  if (colon == 8 && s.compare(0, 4, "0000") == 0) s.erase(0, 4);
  return s;
}

std::string ArchitectureName(nvmlDeviceArchitecture_t arch) {
  switch (arch) {
    case NVML_DEVICE_ARCH_KEPLER:
      return "Kepler";
    case NVML_DEVICE_ARCH_MAXWELL:
      return "Maxwell";
    case NVML_DEVICE_ARCH_PASCAL:
      return "Pascal";
    case NVML_DEVICE_ARCH_VOLTA:
      return "Volta";
    case NVML_DEVICE_ARCH_TURING:
      return "Turing";
    case NVML_DEVICE_ARCH_AMPERE:
      return "Ampere";
    case NVML_DEVICE_ARCH_ADA:
      return "Ada";
    case NVML_DEVICE_ARCH_HOPPER:
      return "Hopper";
    case NVML_DEVICE_ARCH_BLACKWELL:
      return "Blackwell";
    case NVML_DEVICE_ARCH_RUBIN:
      return "Rubin";
    default:
      return "";
  }
}

bool IsFatalDeviceError(nvmlReturn_t ret) {
  return ret == NVML_ERROR_GPU_IS_LOST || ret == NVML_ERROR_RESET_REQUIRED;
}

namespace {

// Remembers the first fatal error among the calls made on one device.
struct Tracker {
  nvmlReturn_t fatal = NVML_SUCCESS;
  bool Ok(nvmlReturn_t ret) {
    if (IsFatalDeviceError(ret) && fatal == NVML_SUCCESS) fatal = ret;
    return ret == NVML_SUCCESS;
  }
};

int32_t SysfsNumaNode(std::string_view sysfs_root, const std::string& bus_id) {
  if (bus_id.empty()) return -1;
  std::ifstream in(Cat(sysfs_root, "/bus/pci/devices/", bus_id, "/numa_node"));
  int node = -1;
  if (in >> node && node >= 0) return node;
  return -1;
}

}  // namespace

std::optional<GpuRecoveryAction> ReadGpuRecoveryAction(const NvmlLibrary& nvml, nvmlDevice_t device,
                                                       nvmlReturn_t* ret) {
  nvmlReturn_t dummy = NVML_SUCCESS;
  nvmlReturn_t& err = ret != nullptr ? *ret : dummy;
  err = NVML_SUCCESS;
  const NvmlFunctions& f = nvml.fn();
  if (f.DeviceGetFieldValues == nullptr) {
    err = NVML_ERROR_FUNCTION_NOT_FOUND;
    return std::nullopt;
  }
  nvmlFieldValue_t v{};
  v.fieldId = NVML_FI_DEV_GET_GPU_RECOVERY_ACTION;
  err = f.DeviceGetFieldValues(device, 1, &v);
  if (err != NVML_SUCCESS) return std::nullopt;
  err = v.nvmlReturn;
  if (err != NVML_SUCCESS) return std::nullopt;
  long long value = -1;
  switch (v.valueType) {
    case NVML_VALUE_TYPE_UNSIGNED_INT:
      value = v.value.uiVal;
      break;
    case NVML_VALUE_TYPE_SIGNED_INT:
      value = v.value.siVal;
      break;
    case NVML_VALUE_TYPE_UNSIGNED_LONG:
      value = static_cast<long long>(v.value.ulVal);
      break;
    case NVML_VALUE_TYPE_UNSIGNED_LONG_LONG:
      value = static_cast<long long>(v.value.ullVal);
      break;
    case NVML_VALUE_TYPE_SIGNED_LONG_LONG:
      value = v.value.sllVal;
      break;
    case NVML_VALUE_TYPE_UNSIGNED_SHORT:
      value = v.value.usVal;
      break;
    default:
      break;  // a double is not an enum value
  }
  switch (value) {
    case NVML_GPU_RECOVERY_ACTION_NONE:
      return GpuRecoveryAction::kNone;
    case NVML_GPU_RECOVERY_ACTION_GPU_RESET:
      return GpuRecoveryAction::kGpuReset;
    case NVML_GPU_RECOVERY_ACTION_NODE_REBOOT:
      return GpuRecoveryAction::kNodeReboot;
    case NVML_GPU_RECOVERY_ACTION_DRAIN_P2P:
      return GpuRecoveryAction::kDrainP2p;
    case NVML_GPU_RECOVERY_ACTION_DRAIN_AND_RESET:
      return GpuRecoveryAction::kDrainAndReset;
    default:
      // 5 and up differ between NVML versions (RECOVER_IMEX_DOMAIN, BUS_RESET, SYSTEM_REBOOT):
      // not guessed; the caller falls back to the catalog.
      err = NVML_ERROR_UNKNOWN;
      return std::nullopt;
  }
}

DeviceHealthProbe ProbeDeviceHealth(const NvmlLibrary& nvml, nvmlDevice_t device) {
  const NvmlFunctions& f = nvml.fn();
  DeviceHealthProbe p;
  Tracker t;
  nvmlMemory_t mem{};
  t.Ok(f.DeviceGetMemoryInfo(device, &mem));
  if (f.DeviceGetRetiredPagesPendingStatus != nullptr) {
    nvmlEnableState_t pending = NVML_FEATURE_DISABLED;
    if (t.Ok(f.DeviceGetRetiredPagesPendingStatus(device, &pending))) {
      p.retirement_pending = pending == NVML_FEATURE_ENABLED;
    }
  }
  if (f.DeviceGetRemappedRows != nullptr) {
    unsigned int corr = 0, unc = 0, pending = 0, failure = 0;
    if (t.Ok(f.DeviceGetRemappedRows(device, &corr, &unc, &pending, &failure))) {
      p.remap_pending = pending != 0;
      p.remap_failure = failure != 0;
    }
  }
  if (f.DeviceGetRetiredPages != nullptr) {
    uint64_t total = 0;
    bool any = false;
    for (nvmlPageRetirementCause_t cause : {NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS,
                                            NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR}) {
      unsigned int count = 0;
      nvmlReturn_t ret = f.DeviceGetRetiredPages(device, cause, &count, nullptr);
      t.Ok(ret);
      // A zero-sized query answers with the count, as SUCCESS or INSUFFICIENT_SIZE.
      if (ret == NVML_SUCCESS || ret == NVML_ERROR_INSUFFICIENT_SIZE) {
        total += count;
        any = true;
      }
    }
    if (any) p.retired_pages = total;
  }
  nvmlReturn_t ret = NVML_SUCCESS;
  p.recovery_action = ReadGpuRecoveryAction(nvml, device, &ret);
  t.Ok(ret);
  p.fatal_error = t.fatal;
  return p;
}

absl::StatusOr<std::vector<EnumeratedDevice>> EnumerateDevices(const NvmlLibrary& nvml,
                                                               std::string_view sysfs_root) {
  const NvmlFunctions& f = nvml.fn();
  unsigned int count = 0;
  if (nvmlReturn_t ret = f.DeviceGetCount(&count); ret != NVML_SUCCESS) {
    return absl::UnavailableError(common::ToAbsl(Cat("nvmlDeviceGetCount_v2: ", nvml.Error(ret))));
  }
  std::string driver_version;
  {
    char buf[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE] = {};
    if (f.SystemGetDriverVersion(buf, sizeof(buf)) == NVML_SUCCESS) driver_version = buf;
  }

  std::vector<EnumeratedDevice> out;
  out.reserve(count);
  for (unsigned int i = 0; i < count; ++i) {
    EnumeratedDevice d;
    d.index = i;
    Tracker t;
    GpuInventory& inv = d.inventory;
    inv.driver_version = driver_version;
    if (!t.Ok(f.DeviceGetHandleByIndex(i, &d.handle))) {
      d.handle = nullptr;
      d.probe.fatal_error = t.fatal != NVML_SUCCESS ? t.fatal : NVML_ERROR_UNKNOWN;
      out.push_back(std::move(d));
      continue;
    }
    char buf[128] = {};
    if (t.Ok(f.DeviceGetUUID(d.handle, buf, NVML_DEVICE_UUID_V2_BUFFER_SIZE))) inv.uuid = buf;
    buf[0] = '\0';
    if (t.Ok(f.DeviceGetName(d.handle, buf, NVML_DEVICE_NAME_V2_BUFFER_SIZE))) inv.product_name = buf;
    nvmlMemory_t mem{};
    if (t.Ok(f.DeviceGetMemoryInfo(d.handle, &mem))) inv.memory_bytes = mem.total;
    nvmlPciInfo_t pci{};
    if (t.Ok(f.DeviceGetPciInfo(d.handle, &pci))) {
      pci.busId[sizeof(pci.busId) - 1] = '\0';
      inv.pci_bus_id = NormalizePciBusId(pci.busId);
    }
    if (f.DeviceGetMinorNumber != nullptr) {
      unsigned int minor = 0;
      if (t.Ok(f.DeviceGetMinorNumber(d.handle, &minor))) inv.minor_number = static_cast<int32_t>(minor);
    }
    unsigned int numa = 0;
    if (f.DeviceGetNumaNodeId != nullptr && t.Ok(f.DeviceGetNumaNodeId(d.handle, &numa))) {
      inv.numa_node = static_cast<int32_t>(numa);
    } else {
      inv.numa_node = SysfsNumaNode(sysfs_root, inv.pci_bus_id);
    }
    if (f.DeviceGetArchitecture != nullptr) {
      nvmlDeviceArchitecture_t arch = NVML_DEVICE_ARCH_UNKNOWN;
      if (t.Ok(f.DeviceGetArchitecture(d.handle, &arch))) inv.architecture = ArchitectureName(arch);
    }
    if (f.DeviceGetCudaComputeCapability != nullptr) {
      int major = 0, minor = 0;
      if (t.Ok(f.DeviceGetCudaComputeCapability(d.handle, &major, &minor))) {
        inv.compute_capability = Cat(major, ".", minor);
      }
    }
    if (f.DeviceGetSerial != nullptr) {
      buf[0] = '\0';
      if (t.Ok(f.DeviceGetSerial(d.handle, buf, NVML_DEVICE_SERIAL_BUFFER_SIZE))) inv.serial = buf;
    }
    d.probe = ProbeDeviceHealth(nvml, d.handle);
    if (d.probe.fatal_error == NVML_SUCCESS) d.probe.fatal_error = t.fatal;
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace deviceapi::nvml
