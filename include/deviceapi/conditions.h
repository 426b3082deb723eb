// GPU conditions: the one definition of the condition vocabulary that the client library and the
// server share (docs/API.md "Condition conventions for GPU objects").
//
// Conditions on a GPU have positive polarity ("True" = good). A GPU's health derives from its
// conditions, and SetCondition maintains last_transition_time the way Kubernetes'
// meta.SetStatusCondition does. The server's defaulting rules on top of these are in
// src/apimachinery/conditions.h. Pure functions; thread-compatible.
#ifndef DEVICEAPI_CONDITIONS_H_
#define DEVICEAPI_CONDITIONS_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "device/v1alpha1/gpu.pb.h"

namespace deviceapi {

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

// The condition of `type`, or nullptr (a pointer into `status`, valid until it is modified).
const v1::Condition* FindCondition(const v1::GpuStatus& status, std::string_view type);
bool IsConditionTrue(const v1::GpuStatus& status, std::string_view type);
bool IsConditionFalse(const v1::GpuStatus& status, std::string_view type);

// True when c.last_transition_time is set and not the zero time (a timestamp counts as unset when
// absent or at the Unix epoch, as Kubernetes' IsZero).
bool HasTransitionTime(const v1::Condition& c);

// Sets `c` in `status`, replacing the condition of the same type or appending it:
// - a new condition, or one whose status changed, keeps c.last_transition_time when set, and
//   gets `now` otherwise;
// - a condition whose status did not change keeps its previous last_transition_time whatever
//   `c` carries (if the previous one had none, as for a new condition);
// - reason, message, observed_generation come from `c`; last_heartbeat_time from `c` when set,
//   otherwise the previous one is kept.
// Returns true when anything in `status` changed.
bool SetCondition(v1::GpuStatus* status, v1::Condition c, absl::Time now = absl::Now());

// Builds a condition; `heartbeat` sets last_heartbeat_time.
v1::Condition MakeCondition(std::string_view type, std::string_view status, std::string_view reason,
                            std::string_view message = "",
                            std::optional<absl::Time> heartbeat = std::nullopt);

// Removes the condition of `type`; true if there was one.
bool RemoveCondition(v1::GpuStatus* status, std::string_view type);

// Timestamp conversions (nanosecond precision; times before the epoch normalised as protobuf
// wants: seconds rounded down, 0 <= nanos < 1e9).
absl::Time FromTimestamp(const google::protobuf::Timestamp& ts);
google::protobuf::Timestamp ToTimestamp(absl::Time t);

}  // namespace deviceapi

#endif  // DEVICEAPI_CONDITIONS_H_
