#include "apimachinery/conditions.h"

#include <algorithm>
#include <utility>

namespace deviceapi::apimachinery {

namespace {

bool IsUnset(bool has, const google::protobuf::Timestamp& ts) {
  return !has || (ts.seconds() == 0 && ts.nanos() == 0);
}

}  // namespace

bool HasTransitionTime(const v1::Condition& c) {
  return !IsUnset(c.has_last_transition_time(), c.last_transition_time());
}

std::optional<absl::Time> LiveHeartbeat(const v1::Condition& c) {
  if (!c.has_last_heartbeat_time() || c.status() == kConditionUnknown) return std::nullopt;
  const auto& ts = c.last_heartbeat_time();
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

absl::Time OldestLiveHeartbeat(const v1::GpuStatus& status) {
  absl::Time oldest = absl::InfiniteFuture();
  for (const auto& c : status.conditions()) {
    if (auto beat = LiveHeartbeat(c)) oldest = std::min(oldest, *beat);
  }
  return oldest;
}

namespace {

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* ts) {
  const int64_t nanos = absl::ToUnixNanos(t);
  int64_t secs = nanos / 1000000000;
  int64_t rem = nanos % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    --secs;
  }
  ts->set_seconds(secs);
  ts->set_nanos(static_cast<int32_t>(rem));
}

v1::Condition* FindMutable(v1::GpuStatus* status, std::string_view type) {
  for (v1::Condition& c : *status->mutable_conditions()) {
    if (c.type() == type) return &c;
  }
  return nullptr;
}

}  // namespace

Health GpuHealth(const v1::Gpu& gpu) {
  const auto& conds = gpu.status().conditions();
  if (conds.empty()) return Health::kUnknown;
  bool all_true = true;
  for (const v1::Condition& c : conds) {
    if (c.status() == kConditionFalse) return Health::kUnhealthy;
    if (c.status() != kConditionTrue) all_true = false;
  }
  return all_true ? Health::kHealthy : Health::kUnknown;
}

std::string_view HealthName(Health health) {
  switch (health) {
    case Health::kHealthy:
      return "healthy";
    case Health::kUnhealthy:
      return "unhealthy";
    case Health::kUnknown:
      break;
  }
  return "unknown";
}

const v1::Condition* FindCondition(const v1::GpuStatus& status, std::string_view type) {
  for (const v1::Condition& c : status.conditions()) {
    if (c.type() == type) return &c;
  }
  return nullptr;
}

void SetCondition(v1::GpuStatus* status, v1::Condition c, absl::Time now) {
  v1::Condition* existing = FindMutable(status, c.type());
  if (existing == nullptr) {
    if (!HasTransitionTime(c)) SetTimestamp(now, c.mutable_last_transition_time());
    *status->add_conditions() = std::move(c);
    return;
  }
  if (existing->status() != c.status()) {
    if (!HasTransitionTime(c)) SetTimestamp(now, c.mutable_last_transition_time());
  } else if (HasTransitionTime(*existing)) {
    *c.mutable_last_transition_time() = existing->last_transition_time();
  } else {
    // Same status but never stamped: stamp it now, so every stored condition carries a time.
    if (!HasTransitionTime(c)) SetTimestamp(now, c.mutable_last_transition_time());
  }
  if (!c.has_last_heartbeat_time() && existing->has_last_heartbeat_time()) {
    *c.mutable_last_heartbeat_time() = existing->last_heartbeat_time();
  }
  *existing = std::move(c);
}

void DefaultTransitionTimes(v1::GpuStatus* incoming, const v1::GpuStatus* previous, absl::Time now) {
  for (v1::Condition& c : *incoming->mutable_conditions()) {
    if (HasTransitionTime(c)) continue;
    const v1::Condition* prev = previous ? FindCondition(*previous, c.type()) : nullptr;
    if (prev != nullptr && prev->status() == c.status() && HasTransitionTime(*prev)) {
      *c.mutable_last_transition_time() = prev->last_transition_time();
    } else {
      SetTimestamp(now, c.mutable_last_transition_time());
    }
  }
}

}  // namespace deviceapi::apimachinery
