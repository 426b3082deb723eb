#include "apimachinery/conditions.h"

#include <algorithm>
#include <utility>

namespace deviceapi {

namespace {

bool IsUnset(bool has, const google::protobuf::Timestamp& ts) {
  return !has || (ts.seconds() == 0 && ts.nanos() == 0);
}

bool SameTimestamp(bool has_a, const google::protobuf::Timestamp& a, bool has_b,
                   const google::protobuf::Timestamp& b) {
  return has_a == has_b && a.seconds() == b.seconds() && a.nanos() == b.nanos();
}

bool SameCondition(const v1::Condition& a, const v1::Condition& b) {
  return a.type() == b.type() && a.status() == b.status() && a.reason() == b.reason() &&
         a.message() == b.message() && a.observed_generation() == b.observed_generation() &&
         SameTimestamp(a.has_last_transition_time(), a.last_transition_time(), b.has_last_transition_time(),
                       b.last_transition_time()) &&
         SameTimestamp(a.has_last_heartbeat_time(), a.last_heartbeat_time(), b.has_last_heartbeat_time(),
                       b.last_heartbeat_time());
}

v1::Condition* FindMutable(v1::GpuStatus* status, std::string_view type) {
  for (v1::Condition& c : *status->mutable_conditions()) {
    if (c.type() == type) return &c;
  }
  return nullptr;
}

}  // namespace

bool HasTransitionTime(const v1::Condition& c) {
  return !IsUnset(c.has_last_transition_time(), c.last_transition_time());
}

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

bool IsConditionTrue(const v1::GpuStatus& status, std::string_view type) {
  const v1::Condition* c = FindCondition(status, type);
  return c != nullptr && c->status() == kConditionTrue;
}

bool IsConditionFalse(const v1::GpuStatus& status, std::string_view type) {
  const v1::Condition* c = FindCondition(status, type);
  return c != nullptr && c->status() == kConditionFalse;
}

bool SetCondition(v1::GpuStatus* status, v1::Condition c, absl::Time now) {
  v1::Condition* existing = FindMutable(status, c.type());
  if (existing == nullptr) {
    if (!HasTransitionTime(c)) *c.mutable_last_transition_time() = ToTimestamp(now);
    *status->add_conditions() = std::move(c);
    return true;
  }
  if (existing->status() != c.status()) {
    if (!HasTransitionTime(c)) *c.mutable_last_transition_time() = ToTimestamp(now);
  } else if (HasTransitionTime(*existing)) {
    *c.mutable_last_transition_time() = existing->last_transition_time();
  } else if (!HasTransitionTime(c)) {
    // Same status but never stamped: stamp it now, so every stored condition carries a time.
    *c.mutable_last_transition_time() = ToTimestamp(now);
  }
  if (!c.has_last_heartbeat_time() && existing->has_last_heartbeat_time()) {
    *c.mutable_last_heartbeat_time() = existing->last_heartbeat_time();
  }
  if (SameCondition(*existing, c)) return false;
  *existing = std::move(c);
  return true;
}

v1::Condition MakeCondition(std::string_view type, std::string_view status, std::string_view reason,
                            std::string_view message, std::optional<absl::Time> heartbeat) {
  v1::Condition c;
  c.set_type(std::string(type));
  c.set_status(std::string(status));
  c.set_reason(std::string(reason));
  c.set_message(std::string(message));
  if (heartbeat.has_value()) *c.mutable_last_heartbeat_time() = ToTimestamp(*heartbeat);
  return c;
}

bool RemoveCondition(v1::GpuStatus* status, std::string_view type) {
  auto* conds = status->mutable_conditions();
  for (int i = 0; i < conds->size(); ++i) {
    if (conds->Get(i).type() == type) {
      conds->erase(conds->begin() + i);
      return true;
    }
  }
  return false;
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  google::protobuf::Timestamp ts;
  const int64_t secs = absl::ToUnixSeconds(t);  // rounds towards negative infinity
  ts.set_seconds(secs);
  ts.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(secs))));
  return ts;
}

}  // namespace deviceapi

namespace deviceapi::apimachinery {

std::optional<absl::Time> LiveHeartbeat(const v1::Condition& c) {
  if (!c.has_last_heartbeat_time() || c.status() == kConditionUnknown) return std::nullopt;
  return FromTimestamp(c.last_heartbeat_time());
}

absl::Time OldestLiveHeartbeat(const v1::GpuStatus& status) {
  absl::Time oldest = absl::InfiniteFuture();
  for (const auto& c : status.conditions()) {
    if (auto beat = LiveHeartbeat(c)) oldest = std::min(oldest, *beat);
  }
  return oldest;
}

void DefaultTransitionTimes(v1::GpuStatus* incoming, const v1::GpuStatus* previous, absl::Time now) {
  for (v1::Condition& c : *incoming->mutable_conditions()) {
    if (HasTransitionTime(c)) continue;
    const v1::Condition* prev = previous ? FindCondition(*previous, c.type()) : nullptr;
    if (prev != nullptr && prev->status() == c.status() && HasTransitionTime(*prev)) {
      *c.mutable_last_transition_time() = prev->last_transition_time();
    } else {
      *c.mutable_last_transition_time() = ToTimestamp(now);
    }
  }
}

}  // namespace deviceapi::apimachinery
