// The report logic of npd-gpu-monitor, pure: conditions, messages, truncation, XID tracking.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "npd/report.h"

namespace deviceapi::npd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

GpuSummary G(std::string name, Health h, std::string reason = "") {
  return {std::move(name), h, std::move(reason)};
}

v1::Gpu Gpu(const std::string& name, const std::string& status, const std::string& reason, int64_t t) {
  v1::Gpu g;
  g.mutable_metadata()->set_name(name);
  v1::Condition* c = g.mutable_status()->add_conditions();
  c->set_type("NVMLReady");
  c->set_status(status);
  c->set_reason(reason);
  c->set_message("m");
  c->mutable_last_transition_time()->set_seconds(t);
  return g;
}

TEST(Conditions, AllHealthy) {
  auto c = Conditions({G("gpu-a", Health::kHealthy), G("gpu-b", Health::kHealthy)}, {.expected_gpus = 2});
  ASSERT_EQ(c.size(), 3U);
  EXPECT_EQ(c[0],
            (ProblemCondition{"GPUUnhealthy", ProblemStatus::kFalse, "GPUsHealthy", "All GPUs are healthy"}));
  EXPECT_EQ(c[1].type, "GPUHealthUnknown");
  EXPECT_EQ(c[1].status, ProblemStatus::kFalse);
  EXPECT_EQ(c[1].reason, "GPUHealthKnown");
  EXPECT_EQ(c[2], (ProblemCondition{"GPUCountMismatch", ProblemStatus::kFalse, "GPUCountMatches",
                                    "The expected number of GPUs is present"}));
}

TEST(Conditions, UnhealthyNamesTheGpusAndReasons) {
  auto c = Conditions(
      {G("gpu-1a2b3c4d-aaaa", Health::kUnhealthy, "XID79"), G("gpu-b", Health::kHealthy),
       G("gpu-3c4d", Health::kUnhealthy, "XID48"), G("gpu-u", Health::kUnknown, "NVMLUnavailable")},
      {});
  EXPECT_EQ(c[0].status, ProblemStatus::kTrue);
  EXPECT_EQ(c[0].reason, "GPUUnhealthy");
  EXPECT_EQ(c[0].message, "2/4 GPUs unhealthy: gpu-1a2b3c4d (XID79), gpu-3c4d (XID48)");
  // Unknown is reported only when nothing is unhealthy.
  EXPECT_EQ(c[1].status, ProblemStatus::kFalse);
  auto u = Conditions({G("gpu-u", Health::kUnknown, "HeartbeatExpired"), G("gpu-b", Health::kHealthy)}, {});
  EXPECT_EQ(u[0].status, ProblemStatus::kFalse);
  EXPECT_EQ(u[1].status, ProblemStatus::kTrue);
  EXPECT_EQ(u[1].reason, "GPUHealthUnknown");
  EXPECT_EQ(u[1].message, "1/2 GPUs with unknown health: gpu-u (HeartbeatExpired)");
}

TEST(Conditions, CountMismatch) {
  auto c = Conditions({G("gpu-a", Health::kHealthy)}, {.expected_gpus = 8});
  EXPECT_EQ(c[2], (ProblemCondition{"GPUCountMismatch", ProblemStatus::kTrue, "GPUCountMismatch",
                                    "1/8 GPUs present"}));
  // More than expected is not a mismatch; no expectation never is.
  EXPECT_EQ(Conditions({G("a", Health::kHealthy), G("b", Health::kHealthy)}, {.expected_gpus = 1})[2].status,
            ProblemStatus::kFalse);
  EXPECT_EQ(Conditions({}, {})[2].status, ProblemStatus::kFalse);
}

TEST(Conditions, UnreachableIsUnknownNeverFalse) {
  auto c = UnreachableConditions("connection refused", {});
  ASSERT_EQ(c.size(), 3U);
  for (const auto& x : c) {
    EXPECT_EQ(x.status, ProblemStatus::kUnknown);
    EXPECT_EQ(x.reason, "DeviceAPIUnavailable");
    EXPECT_EQ(x.message, "Device API unreachable: connection refused");
  }
}

TEST(Conditions, MessagesNeverExceedTheLimit) {
  std::vector<GpuSummary> many;
  for (int i = 0; i < 64; ++i)
    many.push_back(G("gpu-" + std::to_string(1000 + i) + "-xxxx", Health::kUnhealthy, "XID79"));
  for (size_t max : {16UL, 80UL, 200UL}) {
    for (const auto& c : Conditions(many, {.expected_gpus = 100, .max_message = max})) {
      EXPECT_LE(c.message.size(), max) << c.message;
    }
    for (const auto& c : UnreachableConditions(std::string(500, 'x'), {.max_message = max})) {
      EXPECT_LE(c.message.size(), max);
    }
  }
  EXPECT_THAT(Conditions(many, {.max_message = 80})[0].message, ::testing::EndsWith("..."));
}

TEST(Truncate, KeepsUtf8Whole) {
  EXPECT_EQ(Truncate("abc", 3), "abc");
  EXPECT_EQ(Truncate("abcdef", 5), "ab...");
  // "é" is two bytes: never cut in the middle.
  const std::string t = Truncate("aé" + std::string(10, 'x'), 5);
  EXPECT_LE(t.size(), 5U);
  EXPECT_EQ(t, "a...");
}

TEST(Summarize, ReasonOfTheFirstFalseOrUnknownCondition) {
  v1::Gpu g = Gpu("gpu-a", "False", "XID79", 10);
  EXPECT_EQ(Summarize(g).health, Health::kUnhealthy);
  EXPECT_EQ(Summarize(g).reason, "XID79");
  v1::Gpu none;
  none.mutable_metadata()->set_name("gpu-n");
  EXPECT_EQ(Summarize(none).health, Health::kUnknown);
  EXPECT_EQ(Summarize(none).reason, "NoConditions");
}

TEST(XidOfReason, OnlyXidNumbers) {
  EXPECT_EQ(XidOfReason("XID79"), 79U);
  EXPECT_EQ(XidOfReason("XID"), std::nullopt);
  EXPECT_EQ(XidOfReason("XID7x"), std::nullopt);
  EXPECT_EQ(XidOfReason("GPULost"), std::nullopt);
}

TEST(XidTracker, EachXidOnce) {
  XidTracker t;
  EXPECT_TRUE(t.Observe(Gpu("gpu-a", "True", "Healthy", 1)).empty());
  auto e = t.Observe(Gpu("gpu-a", "False", "XID79", 5));
  ASSERT_EQ(e.size(), 1U);
  EXPECT_EQ(e[0].reason(), "GPUXID79");
  EXPECT_EQ(e[0].xid, 79U);
  EXPECT_THAT(e[0].message(), HasSubstr("XID79 on gpu-a"));
  // The same condition again (a heartbeat, a relist): nothing new.
  EXPECT_TRUE(t.Observe(Gpu("gpu-a", "False", "XID79", 5)).empty());
  // Another XID (a new transition) is news; so is the same XID after a recovery.
  EXPECT_EQ(t.Observe(Gpu("gpu-a", "False", "XID48", 9)).size(), 1U);
  EXPECT_TRUE(t.Observe(Gpu("gpu-a", "True", "Recovered", 12)).empty());
  EXPECT_EQ(t.Observe(Gpu("gpu-a", "False", "XID48", 20)).size(), 1U);
}

TEST(XidTracker, SeedReportsNothingAndSurvivesSerialization) {
  XidTracker t;
  EXPECT_TRUE(t.Observe(Gpu("gpu-a", "False", "XID79", 5), /*seed=*/true).empty());
  absl::StatusOr<XidTracker> back = XidTracker::Parse(t.Serialize());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->size(), 1U);
  EXPECT_TRUE(back->Observe(Gpu("gpu-a", "False", "XID79", 5)).empty());
  EXPECT_EQ(back->Observe(Gpu("gpu-a", "False", "XID79", 6)).size(), 1U);
  back->Retain({"gpu-other"});
  EXPECT_EQ(back->size(), 0U);
  EXPECT_FALSE(XidTracker::Parse("just one field\n").ok());
}

}  // namespace
}  // namespace deviceapi::npd
