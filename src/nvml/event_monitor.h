// Waits for NVML events (XID critical errors, ECC errors where supported) on one event set and
// hands them to a callback, on a thread of its own.
//
// The wait uses a short timeout so that Stop() returns promptly. Devices are registered as the
// provider discovers them (RegisterDevice may be called at any time from any thread); a device
// whose registration answers NOT_SUPPORTED stays healthy and unmonitored, as NVIDIA's device
// plugin does. A wait that fails with NVML_ERROR_UNKNOWN re-creates the set and re-registers
// every device instead of marking every GPU unhealthy (NVIDIA device plugin issue #669).
#ifndef DEVICEAPI_NVML_EVENT_MONITOR_H_
#define DEVICEAPI_NVML_EVENT_MONITOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nvml/library.h"

namespace deviceapi::nvml {

struct NvmlEvent {
  std::string uuid;               // the device's UUID ("" when the device could not be identified)
  uint64_t event_type = 0;        // nvmlEventType* bit
  uint64_t xid = 0;               // eventData: the XID for XID events
  nvmlDevice_t device = nullptr;  // the handle NVML reported (for follow-up queries)
};

enum class RegisterResult { kRegistered, kNotSupported, kFailed };

class EventMonitor {
 public:
  using Handler = std::function<void(const NvmlEvent&)>;

  // `nvml` must outlive the monitor. `handler` runs on the monitor's thread, one event at a time.
  EventMonitor(const NvmlLibrary& nvml, Handler handler,
               absl::Duration wait_timeout = absl::Milliseconds(200));
  ~EventMonitor();  // Stop()s
  EventMonitor(const EventMonitor&) = delete;
  EventMonitor& operator=(const EventMonitor&) = delete;

  // Creates the event set and starts the thread. FAILED_PRECONDITION when the set cannot be created.
  absl::Status Start();
  // Stops the thread; returns within about one wait timeout. Idempotent; blocks.
  void Stop();

  // Registers XID critical-error events (plus single/double-bit ECC events when the device
  // supports them) for `device`. Registering an already registered UUID again is a no-op that
  // returns the earlier result. Thread-safe; blocks on NVML only.
  RegisterResult RegisterDevice(nvmlDevice_t device, const std::string& uuid);

  // Forgets a device that disappeared (its events, if any still come, carry an empty UUID).
  void ForgetDevice(const std::string& uuid);

 private:
  struct Registration {
    nvmlDevice_t device = nullptr;
    unsigned long long mask = 0;
    RegisterResult result = RegisterResult::kFailed;
  };

  void Run();
  RegisterResult RegisterLocked(nvmlDevice_t device, Registration* reg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RecreateSet();

  const NvmlLibrary& nvml_;
  const Handler handler_;
  const absl::Duration wait_timeout_;

  absl::Mutex mu_;
  nvmlEventSet_t set_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::map<std::string, Registration> devices_ ABSL_GUARDED_BY(mu_);  // by UUID
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace deviceapi::nvml

#endif  // DEVICEAPI_NVML_EVENT_MONITOR_H_
