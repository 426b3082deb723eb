// The fault and recovery rules of fault_tracker.h. Pure: the Provider calls these under its mutex
// from its event, worker and watcher threads; nothing here reads the clock or calls out.
#include "nvml/fault_tracker.h"

#include <cstdio>
#include <utility>

#include "common/strings.h"

namespace deviceapi::nvml {

using common::Cat;

namespace {

std::string FormatBytes(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f GB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

std::optional<RecommendedAction> ParseAction(std::string_view s) {
  for (RecommendedAction a :
       {RecommendedAction::kNone, RecommendedAction::kRestartApp, RecommendedAction::kResetGpu,
        RecommendedAction::kRestartVm, RecommendedAction::kRebootNode, RecommendedAction::kContactSupport}) {
    if (ActionName(a) == s) return a;
  }
  return std::nullopt;
}

}  // namespace

bool IsFaultReason(std::string_view reason) {
  return (reason.size() > 3 && reason.substr(0, 3) == "XID") || reason == kReasonGpuLost ||
         reason == kReasonResetRequired || reason == kReasonRowRemapFailure;
}

void FaultTracker::SetFault(FaultState* s, Fault f) {
  f.gen = ++next_gen_;
  s->fault = std::move(f);
}

bool FaultTracker::OnXid(FaultState* s, const XidVerdict& v, std::string message, absl::Time now) {
  switch (v.cls) {
    case XidClass::kIgnored:
      return false;
    case XidClass::kWarning:
      s->last_warning = Warning{v.xid, now, std::move(message)};
      return true;
    case XidClass::kCritical: {
      Fault f{Cat("XID", v.xid), std::move(message), v.action};
      // Never downgrade a pending action (a later XID 48 must not hide an earlier 79's reboot).
      if (s->fault.has_value() && ActionRank(s->fault->action) > ActionRank(f.action))
        f.action = s->fault->action;
      SetFault(s, std::move(f));
      s->reset_seen = false;
      s->recovered = false;
      return true;
    }
  }
  return false;
}

ProbeOutcome FaultTracker::OnProbe(FaultState* s, const DeviceHealthProbe& probe) {
  ProbeOutcome out;
  const std::string_view old_reason = s->fault.has_value() ? std::string_view(s->fault->reason) : "";
  if (probe.fatal_error == NVML_ERROR_GPU_IS_LOST) {
    if (old_reason != kReasonGpuLost) {
      SetFault(s, Fault{std::string(kReasonGpuLost),
                        "GPU is lost: NVML returned GPU_IS_LOST (fallen off the bus or not responding); "
                        "recommended action: REBOOT_NODE",
                        RecommendedAction::kRebootNode});
      s->recovered = false;
      out.change = ProbeChange::kLost;
    }
    s->reset_seen = true;
  } else if (probe.fatal_error == NVML_ERROR_RESET_REQUIRED) {
    if (old_reason != kReasonResetRequired && old_reason != kReasonGpuLost) {
      RecommendedAction a = RecommendedAction::kResetGpu;
      if (s->fault.has_value() && ActionRank(s->fault->action) > ActionRank(a)) a = s->fault->action;
      SetFault(s, Fault{std::string(kReasonResetRequired),
                        Cat("GPU requires a reset: NVML returned RESET_REQUIRED; recommended action: ",
                            ActionName(a)),
                        a});
      s->recovered = false;
      out.change = ProbeChange::kResetRequired;
    }
    s->reset_seen = true;
  } else if (probe.remap_failure) {
    if (old_reason != kReasonRowRemapFailure) {
      SetFault(s, Fault{std::string(kReasonRowRemapFailure),
                        "Row remapping failed (no spare rows, failureOccurred latched); recommended "
                        "action: CONTACT_SUPPORT",
                        RecommendedAction::kContactSupport});
      s->reset_seen = false;
      s->recovered = false;
      out.change = ProbeChange::kRemapFailure;
    }
  } else if (s->fault.has_value() && s->reset_seen && !probe.retirement_pending && !probe.remap_pending &&
             probe.recovery_action.value_or(GpuRecoveryAction::kNone) == GpuRecoveryAction::kNone) {
    out.cleared = std::move(s->fault);
    s->fault.reset();
    s->reset_seen = false;
    s->recovered = true;
    out.change = ProbeChange::kRecovered;
  }
  return out;
}

bool FaultTracker::AdoptServerFault(FaultState* s, const ServerReadiness& server) {
  if (s->fault.has_value() || !server.is_false || !IsFaultReason(server.reason)) return false;
  Fault f{server.reason, server.message,
          ParseAction(server.recommended_action).value_or(RecommendedAction::kContactSupport)};
  f.published_rv = server.rv;
  SetFault(s, std::move(f));
  return true;
}

bool FaultTracker::ClearsFault(const FaultState& s, uint64_t rv) {
  return s.fault.has_value() && s.fault->published_rv != 0 && rv > s.fault->published_rv;
}

void FaultTracker::ApplyClear(FaultState* s) {
  s->fault.reset();
  s->reset_seen = false;
  s->recovered = false;
}

void FaultTracker::NoteWritten(FaultState* s, uint64_t gen, uint64_t rv) {
  if (gen != 0 && s->fault.has_value() && s->fault->gen == gen && s->fault->published_rv == 0) {
    s->fault->published_rv = rv;
  }
}

Readiness FaultTracker::Desired(const FaultState& s, const GpuInventory& inventory) {
  if (s.fault.has_value()) {
    return Readiness{false, s.fault->reason, s.fault->message, std::string(ActionName(s.fault->action))};
  }
  if (s.recovered) {
    return Readiness{
        true, std::string(kReasonRecovered),
        "GPU healthy again after a reset: handle re-acquired, no pending retirement or remap failure", ""};
  }
  return Readiness{true, std::string(kReasonHealthy),
                   Cat("GPU enumerated via NVML: ", inventory.product_name, " (",
                       FormatBytes(inventory.memory_bytes), ")"),
                   ""};
}

}  // namespace deviceapi::nvml
