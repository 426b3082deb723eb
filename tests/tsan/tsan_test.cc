// Concurrency stress of the in-process code, written to run under ThreadSanitizer (make tsan; see
// docs/reliability.md, "Thread sanitizing"): the memory:// and sqlite:// stores (serving store,
// group commit), the mirror mode of the serving store, the watch hub alone, and the client informer
// over the in-process fake clientset. Nothing here goes through gRPC: Debian's gRPC is not
// instrumented, so TSan could not see its locks. absl::Mutex is made visible by absl_tsan_shim.cc.
//
// Each test races writers, readers, watchers (opened, read, stalled and cancelled while writes
// run) and, for the informer, resyncs, broken watches, injected list errors, handlers added and
// removed while running and Stop() during the initial list; then it checks the outcome: the final
// state is what the writers did, a watch stream rebuilds that state, counters that must be exact
// are. In the plain build it is an ordinary stress test (label unit).
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "apimachinery/gpu_json.h"
#include "deviceapi/errors.h"
#include "deviceapi/fake/clientset.h"
#include "deviceapi/informer.h"
#include "deviceapi/options.h"
#include "storage/serving/serving_store.h"
#include "storage/snapshot.h"
#include "storage/store.h"
#include "storage/stored_object.h"
#include "storage/watch_hub.h"
#include "storage/watcher.h"
#include "testutil/test_server.h"

namespace deviceapi::storage {
namespace {

using ::deviceapi::testing::MakeGpu;
using ::deviceapi::testing::TempDir;
using ::deviceapi::testing::WaitFor;

constexpr absl::Duration kWait = absl::Seconds(120);  // generous: TSan runs 5-15x slower

// libprotobuf (uninstrumented) builds its generated descriptor pool lazily, on first use, published
// in a way TSan cannot see: two threads first reaching it at once (JSON for a patch, reflection for
// an update) is reported as a race inside libprotobuf. Build it once before any test starts.
//
// abseil's deadlock detector (on in Debian's libabsl, built without NDEBUG) keeps a global lock
// graph that every absl::Mutex updates, under abseil's internal spin lock, which TSan cannot see:
// a mutex destroyed on one thread while another locks one shows up as a race inside
// GraphCycles::RemoveNode. It is switched off here; TSan's own lock-order checking
// (second_deadlock_stack) does that job in this binary.
class WarmProtobuf : public ::testing::Environment {
 public:
  void SetUp() override {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
    ASSERT_TRUE(apimachinery::GpuToJson(MakeGpu("warm-up")).ok());
    ASSERT_NE(v1::UpdateGpuRequest::descriptor(), nullptr);
    ASSERT_NE(v1::Gpu::descriptor(), nullptr);
  }
};
const auto* const kWarmProtobuf = ::testing::AddGlobalTestEnvironment(new WarmProtobuf);

// A GPU ready for a Store (which wants it complete): namespace, uid and label n=`n`.
v1::Gpu StoreGpu(const std::string& name, int n) {
  v1::Gpu g = MakeGpu(name, {{"n", std::to_string(n)}}, "default");
  g.mutable_metadata()->set_uid("uid-" + name);
  return g;
}

int LabelN(const v1::ObjectMeta& m) {
  auto it = m.labels().find("n");
  return it == m.labels().end() ? -1 : std::stoi(it->second);
}

uint64_t Rv(const StoredPtr& o) { return std::stoull(o->metadata().resource_version()); }

UpdateFn SetN(int n) {
  return [n](const v1::Gpu& cur) -> absl::StatusOr<NextVersion> {
    auto next = CopyObject(cur);
    (*next->mutable_metadata()->mutable_labels())["n"] = std::to_string(n);
    return NextVersion(std::move(next));
  };
}

// Told by the watcher when items are ready; the reader waits here between Next() calls.
class Consumer final : public WatchConsumer {
 public:
  void OnWatchReady() override {
    absl::MutexLock l(&mu_);
    ready_ = true;
  }
  void Wait(absl::Duration timeout) {
    absl::MutexLock l(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&ready_), timeout);
    ready_ = false;
  }

 private:
  absl::Mutex mu_;
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
};

// key -> (rv, n): what a store holds, as compared at the end.
using State = std::map<std::string, std::pair<uint64_t, int>>;

State ListState(Store& store) {
  State s;
  auto l = store.List(ListOptions{});
  EXPECT_TRUE(l.ok()) << l.status();
  if (!l.ok()) return s;
  for (const auto& o : l->items)
    s[MakeKey(o->metadata().namespace_(), o->metadata().name())] = {Rv(o), LabelN(o->metadata())};
  return s;
}

// A minimal reflector over a Store: lists, watches from the list's RV, resumes after an ended
// watch (eviction, EndWatches) and relists when the RV is too old. Runs until `stop` and then until
// it has caught up with `final_rv`; the state it rebuilt from the stream must equal the store's.
//
// Several changes may share one RV (a mirror-mode transaction), and an ended watch drops what it
// had queued, so a watch may end between two events of one RV: the mirror then resumes from the RV
// below and skips the keys it already applied at the last RV.
struct Mirror {
  State state;
  uint64_t rv = 0;
  std::set<std::string> keys_at_rv;  // keys applied at `rv` since the last list
  int relists = 0, resumes = 0, events = 0;
};

void RunMirror(Store& store, const std::atomic<bool>& stop, const std::atomic<uint64_t>& final_rv, Mirror* m,
               std::mt19937* rng, std::atomic<bool>* watching = nullptr) {
  const absl::Time deadline = absl::Now() + kWait;
  bool need_list = true;
  while (absl::Now() < deadline) {
    if (need_list) {
      auto l = store.List(ListOptions{});
      ASSERT_TRUE(l.ok()) << l.status();
      m->state.clear();
      for (const auto& o : l->items) {
        m->state[MakeKey(o->metadata().namespace_(), o->metadata().name())] = {Rv(o), LabelN(o->metadata())};
      }
      m->rv = l->rv;
      m->keys_at_rv.clear();
      ++m->relists;
      need_list = false;
    }
    Consumer consumer;
    WatchOptions opts;
    opts.resume_rv = m->keys_at_rv.empty() ? m->rv : m->rv - 1;
    opts.bookmarks = true;
    auto h = store.Watch(opts, &consumer);
    if (!h.ok()) {
      ASSERT_EQ(h.status().code(), absl::StatusCode::kOutOfRange) << h.status();  // compacted: relist
      need_list = true;
      continue;
    }
    ++m->resumes;
    if (watching != nullptr) watching->store(true);
    Watcher& w = (*h)->watcher();
    while (true) {
      if (stop.load() && m->rv >= final_rv.load() && final_rv.load() != 0) return;
      if (auto item = w.Next()) {
        const Event& ev = *item->event;
        if (item->as == EventType::kBookmark) {
          EXPECT_GE(ev.rv, m->rv);
          if (ev.rv > m->rv) m->keys_at_rv.clear();
          m->rv = std::max(m->rv, ev.rv);
          continue;
        }
        ASSERT_GE(ev.rv, m->rv) << "events out of order";
        const std::string key = MakeKey(ev.object->metadata().namespace_(), ev.object->metadata().name());
        if (ev.rv > m->rv) m->keys_at_rv.clear();
        if (!m->keys_at_rv.insert(key).second) continue;  // replayed after a resume: applied already
        if (item->as == EventType::kDeleted) {
          EXPECT_EQ(m->state.erase(key), 1u) << key;
        } else {
          EXPECT_EQ(m->state.count(key), item->as == EventType::kAdded ? 0u : 1u) << key;
          m->state[key] = {ev.rv, LabelN(ev.object->metadata())};
        }
        m->rv = ev.rv;
        ++m->events;
        if ((*rng)() % 64 == 0) absl::SleepFor(absl::Milliseconds(2));  // now and then too slow
        continue;
      }
      if (auto end = w.ended()) {
        // Evicted (too slow) or ended by the store: resume from the last RV seen.
        EXPECT_TRUE(absl::IsResourceExhausted(*end) || absl::IsUnavailable(*end) || absl::IsOutOfRange(*end))
            << *end;
        break;
      }
      consumer.Wait(absl::Milliseconds(20));
    }
  }
  FAIL() << "the mirror did not catch up: rv " << m->rv << " want " << final_rv.load();
}

// ---------------------------------------------------------------------------------------------
// memory:// and sqlite://: writers (sync and async), readers, watchers churned, stalled, mirrored.

class StoreHammer : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    config_.history_size = 64;  // small: resumes hit compaction, the ring wraps often
    config_.watch_queue_size = 16;
    config_.bookmark_interval = absl::Milliseconds(20);
    config_.on_watcher_evicted = [this] { evicted_.fetch_add(1); };
    endpoint_ = GetParam() == "sqlite" ? "sqlite://" + dir_.path() + "/state.db" : "memory://";
    auto s = OpenStore(endpoint_, config_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *s;
  }

  TempDir dir_;
  StoreConfig config_;
  std::string endpoint_;
  std::atomic<int> evicted_{0};
  StorePtr store_;
};

TEST_P(StoreHammer, ConcurrentWritesReadsAndWatches) {
  constexpr int kWriters = 4, kKeys = 6, kOps = 400, kStalled = 3;
  Store& store = *store_;
  ASSERT_TRUE(store.Create(StoreGpu("shared", 0)).ok());

  // Watches nobody reads: the writes below overflow their queues and the hub evicts them.
  std::vector<std::unique_ptr<Consumer>> stalled_consumers;
  std::vector<std::unique_ptr<WatchHandle>> stalled;
  for (int i = 0; i < kStalled; ++i) {
    stalled_consumers.push_back(std::make_unique<Consumer>());
    auto h = store.Watch(WatchOptions{}, stalled_consumers.back().get());
    ASSERT_TRUE(h.ok()) << h.status();
    stalled.push_back(std::move(*h));
  }

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> final_rv{0};
  std::atomic<int> shared_increments{0};
  std::vector<std::map<std::string, int>> models(kWriters);  // each writer's keys: name -> n
  // The writers start once the mirror watches: otherwise a fast machine finishes them before the
  // mirror's first list, and its watch has nothing to rebuild.
  std::atomic<bool> mirror_watching{false};

  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      const absl::Time start_by = absl::Now() + kWait;
      while (!mirror_watching.load() && absl::Now() < start_by) std::this_thread::yield();
      std::mt19937 rng(1000 + t);
      auto& model = models[t];
      uint64_t last_rv = 0;
      auto check = [&](const WriteResult& r, const std::string& what) {
        ASSERT_TRUE(r.ok()) << what << ": " << r.status();
        EXPECT_GT(Rv(*r), last_rv) << what;  // one thread's writes get increasing RVs
        last_rv = Rv(*r);
      };
      for (int op = 0; op < kOps; ++op) {
        const std::string name = absl::StrCat("w", t, "-", rng() % kKeys);
        const ObjectKey key{"default", name};
        const bool async = rng() % 2 == 0;
        auto it = model.find(name);
        if (it == model.end()) {
          const int n = static_cast<int>(rng() % 100);
          if (async) {
            check(AwaitWrite([&](WriteDone d) { store.CreateAsync(StoreGpu(name, n), std::move(d)); }),
                  "create");
          } else {
            check(store.Create(StoreGpu(name, n)), "create");
          }
          model[name] = n;
        } else if (rng() % 4 == 0) {
          if (async) {
            check(AwaitWrite([&](WriteDone d) { store.DeleteAsync(key, {}, std::move(d)); }), "delete");
          } else {
            check(store.Delete(key, {}), "delete");
          }
          model.erase(it);
        } else {
          const int n = it->second + 1;
          switch (rng() % 3) {
            case 0:
              check(store.Update(key, SetN(n)), "update");
              break;
            case 1:
              check(AwaitWrite([&](WriteDone d) { store.UpdateAsync(key, SetN(n), std::move(d)); }),
                    "update");
              break;
            default:
              check(AwaitWrite([&](WriteDone d) {
                      store.UpdateStoredAsync(
                          key,
                          [n, want = it->second](const StoredObject& cur) -> absl::StatusOr<NextVersion> {
                            EXPECT_EQ(LabelN(cur.metadata()), want);  // only this writer changes it
                            auto next = CopyObject(*cur.Object());
                            (*next->mutable_metadata()->mutable_labels())["n"] = std::to_string(n);
                            return NextVersion(std::move(next));
                          },
                          std::move(d));
                    }),
                    "update stored");
          }
          it->second = n;
        }
        if (op % 5 == 0) {  // a contended read-modify-write: no increment may be lost
          auto r = store.Update({"default", "shared"}, [](const v1::Gpu& cur) -> absl::StatusOr<NextVersion> {
            return SetN(LabelN(cur.metadata()) + 1)(cur);
          });
          check(r, "shared");
          shared_increments.fetch_add(1);
        }
      }
    });
  }

  // Readers: consistent lists (sorted, one RV, never going back), paged lists, gets, stats.
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      uint64_t last_list_rv = 0;
      int last_shared = 0;
      while (!stop.load()) {
        auto l = store.List(ListOptions{});
        ASSERT_TRUE(l.ok()) << l.status();
        EXPECT_GE(l->rv, last_list_rv);
        last_list_rv = l->rv;
        for (size_t i = 0; i < l->items.size(); ++i) {
          EXPECT_LE(Rv(l->items[i]), l->rv);
          if (i > 0) {
            EXPECT_LT(l->items[i - 1]->metadata().name(), l->items[i]->metadata().name());
          }
        }
        auto g = store.Get({"default", "shared"}, "");
        ASSERT_TRUE(g.ok()) << g.status();
        EXPECT_GE(LabelN((*g)->metadata()), last_shared);  // a consistent read never goes back
        last_shared = LabelN((*g)->metadata());
        ListOptions page;
        page.limit = 4;
        auto p1 = store.List(page);
        ASSERT_TRUE(p1.ok()) << p1.status();
        if (!p1->continue_token.empty()) {
          page.continue_token = p1->continue_token;
          auto p2 = store.List(page);
          if (p2.ok()) {
            EXPECT_EQ(p2->rv, p1->rv);  // the continuation reads the first page's snapshot
          } else {
            EXPECT_TRUE(absl::IsOutOfRange(p2.status())) << p2.status();  // that snapshot was compacted
          }
        }
        const StoreStats st = store.Stats();
        EXPECT_GE(st.resource_version, last_list_rv);
        if (t == 1) absl::SleepFor(absl::Milliseconds(1));
      }
    });
  }

  // Watch churn: opened from now or from a recent RV, with or without a selector, read a little,
  // then cancelled (the handle dropped) while the writers go on.
  std::vector<std::thread> churners;
  std::atomic<int> churned{0};
  for (int t = 0; t < 2; ++t) {
    churners.emplace_back([&, t] {
      std::mt19937 rng(2000 + t);
      while (!stop.load()) {
        Consumer consumer;
        WatchOptions opts;
        opts.bookmarks = rng() % 2 == 0;
        if (rng() % 2 == 0) {
          const uint64_t cur = store.CurrentResourceVersion();
          opts.resume_rv = cur > 8 ? cur - rng() % 8 : cur;
        }
        if (rng() % 3 == 0) opts.filter.label = *apimachinery::LabelSelector::Parse("n in (1,2,3,4,5)");
        auto h = store.Watch(opts, &consumer);
        if (!h.ok()) {
          EXPECT_TRUE(absl::IsOutOfRange(h.status())) << h.status();
          continue;
        }
        Watcher& w = (*h)->watcher();
        const int want = static_cast<int>(rng() % 20);
        uint64_t last = 0;
        for (int got = 0; got < want;) {
          if (auto item = w.Next()) {
            EXPECT_GE(item->event->rv, last);
            last = item->event->rv;
            ++got;
          } else if (w.ended()) {
            break;
          } else {
            consumer.Wait(absl::Milliseconds(5));
            if (stop.load()) break;
          }
        }
        churned.fetch_add(1);
      }  // the handle goes: the watch is cancelled while writes publish to it
    });
  }

  Mirror mirror;
  std::thread mirror_thread([&] {
    std::mt19937 rng(3000);
    RunMirror(store, stop, final_rv, &mirror, &rng, &mirror_watching);
  });

  for (auto& w : writers) w.join();
  final_rv.store(store.CurrentResourceVersion());
  stop.store(true);
  for (auto& r : readers) r.join();
  for (auto& c : churners) c.join();
  mirror_thread.join();

  // The final state is what the writers did.
  State want;
  for (const auto& model : models) {
    for (const auto& [name, n] : model) want[MakeKey("default", name)] = {0, n};
  }
  want[MakeKey("default", "shared")] = {0, shared_increments.load()};
  State got = ListState(store);
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [key, v] : want) {
    ASSERT_TRUE(got.count(key)) << key;
    EXPECT_EQ(got[key].second, v.second) << key;
  }
  EXPECT_EQ(store.Stats().objects, want.size());
  // The watch stream rebuilt exactly that state, RVs included.
  EXPECT_EQ(mirror.state, got);
  // It watched (on a fast machine every watch may be evicted or outrun before it applies an event,
  // the final state then coming from a relist: still exact, so events are not required).
  EXPECT_GT(mirror.resumes, 0);
  std::printf("mirror: %d relists, %d watches, %d events applied\n", mirror.relists, mirror.resumes,
              mirror.events);
  EXPECT_GT(churned.load(), 0);
  // Every stalled watch was evicted.
  for (auto& h : stalled) {
    auto end = h->watcher().ended();
    ASSERT_TRUE(end.has_value());
    EXPECT_TRUE(absl::IsResourceExhausted(*end)) << *end;
  }
  EXPECT_GE(evicted_.load(), kStalled);

  // Shutdown while a watch is open ends it with UNAVAILABLE.
  Consumer last;
  auto h = store.Watch(WatchOptions{}, &last);
  ASSERT_TRUE(h.ok());
  std::thread shut([&] { store.Shutdown(); });
  ASSERT_TRUE(WaitFor(
      [&] {
        while ((*h)->watcher().Next()) {
        }
        return (*h)->watcher().ended().has_value();
      },
      kWait));
  shut.join();
  EXPECT_TRUE(absl::IsUnavailable(*(*h)->watcher().ended()));
  h->reset();

  if (GetParam() == "sqlite") {  // what was acknowledged is on disk
    store_.reset();
    auto reopened = OpenStore(endpoint_, StoreConfig{});
    ASSERT_TRUE(reopened.ok()) << reopened.status();
    EXPECT_EQ(ListState(**reopened), got);
    (*reopened)->Shutdown();
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreHammer, ::testing::Values("memory", "sqlite"),
                         [](const auto& info) { return info.param; });

// ---------------------------------------------------------------------------------------------
// Mirror mode (the etcd:// backend's serving layer): a backend thread applies external changes,
// advances and raises the floor and ends watches while readers wait for RVs and a watch mirrors.

TEST(MirrorHammer, ApplyExternalWhileReadersWaitAndWatch) {
  StoreConfig config;
  config.history_size = 64;
  config.watch_queue_size = 16;
  config.bookmark_interval = absl::Milliseconds(20);
  auto serving = ServingStore::Create(config, 1000);
  Store& store = *serving;

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> applied{1000}, final_rv{0};
  std::map<std::string, int> model;          // key -> n (backend thread only until joined)
  std::atomic<bool> mirror_watching{false};  // the backend starts once the mirror watches
  std::thread backend([&] {
    const absl::Time start_by = absl::Now() + kWait;
    while (!mirror_watching.load() && absl::Now() < start_by) std::this_thread::yield();
    std::mt19937 rng(4000);
    uint64_t rv = 1000;
    for (int i = 0; i < 800; ++i) {
      ++rv;
      std::vector<ServingStore::ExternalChange> changes;
      const int batch = 1 + static_cast<int>(rng() % 3);  // several keys at one RV: one transaction
      std::set<std::string> used;
      for (int j = 0; j < batch; ++j) {
        const std::string name = absl::StrCat("m", rng() % 12);
        if (!used.insert(name).second) continue;
        const std::string key = MakeKey("default", name);
        ServingStore::ExternalChange c;
        c.key = key;
        c.rv = rv;
        if (model.count(key) && rng() % 4 == 0) {
          model.erase(key);  // a deletion: no object
        } else {
          const int n = model.count(key) ? model[key] + 1 : 0;
          c.object = std::make_shared<v1::Gpu>(StoreGpu(name, n));
          model[key] = n;
        }
        changes.push_back(std::move(c));
      }
      serving->ApplyExternal(std::move(changes));
      if (i % 50 == 25) {  // not last: the mirror's watch only learns RVs that carry a change
        rv += 5;
        serving->AdvanceTo(rv);  // a relist's revision: no change
      }
      if (i % 100 == 99) serving->RaiseFloor(rv - 3);
      if (i % 120 == 119) serving->EndWatches(absl::UnavailableError("backend watch restarted"));
      applied.store(rv);
    }
    // A last transaction of one key: the mirror stops at the final RV, so that RV must not be
    // shared by changes it could still be missing.
    ++rv;
    std::vector<ServingStore::ExternalChange> last(1);
    last[0].key = MakeKey("default", "end");
    last[0].rv = rv;
    last[0].object = std::make_shared<v1::Gpu>(StoreGpu("end", 0));
    model[last[0].key] = 0;
    serving->ApplyExternal(std::move(last));
    applied.store(rv);
  });

  std::vector<std::thread> waiters;
  for (int t = 0; t < 2; ++t) {
    waiters.emplace_back([&] {
      while (!stop.load()) {
        const uint64_t target = applied.load();
        ASSERT_TRUE(serving->WaitForRv(target, kWait)) << target;
        EXPECT_GE(store.CurrentResourceVersion(), target);
        EXPECT_LE(serving->ObjectCount(), 13u);  // m0..m11 and "end"
        (void)serving->Find(MakeKey("default", "m1"));
        auto l = store.List(ListOptions{});
        ASSERT_TRUE(l.ok());
        EXPECT_GE(l->rv, target);
      }
    });
  }
  Mirror mirror;
  std::thread mirror_thread([&] {
    std::mt19937 rng(4100);
    RunMirror(store, stop, final_rv, &mirror, &rng, &mirror_watching);
  });

  backend.join();
  final_rv.store(store.CurrentResourceVersion());
  EXPECT_EQ(final_rv.load(), applied.load());
  stop.store(true);
  for (auto& w : waiters) w.join();
  mirror_thread.join();

  State got = ListState(store);
  ASSERT_EQ(got.size(), model.size());
  for (const auto& [key, n] : model) {
    ASSERT_TRUE(got.count(key)) << key;
    EXPECT_EQ(got[key].second, n) << key;
  }
  EXPECT_EQ(serving->ObjectCount(), model.size());
  EXPECT_EQ(mirror.state, got);
  EXPECT_GE(mirror.resumes, 2);  // EndWatches ended the mirror's watch at least once
  store.Shutdown();
}

// ---------------------------------------------------------------------------------------------
// The watch hub alone: a publisher (under its "commit lock", as the store calls it) against
// watchers registered, read, evicted and cancelled from other threads, then Shutdown.

TEST(WatchHubHammer, PublishRegisterReadCancelShutdown) {
  std::atomic<int> evicted{0};
  WatchHubOptions opts;
  opts.bookmark_interval = absl::Milliseconds(5);
  opts.on_evicted = [&] { evicted.fetch_add(1); };
  WatchHub hub(opts);

  absl::Mutex commit_mu;
  uint64_t published = 0;  // guarded by commit_mu
  std::atomic<bool> stop{false};
  constexpr uint64_t kEvents = 6000;

  auto publish_one = [&](uint64_t rv) {
    auto obj = std::make_shared<v1::Gpu>(StoreGpu(absl::StrCat("h", rv % 10), static_cast<int>(rv)));
    obj->mutable_metadata()->set_resource_version(std::to_string(rv));
    auto ev = std::make_shared<Event>();
    ev->rv = rv;
    ev->type = EventType::kModified;
    ev->object = StoredObject::Make(std::move(obj));
    ev->time = absl::Now();
    std::vector<WatcherPtr> notify;
    {
      absl::MutexLock l(&commit_mu);
      hub.Publish(ev, &notify);
      published = rv;
    }
    for (auto& w : notify) w->Notify();
  };

  // A watcher registered at the current RV sees every later event, in order, with no gap, until it
  // ends: `limit` small and `slow` make it overflow and be evicted.
  struct Outcome {
    int registered = 0, complete = 0, evicted = 0, ended_unavailable = 0;
  };
  auto subscriber = [&](size_t limit, bool slow, int reads, Outcome* out) {
    std::mt19937 rng(static_cast<unsigned>(limit * 31 + slow));
    while (!stop.load()) {
      Consumer consumer;
      WatchOptions wo;
      wo.bookmarks = true;
      WatcherPtr w;
      {
        absl::MutexLock l(&commit_mu);
        w = std::make_shared<Watcher>(wo, limit, absl::Now(), published);
        w->SetConsumer(&consumer);
        if (!hub.Register(w)) return;
      }
      ++out->registered;
      uint64_t next = w->min_rv() + 1;
      int got = 0;
      while (got < reads) {
        if (auto item = w->Next()) {
          if (item->as == EventType::kBookmark) continue;
          ASSERT_EQ(item->event->rv, next) << "gap or reorder in a live stream";
          ++next;
          ++got;
          if (slow && rng() % 8 == 0) absl::SleepFor(absl::Milliseconds(1));
        } else if (auto end = w->ended()) {
          if (absl::IsResourceExhausted(*end)) {
            ++out->evicted;
          } else {
            ASSERT_TRUE(absl::IsUnavailable(*end)) << *end;
            ++out->ended_unavailable;
          }
          break;
        } else {
          consumer.Wait(absl::Milliseconds(10));
        }
      }
      if (got == reads) ++out->complete;
      w->Cancel();
      hub.Wake();
    }
  };

  Outcome fast, slow, tiny;
  std::thread t1(subscriber, 100000, false, 200, &fast);
  std::thread t2(subscriber, 8, true, 100, &slow);
  std::thread t3(subscriber, 2, true, 50, &tiny);
  std::thread publisher([&] {
    for (uint64_t rv = 1; rv <= kEvents; ++rv) {
      publish_one(rv);
      if (rv % 100 == 0) std::this_thread::yield();
    }
  });
  publisher.join();
  // Watchers still registered when the hub shuts down end with UNAVAILABLE.
  std::thread shutdown([&] {
    absl::SleepFor(absl::Milliseconds(20));
    stop.store(true);
    hub.Shutdown(absl::UnavailableError("shutting down"));
  });
  t1.join();
  t2.join();
  t3.join();
  shutdown.join();

  EXPECT_GT(fast.complete, 0);
  EXPECT_EQ(fast.evicted, 0);  // its queue never fills
  EXPECT_GT(tiny.registered, 0);
  EXPECT_EQ(evicted.load(), fast.evicted + slow.evicted + tiny.evicted);
  // After Shutdown the hub refuses new watchers.
  auto late = std::make_shared<Watcher>(WatchOptions{}, 10, absl::Now(), kEvents);
  EXPECT_FALSE(hub.Register(late));
}

}  // namespace
}  // namespace deviceapi::storage

// ---------------------------------------------------------------------------------------------
// The client informer over the in-process fake clientset.

namespace deviceapi {
namespace {

using ::deviceapi::testing::MakeGpu;
using ::deviceapi::testing::WaitFor;

constexpr absl::Duration kWait = absl::Seconds(120);

// Rebuilds the server's state from a handler's notifications.
class Rebuilt {
 public:
  ResourceEventHandlerFuncs Funcs() {
    ResourceEventHandlerFuncs f;
    f.on_add = [this](const v1::Gpu& o, bool) {
      absl::MutexLock l(&mu_);
      if (!state_.emplace(o.metadata().name(), o.metadata().resource_version()).second) ++violations_;
      ++adds_;
    };
    f.on_update = [this](const v1::Gpu& old_obj, const v1::Gpu& new_obj) {
      absl::MutexLock l(&mu_);
      auto it = state_.find(new_obj.metadata().name());
      if (it == state_.end() || it->second != old_obj.metadata().resource_version()) ++violations_;
      if (old_obj.metadata().resource_version() == new_obj.metadata().resource_version()) ++resyncs_;
      state_[new_obj.metadata().name()] = new_obj.metadata().resource_version();
    };
    f.on_delete = [this](const v1::Gpu& o, bool) {
      absl::MutexLock l(&mu_);
      if (state_.erase(o.metadata().name()) != 1) ++violations_;
    };
    return f;
  }
  std::map<std::string, std::string> state() const {
    absl::MutexLock l(&mu_);
    return state_;
  }
  int violations() const {
    absl::MutexLock l(&mu_);
    return violations_;
  }
  int resyncs() const {
    absl::MutexLock l(&mu_);
    return resyncs_;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::string> state_ ABSL_GUARDED_BY(mu_);  // name -> rv
  int violations_ ABSL_GUARDED_BY(mu_) = 0;
  int adds_ ABSL_GUARDED_BY(mu_) = 0;
  int resyncs_ ABSL_GUARDED_BY(mu_) = 0;
};

std::map<std::string, std::string> ServerState(fake::Clientset& cs) {
  std::map<std::string, std::string> s;
  for (const auto& g : cs.Tracker().List()) s[g.metadata().name()] = g.metadata().resource_version();
  return s;
}

std::map<std::string, std::string> CacheState(const GpuInformer& inf) {
  std::map<std::string, std::string> s;
  for (const auto& g : inf.GetIndexer()->List()) s[g->metadata().name()] = g->metadata().resource_version();
  return s;
}

InformerOptions ChaosOptions() {
  InformerOptions o;
  o.resync_period = absl::Milliseconds(30);
  o.reflector.page_size = 7;
  o.reflector.initial_backoff = absl::Milliseconds(5);
  o.reflector.max_backoff = absl::Milliseconds(50);
  o.reflector.min_watch_timeout = absl::Milliseconds(200);
  o.reflector.max_watch_timeout = absl::Milliseconds(400);
  o.reflector.list_timeout = absl::Seconds(30);
  o.reflector.seed = 7;
  return o;
}

TEST(InformerHammer, ConvergesUnderConcurrentWritesResyncsAndBrokenWatches) {
  fake::Options fo;
  fo.history_size = 50;  // short: OUT_OF_RANGE ends force relists
  fo.watch_queue_size = 32;
  fo.bookmark_interval = absl::Milliseconds(20);
  std::vector<v1::Gpu> initial;
  for (int i = 0; i < 20; ++i) initial.push_back(MakeGpu(absl::StrCat("pre-", i), {{"pool", "a"}}));
  fake::Clientset cs(initial, fo);

  GpuInformer inf(cs.DeviceV1alpha1().Gpus(""), ChaosOptions());
  Rebuilt early;
  auto early_reg = inf.AddEventHandler(early.Funcs());
  inf.Start();

  std::atomic<bool> stop{false};
  constexpr int kWriters = 3, kOps = 150;
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      std::mt19937 rng(5000 + t);
      auto gpus = cs.DeviceV1alpha1().Gpus("default");
      std::set<std::string> mine;
      for (int op = 0; op < kOps; ++op) {
        const std::string name = absl::StrCat("w", t, "-", rng() % 5);
        if (!mine.count(name)) {
          auto r = gpus->Create(MakeGpu(name, {{"pool", rng() % 2 ? "a" : "b"}}));
          ASSERT_TRUE(r.ok()) << r.status();
          mine.insert(name);
          continue;
        }
        switch (rng() % 4) {
          case 0: {
            ASSERT_TRUE(gpus->Delete(name).ok());
            mine.erase(name);
            break;
          }
          case 1: {  // read, change, write back with the RV as precondition (only we write it)
            auto cur = gpus->Get(name);
            ASSERT_TRUE(cur.ok()) << cur.status();
            (*cur->mutable_metadata()->mutable_labels())["op"] = std::to_string(op);
            auto r = gpus->Update(*cur);
            ASSERT_TRUE(r.ok()) << r.status();
            break;
          }
          default: {
            auto r = gpus->Patch(
                name, kMergePatchType,
                absl::StrCat(R"({"metadata":{"labels":{"pool":")", rng() % 2 ? "a" : "b", R"("}}})"));
            ASSERT_TRUE(r.ok()) << r.status();
          }
        }
      }
    });
  }

  // Chaos: watches ended (resumable, and too old: relist), a list failing now and then.
  std::thread chaos([&] {
    std::mt19937 rng(6000);
    while (!stop.load()) {
      absl::SleepFor(absl::Milliseconds(15));
      switch (rng() % 3) {
        case 0:
          cs.Tracker().EndWatches(absl::ResourceExhaustedError("slow watcher"));
          break;
        case 1:
          cs.Tracker().EndWatches(absl::OutOfRangeError("too old resource version"));
          break;
        default:
          cs.InjectError("list", "*", absl::UnavailableError("injected"), 1);
      }
    }
  });

  // Handlers registered and removed while everything runs; each must be replayed the cache.
  std::atomic<int> late_synced{0};
  std::thread registrar([&] {
    while (!stop.load()) {
      Rebuilt late;
      auto reg = inf.AddEventHandler(late.Funcs(), absl::Milliseconds(10));
      if (reg->WaitForSync(absl::Now() + kWait)) late_synced.fetch_add(1);
      absl::SleepFor(absl::Milliseconds(5));
      reg->Remove();  // returns once the handler will never run again: `late` may go
      EXPECT_EQ(late.violations(), 0);
    }
  });

  // Readers of the cache, and an indexer added while running.
  std::thread reader([&] {
    bool added = false;
    while (!stop.load()) {
      auto all = inf.Lister().List("pool in (a,b)");
      ASSERT_TRUE(all.ok()) << all.status();
      auto in_ns = inf.GetIndexer()->ByIndex(kNamespaceIndex, "default");
      ASSERT_TRUE(in_ns.ok());
      if (!added && inf.HasSynced()) {
        ASSERT_TRUE(inf.AddIndexers({{"pool",
                                      [](const v1::Gpu& g) {
                                        auto it = g.metadata().labels().find("pool");
                                        return it == g.metadata().labels().end()
                                                   ? std::vector<std::string>{}
                                                   : std::vector<std::string>{it->second};
                                      }}})
                        .ok());
        added = true;
      }
      if (added) {
        auto a = inf.GetIndexer()->ByIndex("pool", "a");
        ASSERT_TRUE(a.ok()) << a.status();
        for (const auto& g : *a) EXPECT_EQ(g->metadata().labels().at("pool"), "a");
      }
      (void)inf.Stats();
      (void)inf.LastSyncResourceVersion();
    }
  });

  for (auto& w : writers) w.join();
  // Let the chaos and the registrations overlap the catching up for a moment, then stop them.
  absl::SleepFor(absl::Milliseconds(100));
  stop.store(true);
  chaos.join();
  registrar.join();
  reader.join();

  const auto want = ServerState(cs);
  ASSERT_TRUE(WaitFor([&] { return CacheState(inf) == want; }, kWait)) << "the cache did not converge";
  ASSERT_TRUE(inf.WaitForDelivery(absl::Now() + kWait));
  EXPECT_EQ(early.state(), want);
  EXPECT_EQ(early.violations(), 0);
  EXPECT_GT(early.resyncs(), 0);
  EXPECT_GT(late_synced.load(), 0);
  const InformerStats st = inf.Stats();
  EXPECT_GE(st.relists, 1u) << st.last_error;
  EXPECT_GT(st.watch_restarts + st.relists, 1u);
  EXPECT_GT(st.resyncs, 0u);
  inf.Stop();
  EXPECT_TRUE(inf.IsStopped());
}

// Stop() while the first (paged) list is still running, from another thread, over and over.
TEST(InformerHammer, StopDuringInitialSync) {
  std::vector<v1::Gpu> initial;
  for (int i = 0; i < 150; ++i) initial.push_back(MakeGpu(absl::StrCat("gpu-", i)));
  fake::Clientset cs(initial);
  InformerOptions o = ChaosOptions();
  o.reflector.page_size = 2;
  for (int round = 0; round < 8; ++round) {
    auto inf = std::make_unique<GpuInformer>(cs.DeviceV1alpha1().Gpus(""), o);
    Rebuilt rec;
    auto reg = inf->AddEventHandler(rec.Funcs());
    inf->Start();
    std::thread stopper([&] {
      absl::SleepFor(absl::Milliseconds(round));
      inf->Stop();
    });
    // Meanwhile: waiting for the sync returns (synced, or false once stopped).
    const bool synced = inf->WaitForCacheSync(absl::Now() + kWait);
    stopper.join();
    EXPECT_TRUE(inf->IsStopped());
    if (synced) {
      EXPECT_EQ(inf->GetIndexer()->List().size(), 150u);
    }
    EXPECT_EQ(rec.violations(), 0);
    reg.reset();
    inf.reset();
  }
}

}  // namespace
}  // namespace deviceapi
