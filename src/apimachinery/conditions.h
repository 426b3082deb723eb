// Condition helpers for GPU status (docs/API.md "Condition conventions for GPU objects").
//
// GPU conditions have positive polarity: "True" means good. These helpers derive a GPU's health
// from its conditions and maintain last_transition_time the way Kubernetes does
// (k8s.io/apimachinery/pkg/api/meta.SetStatusCondition). Pure functions; thread-compatible.
#ifndef DEVICEAPI_APIMACHINERY_CONDITIONS_H_
#define DEVICEAPI_APIMACHINERY_CONDITIONS_H_

#include <optional>
#include <string_view>

#include "absl/time/time.h"
#include "device/v1alpha1/gpu.pb.h"

namespace deviceapi::apimachinery {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

inline constexpr std::string_view kConditionTrue = "True";
inline constexpr std::string_view kConditionFalse = "False";
inline constexpr std::string_view kConditionUnknown = "Unknown";

enum class Health { kHealthy, kUnhealthy, kUnknown };

// kUnhealthy if any condition is "False"; otherwise kUnknown if there are no conditions or any
// condition is not "True" ("Unknown", or a status outside the three values); otherwise kHealthy.
Health GpuHealth(const v1::Gpu& gpu);

// "healthy", "unhealthy" or "unknown".
std::string_view HealthName(Health health);

// True when c.last_transition_time is set (and not the zero time).
bool HasTransitionTime(const v1::Condition& c);

// The condition's last heartbeat when it counts for heartbeat expiry: set,
// and the condition not already "Unknown"; nullopt otherwise.
std::optional<absl::Time> LiveHeartbeat(const v1::Condition& c);
// The earliest LiveHeartbeat() of the status (InfiniteFuture() when none).
absl::Time OldestLiveHeartbeat(const v1::GpuStatus& status);

// The condition of this type, or nullptr. The pointer is into `status` and lives as long as it is
// not modified.
const v1::Condition* FindCondition(const v1::GpuStatus& status, std::string_view type);

// Sets `c` in `status`, replacing the condition of the same type or appending it:
// - a new condition, or one whose status changed, keeps c.last_transition_time when set, and
//   gets `now` otherwise;
// - a condition whose status did not change keeps its previous last_transition_time whatever
//   `c` carries (if the previous one had none, as for a new condition);
// - reason, message, observed_generation come from `c`; last_heartbeat_time from `c` when set,
//   otherwise the previous one is kept.
// A timestamp counts as unset when absent or zero (the Unix epoch), as Kubernetes' IsZero.
void SetCondition(v1::GpuStatus* status, v1::Condition c, absl::Time now);

// Server-side defaulting on writes: every condition in `incoming` without a last_transition_time
// gets the previous condition's time when `previous` (may be null) has a condition of the same
// type with the same status (and a time), and `now` otherwise. Conditions that carry a time are
// left alone.
void DefaultTransitionTimes(v1::GpuStatus* incoming, const v1::GpuStatus* previous, absl::Time now);

}  // namespace deviceapi::apimachinery

#endif  // DEVICEAPI_APIMACHINERY_CONDITIONS_H_
