#include "apimachinery/conditions.h"

#include <gtest/gtest.h>

namespace deviceapi::apimachinery {
namespace {

v1::Condition Cond(std::string type, std::string status) {
  v1::Condition c;
  c.set_type(std::move(type));
  c.set_status(std::move(status));
  return c;
}

v1::Gpu GpuWith(std::initializer_list<const char*> statuses) {
  v1::Gpu gpu;
  int i = 0;
  for (const char* s : statuses) *gpu.mutable_status()->add_conditions() = Cond("C" + std::to_string(i++), s);
  return gpu;
}

int64_t Secs(const v1::Condition& c) { return c.last_transition_time().seconds(); }

const absl::Time kT1 = absl::FromUnixSeconds(1000);
const absl::Time kT2 = absl::FromUnixSeconds(2000);

// Any False makes a GPU unhealthy, even next to Unknown.
TEST(ConditionsTest, AnyFalseIsUnhealthy) {
  EXPECT_EQ(GpuHealth(GpuWith({"True", "False"})), Health::kUnhealthy);
  EXPECT_EQ(GpuHealth(GpuWith({"Unknown", "False", "True"})), Health::kUnhealthy);
}

// No conditions, or an Unknown (or unrecognised) status without False, is unknown.
TEST(ConditionsTest, UnknownWhenNoneOrUnknown) {
  EXPECT_EQ(GpuHealth(v1::Gpu()), Health::kUnknown);
  EXPECT_EQ(GpuHealth(GpuWith({"True", "Unknown"})), Health::kUnknown);
  EXPECT_EQ(GpuHealth(GpuWith({"True", "Maybe"})), Health::kUnknown);
}

// All True is healthy.
TEST(ConditionsTest, AllTrueIsHealthy) {
  EXPECT_EQ(GpuHealth(GpuWith({"True"})), Health::kHealthy);
  EXPECT_EQ(GpuHealth(GpuWith({"True", "True", "True"})), Health::kHealthy);
}

// Health names are lower-case words.
TEST(ConditionsTest, HealthNames) {
  EXPECT_EQ(HealthName(Health::kHealthy), "healthy");
  EXPECT_EQ(HealthName(Health::kUnhealthy), "unhealthy");
  EXPECT_EQ(HealthName(Health::kUnknown), "unknown");
}

// FindCondition finds by type and returns null when absent.
TEST(ConditionsTest, FindCondition) {
  v1::Gpu gpu = GpuWith({"True", "False"});
  ASSERT_NE(FindCondition(gpu.status(), "C1"), nullptr);
  EXPECT_EQ(FindCondition(gpu.status(), "C1")->status(), "False");
  EXPECT_EQ(FindCondition(gpu.status(), "C9"), nullptr);
}

// A new condition is appended and stamped with now when it has no time.
TEST(ConditionsTest, SetConditionAppendsAndStamps) {
  v1::GpuStatus status;
  SetCondition(&status, Cond("Ready", "True"), kT1);
  ASSERT_EQ(status.conditions_size(), 1);
  EXPECT_EQ(Secs(status.conditions(0)), 1000);
}

// A new condition that carries a time keeps it.
TEST(ConditionsTest, SetConditionKeepsGivenTimeForNew) {
  v1::GpuStatus status;
  v1::Condition c = Cond("Ready", "True");
  c.mutable_last_transition_time()->set_seconds(500);
  SetCondition(&status, c, kT1);
  EXPECT_EQ(Secs(status.conditions(0)), 500);
}

// Same status: the transition time is kept while reason and message are replaced.
TEST(ConditionsTest, SetConditionSameStatusKeepsTime) {
  v1::GpuStatus status;
  SetCondition(&status, Cond("Ready", "True"), kT1);
  v1::Condition c = Cond("Ready", "True");
  c.set_reason("StillFine");
  c.set_message("ok");
  c.mutable_last_transition_time()->set_seconds(1500);  // ignored: no transition happened
  SetCondition(&status, c, kT2);
  ASSERT_EQ(status.conditions_size(), 1);
  EXPECT_EQ(Secs(status.conditions(0)), 1000);
  EXPECT_EQ(status.conditions(0).reason(), "StillFine");
  EXPECT_EQ(status.conditions(0).message(), "ok");
}

// A status change moves the transition time to now (or to the time given).
TEST(ConditionsTest, SetConditionStatusChangeUpdatesTime) {
  v1::GpuStatus status;
  SetCondition(&status, Cond("Ready", "True"), kT1);
  SetCondition(&status, Cond("Other", "True"), kT1);
  SetCondition(&status, Cond("Ready", "False"), kT2);
  ASSERT_EQ(status.conditions_size(), 2);
  EXPECT_EQ(status.conditions(0).status(), "False");
  EXPECT_EQ(Secs(status.conditions(0)), 2000);
  EXPECT_EQ(Secs(status.conditions(1)), 1000);  // the other condition is untouched
  v1::Condition c = Cond("Ready", "True");
  c.mutable_last_transition_time()->set_seconds(1800);
  SetCondition(&status, c, kT2);
  EXPECT_EQ(Secs(status.conditions(0)), 1800);
}

// Defaulting keeps the previous time for unchanged statuses and stamps the rest with now.
TEST(ConditionsTest, DefaultTransitionTimes) {
  v1::GpuStatus previous;
  SetCondition(&previous, Cond("Same", "True"), kT1);
  SetCondition(&previous, Cond("Flipped", "True"), kT1);
  v1::GpuStatus incoming;
  *incoming.add_conditions() = Cond("Same", "True");
  *incoming.add_conditions() = Cond("Flipped", "False");
  *incoming.add_conditions() = Cond("New", "Unknown");
  v1::Condition given = Cond("Given", "True");
  given.mutable_last_transition_time()->set_seconds(42);
  *incoming.add_conditions() = given;
  DefaultTransitionTimes(&incoming, &previous, kT2);
  EXPECT_EQ(Secs(incoming.conditions(0)), 1000);
  EXPECT_EQ(Secs(incoming.conditions(1)), 2000);
  EXPECT_EQ(Secs(incoming.conditions(2)), 2000);
  EXPECT_EQ(Secs(incoming.conditions(3)), 42);
}

// Without a previous status every untimed condition gets now.
TEST(ConditionsTest, DefaultTransitionTimesWithoutPrevious) {
  v1::GpuStatus incoming;
  *incoming.add_conditions() = Cond("A", "True");
  DefaultTransitionTimes(&incoming, nullptr, kT2);
  EXPECT_EQ(Secs(incoming.conditions(0)), 2000);
  EXPECT_EQ(incoming.conditions(0).last_transition_time().nanos(), 0);
}

}  // namespace
}  // namespace deviceapi::apimachinery
