// EtcdStore against a real etcd (testutil/etcd.h): endpoint parsing,
// compaction mapped to OUT_OF_RANGE, the relist after etcd compacted what the
// store missed while it was away, other writers' keys, address failover, and
// the *Async writes running off the caller's thread.
#include "storage/etcd/etcd_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "absl/synchronization/notification.h"
#include "storage/continue_token.h"
#include "testutil/etcd.h"

namespace deviceapi::storage {
namespace {

using ::deviceapi::testing::EtcdServer;
using ::testing::HasSubstr;

v1::Gpu Gpu(const std::string& name, const std::string& serial = "") {
  v1::Gpu g;
  g.mutable_metadata()->set_name(name);
  g.mutable_metadata()->set_namespace_("default");
  g.mutable_metadata()->set_uid("uid-" + name);
  g.mutable_spec()->set_uuid("GPU-" + name);
  g.mutable_spec()->set_serial(serial);
  return g;
}

uint64_t Rv(const StoredPtr& o) { return std::stoull(o->metadata().resource_version()); }

std::shared_ptr<EtcdStore> Open(const EtcdServer& etcd, const std::string& prefix, EtcdOptions opts = {},
                                StoreConfig config = {}) {
  auto ep = ParseEtcdEndpoint(etcd.Endpoint(prefix));
  EXPECT_TRUE(ep.ok()) << ep.status();
  auto s = EtcdStore::Open(*ep, config, opts);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : nullptr;
}

class NoopConsumer : public WatchConsumer {
 public:
  void OnWatchReady() override {}
};

// The next `n` non-bookmark items of a watch, or fewer if it ends or stalls.
std::vector<WatchItem> Next(WatchHandle& h, size_t n, absl::Duration timeout = absl::Seconds(20)) {
  std::vector<WatchItem> out;
  const absl::Time end = absl::Now() + timeout;
  while (out.size() < n && absl::Now() < end) {
    if (auto it = h.watcher().Next()) {
      if (it->as != EventType::kBookmark) out.push_back(std::move(*it));
      continue;
    }
    if (h.watcher().ended()) break;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return out;
}

TEST(ParseEtcdEndpoint, Forms) {
  auto one = ParseEtcdEndpoint("etcd://127.0.0.1:2379");
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->addresses, std::vector<std::string>{"127.0.0.1:2379"});
  EXPECT_EQ(one->prefix, "/device-api/");
  auto many = ParseEtcdEndpoint("etcd://a.example:2379,[::1]:2380,10.0.0.1:1?prefix=/cluster-a/devices");
  ASSERT_TRUE(many.ok()) << many.status();
  EXPECT_EQ(many->addresses, (std::vector<std::string>{"a.example:2379", "[::1]:2380", "10.0.0.1:1"}));
  EXPECT_EQ(many->prefix, "/cluster-a/devices/");
}

TEST(ParseEtcdEndpoint, Errors) {
  struct Case {
    std::string endpoint, want;
  };
  for (const Case& c : std::vector<Case>{
           {"etcd://", "no etcd address"},
           {"etcd://?prefix=/a/", "no etcd address"},
           {"etcd://host:notaport", "port \"notaport\" of \"host:notaport\" is not a number in 1-65535"},
           {"etcd://host:0", "is not a number in 1-65535"},
           {"etcd://host:65536", "is not a number in 1-65535"},
           {"etcd://host", "address \"host\" has no port"},
           {"etcd://h:1,", "address \"\" has no port"},
           {"etcd://:2379", "has no host"},
           {"etcd://::1:2379", "must be written [ADDRESS]:PORT"},
           {"etcd://h:1?prefix=", "prefix \"\" must start with '/'"},
           {"etcd://h:1?prefix=x/", "prefix \"x/\" must start with '/'"},
           {"etcd://h:1?timeout=5s", "unknown parameter \"timeout\" (the only one is prefix)"},
           {"sqlite:///x", "not an etcd:// endpoint"},
       }) {
    auto r = ParseEtcdEndpoint(c.endpoint);
    ASSERT_FALSE(r.ok()) << c.endpoint;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.endpoint;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.want)) << c.endpoint;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.endpoint)) << c.endpoint;
  }
}

TEST(EtcdStore, UnreachableEtcdFailsOpen) {
  EtcdOptions o;
  o.request_timeout = absl::Milliseconds(500);
  auto s = OpenEtcdStore("etcd://127.0.0.1:1?prefix=/x/", StoreConfig{}, o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("cannot reach etcd at 127.0.0.1:1"));
}

// Objects are protobuf bytes at <prefix>gpus/<ns>/<name>, their RV the key's
// mod_revision; what another writer puts there is served (or skipped, logged,
// when it is not a Gpu at the right key).
TEST(EtcdStore, KeyLayoutAndOtherWriters) {
  auto etcd = EtcdServer::Start();
  auto store = Open(*etcd, "/layout/");
  ASSERT_TRUE(store);
  auto a = store->Create(Gpu("gpu-a"));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(static_cast<int64_t>(Rv(*a)), etcd->Revision());

  v1::Gpu foreign = Gpu("gpu-f", "raw");
  const int64_t rev = etcd->Put("/layout/gpus/default/gpu-f", foreign.SerializeAsString());
  etcd->Put("/layout/gpus/default/not-a-gpu", "\xff\xff garbage");
  etcd->Put("/layout/gpus/default/gpu-x", Gpu("gpu-y").SerializeAsString());  // wrong key
  etcd->Put("/layout/gpus/no-namespace", Gpu("no-namespace").SerializeAsString());
  const int64_t last = etcd->Put("/layout/other/thing", "not ours");
  // Once the store's watch has reached the foreign object:
  for (int i = 0; i < 200 && store->CurrentResourceVersion() < static_cast<uint64_t>(rev); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  auto got = store->Get({"default", "gpu-f"}, "0");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Rv(*got), static_cast<uint64_t>(rev));
  EXPECT_EQ((*got)->Object()->spec().serial(), "raw");
  auto list = store->List(ListOptions{});
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->items.size(), 2u);
  EXPECT_EQ(list->items[0]->metadata().name(), "gpu-a");
  EXPECT_EQ(list->items[1]->metadata().name(), "gpu-f");
  EXPECT_LT(list->rv, static_cast<uint64_t>(last));  // keys outside gpus/ are not watched
  // A restarted store loads the same.
  store.reset();
  store = Open(*etcd, "/layout/");
  ASSERT_TRUE(store);
  list = store->List(ListOptions{});
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->items.size(), 2u);
  EXPECT_EQ(Rv(list->items[1]), static_cast<uint64_t>(rev));
}

// What etcd compacted is too old here too: watches, Exact lists and
// continue tokens below the compaction are OUT_OF_RANGE; the compaction
// revision itself and the current RV still work.
TEST(EtcdStore, CompactedRevisionsAreOutOfRange) {
  auto etcd = EtcdServer::Start();
  auto store = Open(*etcd, "/compact/");
  ASSERT_TRUE(store);
  std::vector<uint64_t> rv;
  for (int i = 0; i < 3; ++i) {
    auto o = store->Create(Gpu("gpu-" + std::to_string(i)));
    ASSERT_TRUE(o.ok()) << o.status();
    rv.push_back(Rv(*o));
  }
  ListOptions page;
  page.limit = 1;
  auto first = store->List(page);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_FALSE(first->continue_token.empty());
  for (int i = 3; i < 5; ++i) {
    auto o = store->Create(Gpu("gpu-" + std::to_string(i)));
    ASSERT_TRUE(o.ok()) << o.status();
    rv.push_back(Rv(*o));
  }
  // Before the compaction all of it is in the window.
  ListOptions exact;
  exact.resource_version = std::to_string(rv[1]);
  exact.match = apimachinery::ResourceVersionMatch::kExact;
  ASSERT_TRUE(store->List(exact).ok());

  etcd->Compact(static_cast<int64_t>(rv[3]));

  NoopConsumer c;
  WatchOptions from_old;
  from_old.resume_rv = rv[1];
  auto w = store->Watch(from_old, &c);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), absl::StatusCode::kOutOfRange) << w.status();
  EXPECT_THAT(std::string(w.status().message()), HasSubstr("too old resource version"));
  auto l = store->List(exact);
  EXPECT_EQ(l.status().code(), absl::StatusCode::kOutOfRange) << l.status();
  ListOptions cont;
  cont.continue_token = first->continue_token;
  auto next = store->List(cont);
  EXPECT_EQ(next.status().code(), absl::StatusCode::kOutOfRange) << next.status();

  WatchOptions from_compaction;
  from_compaction.resume_rv = rv[3];
  auto ok = store->Watch(from_compaction, &c);
  ASSERT_TRUE(ok.ok()) << ok.status();
  auto items = Next(**ok, 1);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].event->rv, rv[4]);
  WatchOptions from_now;
  from_now.resume_rv = store->CurrentResourceVersion();
  EXPECT_TRUE(store->Watch(from_now, &c).ok());
}

// The store is away while other writers change its prefix and etcd compacts
// those revisions: on reconnect it relists and hands its watchers the
// differences (ADDED, MODIFIED, DELETED) in RV order; a resume from inside the
// gap is OUT_OF_RANGE afterwards.
TEST(EtcdStore, RelistAfterCompactionWhileAway) {
  auto etcd = EtcdServer::Start();
  EtcdOptions o;
  // A long reconnect pause leaves the test time to write and compact before
  // the store is back.
  o.min_backoff = o.max_backoff = absl::Seconds(5);
  auto store = Open(*etcd, "/relist/", o);
  ASSERT_TRUE(store);
  auto keep = store->Create(Gpu("gpu-keep"));
  auto change = store->Create(Gpu("gpu-change"));
  auto drop = store->Create(Gpu("gpu-drop"));
  ASSERT_TRUE(keep.ok() && change.ok() && drop.ok());
  const uint64_t before = store->CurrentResourceVersion();
  NoopConsumer c;
  WatchOptions wo;
  wo.resume_rv = before;
  auto w = store->Watch(wo, &c);
  ASSERT_TRUE(w.ok()) << w.status();

  etcd->Kill();
  for (int i = 0; i < 500 && store->Ready().ok(); ++i) absl::SleepFor(absl::Milliseconds(10));
  ASSERT_FALSE(store->Ready().ok());
  EXPECT_THAT(std::string(store->Ready().message()), HasSubstr("etcd"));
  etcd->Restart();
  const int64_t r_change =
      etcd->Put("/relist/gpus/default/gpu-change", Gpu("gpu-change", "v2").SerializeAsString());
  const int64_t r_new = etcd->Put("/relist/gpus/default/gpu-new", Gpu("gpu-new").SerializeAsString());
  const int64_t r_del = etcd->Delete("/relist/gpus/default/gpu-drop");
  etcd->Compact(r_del);

  auto items = Next(**w, 3, absl::Seconds(30));
  ASSERT_EQ(items.size(), 3u) << "watch ended: " << (*w)->watcher().ended().value_or(absl::OkStatus());
  EXPECT_EQ(items[0].as, EventType::kModified);
  EXPECT_EQ(items[0].event->object->metadata().name(), "gpu-change");
  EXPECT_EQ(items[0].event->object->Object()->spec().serial(), "v2");
  EXPECT_EQ(items[0].event->rv, static_cast<uint64_t>(r_change));
  EXPECT_EQ(items[1].as, EventType::kAdded);
  EXPECT_EQ(items[1].event->object->metadata().name(), "gpu-new");
  EXPECT_EQ(items[1].event->rv, static_cast<uint64_t>(r_new));
  EXPECT_EQ(items[2].as, EventType::kDeleted);
  EXPECT_EQ(items[2].event->object->metadata().name(), "gpu-drop");
  EXPECT_GE(items[2].event->rv, static_cast<uint64_t>(r_del));
  EXPECT_TRUE(store->Ready().ok()) << store->Ready();

  auto list = store->List(ListOptions{});
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->items.size(), 3u);
  EXPECT_EQ(list->items[0]->metadata().name(), "gpu-change");
  EXPECT_EQ(list->items[1]->metadata().name(), "gpu-keep");
  EXPECT_EQ(list->items[2]->metadata().name(), "gpu-new");
  WatchOptions gap;
  gap.resume_rv = before;
  EXPECT_EQ(store->Watch(gap, &c).status().code(), absl::StatusCode::kOutOfRange);
  // And it is live again.
  auto more = store->Create(Gpu("gpu-more"));
  ASSERT_TRUE(more.ok()) << more.status();
  items = Next(**w, 1);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].event->rv, Rv(*more));
}

// etcd comes back with a lower revision (an old backup, a wiped member): the
// store cannot give its changes RVs above those already served, so it ends
// every watch (OUT_OF_RANGE: relist) and stays unready.
TEST(EtcdStore, RevisionGoingBackStopsTheStore) {
  auto etcd = EtcdServer::Start();
  auto store = Open(*etcd, "/back/");
  ASSERT_TRUE(store);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store->Create(Gpu("gpu-" + std::to_string(i))).ok());
  NoopConsumer c;
  WatchOptions wo;
  wo.resume_rv = store->CurrentResourceVersion();
  auto w = store->Watch(wo, &c);
  ASSERT_TRUE(w.ok()) << w.status();
  etcd->RestartEmpty();
  for (int i = 0; i < 1000 && !(*w)->watcher().ended(); ++i) absl::SleepFor(absl::Milliseconds(10));
  auto ended = (*w)->watcher().ended();
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->code(), absl::StatusCode::kOutOfRange) << *ended;
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(store->Ready().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(store->Ready().message()), HasSubstr("revision went back"));
  EXPECT_EQ(store->Create(Gpu("gpu-new")).status().code(), absl::StatusCode::kUnavailable);
}

// What one *Async write was told: how often `done` ran, with what, on which thread.
class Outcome {
 public:
  WriteDone Done() {
    return [this](WriteResult r) {
      absl::MutexLock l(&mu_);
      ++calls_;
      result_ = std::move(r);
      thread_ = std::this_thread::get_id();
    };
  }
  int calls() {
    absl::MutexLock l(&mu_);
    return calls_;
  }
  // Waits (bounded) until `done` ran; returns what it was given.
  WriteResult Await() {
    absl::MutexLock l(&mu_);
    auto answered = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_ > 0; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&answered), absl::Seconds(60))) {
      return absl::DeadlineExceededError("done did not run within 60s");
    }
    return result_;
  }
  std::thread::id thread() {
    absl::MutexLock l(&mu_);
    return thread_;
  }

 private:
  absl::Mutex mu_;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  WriteResult result_ ABSL_GUARDED_BY(mu_) = absl::UnknownError("not answered");
  std::thread::id thread_ ABSL_GUARDED_BY(mu_);
};

// An update function that signals it runs and then waits for the test to let
// it go (bounded: a store that ran it on the caller's thread fails the test
// rather than hanging it), then sets the serial.
UpdateFn HeldUpdate(absl::Notification* entered, absl::Notification* release, std::thread::id* ran_on,
                    const std::string& serial) {
  return [=](const v1::Gpu& cur) -> absl::StatusOr<std::shared_ptr<v1::Gpu>> {
    *ran_on = std::this_thread::get_id();
    if (!entered->HasBeenNotified()) entered->Notify();
    release->WaitForNotificationWithTimeout(absl::Seconds(20));
    auto next = CopyObject(cur);
    next->mutable_spec()->set_serial(serial);
    return next;
  };
}

// The *Async writes return to the caller (a gRPC callback thread in the
// server, which must never block) before the write has run: here the update's
// function is still waiting for the test when UpdateAsync has returned, and a
// create queued behind it (one writer thread) is answered only after it,
// each exactly once, on the writer thread.
TEST(EtcdStore, AsyncWritesReturnBeforeTheyRun) {
  auto etcd = EtcdServer::Start();
  EtcdOptions o;
  o.writer_threads = 1;
  auto store = Open(*etcd, "/async/", o);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Create(Gpu("gpu-a")).ok());
  const std::thread::id caller = std::this_thread::get_id();
  absl::Notification entered, release;
  std::thread::id fn_thread;
  Outcome update, create, del;
  store->UpdateAsync({"default", "gpu-a"}, HeldUpdate(&entered, &release, &fn_thread, "v2"), update.Done());
  // Back here while the write is held in its function (until release): not
  // answered yet. Run inline, UpdateAsync would return only once answered.
  EXPECT_EQ(update.calls(), 0);
  store->CreateAsync(Gpu("gpu-b"), create.Done());
  EXPECT_EQ(create.calls(), 0);
  store->DeleteAsync({"default", "gpu-b"}, DeletePreconditions{}, del.Done());
  EXPECT_EQ(del.calls(), 0);
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_NE(fn_thread, caller);
  release.Notify();

  WriteResult updated = update.Await();
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ((*updated)->Object()->spec().serial(), "v2");
  WriteResult created = create.Await();
  ASSERT_TRUE(created.ok()) << created.status();
  WriteResult deleted = del.Await();
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  // In the order queued, each on the writer thread.
  EXPECT_LT(Rv(*updated), Rv(*created));
  EXPECT_LT(Rv(*created), Rv(*deleted));
  EXPECT_NE(update.thread(), caller);
  EXPECT_EQ(update.thread(), fn_thread);
  EXPECT_EQ(create.thread(), fn_thread);
  EXPECT_EQ(update.calls(), 1);
  EXPECT_EQ(create.calls(), 1);
  EXPECT_EQ(del.calls(), 1);
  // Read-your-writes holds for the asynchronous path too.
  auto got = store->Get({"default", "gpu-a"}, "");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Rv(*got), Rv(*updated));
  EXPECT_TRUE(absl::IsNotFound(store->Get({"default", "gpu-b"}, "").status()));
}

// Destroying the store answers the writes still queued UNAVAILABLE without
// running them, and lets the running one finish (its done runs once, OK).
TEST(EtcdStore, ClosingAnswersQueuedWritesUnavailable) {
  auto etcd = EtcdServer::Start();
  EtcdOptions o;
  o.writer_threads = 1;
  auto store = Open(*etcd, "/closing/", o);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Create(Gpu("gpu-a")).ok());
  absl::Notification entered, release;
  std::thread::id fn_thread;
  Outcome update, queued;
  store->UpdateStoredAsync(
      {"default", "gpu-a"},
      [held = HeldUpdate(&entered, &release, &fn_thread, "v2")](const StoredObject& cur) {
        return held(*cur.Object());
      },
      update.Done());
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(20)));
  store->CreateAsync(Gpu("gpu-b"), queued.Done());
  // The last reference goes on another thread: ~EtcdStore waits for the held write.
  std::thread closer([s = std::move(store)]() mutable { s.reset(); });
  WriteResult refused = queued.Await();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("closed"));
  EXPECT_EQ(update.calls(), 0);
  release.Notify();
  closer.join();
  EXPECT_EQ(update.calls(), 1);
  WriteResult updated = update.Await();
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(queued.calls(), 1);
  // etcd has the update and not the refused create.
  auto again = Open(*etcd, "/closing/");
  ASSERT_TRUE(again);
  auto a = again->Get({"default", "gpu-a"}, "");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ((*a)->Object()->spec().serial(), "v2");
  EXPECT_TRUE(absl::IsNotFound(again->Get({"default", "gpu-b"}, "").status()));
}

// An unreachable first address: the store moves on to the next one.
TEST(EtcdStore, FailsOverToTheNextAddress) {
  auto etcd = EtcdServer::Start();
  auto s = OpenEtcdStore("etcd://127.0.0.1:1," + etcd->address() + "?prefix=/failover/", StoreConfig{});
  ASSERT_TRUE(s.ok()) << s.status();
  auto o = (*s)->Create(Gpu("gpu-a"));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE((*s)->Ready().ok());
}

}  // namespace
}  // namespace deviceapi::storage
