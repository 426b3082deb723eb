// ServingStore over a persister: group commit (concurrent writers share one
// CommitBatch, changes become visible only once durable) and the persisted
// history seeding the history ring (a watch resumes across a restart).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "storage/serving/serving_store.h"

namespace deviceapi::storage {
namespace {

v1::Gpu MakeGpu(const std::string& name) {
  v1::Gpu g;
  g.mutable_metadata()->set_name(name);
  g.mutable_metadata()->set_namespace_("default");
  g.mutable_metadata()->set_uid("uid-" + name);
  g.mutable_spec()->set_uuid("GPU-" + name);
  return g;
}

uint64_t Rv(const StoredPtr& o) { return std::stoull(o->metadata().resource_version()); }

// Records batches; the first batch blocks until released, so every other
// writer piles up behind it.
class GatedPersister : public Persister {
 public:
  absl::StatusOr<PersistedState> Load() override { return PersistedState{}; }
  absl::Status Commit(const Event& ev) override { return CommitBatch({&ev}); }
  absl::Status RecordRv(uint64_t) override { return absl::OkStatus(); }
  absl::Status CommitBatch(const std::vector<const Event*>& events) override {
    {
      absl::MutexLock l(&mu_);
      sizes_.push_back(events.size());
      for (const Event* e : events) rvs_.push_back(e->rv);
      if (sizes_.size() == 1) entered_.Notify();
    }
    if (gate_) release_.WaitForNotification();
    absl::MutexLock l(&mu_);
    return fail_next_ ? (fail_next_ = false, absl::InternalError("disk on fire")) : absl::OkStatus();
  }
  std::vector<size_t> sizes() {
    absl::MutexLock l(&mu_);
    return sizes_;
  }
  std::vector<uint64_t> rvs() {
    absl::MutexLock l(&mu_);
    return rvs_;
  }
  void FailNext() {
    absl::MutexLock l(&mu_);
    fail_next_ = true;
  }

  bool gate_ = true;
  absl::Notification entered_, release_;

 private:
  absl::Mutex mu_;
  std::vector<size_t> sizes_;
  std::vector<uint64_t> rvs_;
  bool fail_next_ = false;
};

TEST(GroupCommit, WritersWaitingOnASyncShareTheNextBatch) {
  auto p = std::make_unique<GatedPersister>();
  GatedPersister* persister = p.get();
  auto store = ServingStore::CreateWithPersister(StoreConfig{}, std::move(p));
  ASSERT_TRUE(store.ok()) << store.status();
  ServingStore& s = **store;
  const uint64_t start = s.CurrentResourceVersion();

  std::thread first([&] { EXPECT_TRUE(s.Create(MakeGpu("gpu-0")).ok()); });
  persister->entered_.WaitForNotification();
  // gpu-0 is being synced: it is not visible yet.
  EXPECT_TRUE(absl::IsNotFound(s.Get({"default", "gpu-0"}, "").status()));
  EXPECT_EQ(s.CurrentResourceVersion(), start);

  constexpr int kWriters = 15;
  std::vector<std::thread> writers;
  std::atomic<int> ok{0}, started{0};
  std::vector<uint64_t> acked(kWriters);
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&, i] {
      started.fetch_add(1);
      auto r = s.Create(MakeGpu("gpu-" + std::to_string(i + 1)));
      if (r.ok()) {
        acked[i] = Rv(*r);
        ok.fetch_add(1);
      }
    });
  }
  // Let them stage behind the sync in flight (they wait for it, not for CPU).
  while (started.load() < kWriters) absl::SleepFor(absl::Milliseconds(1));
  absl::SleepFor(absl::Milliseconds(200));
  // Still nothing visible: every write waits for its sync.
  EXPECT_EQ(s.CurrentResourceVersion(), start);
  persister->gate_ = false;
  persister->release_.Notify();
  first.join();
  for (auto& t : writers) t.join();

  EXPECT_EQ(ok.load(), kWriters);
  const auto sizes = persister->sizes();
  EXPECT_LT(sizes.size(), 1u + kWriters) << "no batch was shared";
  size_t total = 0;
  for (size_t n : sizes) total += n;
  EXPECT_EQ(total, 1u + kWriters);
  // RVs: contiguous, in order, each acknowledged one distinct.
  const auto rvs = persister->rvs();
  for (size_t i = 0; i < rvs.size(); ++i) EXPECT_EQ(rvs[i], start + 1 + i);
  EXPECT_EQ(std::set<uint64_t>(acked.begin(), acked.end()).size(), static_cast<size_t>(kWriters));
  EXPECT_EQ(s.CurrentResourceVersion(), start + 1 + kWriters);
  EXPECT_EQ(s.Stats().objects, 1u + kWriters);
  EXPECT_EQ(s.Stats().history_events, 1u + kWriters);
}

// The asynchronous writes hold no thread while a sync is in flight: one
// thread stages sixteen writes behind a blocked sync, each call returns at
// once, and every answer comes when its batch is durable (the server's few
// gRPC callback threads depend on this to batch many clients' writes).
TEST(GroupCommit, AsyncWritersHoldNoThreadDuringASync) {
  auto p = std::make_unique<GatedPersister>();
  GatedPersister* persister = p.get();
  auto store = ServingStore::CreateWithPersister(StoreConfig{}, std::move(p));
  ASSERT_TRUE(store.ok()) << store.status();
  ServingStore& s = **store;
  const uint64_t start = s.CurrentResourceVersion();

  absl::Mutex mu;
  std::vector<WriteResult> results(16, absl::UnknownError("no answer"));
  int answered = 0;
  auto record = [&](int i) {
    return [&, i](WriteResult r) {
      absl::MutexLock l(&mu);
      results[i] = std::move(r);
      ++answered;
    };
  };
  s.CreateAsync(MakeGpu("gpu-0"), record(0));
  persister->entered_.WaitForNotification();  // the flusher is blocked in the first sync
  for (int i = 1; i < 16; ++i) s.CreateAsync(MakeGpu("gpu-" + std::to_string(i)), record(i));
  {
    absl::MutexLock l(&mu);
    EXPECT_EQ(answered, 0) << "a write was answered before it was durable";
  }
  EXPECT_EQ(s.CurrentResourceVersion(), start);
  persister->gate_ = false;
  persister->release_.Notify();
  {
    absl::MutexLock l(&mu);
    auto all = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return answered == 16; };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(30))) << answered << " answers";
  }
  EXPECT_EQ(persister->sizes(), (std::vector<size_t>{1, 15}));
  for (int i = 0; i < 16; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status();
    EXPECT_EQ(Rv(*results[i]), start + 1 + i);
  }
  EXPECT_EQ(s.CurrentResourceVersion(), start + 16);
}

// An error decided on staged state (AlreadyExists, a conflict) and a no-op
// update of a staged object are answered only once that state is durable, so
// the client can read what caused the answer.
TEST(GroupCommit, AnswersDecidedOnStagedStateWaitForItsSync) {
  auto p = std::make_unique<GatedPersister>();
  GatedPersister* persister = p.get();
  auto store = ServingStore::CreateWithPersister(StoreConfig{}, std::move(p));
  ASSERT_TRUE(store.ok()) << store.status();
  ServingStore& s = **store;

  absl::Notification created, exists, noop;
  WriteResult created_r, exists_r, noop_r;
  s.CreateAsync(MakeGpu("a"), [&](WriteResult r) {
    created_r = std::move(r);
    created.Notify();
  });
  persister->entered_.WaitForNotification();
  s.CreateAsync(MakeGpu("a"), [&](WriteResult r) {
    exists_r = std::move(r);
    exists.Notify();
  });
  s.UpdateAsync(
      {"default", "a"}, [](const v1::Gpu&) -> absl::StatusOr<std::shared_ptr<v1::Gpu>> { return nullptr; },
      [&](WriteResult r) {
        noop_r = std::move(r);
        noop.Notify();
      });
  EXPECT_FALSE(exists.WaitForNotificationWithTimeout(absl::Milliseconds(100)))
      << "AlreadyExists answered while the object it names was not durable";
  EXPECT_FALSE(noop.HasBeenNotified()) << "a no-op update answered with a staged object";
  persister->gate_ = false;
  persister->release_.Notify();
  ASSERT_TRUE(created.WaitForNotificationWithTimeout(absl::Seconds(30)));
  ASSERT_TRUE(exists.WaitForNotificationWithTimeout(absl::Seconds(30)));
  ASSERT_TRUE(noop.WaitForNotificationWithTimeout(absl::Seconds(30)));
  ASSERT_TRUE(created_r.ok()) << created_r.status();
  EXPECT_TRUE(absl::IsAlreadyExists(exists_r.status())) << exists_r.status();
  ASSERT_TRUE(noop_r.ok()) << noop_r.status();
  EXPECT_EQ(*noop_r, *created_r) << "the no-op answers with the durable object";
  auto got = s.Get({"default", "a"}, "");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(Rv(*got), Rv(*created_r));
}

TEST(GroupCommit, AFailedSyncFailsItsBatchAndWhatWasStagedOnIt) {
  auto p = std::make_unique<GatedPersister>();
  GatedPersister* persister = p.get();
  persister->gate_ = false;
  auto store = ServingStore::CreateWithPersister(StoreConfig{}, std::move(p));
  ASSERT_TRUE(store.ok());
  ServingStore& s = **store;
  ASSERT_TRUE(s.Create(MakeGpu("a")).ok());
  const uint64_t rv = s.CurrentResourceVersion();
  persister->FailNext();
  auto b = s.Create(MakeGpu("b"));
  EXPECT_TRUE(absl::IsUnavailable(b.status())) << b.status();
  EXPECT_THAT(std::string(b.status().message()), ::testing::HasSubstr("disk on fire"));
  EXPECT_TRUE(absl::IsNotFound(s.Get({"default", "b"}, "").status()));
  EXPECT_EQ(s.CurrentResourceVersion(), rv);
  // The failed RV is given back; a retry succeeds at the next RV.
  auto again = s.Create(MakeGpu("b"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Rv(*again), rv + 1);
}

// A persister with history: the restarted store's ring starts at its first event.
class HistoryPersister : public Persister {
 public:
  explicit HistoryPersister(std::vector<EventPtr> h) : history_(std::move(h)) {}
  absl::StatusOr<PersistedState> Load() override {
    PersistedState st;
    st.objects.push_back(history_.back()->object);
    st.last_rv = history_.back()->rv;
    return st;
  }
  absl::Status Commit(const Event&) override { return absl::OkStatus(); }
  absl::Status RecordRv(uint64_t) override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<EventPtr>> LoadHistory(size_t, absl::Duration) override { return history_; }

 private:
  std::vector<EventPtr> history_;
};

class Collect : public WatchConsumer {
 public:
  void OnWatchReady() override {}
};

TEST(GroupCommit, PersistedHistoryLetsAWatchResumeAcrossARestart) {
  // Three changes of one GPU at RVs 100..102 (far below the wall-clock start RV).
  std::vector<EventPtr> h;
  StoredPtr prev;
  for (uint64_t rv = 100; rv <= 102; ++rv) {
    auto g = std::make_shared<v1::Gpu>(MakeGpu("a"));
    g->mutable_metadata()->set_resource_version(std::to_string(rv));
    (*g->mutable_metadata()->mutable_labels())["n"] = std::to_string(rv);
    auto ev = std::make_shared<Event>();
    ev->rv = rv;
    ev->type = prev ? EventType::kModified : EventType::kAdded;
    ev->object = StoredObject::Make(g);
    ev->prev = prev;
    ev->time = absl::Now();
    prev = ev->object;
    h.push_back(ev);
  }
  auto store = ServingStore::CreateWithPersister(StoreConfig{}, std::make_unique<HistoryPersister>(h));
  ASSERT_TRUE(store.ok()) << store.status();
  ServingStore& s = **store;
  Collect c;
  WatchOptions o;
  o.resume_rv = 100;
  auto w = s.Watch(o, &c);
  ASSERT_TRUE(w.ok()) << w.status();
  auto e1 = (*w)->watcher().Next();
  auto e2 = (*w)->watcher().Next();
  ASSERT_TRUE(e1 && e2);
  EXPECT_EQ(e1->event->rv, 101u);
  EXPECT_EQ(e2->event->rv, 102u);
  EXPECT_FALSE((*w)->watcher().Next());
  // Before the first persisted event: too old.
  o.resume_rv = 98;
  EXPECT_TRUE(absl::IsOutOfRange(s.Watch(o, &c).status()));
  // An Exact list at 101 is rebuilt from the persisted history.
  ListOptions lo;
  lo.resource_version = "101";
  lo.match = apimachinery::ResourceVersionMatch::kExact;
  auto l = s.List(lo);
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_EQ(l->items.size(), 1u);
  EXPECT_EQ(l->items[0]->metadata().labels().at("n"), "101");
}

}  // namespace
}  // namespace deviceapi::storage
