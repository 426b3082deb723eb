// Unit tests of the storage building blocks: history ring, snapshots,
// watcher queues and enter/leave typing, continue tokens.
#include <gtest/gtest.h>

#include <type_traits>

#include "storage/after_unlock.h"
#include "storage/continue_token.h"
#include "storage/history_ring.h"
#include "storage/next_version.h"
#include "storage/snapshot.h"
#include "storage/store.h"
#include "storage/stored_object.h"
#include "storage/watcher.h"

namespace deviceapi::storage {
namespace {

StoredPtr Obj(const std::string& name, uint64_t rv, const std::string& pool = "") {
  auto g = std::make_shared<v1::Gpu>();
  g->mutable_metadata()->set_name(name);
  g->mutable_metadata()->set_namespace_("default");
  g->mutable_metadata()->set_resource_version(std::to_string(rv));
  if (!pool.empty()) (*g->mutable_metadata()->mutable_labels())["pool"] = pool;
  return StoredObject::Make(std::move(g));
}

EventPtr Ev(uint64_t rv, EventType t, StoredPtr obj, StoredPtr prev = nullptr, absl::Time at = absl::Now()) {
  auto e = std::make_shared<Event>();
  e->rv = rv;
  e->type = t;
  e->object = std::move(obj);
  e->prev = std::move(prev);
  e->time = at;
  return e;
}

// The ring keeps the newest N events and reports the lowest resumable RV.
TEST(HistoryRing, BoundedByCount) {
  HistoryRing h(3, absl::Hours(1), 100);
  EXPECT_EQ(h.compacted_rv(), 100u);
  for (uint64_t rv = 101; rv <= 105; ++rv) h.Append(Ev(rv, EventType::kAdded, Obj("a", rv)));
  EXPECT_EQ(h.size(), 3u);
  EXPECT_EQ(h.compacted_rv(), 102u);
  EXPECT_EQ(h.oldest_rv(), 103u);
  auto since = h.Since(103);
  ASSERT_EQ(since.size(), 2u);
  EXPECT_EQ(since[0]->rv, 104u);
}

// Events older than the age bound leave the ring, except the newest.
TEST(HistoryRing, BoundedByAge) {
  HistoryRing h(100, absl::Minutes(1), 0);
  const absl::Time t0 = absl::Now();
  h.Append(Ev(1, EventType::kAdded, Obj("a", 1), nullptr, t0));
  h.Append(Ev(2, EventType::kAdded, Obj("b", 2), nullptr, t0 + absl::Seconds(30)));
  h.Append(Ev(3, EventType::kAdded, Obj("c", 3), nullptr, t0 + absl::Seconds(90)));
  EXPECT_EQ(h.compacted_rv(), 1u);  // 90 s old: gone; 60 s old: kept
  h.Trim(t0 + absl::Hours(1));
  EXPECT_EQ(h.size(), 1u);
  EXPECT_EQ(h.compacted_rv(), 2u);
}

// A write copies one bucket; older snapshots stay unchanged.
TEST(Snapshot, CopyOnWrite) {
  auto s0 = Snapshot::Empty(10);
  auto s1 = s0->With("default/a", Obj("a", 11), 11);
  auto s2 = s1->With("default/b", Obj("b", 12), 12);
  auto s3 = s2->With("default/a", nullptr, 13);
  EXPECT_EQ(s0->size(), 0u);
  EXPECT_EQ(s1->size(), 1u);
  EXPECT_EQ(s2->size(), 2u);
  EXPECT_EQ(s3->size(), 1u);
  EXPECT_TRUE(s2->Find("default/a"));
  EXPECT_FALSE(s3->Find("default/a"));
  auto sorted = s2->Sorted();
  ASSERT_EQ(sorted.size(), 2u);
  EXPECT_EQ(sorted[0]->key, "default/a");
  EXPECT_EQ(s3->rv(), 13u);
}

// Selectors turn modifications into enter (ADDED) and leave (DELETED).
TEST(Watcher, EnterAndLeave) {
  Filter f;
  f.label = *apimachinery::LabelSelector::Parse("pool=a");
  EXPECT_EQ(VisibleAs(f, *Ev(2, EventType::kModified, Obj("x", 2, "a"), Obj("x", 1, "b"))),
            EventType::kAdded);
  EXPECT_EQ(VisibleAs(f, *Ev(2, EventType::kModified, Obj("x", 2, "b"), Obj("x", 1, "a"))),
            EventType::kDeleted);
  EXPECT_EQ(VisibleAs(f, *Ev(2, EventType::kModified, Obj("x", 2, "a"), Obj("x", 1, "a"))),
            EventType::kModified);
  EXPECT_FALSE(VisibleAs(f, *Ev(2, EventType::kModified, Obj("x", 2, "b"), Obj("x", 1, "b"))));
  EXPECT_EQ(VisibleAs(f, *Ev(3, EventType::kDeleted, Obj("x", 3, "a"), Obj("x", 2, "a"))),
            EventType::kDeleted);
  EXPECT_FALSE(VisibleAs(f, *Ev(3, EventType::kDeleted, Obj("x", 3, "b"), Obj("x", 2, "b"))));
}

// Overflowing the live queue ends the watch with RESOURCE_EXHAUSTED and drops the backlog.
TEST(Watcher, OverflowEndsWatch) {
  Watcher w(WatchOptions{}, 2, absl::Now(), /*min_rv=*/1);
  EXPECT_FALSE(w.Offer(Ev(1, EventType::kAdded, Obj("old", 1))));  // at or below min_rv: skipped
  w.Offer(Ev(2, EventType::kAdded, Obj("a", 2)));
  w.Offer(Ev(3, EventType::kAdded, Obj("b", 3)));
  EXPECT_FALSE(w.is_ended());
  EXPECT_EQ(w.dropped_on_eviction(), 0u);
  w.Offer(Ev(4, EventType::kAdded, Obj("c", 4)));
  EXPECT_FALSE(w.Next());
  ASSERT_TRUE(w.ended());
  EXPECT_EQ(w.ended()->code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(w.dropped_on_eviction(), 2u);  // the two queued events
  EXPECT_TRUE(w.evicted());
  w.Cancel();  // the consumer leaves (as a stream does once it sent the end): still an eviction
  EXPECT_TRUE(w.evicted());
  EXPECT_EQ(w.ended()->code(), absl::StatusCode::kResourceExhausted);
}

// An end that is not an overflow is not an eviction, whatever its code.
TEST(Watcher, EndIsNotEviction) {
  Watcher w(WatchOptions{}, 2, absl::Now(), 0);
  w.End(absl::ResourceExhaustedError("ended by the store"));
  w.Cancel();
  EXPECT_FALSE(w.evicted());
}

// A consumer that found the queue empty is told about the next item exactly once.
TEST(Watcher, NotifiesArmedConsumerOnce) {
  Watcher w(WatchOptions{}, 10, absl::Now(), 0);
  EXPECT_FALSE(w.Next());  // arms
  EXPECT_TRUE(w.Offer(Ev(2, EventType::kAdded, Obj("a", 2))));
  EXPECT_FALSE(w.Offer(Ev(3, EventType::kAdded, Obj("b", 3))));
  ASSERT_TRUE(w.Next());
  ASSERT_TRUE(w.Next());
  EXPECT_FALSE(w.Next());
  EXPECT_TRUE(w.End(absl::OkStatus()));
}

// A stored version keeps its bytes and metadata; the parsed object comes back
// equal whether it is still cached or has to be parsed again.
TEST(StoredObject, ParsesBackEqualWithOrWithoutTheCache) {
  auto g = std::make_shared<v1::Gpu>();
  g->mutable_metadata()->set_name("gpu-0");
  g->mutable_metadata()->set_namespace_("default");
  (*g->mutable_metadata()->mutable_labels())["pool"] = "a";
  auto* c = g->mutable_status()->add_conditions();
  c->set_type("Ready");
  c->set_status("True");
  c->mutable_last_heartbeat_time()->set_seconds(1000);
  auto* d = g->mutable_status()->add_conditions();
  d->set_type("Other");
  d->set_status("Unknown");
  d->mutable_last_heartbeat_time()->set_seconds(10);  // Unknown: not a live heartbeat
  const v1::Gpu want = *g;
  StoredPtr s = StoredObject::Make(std::move(g));
  EXPECT_EQ(s->metadata().labels().at("pool"), "a");
  EXPECT_EQ(s->bytes().size(), want.ByteSizeLong());
  EXPECT_EQ(s->health(), apimachinery::GpuHealth(want));
  EXPECT_EQ(s->health(), apimachinery::Health::kUnknown);  // one condition is Unknown
  EXPECT_EQ(s->oldest_heartbeat(), absl::FromUnixSeconds(1000));
  ObjectPtr cached = s->Object();
  EXPECT_EQ(cached->SerializeAsString(), want.SerializeAsString());
  EXPECT_EQ(s->Object(), cached);  // the same parse while it is in use

  // With no cache and no outside reference, the next call parses the bytes.
  const size_t before = SetParsedCacheCapacity(0);
  std::weak_ptr<const v1::Gpu> old = cached;
  cached.reset();
  EXPECT_TRUE(old.expired());  // nothing kept the parsed form alive
  ObjectPtr parsed = s->Object();
  EXPECT_EQ(parsed->SerializeAsString(), want.SerializeAsString());
  SetParsedCacheCapacity(before);

  EXPECT_EQ(StoredObject::FromBytes("\xff\xff", 2), nullptr);  // does not decode
  auto back = StoredObject::FromBytes(s->bytes().begin(), s->bytes().size());
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->metadata().name(), "gpu-0");
}

// The spec and status are found inside the stored bytes as their own
// encodings; bytes that are not exactly a Gpu's three fields are refused.
TEST(StoredObject, SpecAndStatusBytesAreTheFieldsEncodings) {
  auto g = std::make_shared<v1::Gpu>();
  g->mutable_metadata()->set_name("gpu-0");
  g->mutable_spec()->set_uuid("GPU-0123");
  g->mutable_status()->add_conditions()->set_type("Ready");
  const std::string spec_want = g->spec().SerializeAsString();
  const std::string status_want = g->status().SerializeAsString();
  StoredPtr s = StoredObject::Make(g);
  std::string_view spec, status;
  ASSERT_TRUE(s->SpecAndStatusBytes(&spec, &status));
  EXPECT_EQ(spec, spec_want);
  EXPECT_EQ(status, status_want);

  auto bare = std::make_shared<v1::Gpu>();
  bare->mutable_metadata()->set_name("gpu-1");
  ASSERT_TRUE(StoredObject::Make(bare)->SpecAndStatusBytes(&spec, &status));
  EXPECT_TRUE(spec.empty());
  EXPECT_TRUE(status.empty());

  // An unknown field (9) after the known ones: parsed fine, but not split.
  std::string bytes = g->SerializeAsString() + std::string("\x4a\x01x", 3);
  StoredPtr odd = StoredObject::FromBytes(bytes.data(), bytes.size());
  ASSERT_NE(odd, nullptr);
  EXPECT_FALSE(odd->SpecAndStatusBytes(&spec, &status));
}

// Continue tokens round-trip; anything else is INVALID_ARGUMENT.
TEST(ContinueToken, RoundTripAndGarbage) {
  auto t = DecodeContinueToken(EncodeContinueToken({42, "default/gpu-1"}));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->rv, 42u);
  EXPECT_EQ(t->start_after, "default/gpu-1");
  for (const char* bad : {"", "!!!", "e30", "eyJydiI6MX0"}) {
    EXPECT_EQ(DecodeContinueToken(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

// A next version can be moved but never copied, so a borrowed one cannot be
// duplicated and kept past its write.
static_assert(!std::is_copy_constructible_v<NextVersion>);
static_assert(!std::is_copy_assignable_v<NextVersion>);
static_assert(std::is_nothrow_move_constructible_v<NextVersion>);

// A borrowed next version is only read: the committed version owns bytes of
// its own, parses back equal after the borrowed object is gone, and hands out
// no owning pointer to it.
TEST(NextVersion, BorrowedIsReadNotKept) {
  StoredPtr stored;
  {
    v1::Gpu lent;
    lent.mutable_metadata()->set_name("gpu-lent");
    lent.mutable_metadata()->set_resource_version("12");
    NextVersion next = NextVersion::Borrow(&lent);
    ASSERT_TRUE(next.borrowed());
    EXPECT_EQ(next.get(), &lent);
    stored = StoredObject::Commit(std::move(next));
    EXPECT_FALSE(next);  // moved from
    ObjectPtr parsed = stored->Object();
    EXPECT_NE(parsed.get(), &lent);  // parsed from the bytes, not the lent object
    lent.mutable_metadata()->set_name("changed-after-commit");
    NextVersion again = NextVersion::Borrow(&lent);
    EXPECT_EQ(std::move(again).ReleaseOwned(), nullptr);
  }
  EXPECT_EQ(stored->metadata().name(), "gpu-lent");
  EXPECT_EQ(stored->Object()->metadata().name(), "gpu-lent");
  EXPECT_EQ(stored->Object()->metadata().resource_version(), "12");
}

// An owned next version is shared with the committed version, which keeps it
// as its parsed form.
TEST(NextVersion, OwnedIsKeptAsTheParsedForm) {
  std::shared_ptr<v1::Gpu> owned = NewObject();
  owned->mutable_metadata()->set_name("gpu-owned");
  v1::Gpu* raw = owned.get();
  NextVersion next(std::move(owned));
  ASSERT_TRUE(next);
  EXPECT_FALSE(next.borrowed());
  StoredPtr stored = StoredObject::Commit(std::move(next));
  EXPECT_EQ(stored->Object().get(), raw);
  EXPECT_EQ(stored->metadata().name(), "gpu-owned");
}

// "No change" is the empty next version, also spelled nullptr.
TEST(NextVersion, EmptyMeansNoChange) {
  NextVersion none;
  NextVersion null = nullptr;
  NextVersion null_owned = std::shared_ptr<v1::Gpu>();
  EXPECT_FALSE(none);
  EXPECT_TRUE(null == nullptr);
  EXPECT_TRUE(null_owned == nullptr);
  EXPECT_FALSE(null_owned.borrowed());
}

// Work queued after a lock runs in order, once, including work it queues;
// what was never run explicitly runs when the owner goes away.
TEST(AfterUnlock, RunsInOrderOnceAndOnDestruction) {
  std::vector<int> ran;
  {
    AfterUnlock after;
    after.Add([&] { ran.push_back(1); });
    after.Add([&] {
      ran.push_back(2);
      after.Add([&] { ran.push_back(3); });
    });
    after.Run();
    EXPECT_EQ(ran, (std::vector<int>{1, 2, 3}));
    after.Run();  // nothing left
    EXPECT_EQ(ran.size(), 3u);
    after.Add([&] { ran.push_back(4); });
    EXPECT_FALSE(after.empty());
  }
  EXPECT_EQ(ran, (std::vector<int>{1, 2, 3, 4}));
}

}  // namespace
}  // namespace deviceapi::storage
