// The watch validator against hand-made histories and streams: a valid stream passes, and each
// kind of violation is reported (and only that kind).
#include "testutil/watch_validator.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace deviceapi::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

v1::Gpu Obj(const std::string& name, uint64_t rv, const std::string& msg, const std::string& pool = "a") {
  v1::Gpu g;
  g.mutable_metadata()->set_name(name);
  g.mutable_metadata()->set_namespace_("default");
  g.mutable_metadata()->set_resource_version(std::to_string(rv));
  (*g.mutable_metadata()->mutable_labels())["pool"] = pool;
  auto* c = g.mutable_status()->add_conditions();
  c->set_type("Ready");
  c->set_status("True");
  c->set_reason("Soak");
  c->set_message(msg);
  return g;
}

RecordedEvent Ev(EventType type, const v1::Gpu& obj) {
  return RecordedEvent{type, std::stoull(obj.metadata().resource_version()), obj};
}
RecordedEvent Bookmark(uint64_t rv) {
  RecordedEvent e{EventType::kBookmark, rv, {}};
  e.object.mutable_metadata()->set_resource_version(std::to_string(rv));
  return e;
}

// gpu-a created at 11, updated at 12 and 14; gpu-b created at 13, updated at 15 (pool b).
class watch_validator : public ::testing::Test {
 protected:
  void SetUp() override {
    Ack(WriteKind::kCreate, Obj("gpu-a", 11, "a1"));
    Ack(WriteKind::kUpdate, Obj("gpu-a", 12, "a2"));
    Ack(WriteKind::kCreate, Obj("gpu-b", 13, "b1", "b"));
    Ack(WriteKind::kUpdate, Obj("gpu-a", 14, "a3"));
    Ack(WriteKind::kUpdate, Obj("gpu-b", 15, "b2", "b"));
  }
  void Ack(WriteKind kind, const v1::Gpu& obj) { history_.RecordAck(history_.BeginWrite(), kind, obj); }

  std::vector<RecordedEvent> AllEvents() const {
    return {Ev(EventType::kAdded, Obj("gpu-a", 11, "a1")), Ev(EventType::kModified, Obj("gpu-a", 12, "a2")),
            Ev(EventType::kAdded, Obj("gpu-b", 13, "b1", "b")),
            Ev(EventType::kModified, Obj("gpu-a", 14, "a3")),
            Ev(EventType::kModified, Obj("gpu-b", 15, "b2", "b"))};
  }

  // The kinds reported for `segments` of one watch.
  std::vector<ViolationKind> Kinds(const std::vector<WatchSegment>& segments, WatchFilter filter = {}) {
    stats_ = {};
    violations_ = ValidateWatches(history_, {RecordedWatch{"w", filter, segments}}, &stats_);
    std::vector<ViolationKind> kinds;
    for (const auto& v : violations_) kinds.push_back(v.kind);
    return kinds;
  }

  WriteHistory history_;
  std::vector<Violation> violations_;
  WatchCheckStats stats_;
};

TEST_F(watch_validator, ValidStreamPasses) {
  auto events = AllEvents();
  events.insert(events.begin() + 2, Bookmark(12));
  events.push_back(Bookmark(17));
  EXPECT_THAT(Kinds({WatchSegment{10, false, events}}), IsEmpty());
  EXPECT_EQ(stats_.events, 5u);
  EXPECT_EQ(stats_.bookmarks, 2u);
  EXPECT_EQ(stats_.gap_checked, 5u);
}

TEST_F(watch_validator, ValidResumedStreamPasses) {
  auto events = AllEvents();
  WatchSegment first{10, false, {events[0], events[1], Bookmark(12)}};
  WatchSegment second{12, true, {events[2], events[3]}};
  WatchSegment third{14, true, {events[4]}};
  EXPECT_THAT(Kinds({first, second, third}), IsEmpty());
  EXPECT_EQ(stats_.segments, 3u);
}

TEST_F(watch_validator, SelectorLimitsWhatMustBeSeen) {
  auto events = AllEvents();
  EXPECT_THAT(
      Kinds({WatchSegment{10, false, {events[0], events[1], events[3]}}}, WatchFilter{"", "pool=a", ""}),
      IsEmpty());
  EXPECT_THAT(Kinds({WatchSegment{10, false, {events[0], events[1], events[2], events[3]}}},
                    WatchFilter{"", "pool=a", ""}),
              ElementsAre(ViolationKind::kSelector));
}

TEST_F(watch_validator, ReorderedEventsAreReported) {
  auto events = AllEvents();
  std::swap(events[1], events[2]);
  EXPECT_THAT(Kinds({WatchSegment{10, false, events}}), ElementsAre(ViolationKind::kOrder));
  EXPECT_NE(violations_[0].ToString().find("order: event 2 (MODIFIED RV 12)"), std::string::npos)
      << violations_[0].ToString();
}

TEST_F(watch_validator, DuplicateIsReported) {
  auto events = AllEvents();
  events.insert(events.begin() + 2, events[1]);
  EXPECT_THAT(Kinds({WatchSegment{10, false, events}}), ElementsAre(ViolationKind::kDuplicate));
}

TEST_F(watch_validator, DuplicateAcrossSegmentsIsReported) {
  auto events = AllEvents();
  EXPECT_THAT(Kinds({WatchSegment{10, false, {events[0], events[1]}},
                     WatchSegment{12, true, {events[1], events[2]}}}),
              ElementsAre(ViolationKind::kResume, ViolationKind::kDuplicate));
}

TEST_F(watch_validator, GapIsReported) {
  auto events = AllEvents();
  events.erase(events.begin() + 2);
  EXPECT_THAT(Kinds({WatchSegment{10, false, events}}), ElementsAre(ViolationKind::kGap));
  EXPECT_NE(violations_[0].text.find("the create of default/gpu-b at RV 13 was not delivered"),
            std::string::npos)
      << violations_[0].ToString();
}

TEST_F(watch_validator, BookmarkPastAMissedWriteIsAGap) {
  // A bookmark at 14 promises everything up to 14: the update at 14 is missing.
  auto events = AllEvents();
  EXPECT_THAT(Kinds({WatchSegment{10, false, {events[0], events[1], events[2], Bookmark(14)}}}),
              ElementsAre(ViolationKind::kGap));
}

TEST_F(watch_validator, TornObjectIsReported) {
  auto events = AllEvents();
  // RV 14's metadata with RV 12's status: a merged state.
  events[3].object.mutable_status()->mutable_conditions(0)->set_message("a2");
  EXPECT_THAT(Kinds({WatchSegment{10, false, events}}), ElementsAre(ViolationKind::kAtomic));
  EXPECT_NE(violations_[0].text.find("object differs"), std::string::npos) << violations_[0].ToString();
}

TEST_F(watch_validator, WrongTypeOrWrongObjectIsAtomicViolation) {
  auto events = AllEvents();
  events[0].type = EventType::kModified;
  EXPECT_THAT(Kinds({WatchSegment{10, false, events}}), ElementsAre(ViolationKind::kAtomic));
  events = AllEvents();
  events[3].object = Obj("gpu-b", 14, "a3", "b");
  EXPECT_THAT(Kinds({WatchSegment{10, false, events}}), ElementsAre(ViolationKind::kAtomic));
}

TEST_F(watch_validator, UnknownWriteIsReportedUnlessAnAttemptMatches) {
  auto events = AllEvents();
  events.push_back(Ev(EventType::kModified, Obj("gpu-a", 16, "a4")));
  EXPECT_THAT(Kinds({WatchSegment{10, false, events}}), ElementsAre(ViolationKind::kUnknown));
  // The write whose outcome was unknown (the server was killed during the call) was committed.
  history_.RecordAttempt(history_.BeginWrite(), WriteKind::kUpdate, Obj("gpu-a", 0, "a4"));
  EXPECT_THAT(Kinds({WatchSegment{10, false, events}}), IsEmpty());
  EXPECT_EQ(stats_.unacked_matched, 1u);
}

TEST_F(watch_validator, ForeignObjectsAreOnlyCheckedForOrder) {
  auto events = AllEvents();
  events.insert(events.begin() + 1, Ev(EventType::kModified, Obj("provider-gpu", 11, "x")));  // RV taken
  EXPECT_THAT(Kinds({WatchSegment{10, false, events}}), ElementsAre(ViolationKind::kDuplicate));
  events = AllEvents();
  events.push_back(Ev(EventType::kModified, Obj("provider-gpu", 16, "heartbeat")));
  EXPECT_THAT(Kinds({WatchSegment{10, false, events}}), IsEmpty());
  EXPECT_EQ(stats_.foreign_events, 1u);
}

TEST_F(watch_validator, ResumeFromTheWrongRvIsReported) {
  auto events = AllEvents();
  // Resumed from 11 although 12 was seen: the stream repeats or skips.
  EXPECT_THAT(Kinds({WatchSegment{10, false, {events[0], events[1]}},
                     WatchSegment{11, true, {events[2], events[3]}}}),
              ElementsAre(ViolationKind::kResume));
  // Resumed from 13 although only 12 was seen: the create at 13 was skipped.
  EXPECT_THAT(Kinds({WatchSegment{10, false, {events[0], events[1]}}, WatchSegment{13, true, {events[3]}}}),
              ElementsAre(ViolationKind::kResume));
}

TEST_F(watch_validator, BookmarkGoingBackIsReported) {
  auto events = AllEvents();
  EXPECT_THAT(Kinds({WatchSegment{10, false, {events[0], events[1], events[2], Bookmark(12)}}}),
              ElementsAre(ViolationKind::kBookmark));
}

TEST_F(watch_validator, EventBelowAnEarlierBookmarkIsReported) {
  auto events = AllEvents();
  EXPECT_THAT(Kinds({WatchSegment{10, false, {events[0], events[1], Bookmark(13), events[2]}}}),
              ElementsAre(ViolationKind::kBookmark));
}

TEST_F(watch_validator, SettledWaitsForOpenWrites) {
  const uint64_t t = history_.BeginWrite();
  const uint64_t mark = history_.LastTicket();
  EXPECT_FALSE(history_.Settled(mark));
  history_.RecordFailure(t);
  EXPECT_TRUE(history_.Settled(mark));
  history_.PruneBelow(14);
  EXPECT_FALSE(history_.AckAt(12));
  EXPECT_TRUE(history_.AckAt(14));
  EXPECT_EQ(history_.LastAcks().at("default/gpu-a").rv, 14u);
}

}  // namespace
}  // namespace deviceapi::testing
