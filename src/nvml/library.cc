#include "nvml/library.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include "common/strings.h"

namespace deviceapi::nvml {

using common::Cat;

std::vector<std::string> CandidatePaths(std::string_view driver_root) {
  std::string root(driver_root);
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  if (root == "/") root.clear();
  std::vector<std::string> out;
  for (const char* dir : {"usr/lib64", "usr/lib/x86_64-linux-gnu", "usr/lib", "lib64", "lib"}) {
    out.push_back(Cat(root, "/", dir, "/", kNvmlLibraryName));
  }
  return out;
}

namespace {

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode);
}

template <typename T>
void Resolve(void* handle, const char* name, T& target, std::vector<std::string>* missing) {
  target = reinterpret_cast<T>(::dlsym(handle, name));
  if (target == nullptr && missing != nullptr) missing->push_back(name);
}

}  // namespace

absl::StatusOr<std::unique_ptr<NvmlLibrary>> NvmlLibrary::Load(std::string_view driver_root) {
  std::unique_ptr<NvmlLibrary> lib(new NvmlLibrary());
  std::string tried;
  std::string last_error;
  for (const std::string& path : CandidatePaths(driver_root)) {
    tried += Cat(tried.empty() ? "" : ", ", path);
    if (!FileExists(path)) continue;
    lib->handle_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib->handle_ != nullptr) {
      lib->path_ = path;
      break;
    }
    const char* err = ::dlerror();  // NOLINT(concurrency-mt-unsafe): glibc keeps it per thread
    last_error = err != nullptr ? err : "dlopen failed";
  }
  if (lib->handle_ == nullptr) {
    tried += Cat(", system default (", kNvmlLibraryName, ")");
    lib->handle_ = ::dlopen(std::string(kNvmlLibraryName).c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib->handle_ == nullptr) {
      const char* err = ::dlerror();  // NOLINT(concurrency-mt-unsafe): glibc keeps it per thread
      if (err != nullptr) last_error = err;
      return absl::NotFoundError(common::ToAbsl(Cat("NVML library ", kNvmlLibraryName, " not found (tried ",
                                                    tried, ")", last_error.empty() ? "" : ": ", last_error)));
    }
    lib->path_ = std::string(kNvmlLibraryName);
  }

  std::vector<std::string> missing;
  void* h = lib->handle_;
  NvmlFunctions& f = lib->fn_;
  Resolve(h, "nvmlInit_v2", f.Init, &missing);
  Resolve(h, "nvmlShutdown", f.Shutdown, &missing);
  Resolve(h, "nvmlErrorString", f.ErrorString, &missing);
  Resolve(h, "nvmlSystemGetDriverVersion", f.SystemGetDriverVersion, &missing);
  Resolve(h, "nvmlDeviceGetCount_v2", f.DeviceGetCount, &missing);
  Resolve(h, "nvmlDeviceGetHandleByIndex_v2", f.DeviceGetHandleByIndex, &missing);
  Resolve(h, "nvmlDeviceGetUUID", f.DeviceGetUUID, &missing);
  Resolve(h, "nvmlDeviceGetName", f.DeviceGetName, &missing);
  Resolve(h, "nvmlDeviceGetMemoryInfo", f.DeviceGetMemoryInfo, &missing);
  Resolve(h, "nvmlDeviceGetPciInfo_v3", f.DeviceGetPciInfo, &missing);
  Resolve(h, "nvmlEventSetCreate", f.EventSetCreate, &missing);
  Resolve(h, "nvmlDeviceRegisterEvents", f.DeviceRegisterEvents, &missing);
  Resolve(h, "nvmlEventSetWait_v2", f.EventSetWait, &missing);
  Resolve(h, "nvmlEventSetFree", f.EventSetFree, &missing);
  Resolve(h, "nvmlDeviceGetSerial", f.DeviceGetSerial, nullptr);
  Resolve(h, "nvmlDeviceGetMinorNumber", f.DeviceGetMinorNumber, nullptr);
  Resolve(h, "nvmlDeviceGetCudaComputeCapability", f.DeviceGetCudaComputeCapability, nullptr);
  Resolve(h, "nvmlDeviceGetArchitecture", f.DeviceGetArchitecture, nullptr);
  Resolve(h, "nvmlDeviceGetNumaNodeId", f.DeviceGetNumaNodeId, nullptr);
  Resolve(h, "nvmlDeviceGetSupportedEventTypes", f.DeviceGetSupportedEventTypes, nullptr);
  Resolve(h, "nvmlDeviceGetRetiredPagesPendingStatus", f.DeviceGetRetiredPagesPendingStatus, nullptr);
  Resolve(h, "nvmlDeviceGetRetiredPages", f.DeviceGetRetiredPages, nullptr);
  Resolve(h, "nvmlDeviceGetRemappedRows", f.DeviceGetRemappedRows, nullptr);
  Resolve(h, "nvmlDeviceGetFieldValues", f.DeviceGetFieldValues, nullptr);
  if (!missing.empty()) {
    std::string names;
    for (const std::string& m : missing) names += Cat(names.empty() ? "" : ", ", m);
    return absl::FailedPreconditionError(
        common::ToAbsl(Cat("NVML library ", lib->path_, " lacks required symbols: ", names)));
  }
  nvmlReturn_t ret = f.Init();
  if (ret != NVML_SUCCESS) {
    return absl::FailedPreconditionError(
        common::ToAbsl(Cat("nvmlInit_v2 failed (", lib->path_, "): ", lib->Error(ret))));
  }
  lib->initialized_ = true;
  return lib;
}

NvmlLibrary::~NvmlLibrary() {
  if (initialized_ && fn_.Shutdown != nullptr) fn_.Shutdown();
  if (handle_ != nullptr) ::dlclose(handle_);
}

std::string NvmlLibrary::Error(nvmlReturn_t ret) const {
  const char* s = fn_.ErrorString != nullptr ? fn_.ErrorString(ret) : nullptr;
  return Cat(s != nullptr ? s : "unknown NVML error", " (", ret, ")");
}

}  // namespace deviceapi::nvml
