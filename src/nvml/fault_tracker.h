// The NVML provider's fault tracking: how one GPU's health state moves, given what happened to
// it (an XID and its classification, a polled health probe, the state the server showed after a
// provider restart, an operator clear, a write of ours) and its previous state; and which
// NVMLReady condition and recommended action that state asks for. This is the recovery rule of
// docs/nvml-provider.md ("Health") in one place.
//
// Pure: no NVML calls, no API calls, no locks, no clock reads (times are passed in). The Provider
// owns one FaultTracker and one FaultState per GPU and calls these from whichever of its threads
// (NVML event monitor, worker, watcher) saw the input, always under its own mutex: FaultTracker
// is thread-compatible, not thread-safe.
#ifndef DEVICEAPI_NVML_FAULT_TRACKER_H_
#define DEVICEAPI_NVML_FAULT_TRACKER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "nvml/inventory.h"
#include "nvml/xid_policy.h"

namespace deviceapi::nvml {

// NVMLReady reasons.
inline constexpr std::string_view kReasonHealthy = "Healthy";
inline constexpr std::string_view kReasonRecovered = "Recovered";
inline constexpr std::string_view kReasonGpuLost = "GPULost";
inline constexpr std::string_view kReasonResetRequired = "ResetRequired";
inline constexpr std::string_view kReasonRowRemapFailure = "RowRemapFailure";

// True for the reasons this provider uses for a latched fault: "XID<n>", GPULost, ResetRequired,
// RowRemapFailure.
bool IsFaultReason(std::string_view reason);

// The latched critical condition of one GPU.
struct Fault {
  std::string reason;  // "XID79", "GPULost", "ResetRequired", "RowRemapFailure"
  std::string message;
  RecommendedAction action = RecommendedAction::kContactSupport;
  uint64_t gen = 0;           // identifies this fault; every new fault gets a new number
  uint64_t published_rv = 0;  // RV of our first write that carried it; 0: not on the server yet
};

// The last warning-class XID of one GPU (published as annotations).
struct Warning {
  uint64_t xid = 0;
  absl::Time time;
  std::string message;
};

// The health state of one GPU.
struct FaultState {
  std::optional<Fault> fault;  // latched critical condition
  bool reset_seen = false;     // since the fault: the GPU was lost or unusable (a reset)
  bool recovered = false;      // True again after a fault: reason "Recovered"
  std::optional<Warning> last_warning;
};

// What a health probe changed.
enum class ProbeChange {
  kNone,           // nothing that needs a log line (the state may still note a reset)
  kLost,           // new fault GPULost
  kResetRequired,  // new fault ResetRequired
  kRemapFailure,   // new fault RowRemapFailure
  kRecovered,      // the fault is gone: healthy again after a reset
};
struct ProbeOutcome {
  ProbeChange change = ProbeChange::kNone;
  std::optional<Fault> cleared;  // kRecovered: the fault that ended
};

// NVMLReady as the server showed it, read once after a provider (re)start.
struct ServerReadiness {
  bool is_false = false;  // status "False"
  std::string reason;
  std::string message;
  std::string recommended_action;  // status.recommendedAction, whoever set it
  uint64_t rv = 0;                 // the object's resource version
};

// The NVMLReady condition and recommended action a state asks for.
struct Readiness {
  bool ready = true;  // status "True", else "False"
  std::string reason;
  std::string message;
  std::string action;  // status.recommendedAction to set: ActionName() of the fault's action; "" = none
};

class FaultTracker {
 public:
  // A classified XID (critical XID events only). kCritical latches a fault "XID<n>" with
  // `message`, keeping a more severe action of the fault it replaces, and forgets any reset seen
  // or recovery; kWarning records the warning at `now`; kIgnored changes nothing. Returns whether
  // the state changed (needs writing).
  bool OnXid(FaultState* s, const XidVerdict& v, std::string message, absl::Time now);

  // A health probe of a reconcile. Lost: fault GPULost (REBOOT_NODE), once. Reset required: fault
  // ResetRequired (RESET_GPU or a more severe pending action), unless already ResetRequired or
  // GPULost. Both note that the GPU is being reset. Remap failure: fault RowRemapFailure
  // (CONTACT_SUPPORT), once; it needs a new reset to recover. Otherwise a fault after a reset
  // recovers when nothing is pending (retirement, remap) and NVML's recovery action is NONE or
  // unknown.
  ProbeOutcome OnProbe(FaultState* s, const DeviceHealthProbe& probe);

  // After a provider start: a False NVMLReady with one of our fault reasons on the server is
  // adopted as the fault (published at `server.rv`), unless a fault is already known. An
  // unparsable action reads as CONTACT_SUPPORT. Returns whether it was adopted.
  bool AdoptServerFault(FaultState* s, const ServerReadiness& server);

  // An NVMLReady=True written by someone else at `rv` clears the fault only when that fault was
  // already on the server before (rv > published_rv): the operator saw it. A clear that raced
  // with a fault not yet published was meant for the earlier state and does not hide the new one.
  static bool ClearsFault(const FaultState& s, uint64_t rv);
  // An operator clear (ClearsFault held): the fault, any reset seen and "Recovered" are gone.
  static void ApplyClear(FaultState* s);

  // Our write at `rv` carried the fault numbered `gen` (0: none): the first such write publishes it.
  static void NoteWritten(FaultState* s, uint64_t gen, uint64_t rv);

  // The NVMLReady the state asks for: False with the fault's reason, message and action; True
  // "Recovered" after a reset; True "Healthy" naming `inventory`'s product and memory otherwise.
  static Readiness Desired(const FaultState& s, const GpuInventory& inventory);

 private:
  void SetFault(FaultState* s, Fault f);

  uint64_t next_gen_ = 0;
};

}  // namespace deviceapi::nvml

#endif  // DEVICEAPI_NVML_FAULT_TRACKER_H_
