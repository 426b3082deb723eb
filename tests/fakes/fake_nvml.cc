// A fake libnvidia-ml.so.1 with the real ABI (the NVML subset in src/nvml/nvml_abi.h), described
// by a JSON file named in FAKE_NVML_CONFIG (format: docs/nvml-provider.md, "Fake NVML"). The provider loads
// it through its normal --driver-root search, so tests exercise the real loading path (STYLE.md #9).
//
// The config is re-read whenever the file changes (inode, size or mtime), checked at nvmlInit_v2,
// nvmlDeviceGetCount_v2 and nvmlEventSetCreate; tests replace it atomically (write + rename).
// Devices keep their handle for the life of the process, also when removed and added again.
// Events are lines "<uuid> <xid>" (or "<uuid> sbe" / "<uuid> dbe" for ECC events) appended to the
// file or FIFO named by "events"; an event set sees the lines written after it was created.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "nvml/nvml_abi.h"

#define FAKE_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

struct DeviceConfig {
  std::string uuid;
  std::string name = "NVIDIA Fake GPU";
  unsigned long long memory_bytes = 0;
  std::string pci_bus_id = "0000:00:00.0";
  int minor = 0;
  int numa_node = -1;  // < 0: NOT_SUPPORTED
  std::string architecture = "Hopper";
  std::string compute_capability = "9.0";
  std::string serial;
  // Failure switches.
  bool lost = false;                  // per-device calls return GPU_IS_LOST
  bool reset_required = false;        // per-device calls return RESET_REQUIRED
  bool pending_retirement = false;    // nvmlDeviceGetRetiredPagesPendingStatus: enabled
  bool remap_pending = false;         // nvmlDeviceGetRemappedRows isPending
  bool remap_failure = false;         // nvmlDeviceGetRemappedRows failureOccurred
  unsigned int retired_pages = 0;     // nvmlDeviceGetRetiredPages (cause 0)
  bool events_not_supported = false;  // registration answers NOT_SUPPORTED
  // nvmlDeviceGetFieldValues: field ID -> value (served as UNSIGNED_INT); a field not listed
  // answers NOT_SUPPORTED in its nvmlReturn, as real NVML does for fields a GPU lacks.
  std::map<unsigned int, unsigned int> field_values;
};

struct FakeDevice {
  DeviceConfig cfg;
  bool present = false;
};

struct State {
  std::mutex mu;
  std::string config_path;
  ino_t ino = 0;
  off_t size = -1;
  struct timespec mtime = {};
  std::string driver_version = "550.54.15";
  std::string events_path;
  int init_error = 0;
  std::map<std::string, std::unique_ptr<FakeDevice>> devices;  // by UUID, freed with the state
  std::vector<FakeDevice*> present;                            // config order
  int init_count = 0;
};

// A static object, not a heap one: it is destroyed when the library is
// dlclose()d or the process exits, so leak checkers see nothing left behind.
// Device handles stay valid until then.
State& S() {
  static State s;
  return s;
}

struct EventSet {
  std::mutex mu;
  std::map<FakeDevice*, unsigned long long> registered;
  std::string path;
  int fd = -1;
  bool fifo = false;
  off_t offset = 0;
  std::string buffer;

  ~EventSet() {
    if (fd >= 0) ::close(fd);
  }
};

unsigned int ArchFromName(const std::string& a) {
  static const std::map<std::string, unsigned int> kArch = {
      {"Kepler", 2}, {"Maxwell", 3}, {"Pascal", 4}, {"Volta", 5},      {"Turing", 6},
      {"Ampere", 7}, {"Ada", 8},     {"Hopper", 9}, {"Blackwell", 10}, {"Rubin", 13}};
  auto it = kArch.find(a);
  return it == kArch.end() ? NVML_DEVICE_ARCH_UNKNOWN : it->second;
}

template <typename T>
void Get(const nlohmann::json& j, const char* key, T& out) {
  if (j.contains(key) && !j[key].is_null()) out = j[key].get<T>();
}

// Re-reads the config when the file changed. Keeps the previous config on a parse error.
void ReloadLocked(State& s) {
  if (s.config_path.empty()) {
    const char* p = std::getenv("FAKE_NVML_CONFIG");
    if (p == nullptr) return;
    s.config_path = p;
  }
  struct stat st;
  if (::stat(s.config_path.c_str(), &st) != 0) return;
  if (st.st_ino == s.ino && st.st_size == s.size && st.st_mtim.tv_sec == s.mtime.tv_sec &&
      st.st_mtim.tv_nsec == s.mtime.tv_nsec) {
    return;
  }
  std::ifstream in(s.config_path);
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return;
  s.ino = st.st_ino;
  s.size = st.st_size;
  s.mtime = st.st_mtim;
  Get(j, "driver_version", s.driver_version);
  Get(j, "events", s.events_path);
  Get(j, "init_error", s.init_error);
  for (auto& [uuid, d] : s.devices) d->present = false;
  s.present.clear();
  if (j.contains("devices") && j["devices"].is_array()) {
    for (const nlohmann::json& dj : j["devices"]) {
      DeviceConfig c;
      Get(dj, "uuid", c.uuid);
      if (c.uuid.empty()) continue;
      Get(dj, "name", c.name);
      Get(dj, "memory_bytes", c.memory_bytes);
      Get(dj, "pci_bus_id", c.pci_bus_id);
      Get(dj, "minor", c.minor);
      Get(dj, "numa_node", c.numa_node);
      Get(dj, "architecture", c.architecture);
      Get(dj, "compute_capability", c.compute_capability);
      Get(dj, "serial", c.serial);
      Get(dj, "lost", c.lost);
      Get(dj, "reset_required", c.reset_required);
      Get(dj, "pending_retirement", c.pending_retirement);
      Get(dj, "remap_pending", c.remap_pending);
      Get(dj, "remap_failure", c.remap_failure);
      Get(dj, "retired_pages", c.retired_pages);
      Get(dj, "events_not_supported", c.events_not_supported);
      if (dj.contains("field_values") && dj["field_values"].is_object()) {
        for (const auto& [id, value] : dj["field_values"].items()) {
          char* end = nullptr;
          const unsigned long field = std::strtoul(id.c_str(), &end, 10);
          if (end != id.c_str() && *end == '\0' && value.is_number_unsigned()) {
            c.field_values[static_cast<unsigned int>(field)] = value.get<unsigned int>();
          }
        }
      }
      std::unique_ptr<FakeDevice>& d = s.devices[c.uuid];
      if (!d) d = std::make_unique<FakeDevice>();
      if (d->present) continue;  // duplicate UUID in the config
      d->cfg = c;
      d->present = true;
      s.present.push_back(d.get());
    }
  }
}

// Validates a handle and applies the failure switches. `identity` calls (UUID) still answer for
// a lost GPU, so that the provider can tell which GPU is lost.
nvmlReturn_t Check(nvmlDevice_t device, FakeDevice** out, bool identity = false) {
  State& s = S();
  if (s.init_count == 0) return NVML_ERROR_UNINITIALIZED;
  FakeDevice* d = reinterpret_cast<FakeDevice*>(device);
  bool known = false;
  for (auto& [uuid, dev] : s.devices) {
    if (dev.get() == d) known = true;
  }
  if (!known) return NVML_ERROR_INVALID_ARGUMENT;
  if (!d->present) return NVML_ERROR_GPU_IS_LOST;
  if (!identity && d->cfg.lost) return NVML_ERROR_GPU_IS_LOST;
  if (!identity && d->cfg.reset_required) return NVML_ERROR_RESET_REQUIRED;
  *out = d;
  return NVML_SUCCESS;
}

nvmlReturn_t CopyString(const std::string& v, char* buf, unsigned int length) {
  if (buf == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  if (v.size() + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
  std::memcpy(buf, v.c_str(), v.size() + 1);
  return NVML_SUCCESS;
}

void OpenEvents(EventSet* set) {
  if (set->fd >= 0 || set->path.empty()) return;
  struct stat st;
  if (::stat(set->path.c_str(), &st) != 0) return;
  set->fifo = S_ISFIFO(st.st_mode);
  set->fd = ::open(set->path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (set->fd >= 0 && !set->fifo) set->offset = st.st_size;  // only events after creation
}

// Takes complete lines from the buffer until one is an event for this set.
bool NextEventLocked(EventSet* set, nvmlEventData_t* data) {
  while (true) {
    const size_t nl = set->buffer.find('\n');
    if (nl == std::string::npos) return false;
    std::string line = set->buffer.substr(0, nl);
    set->buffer.erase(0, nl + 1);
    std::istringstream ls(line);
    std::string uuid, what;
    if (!(ls >> uuid >> what)) continue;
    unsigned long long type = nvmlEventTypeXidCriticalError;
    unsigned long long value = 0;
    if (what == "sbe") {
      type = nvmlEventTypeSingleBitEccError;
    } else if (what == "dbe") {
      type = nvmlEventTypeDoubleBitEccError;
    } else {
      char* end = nullptr;
      value = std::strtoull(what.c_str(), &end, 10);
      if (end == what.c_str() || *end != '\0') continue;
    }
    FakeDevice* dev = nullptr;
    {
      std::lock_guard<std::mutex> lock(S().mu);
      auto it = S().devices.find(uuid);
      if (it != S().devices.end()) dev = it->second.get();
    }
    if (dev == nullptr) continue;
    auto reg = set->registered.find(dev);
    if (reg == set->registered.end() || (reg->second & type) == 0) continue;
    std::memset(data, 0, sizeof(*data));
    data->device = reinterpret_cast<nvmlDevice_t>(dev);
    data->eventType = type;
    data->eventData = value;
    data->gpuInstanceId = 0xFFFFFFFFu;
    data->computeInstanceId = 0xFFFFFFFFu;
    return true;
  }
}

// Reads what is available without blocking; returns true when bytes were read.
bool ReadMoreLocked(EventSet* set) {
  OpenEvents(set);
  if (set->fd < 0) return false;
  char buf[4096];
  bool any = false;
  while (true) {
    ssize_t n =
        set->fifo ? ::read(set->fd, buf, sizeof(buf)) : ::pread(set->fd, buf, sizeof(buf), set->offset);
    if (n <= 0) break;
    if (!set->fifo) set->offset += n;
    set->buffer.append(buf, static_cast<size_t>(n));
    any = true;
  }
  return any;
}

}  // namespace

FAKE_EXPORT nvmlReturn_t nvmlInit_v2(void) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  const char* path = std::getenv("FAKE_NVML_CONFIG");
  if (path == nullptr) return NVML_ERROR_DRIVER_NOT_LOADED;
  if (s.config_path != path) {
    s.config_path = path;
    s.ino = 0;
    s.size = -1;
  }
  ReloadLocked(s);
  if (s.init_error != 0) return s.init_error;
  ++s.init_count;
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlShutdown(void) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.init_count == 0) return NVML_ERROR_UNINITIALIZED;
  --s.init_count;
  return NVML_SUCCESS;
}

FAKE_EXPORT const char* nvmlErrorString(nvmlReturn_t result) {
  switch (result) {
    case NVML_SUCCESS:
      return "Success";
    case NVML_ERROR_UNINITIALIZED:
      return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT:
      return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED:
      return "Not Supported";
    case NVML_ERROR_NO_PERMISSION:
      return "Insufficient Permissions";
    case NVML_ERROR_NOT_FOUND:
      return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE:
      return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED:
      return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT:
      return "Timeout";
    case NVML_ERROR_GPU_IS_LOST:
      return "GPU is lost";
    case NVML_ERROR_RESET_REQUIRED:
      return "GPU requires reset";
    default:
      return "Unknown Error";
  }
}

FAKE_EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char* version, unsigned int length) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.init_count == 0) return NVML_ERROR_UNINITIALIZED;
  return CopyString(s.driver_version, version, length);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* count) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.init_count == 0) return NVML_ERROR_UNINITIALIZED;
  if (count == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  ReloadLocked(s);
  *count = static_cast<unsigned int>(s.present.size());
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t* device) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.init_count == 0) return NVML_ERROR_UNINITIALIZED;
  if (device == nullptr || index >= s.present.size()) return NVML_ERROR_INVALID_ARGUMENT;
  *device = reinterpret_cast<nvmlDevice_t>(s.present[index]);
  return NVML_SUCCESS;
}

#define FAKE_DEVICE_CALL(identity)        \
  State& s = S();                         \
  std::lock_guard<std::mutex> lock(s.mu); \
  FakeDevice* d = nullptr;                \
  if (nvmlReturn_t r = Check(device, &d, identity); r != NVML_SUCCESS) return r

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char* uuid, unsigned int length) {
  FAKE_DEVICE_CALL(true);
  return CopyString(d->cfg.uuid, uuid, length);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* name, unsigned int length) {
  FAKE_DEVICE_CALL(false);
  return CopyString(d->cfg.name, name, length);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetSerial(nvmlDevice_t device, char* serial, unsigned int length) {
  FAKE_DEVICE_CALL(false);
  if (d->cfg.serial.empty()) return NVML_ERROR_NOT_SUPPORTED;
  return CopyString(d->cfg.serial, serial, length);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t* memory) {
  FAKE_DEVICE_CALL(false);
  if (memory == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  memory->total = d->cfg.memory_bytes;
  memory->used = d->cfg.memory_bytes / 100;
  memory->free = memory->total - memory->used;
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t* pci) {
  FAKE_DEVICE_CALL(false);
  if (pci == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  std::memset(pci, 0, sizeof(*pci));
  unsigned int domain = 0, bus = 0, dev = 0, fn = 0;
  std::sscanf(d->cfg.pci_bus_id.c_str(), "%x:%x:%x.%x", &domain, &bus, &dev, &fn);
  pci->domain = domain;
  pci->bus = bus;
  pci->device = dev;
  pci->pciDeviceId = (0x2330u << 16) | 0x10DEu;
  std::snprintf(pci->busIdLegacy, sizeof(pci->busIdLegacy), "%04X:%02X:%02X.0", domain & 0xFFFFu, bus, dev);
  std::snprintf(pci->busId, sizeof(pci->busId), "%08X:%02X:%02X.0", domain, bus, dev);
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int* minor) {
  FAKE_DEVICE_CALL(false);
  if (minor == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *minor = static_cast<unsigned int>(d->cfg.minor);
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int* major, int* minor) {
  FAKE_DEVICE_CALL(false);
  if (major == nullptr || minor == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  if (std::sscanf(d->cfg.compute_capability.c_str(), "%d.%d", major, minor) != 2) return NVML_ERROR_UNKNOWN;
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t device, nvmlDeviceArchitecture_t* arch) {
  FAKE_DEVICE_CALL(false);
  if (arch == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *arch = ArchFromName(d->cfg.architecture);
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetNumaNodeId(nvmlDevice_t device, unsigned int* node) {
  FAKE_DEVICE_CALL(false);
  if (node == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  if (d->cfg.numa_node < 0) return NVML_ERROR_NOT_SUPPORTED;
  *node = static_cast<unsigned int>(d->cfg.numa_node);
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetRetiredPagesPendingStatus(nvmlDevice_t device,
                                                                nvmlEnableState_t* pending) {
  FAKE_DEVICE_CALL(false);
  if (pending == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *pending = d->cfg.pending_retirement ? NVML_FEATURE_ENABLED : NVML_FEATURE_DISABLED;
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetRetiredPages(nvmlDevice_t device, nvmlPageRetirementCause_t cause,
                                                   unsigned int* count, unsigned long long* addresses) {
  FAKE_DEVICE_CALL(false);
  if (count == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  const unsigned int n =
      cause == NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS ? d->cfg.retired_pages : 0;
  if (addresses == nullptr || *count < n) {
    const bool enough = *count >= n;
    *count = n;
    return enough ? NVML_SUCCESS : NVML_ERROR_INSUFFICIENT_SIZE;
  }
  for (unsigned int i = 0; i < n; ++i) addresses[i] = 0x1000ULL * (i + 1);
  *count = n;
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetRemappedRows(nvmlDevice_t device, unsigned int* corr, unsigned int* unc,
                                                   unsigned int* pending, unsigned int* failure) {
  FAKE_DEVICE_CALL(false);
  if (corr == nullptr || unc == nullptr || pending == nullptr || failure == nullptr) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  *corr = 0;
  *unc = d->cfg.remap_pending || d->cfg.remap_failure ? 1 : 0;
  *pending = d->cfg.remap_pending ? 1 : 0;
  *failure = d->cfg.remap_failure ? 1 : 0;
  return NVML_SUCCESS;
}

// Re-reads the config first, so that tests can change a value between two events.
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int count, nvmlFieldValue_t* values) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  ReloadLocked(s);
  FakeDevice* d = nullptr;
  if (nvmlReturn_t r = Check(device, &d); r != NVML_SUCCESS) return r;
  if (count < 0 || (count > 0 && values == nullptr)) return NVML_ERROR_INVALID_ARGUMENT;
  const long long now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  for (int i = 0; i < count; ++i) {
    nvmlFieldValue_t& v = values[i];
    v.timestamp = now_us;
    v.latencyUsec = 0;
    auto it = d->cfg.field_values.find(v.fieldId);
    if (it == d->cfg.field_values.end()) {
      v.nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
      continue;
    }
    v.nvmlReturn = NVML_SUCCESS;
    v.valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
    v.value.ullVal = 0;
    v.value.uiVal = it->second;
  }
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long* types) {
  FAKE_DEVICE_CALL(false);
  if (types == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  if (d->cfg.events_not_supported) return NVML_ERROR_NOT_SUPPORTED;
  *types = nvmlEventTypeXidCriticalError | nvmlEventTypeSingleBitEccError | nvmlEventTypeDoubleBitEccError;
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t* set) {
  State& s = S();
  std::string path;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.init_count == 0) return NVML_ERROR_UNINITIALIZED;
    if (set == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
    ReloadLocked(s);
    path = s.events_path;
  }
  auto* es = new EventSet();
  es->path = path;
  OpenEvents(es);
  *set = reinterpret_cast<nvmlEventSet_t>(es);
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long types,
                                                  nvmlEventSet_t set) {
  FakeDevice* d = nullptr;
  {
    State& s = S();
    std::lock_guard<std::mutex> lock(s.mu);
    if (nvmlReturn_t r = Check(device, &d); r != NVML_SUCCESS) return r;
    if (d->cfg.events_not_supported) return NVML_ERROR_NOT_SUPPORTED;
  }
  if (set == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  auto* es = reinterpret_cast<EventSet*>(set);
  std::lock_guard<std::mutex> lock(es->mu);
  es->registered[d] |= types;
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t* data,
                                             unsigned int timeoutms) {
  if (set == nullptr || data == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  auto* es = reinterpret_cast<EventSet*>(set);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutms);
  while (true) {
    {
      std::lock_guard<std::mutex> lock(es->mu);
      if (NextEventLocked(es, data)) return NVML_SUCCESS;
      if (ReadMoreLocked(es) && NextEventLocked(es, data)) return NVML_SUCCESS;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return NVML_ERROR_TIMEOUT;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    int wait_ms = static_cast<int>(std::min<long long>(left.count() + 1, 5));
    int fd = -1;
    bool fifo = false;
    {
      std::lock_guard<std::mutex> lock(es->mu);
      fd = es->fd;
      fifo = es->fifo;
    }
    if (fifo && fd >= 0) {
      struct pollfd p = {fd, POLLIN, 0};
      // POLLHUP (no writer) returns at once: fall back to the sleep below.
      if (::poll(&p, 1, wait_ms) > 0 && (p.revents & POLLIN)) continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
  }
}

FAKE_EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set) {
  if (set == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  delete reinterpret_cast<EventSet*>(set);
  return NVML_SUCCESS;
}
