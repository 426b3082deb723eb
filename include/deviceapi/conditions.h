// GPU condition helpers (docs/API.md "Condition conventions for GPU objects").
//
// Conditions on a GPU have positive polarity ("True" = good). SetCondition behaves like
// apimachinery's meta.SetStatusCondition: last_transition_time changes only when the status
// changes. Pure functions; thread-compatible.
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

// The contract's rule: kUnhealthy if any condition is "False"; else kUnknown if there are none or
// any is not "True"; else kHealthy.
Health GpuHealth(const v1::Gpu& gpu);
// "healthy", "unhealthy", "unknown".
std::string_view HealthName(Health health);

// The condition of `type`, or nullptr (a pointer into `status`, valid until it is modified).
const v1::Condition* FindCondition(const v1::GpuStatus& status, std::string_view type);
bool IsConditionTrue(const v1::GpuStatus& status, std::string_view type);
bool IsConditionFalse(const v1::GpuStatus& status, std::string_view type);

// Adds `c` or replaces the condition of its type:
// - last_transition_time: kept from the existing condition when the status is unchanged;
//   otherwise c's own when set, else `now`;
// - reason, message, observed_generation: from `c`;
// - last_heartbeat_time: c's when set, else the previous one.
// Returns true when anything in `status` changed.
bool SetCondition(v1::GpuStatus* status, v1::Condition c, absl::Time now = absl::Now());

// Builds a condition; `heartbeat` sets last_heartbeat_time.
v1::Condition MakeCondition(std::string_view type, std::string_view status, std::string_view reason,
                            std::string_view message = "",
                            std::optional<absl::Time> heartbeat = std::nullopt);

// Removes the condition of `type`; true if there was one.
bool RemoveCondition(v1::GpuStatus* status, std::string_view type);

// Timestamp conversions.
absl::Time FromTimestamp(const google::protobuf::Timestamp& ts);
google::protobuf::Timestamp ToTimestamp(absl::Time t);

}  // namespace deviceapi

#endif  // DEVICEAPI_CONDITIONS_H_
