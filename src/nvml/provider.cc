#include "nvml/provider.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <vector>

#include <google/protobuf/util/message_differencer.h>

#include "common/logging.h"
#include "common/strings.h"
#include "deviceapi/conditions.h"
#include "deviceapi/errors.h"
#include "deviceapi/retry.h"

namespace deviceapi::nvml {

using common::Cat;
using google::protobuf::util::MessageDifferencer;

namespace {

constexpr std::string_view kReasonHealthy = "Healthy";
constexpr std::string_view kReasonRecovered = "Recovered";
constexpr std::string_view kReasonGpuLost = "GPULost";
constexpr std::string_view kReasonResetRequired = "ResetRequired";
constexpr std::string_view kReasonRowRemapFailure = "RowRemapFailure";
constexpr std::string_view kReasonNvmlUnavailable = "NVMLUnavailable";

std::string FormatBytes(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f GB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<RecommendedAction> ParseAction(std::string_view s) {
  for (RecommendedAction a :
       {RecommendedAction::kNone, RecommendedAction::kRestartApp, RecommendedAction::kResetGpu,
        RecommendedAction::kRestartVm, RecommendedAction::kRebootNode, RecommendedAction::kContactSupport}) {
    if (ActionName(a) == s) return a;
  }
  return std::nullopt;
}

bool IsFaultReason(std::string_view reason) {
  return (reason.size() > 3 && reason.substr(0, 3) == "XID") || reason == kReasonGpuLost ||
         reason == kReasonResetRequired || reason == kReasonRowRemapFailure;
}

uint64_t ParseRv(const std::string& rv) {
  uint64_t v = 0;
  for (char c : rv) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

// Sets or erases one key of a string map.
void SetOrErase(google::protobuf::Map<std::string, std::string>* m, std::string_view key,
                const std::optional<std::string>& value) {
  if (value.has_value()) {
    (*m)[std::string(key)] = *value;
  } else {
    m->erase(std::string(key));
  }
}

}  // namespace

std::string GpuObjectName(std::string_view uuid) { return Lower(uuid); }

std::string ProductLabelValue(std::string_view product) {
  std::string out;
  for (char c : product) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    out.push_back(ok ? c : '-');
  }
  if (out.size() > 63) out.resize(63);
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  while (!out.empty() && !alnum(out.back())) out.pop_back();
  size_t start = 0;
  while (start < out.size() && !alnum(out[start])) ++start;
  return out.substr(start);
}

Provider::Provider(ProviderOptions options, ClientFactory client_factory, NvmlLoader loader)
    : options_(std::move(options)),
      client_factory_(std::move(client_factory)),
      loader_(std::move(loader)),
      policy_(options_.xid_policy, options_.xid_overrides) {}

Provider::~Provider() { Shutdown(); }

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
    monitor_ = std::make_unique<EventMonitor>(
        *nvml_, [this](const NvmlEvent& ev) { OnNvmlEvent(ev); }, options_.event_wait_timeout);
    if (absl::Status s = monitor_->Start(); !s.ok()) {
      DAPI_LOG_ERROR("NVML events unavailable, health is polled only: {}", s.ToString());
      monitor_.reset();
    }
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
    stop_ = true;
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
  return ready_ && !stop_;
}

bool Provider::Live() const {
  absl::MutexLock lock(&mu_);
  return absl::Now() - last_loop_ < 3 * options_.heartbeat_interval + absl::Seconds(30);
}

bool Provider::Stopping() const {
  absl::MutexLock lock(&mu_);
  return stop_;
}

bool Provider::WorkerShouldWake() const { return stop_ || full_requested_ || !dirty_.empty(); }

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
  const std::string text = Cat("XID ", v.xid, " (", v.mnemonic, "): ", v.description,
                               "; recommended action: ", ActionName(v.action), nvml_says);
  switch (v.cls) {
    case XidClass::kIgnored:
      DAPI_VLOG(1, "GPU {}: ignored {} [{}]", ev.uuid, text, v.basis);
      return;
    case XidClass::kWarning:
      DAPI_LOG_WARN("GPU {}: warning {} [{}]", ev.uuid, text, v.basis);
      s.last_warning = Warning{v.xid, absl::Now(), text};
      dirty_.insert(ev.uuid);
      return;
    case XidClass::kCritical: {
      DAPI_LOG_ERROR("GPU {}: critical {} [{}]", ev.uuid, text, v.basis);
      Fault f{Cat("XID", v.xid), text, v.action};
      // Never downgrade a pending action (a later XID 48 must not hide an earlier 79's reboot).
      if (s.fault.has_value() && ActionRank(s.fault->action) > ActionRank(f.action))
        f.action = s.fault->action;
      SetFaultLocked(&s, std::move(f));
      s.reset_seen = false;
      s.recovered = false;
      dirty_.insert(ev.uuid);
      UpdateHealthGaugesLocked();  // nvml_provider_gpus reflects the fault at once, not at the next reconcile
      return;
    }
  }
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
      if (stop_) return;
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

absl::Status Provider::ReconcileWithoutNvml() {
  std::shared_ptr<GpuInterface> gpus = Client();
  ListOptions lo;
  lo.label_selector = Cat(kProviderLabel, "=", options_.provider_id);
  absl::StatusOr<v1::GpuList> list = gpus->List(lo);
  if (!list.ok()) return list.status();
  for (const v1::Gpu& item : list->items()) {
    const std::string name = item.metadata().name();
    absl::Status s = RetryOnConflict(kDefaultRetry, [&]() -> absl::Status {
      absl::StatusOr<v1::Gpu> gpu = gpus->Get(name);
      if (!gpu.ok()) return errors::IsNotFound(gpu.status()) ? absl::OkStatus() : gpu.status();
      const v1::Condition* c = FindCondition(gpu->status(), kConditionType);
      const absl::Time now = absl::Now();
      const bool fresh = c != nullptr && c->status() == kConditionUnknown && c->has_last_heartbeat_time() &&
                         now - FromTimestamp(c->last_heartbeat_time()) < options_.heartbeat_interval / 2;
      if (fresh) return absl::OkStatus();
      SetCondition(gpu->mutable_status(),
                   MakeCondition(kConditionType, kConditionUnknown, kReasonNvmlUnavailable,
                                 "NVML is not loaded (driver missing or not ready); GPU state unknown", now),
                   now);
      return gpus->UpdateStatus(*gpu).status();
    });
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Provider::FullReconcile() {
  if (nvml_ == nullptr) {
    absl::StatusOr<NvmlLibraryPtr> lib = loader_();
    if (!lib.ok()) {
      DAPI_VLOG(1, "NVML still unavailable: {}", lib.status().ToString());
      return ReconcileWithoutNvml();
    }
    nvml_ = std::move(*lib);
    DAPI_LOG_INFO("NVML loaded from {}", nvml_->path());
    monitor_ = std::make_unique<EventMonitor>(
        *nvml_, [this](const NvmlEvent& ev) { OnNvmlEvent(ev); }, options_.event_wait_timeout);
    if (absl::Status s = monitor_->Start(); !s.ok()) {
      DAPI_LOG_ERROR("NVML events unavailable, health is polled only: {}", s.ToString());
      monitor_.reset();
    }
    absl::MutexLock lock(&mu_);
    nvml_loaded_ = true;
    metrics_.SetNvmlLoaded(true);
  }

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
      const std::string_view old_reason = s.fault.has_value() ? std::string_view(s.fault->reason) : "";
      if (d.probe.fatal_error == NVML_ERROR_GPU_IS_LOST) {
        if (old_reason != kReasonGpuLost) {
          DAPI_LOG_ERROR("GPU {} is lost (NVML_ERROR_GPU_IS_LOST)", uuid);
          SetFaultLocked(
              &s, Fault{std::string(kReasonGpuLost),
                        "GPU is lost: NVML returned GPU_IS_LOST (fallen off the bus or not responding); "
                        "recommended action: REBOOT_NODE",
                        RecommendedAction::kRebootNode});
          s.recovered = false;
        }
        s.reset_seen = true;
      } else if (d.probe.fatal_error == NVML_ERROR_RESET_REQUIRED) {
        if (old_reason != kReasonResetRequired && old_reason != kReasonGpuLost) {
          DAPI_LOG_ERROR("GPU {} requires a reset (NVML_ERROR_RESET_REQUIRED)", uuid);
          RecommendedAction a = RecommendedAction::kResetGpu;
          if (s.fault.has_value() && ActionRank(s.fault->action) > ActionRank(a)) a = s.fault->action;
          SetFaultLocked(&s,
                         Fault{std::string(kReasonResetRequired),
                               Cat("GPU requires a reset: NVML returned RESET_REQUIRED; recommended action: ",
                                   ActionName(a)),
                               a});
          s.recovered = false;
        }
        s.reset_seen = true;
      } else if (d.probe.remap_failure) {
        if (old_reason != kReasonRowRemapFailure) {
          DAPI_LOG_ERROR("GPU {}: row remapping failure", uuid);
          SetFaultLocked(&s,
                         Fault{std::string(kReasonRowRemapFailure),
                               "Row remapping failed (no spare rows, failureOccurred latched); recommended "
                               "action: CONTACT_SUPPORT",
                               RecommendedAction::kContactSupport});
          s.reset_seen = false;
          s.recovered = false;
        }
      } else if (s.fault.has_value() && s.reset_seen && !d.probe.retirement_pending &&
                 !d.probe.remap_pending &&
                 d.probe.recovery_action.value_or(GpuRecoveryAction::kNone) == GpuRecoveryAction::kNone) {
        DAPI_LOG_INFO("GPU {} healthy again after a reset (was {}: {})", uuid, s.fault->reason,
                      s.fault->message);
        s.fault.reset();
        s.reset_seen = false;
        s.recovered = true;
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

  // This provider's objects on the server: adopt their state once, delete the ones that are gone.
  std::shared_ptr<GpuInterface> gpus = Client();
  ListOptions lo;
  lo.label_selector = Cat(kProviderLabel, "=", options_.provider_id);
  absl::StatusOr<v1::GpuList> list = gpus->List(lo);
  if (!list.ok()) return list.status();
  for (const v1::Gpu& item : list->items()) {
    const std::string& uuid = item.spec().uuid();
    if (present.contains(uuid)) {
      absl::MutexLock lock(&mu_);
      auto it = gpus_state_.find(uuid);
      if (it != gpus_state_.end() && !it->second.adopted) AdoptServerState(&it->second, item);
      continue;
    }
    DeleteOptions del;
    del.preconditions.uid = item.metadata().uid();
    absl::Status s = gpus->Delete(item.metadata().name(), del);
    if (s.ok()) {
      DAPI_LOG_INFO("deleted GPU {} (no longer present)", item.metadata().name());
    } else if (!errors::IsNotFound(s) && !errors::IsConflict(s)) {
      return s;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    for (auto& [uuid, s] : gpus_state_) s.adopted = true;
  }
  absl::Status first_error;
  for (const std::string& uuid : present) {
    if (Stopping()) break;
    absl::Status s = SyncGpu(uuid);
    if (!s.ok()) {
      RecordApiError(s);
      if (first_error.ok()) first_error = s;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    UpdateHealthGaugesLocked();
  }
  return first_error;
}

void Provider::AdoptServerState(GpuState* s, const v1::Gpu& gpu) {
  s->adopted = true;
  const v1::Condition* c = FindCondition(gpu.status(), kConditionType);
  if (c == nullptr || s->fault.has_value()) return;
  if (c->status() == kConditionFalse && IsFaultReason(c->reason())) {
    const std::string& action = gpu.status().recommended_action();
    Fault f{c->reason(), c->message(), ParseAction(action).value_or(RecommendedAction::kContactSupport)};
    f.published_rv = ParseRv(gpu.metadata().resource_version());
    SetFaultLocked(s, std::move(f));
    s->written_action = action;
    DAPI_LOG_INFO("GPU {}: keeping {} from the server until it is reset or cleared", gpu.spec().uuid(),
                  c->reason());
  }
}

void Provider::UpdateHealthGaugesLocked() {
  double healthy = 0, unhealthy = 0, unknown = 0;
  for (const auto& [uuid, s] : gpus_state_) {
    if (!s.present) continue;
    if (!nvml_loaded_) {
      ++unknown;
    } else if (s.fault.has_value()) {
      ++unhealthy;
    } else {
      ++healthy;
    }
  }
  metrics_.SetGpus(healthy, unhealthy, unknown);
}

v1::Condition Provider::DesiredCondition(const GpuState& s) const {
  if (s.fault.has_value())
    return MakeCondition(kConditionType, kConditionFalse, s.fault->reason, s.fault->message);
  if (s.recovered) {
    return MakeCondition(
        kConditionType, kConditionTrue, kReasonRecovered,
        "GPU healthy again after a reset: handle re-acquired, no pending retirement or remap failure");
  }
  return MakeCondition(kConditionType, kConditionTrue, kReasonHealthy,
                       Cat("GPU enumerated via NVML: ", s.inventory.product_name, " (",
                           FormatBytes(s.inventory.memory_bytes), ")"));
}

void Provider::ApplyMetadata(const GpuState& s, v1::Gpu* gpu) const {
  const GpuInventory& inv = s.inventory;
  v1::GpuSpec* spec = gpu->mutable_spec();
  spec->set_uuid(inv.uuid);
  spec->set_product_name(inv.product_name);
  spec->set_memory_bytes(inv.memory_bytes);
  spec->set_pci_bus_id(inv.pci_bus_id);
  spec->set_minor_number(inv.minor_number);
  spec->set_numa_node(inv.numa_node);
  spec->set_architecture(inv.architecture);
  spec->set_compute_capability(inv.compute_capability);
  spec->set_driver_version(inv.driver_version);
  spec->set_serial(inv.serial);

  auto* labels = gpu->mutable_metadata()->mutable_labels();
  (*labels)[std::string(kProviderLabel)] = options_.provider_id;
  auto opt = [](const std::string& v) { return v.empty() ? std::nullopt : std::optional<std::string>(v); };
  SetOrErase(labels, kProductLabel, opt(ProductLabelValue(inv.product_name)));
  SetOrErase(labels, kMemoryLabel,
             inv.memory_bytes > 0 ? std::optional<std::string>(std::to_string(inv.memory_bytes >> 20))
                                  : std::nullopt);
  SetOrErase(labels, kFamilyLabel, opt(Lower(inv.architecture)));
  std::optional<std::string> major, minor;
  if (size_t dot = inv.compute_capability.find('.'); dot != std::string::npos) {
    major = inv.compute_capability.substr(0, dot);
    minor = inv.compute_capability.substr(dot + 1);
  }
  SetOrErase(labels, kComputeMajorLabel, major);
  SetOrErase(labels, kComputeMinorLabel, minor);

  auto* ann = gpu->mutable_metadata()->mutable_annotations();
  if (s.last_warning.has_value()) {
    (*ann)[std::string(kLastWarningXidAnnotation)] = std::to_string(s.last_warning->xid);
    (*ann)[std::string(kLastWarningTimeAnnotation)] =
        absl::FormatTime(absl::RFC3339_full, s.last_warning->time, absl::UTCTimeZone());
    (*ann)[std::string(kLastWarningMessageAnnotation)] = s.last_warning->message;
  }
  std::optional<std::string> memory_warning;
  if (s.probe.remap_pending) {
    memory_warning =
        "row remapping pending: applied at the next GPU reset (recommended action: RESET_GPU when idle)";
  } else if (s.probe.retirement_pending) {
    memory_warning =
        "page retirement pending: applied at the next driver reload (recommended action: RESET_GPU)";
  }
  SetOrErase(ann, kMemoryWarningAnnotation, memory_warning);
  SetOrErase(ann, kRetiredPagesAnnotation,
             s.probe.retired_pages.has_value() && *s.probe.retired_pages > 0
                 ? std::optional<std::string>(std::to_string(*s.probe.retired_pages))
                 : std::nullopt);
}

void Provider::NoteWritten(const std::string& uuid, const v1::Gpu& written, bool heartbeat,
                           std::string action, uint64_t fault_gen) {
  absl::MutexLock lock(&mu_);
  auto it = gpus_state_.find(uuid);
  if (it == gpus_state_.end()) return;
  GpuState& s = it->second;
  const uint64_t rv = ParseRv(written.metadata().resource_version());
  s.last_written_rv = std::max(s.last_written_rv, rv);
  if (heartbeat) s.last_heartbeat = absl::Now();
  s.written_action = std::move(action);
  if (fault_gen != 0 && s.fault.has_value() && s.fault->gen == fault_gen && s.fault->published_rv == 0) {
    s.fault->published_rv = rv;
  }
}

void Provider::SetFaultLocked(GpuState* s, Fault f) {
  f.gen = ++next_fault_gen_;
  s->fault = std::move(f);
}

bool Provider::ClearsFault(const GpuState& s, uint64_t rv) {
  return s.fault.has_value() && s.fault->published_rv != 0 && rv > s.fault->published_rv;
}

void Provider::ApplyClearLocked(GpuState* s, const v1::Gpu& seen, uint64_t rv) {
  const v1::Condition* c = FindCondition(seen.status(), kConditionType);
  DAPI_LOG_INFO("GPU {}: {} cleared through the API (reason \"{}\"); was {}: {}", seen.spec().uuid(),
                kConditionType, c != nullptr ? c->reason() : "", s->fault->reason, s->fault->message);
  s->fault.reset();
  s->reset_seen = false;
  s->recovered = false;
  s->written_action = seen.status().recommended_action().empty() ? "" : s->written_action;
  s->last_written_rv = std::max(s->last_written_rv, rv);
  UpdateHealthGaugesLocked();
}

absl::Status Provider::SyncGpu(const std::string& uuid) {
  GpuState state;
  {
    absl::MutexLock lock(&mu_);
    auto it = gpus_state_.find(uuid);
    if (it == gpus_state_.end() || !it->second.present) return absl::OkStatus();
    state = it->second;
  }
  const std::string name = GpuObjectName(uuid);
  std::shared_ptr<GpuInterface> gpus = Client();
  v1::Condition desired = DesiredCondition(state);
  std::string want_action = state.fault.has_value() ? std::string(ActionName(state.fault->action)) : "";
  auto fault_gen = [&] { return state.fault.has_value() ? state.fault->gen : uint64_t{0}; };

  Backoff backoff = kDefaultRetry;
  backoff.factor = 2.0;
  return RetryOnConflict(backoff, [&]() -> absl::Status {
    const absl::Time now = absl::Now();
    absl::StatusOr<v1::Gpu> got = gpus->Get(name);
    if (!got.ok() && errors::IsNotFound(got.status())) {
      v1::Gpu gpu;
      gpu.mutable_metadata()->set_name(name);
      ApplyMetadata(state, &gpu);
      v1::Condition c = desired;
      *c.mutable_last_heartbeat_time() = ToTimestamp(now);
      SetCondition(gpu.mutable_status(), c, now);
      gpu.mutable_status()->set_recommended_action(want_action);
      absl::StatusOr<v1::Gpu> created = gpus->Create(gpu);
      if (!created.ok()) {
        // Someone created it between our Get and Create: start over from a Get.
        if (errors::IsAlreadyExists(created.status())) return absl::AbortedError("created concurrently");
        return created.status();
      }
      DAPI_LOG_INFO("registered GPU {} ({}), {}={}", name, state.inventory.product_name, kConditionType,
                    c.status());
      NoteWritten(uuid, *created, true, want_action, fault_gen());
      return absl::OkStatus();
    }
    if (!got.ok()) return got.status();
    v1::Gpu gpu = std::move(*got);

    // An operator clear that our watch has not delivered yet must not be overwritten with the
    // fault it cleared (the watch would then skip it as older than our write).
    if (const v1::Condition* cur = FindCondition(gpu.status(), kConditionType);
        state.fault.has_value() && cur != nullptr && cur->status() == kConditionTrue) {
      const uint64_t rv = ParseRv(gpu.metadata().resource_version());
      absl::MutexLock lock(&mu_);
      auto it = gpus_state_.find(uuid);
      if (it != gpus_state_.end() && it->second.fault.has_value() &&
          it->second.fault->gen == state.fault->gen && rv > it->second.last_written_rv &&
          ClearsFault(it->second, rv)) {
        ApplyClearLocked(&it->second, gpu, rv);
        state = it->second;
        desired = DesiredCondition(state);
        want_action.clear();
      }
    }

    v1::Gpu want = gpu;
    ApplyMetadata(state, &want);
    if (!MessageDifferencer::Equals(want.spec(), gpu.spec()) ||
        !MessageDifferencer::Equals(want.metadata(), gpu.metadata())) {
      want.clear_status();
      absl::StatusOr<v1::Gpu> updated = gpus->Update(want);
      if (!updated.ok()) return updated.status();
      DAPI_VLOG(1, "updated inventory/labels/annotations of GPU {}", name);
      NoteWritten(uuid, *updated, false, state.written_action, 0);
      gpu = std::move(*updated);
    }

    v1::GpuStatus st = gpu.status();
    bool changed = SetCondition(&st, desired, now);
    const v1::Condition* mine = FindCondition(st, kConditionType);
    const bool heartbeat_due = changed || !mine->has_last_heartbeat_time() ||
                               now - state.last_heartbeat >= options_.heartbeat_interval / 2;
    if (heartbeat_due) {
      for (v1::Condition& c : *st.mutable_conditions()) {
        if (c.type() == kConditionType) *c.mutable_last_heartbeat_time() = ToTimestamp(now);
      }
      changed = true;
    }
    std::string action_written = state.written_action;
    if (!want_action.empty()) {
      if (st.recommended_action() != want_action) {
        st.set_recommended_action(want_action);
        changed = true;
      }
      action_written = want_action;
    } else if (!state.written_action.empty()) {
      // Clear only the action we set; another provider's stays.
      if (st.recommended_action() == state.written_action) {
        st.clear_recommended_action();
        changed = true;
      }
      action_written.clear();
    }
    if (!changed) {
      // The server already shows this fault (e.g. the same XID again): it counts as published.
      if (state.fault.has_value()) NoteWritten(uuid, gpu, false, action_written, fault_gen());
      return absl::OkStatus();
    }
    *gpu.mutable_status() = std::move(st);
    absl::StatusOr<v1::Gpu> updated = gpus->UpdateStatus(gpu);
    if (!updated.ok()) return updated.status();
    NoteWritten(uuid, *updated, heartbeat_due, action_written, fault_gen());
    return absl::OkStatus();
  });
}

// ---- watch ----

void Provider::WatchLoop() {
  // Two backoffs: lists failing (the server is down or restarting) retry quickly, and reset as soon
  // as a list works, so that a restarted server is found within about 100 ms each time; watches
  // that end at once without delivering anything while lists work back off separately.
  constexpr absl::Duration kMinBackoff = absl::Milliseconds(100);
  absl::Duration list_backoff = kMinBackoff;
  absl::Duration churn_backoff = kMinBackoff;
  const std::string selector = Cat(kProviderLabel, "=", options_.provider_id);
  auto sleep = [&](absl::Duration d) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stop_), d);
  };
  bool first = true;
  bool failed = false;
  while (!Stopping()) {
    ListOptions lo;
    lo.label_selector = selector;
    std::shared_ptr<GpuInterface> gpus = Client();
    absl::StatusOr<v1::GpuList> list = gpus->List(lo);
    if (!list.ok()) {
      DAPI_VLOG(2, "watch list failed: {}", list.status().ToString());
      MaybeReconnect(list.status());
      failed = true;
      sleep(list_backoff);
      list_backoff = std::min(list_backoff * 2, absl::Seconds(1));
      continue;
    }
    list_backoff = kMinBackoff;
    if (!first || failed) {
      // The server is (back) up, or the watch broke (server restart): let the worker re-check
      // everything now instead of at the end of its backoff.
      absl::MutexLock lock(&mu_);
      full_requested_ = true;
    }
    first = false;
    failed = false;
    ListOptions wo;
    wo.label_selector = selector;
    wo.resource_version = list->metadata().resource_version();
    wo.allow_watch_bookmarks = true;
    absl::StatusOr<WatchPtr> watch = gpus->Watch(wo);
    if (!watch.ok()) {
      sleep(churn_backoff);
      churn_backoff = std::min(churn_backoff * 2, absl::Seconds(2));
      continue;
    }
    {
      absl::MutexLock lock(&mu_);
      active_watch_ = watch->get();
      if (stop_) (*watch)->Stop();
    }
    const absl::Time started = absl::Now();
    bool delivered = false;
    while (true) {
      std::optional<WatchEvent> ev = (*watch)->Next(absl::Milliseconds(500));
      if (!ev.has_value()) {
        if ((*watch)->Done() || Stopping()) break;
        continue;
      }
      delivered = true;
      if (ev->type == EventType::kBookmark) continue;
      const std::string& uuid = ev->object.spec().uuid();
      const uint64_t rv = ParseRv(ev->resource_version());
      absl::MutexLock lock(&mu_);
      auto it = gpus_state_.find(uuid);
      if (it == gpus_state_.end() || !it->second.present) continue;
      GpuState& s = it->second;
      if (ev->type == EventType::kDeleted) {
        DAPI_LOG_WARN("GPU {} was deleted by someone else; registering it again",
                      ev->object.metadata().name());
        dirty_.insert(uuid);
        s.last_heartbeat = absl::InfinitePast();
        continue;
      }
      if (rv <= s.last_written_rv) continue;  // our own write, or older
      const v1::Condition* c = FindCondition(ev->object.status(), kConditionType);
      if (c == nullptr) {
        dirty_.insert(uuid);  // someone removed our condition: put it back
        continue;
      }
      if (c->status() == kConditionTrue && ClearsFault(s, rv)) ApplyClearLocked(&s, ev->object, rv);
    }
    std::optional<WatchResult> result = (*watch)->Result();
    {
      absl::MutexLock lock(&mu_);
      active_watch_ = nullptr;
    }
    watch->reset();
    if (Stopping()) break;
    DAPI_VLOG(1, "watch ended ({}); re-listing", result.has_value() ? result->status.ToString() : "unknown");
    if (delivered || absl::Now() - started > absl::Seconds(1)) {
      churn_backoff = kMinBackoff;  // a watch that worked: re-list at once
    } else {
      sleep(churn_backoff);
      churn_backoff = std::min(churn_backoff * 2, absl::Seconds(2));
    }
  }
}

}  // namespace deviceapi::nvml
