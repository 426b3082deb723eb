// Condition helpers: SetStatusCondition semantics and the health rule.
#include <gtest/gtest.h>

#include "deviceapi/conditions.h"

namespace {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;
using deviceapi::MakeCondition;

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);
const absl::Time kT1 = kT0 + absl::Minutes(1);
const absl::Time kT2 = kT0 + absl::Minutes(2);

// A new condition gets `now` as its transition time (or its own, when set).
TEST(SetCondition, NewConditionGetsNow) {
  v1::GpuStatus s;
  EXPECT_TRUE(deviceapi::SetCondition(&s, MakeCondition("Ready", "True", "Ok"), kT0));
  ASSERT_EQ(s.conditions_size(), 1);
  EXPECT_EQ(deviceapi::FromTimestamp(s.conditions(0).last_transition_time()), kT0);
  v1::Condition own = MakeCondition("Other", "True", "Ok");
  *own.mutable_last_transition_time() = deviceapi::ToTimestamp(kT2);
  deviceapi::SetCondition(&s, own, kT0);
  EXPECT_EQ(deviceapi::FromTimestamp(deviceapi::FindCondition(s, "Other")->last_transition_time()), kT2);
}

// Same status: the transition time stays, even if the new condition carries another; reason,
// message and heartbeat are updated.
TEST(SetCondition, SameStatusKeepsTransitionTime) {
  v1::GpuStatus s;
  deviceapi::SetCondition(&s, MakeCondition("Ready", "True", "Ok", "", kT0), kT0);
  v1::Condition again = MakeCondition("Ready", "True", "StillOk", "fine", kT1);
  *again.mutable_last_transition_time() = deviceapi::ToTimestamp(kT2);
  EXPECT_TRUE(deviceapi::SetCondition(&s, again, kT1));
  const v1::Condition* c = deviceapi::FindCondition(s, "Ready");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(deviceapi::FromTimestamp(c->last_transition_time()), kT0);
  EXPECT_EQ(deviceapi::FromTimestamp(c->last_heartbeat_time()), kT1);
  EXPECT_EQ(c->reason(), "StillOk");
  EXPECT_EQ(c->message(), "fine");
  EXPECT_EQ(s.conditions_size(), 1);
}

// A status change moves the transition time to `now`.
TEST(SetCondition, StatusChangeMovesTransitionTime) {
  v1::GpuStatus s;
  deviceapi::SetCondition(&s, MakeCondition("Ready", "True", "Ok"), kT0);
  deviceapi::SetCondition(&s, MakeCondition("Ready", "False", "Xid79"), kT1);
  EXPECT_EQ(deviceapi::FromTimestamp(deviceapi::FindCondition(s, "Ready")->last_transition_time()), kT1);
  EXPECT_TRUE(deviceapi::IsConditionFalse(s, "Ready"));
  EXPECT_FALSE(deviceapi::IsConditionTrue(s, "Ready"));
}

// Without a new heartbeat the previous one is kept; an identical set changes nothing.
TEST(SetCondition, HeartbeatKeptAndNoOp) {
  v1::GpuStatus s;
  deviceapi::SetCondition(&s, MakeCondition("Ready", "True", "Ok", "", kT0), kT0);
  EXPECT_FALSE(deviceapi::SetCondition(&s, MakeCondition("Ready", "True", "Ok"), kT2));
  EXPECT_EQ(deviceapi::FromTimestamp(deviceapi::FindCondition(s, "Ready")->last_heartbeat_time()), kT0);
}

// Other conditions stay intact; Remove drops one.
TEST(SetCondition, OtherConditionsIntactAndRemove) {
  v1::GpuStatus s;
  deviceapi::SetCondition(&s, MakeCondition("A", "True", "Ok"), kT0);
  deviceapi::SetCondition(&s, MakeCondition("B", "True", "Ok"), kT0);
  deviceapi::SetCondition(&s, MakeCondition("A", "False", "Bad"), kT1);
  ASSERT_EQ(s.conditions_size(), 2);
  EXPECT_EQ(s.conditions(1).type(), "B");
  EXPECT_TRUE(deviceapi::RemoveCondition(&s, "A"));
  EXPECT_FALSE(deviceapi::RemoveCondition(&s, "A"));
  EXPECT_EQ(s.conditions_size(), 1);
}

// unhealthy if any False; unknown if none False but one Unknown or none at all; else healthy.
TEST(GpuHealth, ContractRule) {
  v1::Gpu g;
  EXPECT_EQ(deviceapi::GpuHealth(g), deviceapi::Health::kUnknown);
  deviceapi::SetCondition(g.mutable_status(), MakeCondition("A", "True", "Ok"), kT0);
  EXPECT_EQ(deviceapi::GpuHealth(g), deviceapi::Health::kHealthy);
  deviceapi::SetCondition(g.mutable_status(), MakeCondition("B", "Unknown", "NoData"), kT0);
  EXPECT_EQ(deviceapi::GpuHealth(g), deviceapi::Health::kUnknown);
  deviceapi::SetCondition(g.mutable_status(), MakeCondition("C", "False", "Xid"), kT0);
  EXPECT_EQ(deviceapi::GpuHealth(g), deviceapi::Health::kUnhealthy);
  EXPECT_EQ(deviceapi::HealthName(deviceapi::GpuHealth(g)), "unhealthy");
  EXPECT_EQ(deviceapi::HealthName(deviceapi::Health::kHealthy), "healthy");
  EXPECT_EQ(deviceapi::HealthName(deviceapi::Health::kUnknown), "unknown");
}

TEST(Timestamp, RoundTrip) {
  const absl::Time t = kT0 + absl::Nanoseconds(123456789);
  EXPECT_EQ(deviceapi::FromTimestamp(deviceapi::ToTimestamp(t)), t);
  const absl::Time neg = absl::FromUnixSeconds(-1) + absl::Nanoseconds(5);
  auto ts = deviceapi::ToTimestamp(neg);
  EXPECT_GE(ts.nanos(), 0);
  EXPECT_EQ(deviceapi::FromTimestamp(ts), neg);
}

}  // namespace
