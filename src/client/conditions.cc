#include "deviceapi/conditions.h"

#include <utility>

#include "apimachinery/conditions.h"

namespace deviceapi {

namespace am = ::deviceapi::apimachinery;

Health GpuHealth(const v1::Gpu& gpu) {
  switch (am::GpuHealth(gpu)) {
    case am::Health::kHealthy:
      return Health::kHealthy;
    case am::Health::kUnhealthy:
      return Health::kUnhealthy;
    case am::Health::kUnknown:
      break;
  }
  return Health::kUnknown;
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
  return am::FindCondition(status, type);
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
  const std::string before = status->SerializeAsString();
  am::SetCondition(status, std::move(c), now);
  return status->SerializeAsString() != before;
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
