#include "nvml/event_monitor.h"

#include "common/logging.h"

namespace deviceapi::nvml {

EventMonitor::EventMonitor(const NvmlLibrary& nvml, Handler handler, absl::Duration wait_timeout)
    : nvml_(nvml), handler_(std::move(handler)), wait_timeout_(wait_timeout) {}

EventMonitor::~EventMonitor() {
  Stop();
  absl::MutexLock lock(&mu_);
  if (set_ != nullptr) nvml_.fn().EventSetFree(set_);
  set_ = nullptr;
}

absl::Status EventMonitor::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (set_ == nullptr) {
      nvmlReturn_t ret = nvml_.fn().EventSetCreate(&set_);
      if (ret != NVML_SUCCESS) {
        set_ = nullptr;
        return absl::FailedPreconditionError("nvmlEventSetCreate: " + nvml_.Error(ret));
      }
    }
  }
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void EventMonitor::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

RegisterResult EventMonitor::RegisterLocked(nvmlDevice_t device, Registration* reg) {
  const NvmlFunctions& f = nvml_.fn();
  unsigned long long wanted =
      nvmlEventTypeXidCriticalError | nvmlEventTypeSingleBitEccError | nvmlEventTypeDoubleBitEccError;
  if (f.DeviceGetSupportedEventTypes != nullptr) {
    unsigned long long supported = 0;
    nvmlReturn_t ret = f.DeviceGetSupportedEventTypes(device, &supported);
    if (ret == NVML_SUCCESS) {
      wanted &= supported;
    } else if (ret == NVML_ERROR_NOT_SUPPORTED) {
      wanted = 0;
    }
  }
  reg->device = device;
  reg->mask = wanted;
  if (wanted == 0) {
    reg->result = RegisterResult::kNotSupported;
    return reg->result;
  }
  nvmlReturn_t ret = f.DeviceRegisterEvents(device, wanted, set_);
  if (ret == NVML_SUCCESS) {
    reg->result = RegisterResult::kRegistered;
  } else if (ret == NVML_ERROR_NOT_SUPPORTED) {
    reg->result = RegisterResult::kNotSupported;
  } else {
    DAPI_LOG_WARN("nvmlDeviceRegisterEvents: {}", nvml_.Error(ret));
    reg->result = RegisterResult::kFailed;
  }
  return reg->result;
}

RegisterResult EventMonitor::RegisterDevice(nvmlDevice_t device, const std::string& uuid) {
  absl::MutexLock lock(&mu_);
  auto it = devices_.find(uuid);
  if (it != devices_.end() && it->second.device == device && it->second.result != RegisterResult::kFailed) {
    return it->second.result;
  }
  if (set_ == nullptr) return RegisterResult::kFailed;
  Registration& reg = devices_[uuid];
  return RegisterLocked(device, &reg);
}

void EventMonitor::ForgetDevice(const std::string& uuid) {
  absl::MutexLock lock(&mu_);
  devices_.erase(uuid);
}

void EventMonitor::RecreateSet() {
  absl::MutexLock lock(&mu_);
  const NvmlFunctions& f = nvml_.fn();
  if (set_ != nullptr) f.EventSetFree(set_);
  set_ = nullptr;
  if (nvmlReturn_t ret = f.EventSetCreate(&set_); ret != NVML_SUCCESS) {
    DAPI_LOG_ERROR("nvmlEventSetCreate: {}", nvml_.Error(ret));
    set_ = nullptr;
    return;
  }
  for (auto& [uuid, reg] : devices_) RegisterLocked(reg.device, &reg);
}

void EventMonitor::Run() {
  const NvmlFunctions& f = nvml_.fn();
  const unsigned int timeout_ms = static_cast<unsigned int>(absl::ToInt64Milliseconds(wait_timeout_));
  int consecutive_errors = 0;
  while (true) {
    nvmlEventSet_t set;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      set = set_;
    }
    if (set == nullptr) {
      bool stop;
      {
        absl::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait_timeout_);
        stop = stopping_;
      }
      if (!stop) RecreateSet();
      continue;
    }
    nvmlEventData_t data{};
    nvmlReturn_t ret = f.EventSetWait(set, &data, timeout_ms);
    if (ret == NVML_ERROR_TIMEOUT) {
      consecutive_errors = 0;
      continue;
    }
    if (ret != NVML_SUCCESS) {
      ++consecutive_errors;
      DAPI_LOG_WARN("nvmlEventSetWait_v2: {}", nvml_.Error(ret));
      if (ret == NVML_ERROR_UNKNOWN || consecutive_errors > 10) {
        RecreateSet();
        consecutive_errors = 0;
      }
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(100));
      continue;
    }
    consecutive_errors = 0;
    NvmlEvent ev;
    ev.event_type = data.eventType;
    ev.xid = data.eventData;
    ev.device = data.device;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [uuid, reg] : devices_) {
        if (reg.device == data.device) {
          ev.uuid = uuid;
          break;
        }
      }
    }
    if (ev.uuid.empty() && data.device != nullptr) {
      char buf[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = {};
      if (f.DeviceGetUUID(data.device, buf, sizeof(buf)) == NVML_SUCCESS) ev.uuid = buf;
    }
    handler_(ev);
  }
}

}  // namespace deviceapi::nvml
