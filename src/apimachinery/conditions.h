// The server's view of GPU conditions: the shared vocabulary of include/deviceapi/conditions.h
// (health, SetCondition, the condition values), named in this namespace, plus the rules only the
// server applies: defaulting transition times on writes and heartbeat expiry. Pure functions;
// thread-compatible.
#ifndef DEVICEAPI_APIMACHINERY_CONDITIONS_H_
#define DEVICEAPI_APIMACHINERY_CONDITIONS_H_

#include <optional>

#include "absl/time/time.h"
#include "device/v1alpha1/gpu.pb.h"
#include "deviceapi/conditions.h"

namespace deviceapi::apimachinery {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

using ::deviceapi::FindCondition;
using ::deviceapi::GpuHealth;
using ::deviceapi::HasTransitionTime;
using ::deviceapi::Health;
using ::deviceapi::HealthName;
using ::deviceapi::kConditionFalse;
using ::deviceapi::kConditionTrue;
using ::deviceapi::kConditionUnknown;
using ::deviceapi::SetCondition;

// The condition's last heartbeat when it counts for heartbeat expiry: set, and the condition not
// already "Unknown"; nullopt otherwise.
std::optional<absl::Time> LiveHeartbeat(const v1::Condition& c);
// The earliest LiveHeartbeat() of the status (InfiniteFuture() when none).
absl::Time OldestLiveHeartbeat(const v1::GpuStatus& status);

// Server-side defaulting on writes: every condition in `incoming` without a last_transition_time
// gets the previous condition's time when `previous` (may be null) has a condition of the same
// type with the same status (and a time), and `now` otherwise. Conditions that carry a time are
// left alone.
void DefaultTransitionTimes(v1::GpuStatus* incoming, const v1::GpuStatus* previous, absl::Time now);

}  // namespace deviceapi::apimachinery

#endif  // DEVICEAPI_APIMACHINERY_CONDITIONS_H_
