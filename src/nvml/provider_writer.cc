// The Provider's writes of its GPU objects on the server: the full reconcile (create what is
// missing, adopt a fault the server kept across a provider restart, delete GPUs that are gone),
// the per-GPU sync (read-modify-write of spec, labels, annotations, NVMLReady, its heartbeat and
// the recommended action it set itself, under RetryOnConflict), and the Unknown reports while NVML
// is not loaded. What NVMLReady should say comes from FaultTracker::Desired; only NVMLReady, this
// provider's labels/annotations and the recommended action it set are touched.
//
// These are Provider members rather than a class of their own: the write bookkeeping
// (GpuState::last_written_rv, written_action, last_heartbeat, adopted) and the fault state are
// read together under mu_ by the watch (provider_watch.cc), so they stay in one map under one lock.
//
// Threads: the worker only (WorkerLoop). mu_ is never held across an API call.
#include <algorithm>
#include <cctype>
#include <optional>
#include <vector>

#include <google/protobuf/util/message_differencer.h>

#include "common/logging.h"
#include "common/strings.h"
#include "deviceapi/conditions.h"
#include "deviceapi/errors.h"
#include "deviceapi/retry.h"
#include "nvml/provider.h"

namespace deviceapi::nvml {

using common::Cat;
using google::protobuf::util::MessageDifferencer;

namespace {

constexpr std::string_view kReasonNvmlUnavailable = "NVMLUnavailable";

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
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

uint64_t Provider::ParseRv(const std::string& rv) {
  uint64_t v = 0;
  for (char c : rv) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

absl::StatusOr<v1::GpuList> Provider::ListOwnGpus(GpuInterface& gpus) const {
  ListOptions lo;
  lo.label_selector = Cat(kProviderLabel, "=", options_.provider_id);
  return gpus.List(lo);
}

absl::Status Provider::ReconcileWithoutNvml() {
  std::shared_ptr<GpuInterface> gpus = Client();
  absl::StatusOr<v1::GpuList> list = ListOwnGpus(*gpus);
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
  if (!EnsureNvmlLoaded()) return ReconcileWithoutNvml();
  absl::StatusOr<std::set<std::string>> refreshed = RefreshDevices();
  if (!refreshed.ok()) return refreshed.status();
  const std::set<std::string>& present = *refreshed;

  // This provider's objects on the server: adopt their state once, delete the ones that are gone.
  std::shared_ptr<GpuInterface> gpus = Client();
  absl::StatusOr<v1::GpuList> list = ListOwnGpus(*gpus);
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
  if (c == nullptr) return;
  const std::string& action = gpu.status().recommended_action();
  const ServerReadiness server{c->status() == kConditionFalse, c->reason(), c->message(), action,
                               ParseRv(gpu.metadata().resource_version())};
  if (faults_.AdoptServerFault(&s->health, server)) {
    s->written_action = action;
    DAPI_LOG_INFO("GPU {}: keeping {} from the server until it is reset or cleared", gpu.spec().uuid(),
                  c->reason());
  }
}

v1::Condition Provider::DesiredCondition(const GpuState& s, std::string* action) {
  Readiness r = FaultTracker::Desired(s.health, s.inventory);
  *action = std::move(r.action);
  return MakeCondition(kConditionType, r.ready ? kConditionTrue : kConditionFalse, r.reason, r.message);
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
  if (s.health.last_warning.has_value()) {
    (*ann)[std::string(kLastWarningXidAnnotation)] = std::to_string(s.health.last_warning->xid);
    (*ann)[std::string(kLastWarningTimeAnnotation)] =
        absl::FormatTime(absl::RFC3339_full, s.health.last_warning->time, absl::UTCTimeZone());
    (*ann)[std::string(kLastWarningMessageAnnotation)] = s.health.last_warning->message;
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
  FaultTracker::NoteWritten(&s.health, fault_gen, rv);
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
  std::string want_action;
  v1::Condition desired = DesiredCondition(state, &want_action);
  auto fault_gen = [&] { return state.health.fault.has_value() ? state.health.fault->gen : uint64_t{0}; };

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
        state.health.fault.has_value() && cur != nullptr && cur->status() == kConditionTrue) {
      const uint64_t rv = ParseRv(gpu.metadata().resource_version());
      absl::MutexLock lock(&mu_);
      auto it = gpus_state_.find(uuid);
      if (it != gpus_state_.end() && it->second.health.fault.has_value() &&
          it->second.health.fault->gen == state.health.fault->gen && rv > it->second.last_written_rv &&
          FaultTracker::ClearsFault(it->second.health, rv)) {
        ApplyClearLocked(&it->second, gpu, rv);
        state = it->second;
        desired = DesiredCondition(state, &want_action);  // True: no action
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
      if (state.health.fault.has_value()) NoteWritten(uuid, gpu, false, action_written, fault_gen());
      return absl::OkStatus();
    }
    *gpu.mutable_status() = std::move(st);
    absl::StatusOr<v1::Gpu> updated = gpus->UpdateStatus(gpu);
    if (!updated.ok()) return updated.status();
    NoteWritten(uuid, *updated, heartbeat_due, action_written, fault_gen());
    return absl::OkStatus();
  });
}

}  // namespace deviceapi::nvml
