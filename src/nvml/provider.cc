// The Provider's threads and its NVML side: start and shutdown, the worker loop that schedules
// every write (full reconciles, per-GPU syncs, heartbeats), NVML loading, the event monitor's
// callback (XIDs, ECC) and the enumeration that refreshes each GPU's state every reconcile.
// Health decisions are FaultTracker's (fault_tracker.h); this file feeds it under mu_. The writes
// themselves are in provider_writer.cc, the provider's own watch in provider_watch.cc.
//
// Threads: OnNvmlEvent runs on the EventMonitor's thread; WorkerLoop, EnsureNvmlLoaded and
// RefreshDevices on the worker; the rest from any thread (Start/Shutdown from the owner).
#include "nvml/provider.h"

#include <algorithm>
#include <vector>

#include "common/logging.h"
#include "common/strings.h"
#include "deviceapi/conditions.h"
#include "deviceapi/errors.h"

namespace deviceapi::nvml {

using common::Cat;

Provider::Provider(ProviderOptions options, ClientFactory client_factory, NvmlLoader loader)
    : options_(std::move(options)),
      client_factory_(std::move(client_factory)),
      loader_(std::move(loader)),
      policy_(options_.xid_policy, options_.xid_overrides) {}

Provider::~Provider() { Shutdown(); }

void Provider::StartEventMonitor() {
  monitor_ = std::make_unique<EventMonitor>(
      *nvml_, [this](const NvmlEvent& ev) { OnNvmlEvent(ev); }, options_.event_wait_timeout);
  if (absl::Status s = monitor_->Start(); !s.ok()) {
    DAPI_LOG_ERROR("NVML events unavailable, health is polled only: {}", s.ToString());
    monitor_.reset();
  }
}

absl::Status Provider::Start() {
  {
    absl::MutexLock lock(&client_mu_);
    client_ = client_factory_();
    client_created_ = absl::Now();
  }
  absl::StatusOr<NvmlLibraryPtr> lib = loader_();
  if (lib.ok()) {
    nvml_ = std::move(*lib);
    DAPI_LOG_INFO("NVML loaded from {}", nvml_->path());
    StartEventMonitor();
  } else if (options_.nvml_missing == NvmlMissingMode::kExit) {
    return lib.status();
  } else {
    DAPI_LOG_WARN("NVML unavailable, reporting this provider's GPUs Unknown until it loads: {}",
                  lib.status().ToString());
  }
  {
    absl::MutexLock lock(&mu_);
    nvml_loaded_ = nvml_ != nullptr;
    metrics_.SetNvmlLoaded(nvml_loaded_);
  }
  worker_ = std::thread([this] { WorkerLoop(); });
  watcher_ = std::thread([this] { WatchLoop(); });
  return absl::OkStatus();
}

void Provider::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (active_watch_ != nullptr) active_watch_->Stop();
  }
  if (worker_.joinable()) worker_.join();
  if (watcher_.joinable()) watcher_.join();
  // The worker may create the monitor (late NVML), so it is stopped after the worker.
  if (monitor_ != nullptr) monitor_->Stop();
  monitor_.reset();
  nvml_.reset();
}

bool Provider::Ready() const {
  absl::MutexLock lock(&mu_);
  return ready_ && !stopping_;
}

bool Provider::Live() const {
  absl::MutexLock lock(&mu_);
  return absl::Now() - last_loop_ < 3 * options_.heartbeat_interval + absl::Seconds(30);
}

bool Provider::Stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

bool Provider::WorkerShouldWake() const { return stopping_ || full_requested_ || !dirty_.empty(); }

void Provider::RecordApiError(const absl::Status& s) {
  metrics_.RecordApiError();
  DAPI_VLOG(1, "API call failed: {}", s.ToString());
}

std::shared_ptr<GpuInterface> Provider::Client() const {
  absl::MutexLock lock(&client_mu_);
  return client_;
}

void Provider::MaybeReconnect(const absl::Status& s) {
  if (!errors::IsUnavailable(s) && !errors::IsTimeout(s)) return;
  absl::MutexLock lock(&client_mu_);
  // gRPC backs off reconnecting by itself (up to minutes); a fresh channel connects at once.
  // At most one new channel per 100 ms (the callers back off from 100 ms up); an older channel in
  // TRANSIENT_FAILURE keeps failing calls for up to its reconnect backoff after the server is back.
  if (absl::Now() - client_created_ < absl::Milliseconds(100)) return;
  DAPI_VLOG(2, "new connection to the server after: {}", s.ToString());
  client_ = client_factory_();
  client_created_ = absl::Now();
}

// ---- NVML events ----

void Provider::OnNvmlEvent(const NvmlEvent& ev) {
  // For XIDs whose action depends on the device (154, 144-150), ask NVML what it wants now; when
  // it cannot say (older driver, NOT_SUPPORTED), the catalog's static action stands. Read before
  // taking mu_: the monitor only runs while nvml_ is set, and NVML is thread-safe.
  std::optional<GpuRecoveryAction> recovery;
  nvmlReturn_t recovery_ret = NVML_SUCCESS;
  const bool wants_recovery =
      (ev.event_type & nvmlEventTypeXidCriticalError) && XidDependsOnRecoveryAction(ev.xid);
  if (wants_recovery && ev.device != nullptr && nvml_ != nullptr) {
    recovery = ReadGpuRecoveryAction(*nvml_, ev.device, &recovery_ret);
  }
  absl::MutexLock lock(&mu_);
  auto it = gpus_state_.find(ev.uuid);
  if (it == gpus_state_.end() || !it->second.present) {
    DAPI_LOG_WARN("NVML event type {:#x} data {} for unknown device \"{}\" ignored", ev.event_type, ev.xid,
                  ev.uuid);
    return;
  }
  GpuState& s = it->second;
  if (ev.event_type & nvmlEventTypeDoubleBitEccError) metrics_.RecordEcc(ev.uuid, "double_bit");
  if (ev.event_type & nvmlEventTypeSingleBitEccError) metrics_.RecordEcc(ev.uuid, "single_bit");
  if (!(ev.event_type & nvmlEventTypeXidCriticalError)) return;

  const XidVerdict v = policy_.Classify(ev.xid, recovery);
  metrics_.RecordXid(ev.uuid, ev.xid, XidClassName(v.cls));
  std::string nvml_says;
  if (recovery.has_value()) {
    nvml_says = Cat(" (NVML recovery action ", GpuRecoveryActionName(*recovery), ")");
  } else if (wants_recovery) {
    DAPI_VLOG(1, "GPU {}: NVML recovery action unavailable for XID {} ({}); using the catalog", ev.uuid,
              ev.xid, nvml_ != nullptr ? nvml_->Error(recovery_ret) : "NVML not loaded");
  }
  std::string text = Cat("XID ", v.xid, " (", v.mnemonic, "): ", v.description,
                         "; recommended action: ", ActionName(v.action), nvml_says);
  switch (v.cls) {
    case XidClass::kIgnored:
      DAPI_VLOG(1, "GPU {}: ignored {} [{}]", ev.uuid, text, v.basis);
      break;
    case XidClass::kWarning:
      DAPI_LOG_WARN("GPU {}: warning {} [{}]", ev.uuid, text, v.basis);
      break;
    case XidClass::kCritical:
      DAPI_LOG_ERROR("GPU {}: critical {} [{}]", ev.uuid, text, v.basis);
      break;
  }
  if (!faults_.OnXid(&s.health, v, std::move(text), absl::Now())) return;
  dirty_.insert(ev.uuid);
  // nvml_provider_gpus reflects a fault at once, not at the next reconcile.
  if (v.cls == XidClass::kCritical) UpdateHealthGaugesLocked();
}

// ---- worker ----

void Provider::WorkerLoop() {
  absl::Time next_full = absl::Now();
  absl::Time next_heartbeat = absl::Now() + options_.heartbeat_interval;
  absl::Duration backoff = absl::Milliseconds(100);
  const absl::Duration max_backoff = std::min(absl::Seconds(2), options_.reconcile_interval);
  int failures = 0;
  while (true) {
    bool full = false;
    std::set<std::string> dirty;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithDeadline(absl::Condition(this, &Provider::WorkerShouldWake),
                            std::min(next_full, next_heartbeat));
      if (stopping_) return;
      const absl::Time now = absl::Now();
      last_loop_ = now;
      full = full_requested_ || now >= next_full;
      full_requested_ = false;
      dirty.swap(dirty_);
      if (!full && now >= next_heartbeat) {
        for (const auto& [uuid, s] : gpus_state_) {
          if (s.present) dirty.insert(uuid);
        }
      }
    }
    const absl::Time now = absl::Now();
    if (full) {
      absl::Status s = FullReconcile();
      metrics_.RecordReconcile(s.ok());
      {
        absl::MutexLock lock(&mu_);
        ready_ = s.ok();
      }
      if (s.ok()) {
        if (failures > 0) DAPI_LOG_INFO("reconcile succeeded after {} failure(s)", failures);
        failures = 0;
        backoff = absl::Milliseconds(100);
        next_full = absl::Now() + options_.reconcile_interval;
        next_heartbeat = absl::Now() + options_.heartbeat_interval;
      } else {
        if (failures++ == 0) {
          DAPI_LOG_WARN("reconcile failed (retrying with backoff): {}", s.ToString());
        } else {
          DAPI_VLOG(1, "reconcile failed again: {}", s.ToString());
        }
        MaybeReconnect(s);
        next_full = absl::Now() + backoff;
        backoff = std::min(backoff * 2, max_backoff);
      }
      continue;
    }
    if (now >= next_heartbeat) next_heartbeat = now + options_.heartbeat_interval;
    for (const std::string& uuid : dirty) {
      if (Stopping()) return;
      absl::Status s = SyncGpu(uuid);
      if (!s.ok()) {
        RecordApiError(s);
        // The full reconcile (with its backoff) retries every GPU.
        next_full = std::min(next_full, absl::Now() + backoff);
        break;
      }
    }
  }
}

// ---- NVML enumeration (worker) ----

bool Provider::EnsureNvmlLoaded() {
  if (nvml_ != nullptr) return true;
  absl::StatusOr<NvmlLibraryPtr> lib = loader_();
  if (!lib.ok()) {
    DAPI_VLOG(1, "NVML still unavailable: {}", lib.status().ToString());
    return false;
  }
  nvml_ = std::move(*lib);
  DAPI_LOG_INFO("NVML loaded from {}", nvml_->path());
  StartEventMonitor();
  absl::MutexLock lock(&mu_);
  nvml_loaded_ = true;
  metrics_.SetNvmlLoaded(true);
  return true;
}

absl::StatusOr<std::set<std::string>> Provider::RefreshDevices() {
  absl::StatusOr<std::vector<EnumeratedDevice>> devices = EnumerateDevices(*nvml_, options_.sysfs_root);
  if (!devices.ok()) return devices.status();

  std::set<std::string> present;
  std::vector<std::pair<nvmlDevice_t, std::string>> to_register;
  std::vector<std::string> gone;
  {
    absl::MutexLock lock(&mu_);
    for (const EnumeratedDevice& d : *devices) {
      std::string uuid = d.inventory.uuid;
      if (uuid.empty()) {
        auto known = uuid_by_index_.find(d.index);
        if (known == uuid_by_index_.end()) {
          DAPI_LOG_WARN("device {} cannot be identified: {}", d.index, nvml_->Error(d.probe.fatal_error));
          continue;
        }
        uuid = known->second;
      }
      uuid_by_index_[d.index] = uuid;
      present.insert(uuid);
      GpuState& s = gpus_state_[uuid];
      const bool is_new = !s.present;
      if (is_new) DAPI_LOG_INFO("GPU {} ({}) found at index {}", uuid, d.inventory.product_name, d.index);
      s.present = true;
      if (d.handle != nullptr) s.handle = d.handle;
      // A lost GPU answers few questions: keep what we knew.
      if (d.probe.fatal_error == NVML_SUCCESS || s.inventory.uuid.empty()) {
        GpuInventory inv = d.inventory;
        inv.uuid = uuid;
        s.inventory = inv;
      }
      s.probe = d.probe;
      if (s.probe.retired_pages.has_value()) {
        metrics_.SetRetiredPages(uuid, static_cast<double>(*s.probe.retired_pages));
      }
      const ProbeOutcome o = faults_.OnProbe(&s.health, d.probe);
      switch (o.change) {
        case ProbeChange::kNone:
          break;
        case ProbeChange::kLost:
          DAPI_LOG_ERROR("GPU {} is lost (NVML_ERROR_GPU_IS_LOST)", uuid);
          break;
        case ProbeChange::kResetRequired:
          DAPI_LOG_ERROR("GPU {} requires a reset (NVML_ERROR_RESET_REQUIRED)", uuid);
          break;
        case ProbeChange::kRemapFailure:
          DAPI_LOG_ERROR("GPU {}: row remapping failure", uuid);
          break;
        case ProbeChange::kRecovered:
          DAPI_LOG_INFO("GPU {} healthy again after a reset (was {}: {})", uuid, o.cleared->reason,
                        o.cleared->message);
          break;
      }
      if (d.handle != nullptr && d.probe.fatal_error == NVML_SUCCESS)
        to_register.emplace_back(d.handle, uuid);
    }
    for (auto& [uuid, s] : gpus_state_) {
      if (!present.contains(uuid)) gone.push_back(uuid);
    }
    for (const std::string& uuid : gone) {
      DAPI_LOG_INFO("GPU {} is gone from NVML", uuid);
      gpus_state_.erase(uuid);
      metrics_.RemoveGpu(uuid);
    }
  }
  for (const std::string& uuid : gone) {
    if (monitor_ != nullptr) monitor_->ForgetDevice(uuid);
  }
  // Register after the state exists, so that an event right after registration finds its GPU.
  if (monitor_ != nullptr) {
    for (const auto& [handle, uuid] : to_register) {
      const RegisterResult r = monitor_->RegisterDevice(handle, uuid);
      absl::MutexLock lock(&mu_);
      auto it = gpus_state_.find(uuid);
      if (it == gpus_state_.end()) continue;
      const bool supported = r != RegisterResult::kNotSupported;
      if (!supported && it->second.events_supported) {
        DAPI_LOG_WARN("GPU {} does not support NVML error events; its health is polled only", uuid);
      }
      it->second.events_supported = supported;
    }
  }
  return present;
}

// ---- state shared by the worker and the watcher ----

void Provider::ApplyClearLocked(GpuState* s, const v1::Gpu& seen, uint64_t rv) {
  const v1::Condition* c = FindCondition(seen.status(), kConditionType);
  DAPI_LOG_INFO("GPU {}: {} cleared through the API (reason \"{}\"); was {}: {}", seen.spec().uuid(),
                kConditionType, c != nullptr ? c->reason() : "", s->health.fault->reason,
                s->health.fault->message);
  FaultTracker::ApplyClear(&s->health);
  s->written_action = seen.status().recommended_action().empty() ? "" : s->written_action;
  s->last_written_rv = std::max(s->last_written_rv, rv);
  UpdateHealthGaugesLocked();
}

void Provider::UpdateHealthGaugesLocked() {
  double healthy = 0, unhealthy = 0, unknown = 0;
  for (const auto& [uuid, s] : gpus_state_) {
    if (!s.present) continue;
    if (!nvml_loaded_) {
      ++unknown;
    } else if (s.health.fault.has_value()) {
      ++unhealthy;
    } else {
      ++healthy;
    }
  }
  metrics_.SetGpus(healthy, unhealthy, unknown);
}

}  // namespace deviceapi::nvml
