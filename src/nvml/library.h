// Loads libnvidia-ml.so.1 at run time (never linked) and resolves the NVML entry points the
// provider uses.
//
// Search order (upstream NVSentinel's, plus the system default last): for a driver root R,
//   R/usr/lib64, R/usr/lib/x86_64-linux-gnu, R/usr/lib, R/lib64, R/lib, then dlopen's own search
// for "libnvidia-ml.so.1". The fake library in tests/fakes/ is loaded through exactly this path.
#ifndef DEVICEAPI_NVML_LIBRARY_H_
#define DEVICEAPI_NVML_LIBRARY_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nvml/nvml_abi.h"

namespace deviceapi::nvml {

inline constexpr std::string_view kNvmlLibraryName = "libnvidia-ml.so.1";
inline constexpr std::string_view kDefaultDriverRoot = "/run/nvidia/driver";

// The candidate absolute paths under `driver_root`, in search order (without the final
// system-default lookup by bare name).
std::vector<std::string> CandidatePaths(std::string_view driver_root);

// The resolved entry points. Required ones are never null; optional ones (marked) may be, on
// drivers that lack them, and callers treat a null one as NOT_SUPPORTED.
struct NvmlFunctions {
  nvmlInit_v2_fn Init = nullptr;
  nvmlShutdown_fn Shutdown = nullptr;
  nvmlErrorString_fn ErrorString = nullptr;
  nvmlSystemGetDriverVersion_fn SystemGetDriverVersion = nullptr;
  nvmlDeviceGetCount_v2_fn DeviceGetCount = nullptr;
  nvmlDeviceGetHandleByIndex_v2_fn DeviceGetHandleByIndex = nullptr;
  nvmlDeviceGetUUID_fn DeviceGetUUID = nullptr;
  nvmlDeviceGetName_fn DeviceGetName = nullptr;
  nvmlDeviceGetMemoryInfo_fn DeviceGetMemoryInfo = nullptr;
  nvmlDeviceGetPciInfo_v3_fn DeviceGetPciInfo = nullptr;
  nvmlEventSetCreate_fn EventSetCreate = nullptr;
  nvmlDeviceRegisterEvents_fn DeviceRegisterEvents = nullptr;
  nvmlEventSetWait_v2_fn EventSetWait = nullptr;
  nvmlEventSetFree_fn EventSetFree = nullptr;
  // Optional.
  nvmlDeviceGetSerial_fn DeviceGetSerial = nullptr;
  nvmlDeviceGetMinorNumber_fn DeviceGetMinorNumber = nullptr;
  nvmlDeviceGetCudaComputeCapability_fn DeviceGetCudaComputeCapability = nullptr;
  nvmlDeviceGetArchitecture_fn DeviceGetArchitecture = nullptr;
  nvmlDeviceGetNumaNodeId_fn DeviceGetNumaNodeId = nullptr;
  nvmlDeviceGetSupportedEventTypes_fn DeviceGetSupportedEventTypes = nullptr;
  nvmlDeviceGetRetiredPagesPendingStatus_fn DeviceGetRetiredPagesPendingStatus = nullptr;
  nvmlDeviceGetRetiredPages_fn DeviceGetRetiredPages = nullptr;
  nvmlDeviceGetRemappedRows_fn DeviceGetRemappedRows = nullptr;
  nvmlDeviceGetFieldValues_fn DeviceGetFieldValues = nullptr;
};

// An opened and initialized NVML. Destruction calls nvmlShutdown() and dlclose(). NVML itself is
// thread-safe, so the functions may be called from any thread while the object lives.
class NvmlLibrary {
 public:
  // Finds, opens and initializes NVML. Errors:
  //   NOT_FOUND            no libnvidia-ml.so.1 anywhere on the search path (the message lists
  //                        the places tried);
  //   FAILED_PRECONDITION  the library lacks a required symbol, or nvmlInit_v2 failed (driver not
  //                        loaded, version mismatch, no permission; the NVML error string is in
  //                        the message).
  static absl::StatusOr<std::unique_ptr<NvmlLibrary>> Load(std::string_view driver_root);

  ~NvmlLibrary();
  NvmlLibrary(const NvmlLibrary&) = delete;
  NvmlLibrary& operator=(const NvmlLibrary&) = delete;

  const NvmlFunctions& fn() const { return fn_; }
  // The file that was opened (the bare name when found by the system default search).
  const std::string& path() const { return path_; }
  // "<nvmlErrorString> (<code>)".
  std::string Error(nvmlReturn_t ret) const;

 private:
  NvmlLibrary() = default;
  void* handle_ = nullptr;
  std::string path_;
  NvmlFunctions fn_;
  bool initialized_ = false;
};

using NvmlLibraryPtr = std::unique_ptr<NvmlLibrary>;

}  // namespace deviceapi::nvml

#endif  // DEVICEAPI_NVML_LIBRARY_H_
