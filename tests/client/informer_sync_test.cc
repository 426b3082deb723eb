// Informers against both backends (a real server on a temp socket, and the fake clientset): the
// cache converges to the server's state and handlers see every change once, in order, also
// while watches break, history is too short to resume, and the client is disconnected.
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "client/backend.h"
#include "deviceapi/conditions.h"
#include "deviceapi/errors.h"
#include "deviceapi/informer.h"
#include "deviceapi/informer_factory.h"

namespace client_test {
namespace {

using deviceapi::testing::MakeGpu;
using deviceapi::testing::WaitFor;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

constexpr absl::Duration kWait = absl::Seconds(15);

// ---- a client wrapper that can be "disconnected": calls fail, open watches are stopped ----

class Gate;

class GatedWatch final : public deviceapi::WatchInterface {
 public:
  GatedWatch(deviceapi::WatchPtr inner, std::shared_ptr<Gate> gate);
  ~GatedWatch() override;
  std::optional<deviceapi::WatchEvent> NextUntil(absl::Time d) override { return inner_->NextUntil(d); }
  void Dispatch(EventHandler e, EndHandler h) override { inner_->Dispatch(std::move(e), std::move(h)); }
  void Stop() override { inner_->Stop(); }
  bool Done() const override { return inner_->Done(); }
  std::optional<deviceapi::WatchResult> Result() const override { return inner_->Result(); }
  std::optional<deviceapi::WatchResult> WaitUntil(absl::Time d) override { return inner_->WaitUntil(d); }
  std::string LastResourceVersion() const override { return inner_->LastResourceVersion(); }

 private:
  deviceapi::WatchPtr inner_;
  std::shared_ptr<Gate> gate_;
};

class Gate {
 public:
  void Disconnect() {
    absl::MutexLock calls(&call_mu_);  // no Watch() half-way through: each open one is stopped
    absl::MutexLock l(&mu_);
    down_ = true;
    for (auto* w : watches_) w->Stop();
  }
  void Reconnect() {
    absl::MutexLock l(&mu_);
    down_ = false;
  }
  bool down() {
    absl::MutexLock l(&mu_);
    return down_;
  }
  // The next `n` successful lists report resource version `rv` (an old one, to test the guard).
  void FakeListRv(int n, std::string rv) {
    absl::MutexLock l(&mu_);
    fake_list_rv_count_ = n;
    fake_list_rv_ = std::move(rv);
  }
  std::optional<std::string> TakeFakeListRv() {
    absl::MutexLock l(&mu_);
    if (fake_list_rv_count_ <= 0) return std::nullopt;
    --fake_list_rv_count_;
    return fake_list_rv_;
  }
  void Add(GatedWatch* w) {
    absl::MutexLock l(&mu_);
    watches_.insert(w);
    if (down_) w->Stop();
  }
  void Drop(GatedWatch* w) {
    absl::MutexLock l(&mu_);
    watches_.erase(w);
  }

  absl::Mutex call_mu_;  // held across Watch(): check, open and register as one step

 private:
  absl::Mutex mu_;
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  int fake_list_rv_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::string fake_list_rv_ ABSL_GUARDED_BY(mu_);
  std::set<GatedWatch*> watches_ ABSL_GUARDED_BY(mu_);
};

GatedWatch::GatedWatch(deviceapi::WatchPtr inner, std::shared_ptr<Gate> gate)
    : inner_(std::move(inner)), gate_(std::move(gate)) {
  gate_->Add(this);
}
GatedWatch::~GatedWatch() { gate_->Drop(this); }

class GatedGpus final : public deviceapi::GpuInterface {
 public:
  GatedGpus(deviceapi::GpuInterfacePtr inner, std::shared_ptr<Gate> gate)
      : GpuInterface(inner->ns()), inner_(std::move(inner)), gate_(std::move(gate)) {}

 protected:
  absl::StatusOr<v1::Gpu> DoGet(std::string_view n, const deviceapi::GetOptions& o) override {
    return inner_->Get(n, o);
  }
  absl::StatusOr<v1::GpuList> DoList(const deviceapi::ListOptions& o) override {
    if (gate_->down()) return absl::UnavailableError("test: disconnected");
    auto r = inner_->List(o);
    if (r.ok()) {
      if (auto rv = gate_->TakeFakeListRv()) r->mutable_metadata()->set_resource_version(*rv);
    }
    return r;
  }
  absl::StatusOr<deviceapi::WatchPtr> DoWatch(const deviceapi::ListOptions& o) override {
    absl::MutexLock calls(&gate_->call_mu_);
    if (gate_->down()) return absl::UnavailableError("test: disconnected");
    auto w = inner_->Watch(o);
    if (!w.ok()) return w.status();
    return deviceapi::WatchPtr(std::make_unique<GatedWatch>(std::move(*w), gate_));
  }
  absl::StatusOr<v1::Gpu> DoCreate(const v1::Gpu& g, const deviceapi::CreateOptions& o) override {
    return inner_->Create(g, o);
  }
  absl::StatusOr<v1::Gpu> DoUpdate(const v1::Gpu& g, const deviceapi::UpdateOptions& o) override {
    return inner_->Update(g, o);
  }
  absl::StatusOr<v1::Gpu> DoUpdateStatus(const v1::Gpu& g, const deviceapi::UpdateOptions& o) override {
    return inner_->UpdateStatus(g, o);
  }
  absl::StatusOr<v1::Gpu> DoPatch(std::string_view n, std::string_view t, std::string_view d,
                                  const deviceapi::PatchOptions& o,
                                  const std::vector<std::string>& s) override {
    return inner_->Patch(n, t, d, o, s);
  }
  absl::Status DoDelete(std::string_view n, const deviceapi::DeleteOptions& o) override {
    return inner_->Delete(n, o);
  }

 private:
  deviceapi::GpuInterfacePtr inner_;
  std::shared_ptr<Gate> gate_;
};

// ---- a handler that checks the order of what it is told and keeps its own copy of the state ----

struct Seen {
  std::string type;  // "add", "update", "delete"
  std::string key;
  std::string rv;
  bool flag = false;  // add: initial list; delete: final state unknown
};

class Recorder {
 public:
  deviceapi::ResourceEventHandlerFuncs Funcs() {
    deviceapi::ResourceEventHandlerFuncs f;
    f.on_add = [this](const v1::Gpu& o, bool initial) {
      absl::MutexLock l(&mu_);
      const std::string key = deviceapi::ObjectKey(o);
      if (state_.count(key) > 0) Violation("add of a known object " + key);
      state_[key] = o.metadata().resource_version();
      seen_.push_back({"add", key, o.metadata().resource_version(), initial});
    };
    f.on_update = [this](const v1::Gpu& old_obj, const v1::Gpu& new_obj) {
      absl::MutexLock l(&mu_);
      const std::string key = deviceapi::ObjectKey(new_obj);
      auto it = state_.find(key);
      if (it == state_.end()) {
        Violation("update of an unknown object " + key);
      } else if (it->second != old_obj.metadata().resource_version()) {
        Violation(absl::StrCat("update of ", key, ": old rv ", old_obj.metadata().resource_version(),
                               " but last seen ", it->second));
      }
      if (!(Rv(new_obj) > Rv(old_obj))) Violation("update of " + key + " does not move forward");
      state_[key] = new_obj.metadata().resource_version();
      seen_.push_back({"update", key, new_obj.metadata().resource_version(), false});
    };
    f.on_delete = [this](const v1::Gpu& o, bool unknown) {
      absl::MutexLock l(&mu_);
      const std::string key = deviceapi::ObjectKey(o);
      auto it = state_.find(key);
      if (it == state_.end()) {
        Violation("delete of an unknown object " + key);
      } else {
        if (!unknown && !(Rv(o) > Rv(it->second))) Violation("delete of " + key + " with an old rv");
        if (unknown && o.metadata().resource_version() != it->second)
          Violation("unknown-state delete not last known");
        state_.erase(it);
      }
      seen_.push_back({"delete", key, o.metadata().resource_version(), unknown});
    };
    return f;
  }

  std::map<std::string, std::string> state() {
    absl::MutexLock l(&mu_);
    return state_;
  }
  std::vector<Seen> seen() {
    absl::MutexLock l(&mu_);
    return seen_;
  }
  std::vector<std::string> violations() {
    absl::MutexLock l(&mu_);
    return violations_;
  }
  int Count(const std::string& type, bool flag) {
    absl::MutexLock l(&mu_);
    int n = 0;
    for (const auto& s : seen_) n += (s.type == type && s.flag == flag) ? 1 : 0;
    return n;
  }

 private:
  void Violation(std::string v) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { violations_.push_back(std::move(v)); }

  absl::Mutex mu_;
  std::map<std::string, std::string> state_ ABSL_GUARDED_BY(mu_);  // key -> rv
  std::vector<Seen> seen_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> violations_ ABSL_GUARDED_BY(mu_);
};

// ---- fixture: a backend with shrunk knobs, a gated client, and an informer over it ----

struct Shrunk {
  size_t history = 10000;
  size_t queue = 1000;
};

class InformerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { Make({}); }
  void TearDown() override {
    informer_.reset();
    fake_.reset();
    real_.reset();
    server_.reset();
  }

  void Make(const Shrunk& k) {
    informer_.reset();
    if (GetParam() == "fake") {
      deviceapi::fake::Options o;
      o.history_size = k.history;
      o.watch_queue_size = k.queue;
      o.bookmark_interval = absl::Milliseconds(200);
      o.start_resource_version = 1000;
      fake_ = std::make_unique<deviceapi::fake::Clientset>(std::vector<v1::Gpu>{}, o);
    } else {
      server_ =
          deviceapi::testing::TestServer::Start("memory://", [&](deviceapi::apiserver::ServerOptions& o) {
            o.watch_history_size = static_cast<int64_t>(k.history);
            o.watch_queue_size = static_cast<int64_t>(k.queue);
            o.watch_bookmark_interval = absl::Milliseconds(200);
          });
      deviceapi::Config c;
      c.target = server_->target();
      c.timeout = absl::Seconds(10);
      auto cs = deviceapi::Clientset::NewForConfig(c);
      ASSERT_TRUE(cs.ok()) << cs.status();
      real_ = std::move(*cs);
    }
  }

  deviceapi::Interface& cs() { return fake_ ? static_cast<deviceapi::Interface&>(*fake_) : *real_; }
  deviceapi::GpuInterfacePtr Gpus(const std::string& ns = "") { return cs().DeviceV1alpha1().Gpus(ns); }

  static deviceapi::InformerOptions FastOptions(uint64_t seed = 7) {
    deviceapi::InformerOptions o;
    o.reflector.initial_backoff = absl::Milliseconds(5);
    o.reflector.max_backoff = absl::Milliseconds(100);
    o.reflector.backoff_jitter = 0.5;
    o.reflector.page_size = 3;
    o.reflector.list_timeout = absl::Seconds(5);
    o.reflector.seed = seed;
    return o;
  }

  deviceapi::GpuInformer& NewInformer(deviceapi::InformerOptions o = FastOptions()) {
    informer_ =
        std::make_unique<deviceapi::GpuInformer>(std::make_unique<GatedGpus>(Gpus(), gate_), std::move(o));
    return *informer_;
  }

  v1::Gpu MustCreate(const std::string& name, const std::string& ns = "",
                     const std::map<std::string, std::string>& labels = {}) {
    auto r = Gpus(ns)->Create(MakeGpu(name, labels, ns));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : v1::Gpu();
  }
  v1::Gpu MustRelabel(v1::Gpu g, const std::string& value) {
    (*g.mutable_metadata()->mutable_labels())["v"] = value;
    g.mutable_metadata()->clear_resource_version();
    auto r = Gpus(g.metadata().namespace_())->Update(g);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : g;
  }

  // key -> rv, as the server has it now.
  std::map<std::string, std::string> ServerState() {
    std::map<std::string, std::string> out;
    auto list = Gpus()->List();
    EXPECT_TRUE(list.ok()) << list.status();
    if (!list.ok()) return out;
    for (const auto& g : list->items()) out[deviceapi::ObjectKey(g)] = g.metadata().resource_version();
    return out;
  }
  std::map<std::string, std::string> CacheState() {
    std::map<std::string, std::string> out;
    for (const auto& g : informer_->GetIndexer()->List())
      out[deviceapi::ObjectKey(*g)] = g->metadata().resource_version();
    return out;
  }
  // The cache and the recorder both equal the server.
  bool Converged(Recorder& rec) {
    auto want = ServerState();
    return CacheState() == want && informer_->WaitForDelivery(absl::Now() + absl::Seconds(1)) &&
           rec.state() == want;
  }

  std::shared_ptr<Gate> gate_ = std::make_shared<Gate>();
  std::unique_ptr<deviceapi::testing::TestServer> server_;
  std::unique_ptr<deviceapi::Clientset> real_;
  std::unique_ptr<deviceapi::fake::Clientset> fake_;
  std::unique_ptr<deviceapi::GpuInformer> informer_;
};
CLIENT_BACKEND_SUITE(InformerTest);

// The first (paged) list arrives as initial OnAdds, then watch events as OnAdd / OnUpdate (old and
// new) / OnDelete; the lister and indexes reflect every change.
TEST_P(InformerTest, ListThenWatch) {
  for (int i = 0; i < 5; ++i)
    MustCreate("gpu-" + std::to_string(i), i % 2 ? "ns-b" : "", {{"i", std::to_string(i)}});
  auto& inf = NewInformer();
  Recorder rec;
  auto reg = inf.AddEventHandler(rec.Funcs());
  EXPECT_FALSE(reg->HasSynced());
  inf.Start();
  ASSERT_TRUE(inf.WaitForCacheSync(absl::Now() + kWait));
  ASSERT_TRUE(reg->WaitForSync(absl::Now() + kWait));
  EXPECT_EQ(rec.Count("add", true), 5);
  EXPECT_EQ(inf.Stats().lists, 1u);

  v1::Gpu a = MustCreate("gpu-new");
  v1::Gpu b = MustRelabel(a, "x");
  ASSERT_TRUE(Gpus()->Delete("gpu-0").ok());
  ASSERT_TRUE(WaitFor([&] { return Converged(rec); }, kWait));
  auto seen = rec.seen();
  ASSERT_EQ(seen.size(), 8u);
  EXPECT_EQ(seen[5].type, "add");
  EXPECT_FALSE(seen[5].flag);
  EXPECT_EQ(seen[6].type, "update");
  EXPECT_EQ(seen[6].rv, b.metadata().resource_version());
  EXPECT_EQ(seen[7].type, "delete");
  EXPECT_FALSE(seen[7].flag);
  EXPECT_THAT(rec.violations(), ::testing::IsEmpty());

  auto lister = inf.Lister();
  EXPECT_EQ((*lister.Get("gpu-new"))->metadata().labels().at("v"), "x");
  EXPECT_EQ(lister.Get("gpu-0").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(lister.List("i in (1,2,3)")->size(), 3u);
  EXPECT_EQ(lister.Gpus("ns-b").List()->size(), 2u);
  EXPECT_EQ(inf.GetIndexer()->ByIndex(deviceapi::kNamespaceIndex, "ns-b")->size(), 2u);
  EXPECT_GE(Rv(inf.LastSyncResourceVersion()), Rv(b));
}

// A handler registered after the sync is first given the cache (OnAdd, initial), then live events,
// with nothing lost or repeated in between; destroying its handle stops its notifications.
TEST_P(InformerTest, LateRegistrationReplaysAndHandleUnregisters) {
  MustCreate("gpu-a");
  MustCreate("gpu-b");
  auto& inf = NewInformer();
  inf.Start();
  ASSERT_TRUE(inf.WaitForCacheSync(absl::Now() + kWait));
  Recorder late;
  auto reg = inf.AddEventHandler(late.Funcs());
  MustCreate("gpu-c");  // may race with the replay: must be seen exactly once either way
  ASSERT_TRUE(reg->WaitForSync(absl::Now() + kWait));
  ASSERT_TRUE(WaitFor([&] { return Converged(late); }, kWait));
  EXPECT_GE(late.Count("add", true), 2);
  EXPECT_EQ(late.Count("add", true) + late.Count("add", false), 3);

  reg.reset();
  const size_t before = late.seen().size();
  Recorder other;
  auto reg2 = inf.AddEventHandler(other.Funcs());
  MustCreate("gpu-d");
  ASSERT_TRUE(WaitFor([&] { return Converged(other); }, kWait));
  EXPECT_EQ(late.seen().size(), before);
  EXPECT_THAT(late.violations(), ::testing::IsEmpty());
  EXPECT_THAT(other.violations(), ::testing::IsEmpty());
}

// A handler that blocks does not block the watch: the cache keeps up, and the handler later gets
// every event in order.
TEST_P(InformerTest, SlowHandlerDoesNotBlockTheCache) {
  auto& inf = NewInformer();
  absl::Notification release;
  Recorder rec;
  auto funcs = rec.Funcs();
  auto add = funcs.on_add;
  funcs.on_add = [&, add](const v1::Gpu& o, bool initial) {
    release.WaitForNotification();
    add(o, initial);
  };
  auto reg = inf.AddEventHandler(funcs);
  inf.Start();
  ASSERT_TRUE(inf.WaitForCacheSync(absl::Now() + kWait));
  for (int i = 0; i < 10; ++i) MustCreate("gpu-" + std::to_string(i));
  ASSERT_TRUE(WaitFor([&] { return inf.GetIndexer()->Size() == 10; }, kWait));
  EXPECT_TRUE(rec.seen().empty());
  release.Notify();
  ASSERT_TRUE(WaitFor([&] { return Converged(rec); }, kWait));
  EXPECT_THAT(rec.violations(), ::testing::IsEmpty());
}

// Deletions (and other changes) made while the client was disconnected, more than the history
// holds, are reported after the relist: OnDelete with the last known state and final_state_unknown;
// unchanged objects produce no event.
TEST_P(InformerTest, DeletionsWhileDisconnectedAreReported) {
  Make({/*history=*/4, /*queue=*/1000});
  v1::Gpu keep = MustCreate("gpu-keep");
  v1::Gpu gone = MustCreate("gpu-gone");
  v1::Gpu changed = MustCreate("gpu-changed");
  v1::Gpu recreated = MustCreate("gpu-recreated");
  auto& inf = NewInformer();
  Recorder rec;
  auto reg = inf.AddEventHandler(rec.Funcs());
  inf.Start();
  ASSERT_TRUE(inf.WaitForCacheSync(absl::Now() + kWait));
  ASSERT_TRUE(WaitFor([&] { return Converged(rec); }, kWait));

  gate_->Disconnect();
  ASSERT_TRUE(Gpus()->Delete("gpu-gone").ok());
  ASSERT_TRUE(Gpus()->Delete("gpu-recreated").ok());
  v1::Gpu recreated2 = MustCreate("gpu-recreated");
  for (int i = 0; i < 6; ++i) changed = MustRelabel(changed, std::to_string(i));  // overflow the history
  gate_->Reconnect();

  ASSERT_TRUE(WaitFor([&] { return Converged(rec); }, kWait));
  EXPECT_THAT(rec.violations(), ::testing::IsEmpty());
  EXPECT_GE(inf.Stats().relists, 1u);
  std::vector<std::string> after;
  for (const auto& s : rec.seen()) {
    if (!s.flag || s.type != "add")
      after.push_back(absl::StrCat(s.type, " ", s.key, s.flag ? " unknown" : ""));
  }
  EXPECT_THAT(after,
              UnorderedElementsAre("delete default/gpu-gone unknown", "delete default/gpu-recreated unknown",
                                   "add default/gpu-recreated", "update default/gpu-changed"));
  auto seen = rec.seen();
  for (const auto& s : seen) {
    if (s.type == "delete" && s.key == "default/gpu-gone") {
      EXPECT_EQ(s.rv, gone.metadata().resource_version());
    }
  }
  EXPECT_EQ(inf.GetIndexer()->GetByKey("default/gpu-recreated")->metadata().uid(),
            recreated2.metadata().uid());
  (void)keep;
  (void)recreated;
}

// A relist that answers with an RV older than the cache's is dropped: the cache never moves back,
// and the informer converges once the server answers properly again.
TEST_P(InformerTest, RelistNeverMovesTheCacheBack) {
  Make({/*history=*/2, /*queue=*/1000});
  v1::Gpu a = MustCreate("gpu-a");
  auto& inf = NewInformer();
  Recorder rec;
  auto reg = inf.AddEventHandler(rec.Funcs());
  inf.Start();
  ASSERT_TRUE(inf.WaitForCacheSync(absl::Now() + kWait));
  ASSERT_TRUE(WaitFor([&] { return Converged(rec); }, kWait));
  const std::string synced_rv = inf.LastSyncResourceVersion();

  gate_->Disconnect();
  for (int i = 0; i < 4; ++i) a = MustRelabel(a, std::to_string(i));
  gate_->FakeListRv(2, "1");
  gate_->Reconnect();
  ASSERT_TRUE(WaitFor([&] { return Converged(rec); }, kWait));
  EXPECT_GE(inf.Stats().stale_lists, 1u);
  EXPECT_GE(Rv(inf.LastSyncResourceVersion()), Rv(synced_rv));
  EXPECT_THAT(rec.violations(), ::testing::IsEmpty());
}

// Resync replays the cache as OnUpdate(obj, obj) without calling the server.
TEST_P(InformerTest, ResyncReplaysTheCache) {
  MustCreate("gpu-a");
  auto& inf = NewInformer();
  inf.Start();
  ASSERT_TRUE(inf.WaitForCacheSync(absl::Now() + kWait));
  std::atomic<int> resyncs{0};
  deviceapi::ResourceEventHandlerFuncs f;
  f.on_update = [&](const v1::Gpu& o, const v1::Gpu& n) {
    if (o.metadata().resource_version() == n.metadata().resource_version()) resyncs++;
  };
  auto reg = inf.AddEventHandler(f, absl::Milliseconds(20));
  ASSERT_TRUE(WaitFor([&] { return resyncs.load() >= 2; }, kWait));
  EXPECT_GE(inf.Stats().resyncs, 2u);
}

// The factory hands out one informer, starts it, syncs it and shuts it down.
TEST_P(InformerTest, SharedInformerFactory) {
  MustCreate("gpu-a", "", {{"pick", "yes"}});
  MustCreate("gpu-b");
  deviceapi::SharedInformerFactoryOptions fo;
  fo.tweak = [](deviceapi::InformerOptions& o) {
    o.label_selector = "pick=yes";
    o.reflector = FastOptions().reflector;
  };
  deviceapi::SharedInformerFactory factory(cs(), fo);
  deviceapi::GpuInformer& inf = factory.Gpus();
  EXPECT_EQ(&inf, &factory.Gpus());
  factory.Start();
  ASSERT_TRUE(factory.WaitForCacheSync(absl::Now() + kWait));
  EXPECT_THAT(inf.GetIndexer()->ListKeys(), ElementsAre("default/gpu-a"));
  MustCreate("gpu-c", "", {{"pick", "yes"}});
  ASSERT_TRUE(WaitFor([&] { return inf.GetIndexer()->Size() == 2; }, kWait));
  factory.Shutdown();
  EXPECT_TRUE(inf.IsStopped());
  EXPECT_EQ(inf.GetIndexer()->Size(), 2u);
}

// Randomized: creates, updates, status updates and deletes, with watches broken (the fake ends
// them; the real server's one-slot queues drop slow watchers), the client disconnected, and a
// history so short that resuming fails and the informer relists. The cache and a handler's view
// must equal the server's state at the end, with no event repeated or out of order.
TEST_P(InformerTest, RandomizedConvergesUnderChaos) {
  uint64_t seed = 20240611;
  if (const char* s = std::getenv("INFORMER_TEST_SEED")) seed = std::strtoull(s, nullptr, 10);
  std::cout << "seed " << seed << " (INFORMER_TEST_SEED)" << std::endl;
  Make({/*history=*/8, /*queue=*/GetParam() == "real" ? 1u : 1000u});
  std::mt19937_64 rng(seed);
  auto& inf = NewInformer(FastOptions(seed));
  Recorder rec;
  auto reg = inf.AddEventHandler(rec.Funcs());
  inf.Start();
  ASSERT_TRUE(inf.WaitForCacheSync(absl::Now() + kWait));

  std::map<std::string, v1::Gpu> live;  // key -> last written object
  const std::vector<std::string> nss = {"", "ns-b"};
  // Per disconnected period: the objects the cache held when it began, writes made, and whether
  // one of those objects was deleted. More writes than the history holds force a relist, which
  // must then report that deletion with final_state_unknown.
  std::set<std::string> known_at_disconnect;
  int writes_while_down = 0;
  bool known_deleted_while_down = false;
  int expected_unknown_deletes = 0;
  auto reconnect = [&] {
    if (!gate_->down()) return;
    if (known_deleted_while_down && writes_while_down > 8) ++expected_unknown_deletes;
    gate_->Reconnect();
  };
  const absl::Time start = absl::Now();
  for (int step = 0; step < 400; ++step) {
    const int chaos = static_cast<int>(rng() % 40);
    if (chaos == 0 && !gate_->down()) {
      // Let the informer catch up first (a condition, not a sleep), so that it knows objects
      // that are then deleted behind its back.
      ASSERT_TRUE(WaitFor([&] { return Converged(rec); }, kWait)) << "seed " << seed << " step " << step;
      known_at_disconnect.clear();
      for (const auto& [key, rv] : CacheState()) known_at_disconnect.insert(key);
      writes_while_down = 0;
      known_deleted_while_down = false;
      gate_->Disconnect();
    }
    if (chaos == 1 || chaos == 2) reconnect();
    if (chaos == 3 && fake_) fake_->Tracker().EndWatches(absl::ResourceExhaustedError("watcher too slow"));
    if (chaos == 4 && fake_) fake_->Tracker().EndWatches(absl::OutOfRangeError("too old resource version"));
    if (step % 50 == 49 && !gate_->down()) {
      ASSERT_TRUE(WaitFor([&] { return Converged(rec); }, kWait)) << "seed " << seed << " step " << step;
    }

    const std::string ns = nss[rng() % nss.size()];
    const std::string name = "gpu-" + std::to_string(rng() % 10);
    const std::string key = deviceapi::ObjectKey(ns, name);
    auto it = live.find(key);
    const int op = static_cast<int>(rng() % 10);
    if (gate_->down()) ++writes_while_down;
    if (it == live.end()) {
      live[key] = MustCreate(name, ns, {{"v", "0"}});
    } else if (op < 4) {
      it->second = MustRelabel(it->second, std::to_string(step));
    } else if (op < 7) {
      v1::Gpu g = it->second;
      g.mutable_metadata()->clear_resource_version();
      deviceapi::SetCondition(
          g.mutable_status(),
          deviceapi::MakeCondition("Step" + std::to_string(step % 3), step % 2 ? "True" : "False", "Test"));
      auto r = Gpus(ns)->UpdateStatus(g);
      ASSERT_TRUE(r.ok()) << r.status();
      it->second = *r;
    } else {
      ASSERT_TRUE(Gpus(ns)->Delete(name).ok());
      if (gate_->down() && known_at_disconnect.count(key) > 0) known_deleted_while_down = true;
      live.erase(it);
    }
  }
  reconnect();
  ASSERT_TRUE(WaitFor([&] { return Converged(rec); }, kWait)) << "seed " << seed;
  auto stats = inf.Stats();
  std::cout << "took " << absl::Now() - start << "; lists " << stats.lists << ", relists " << stats.relists
            << ", watch restarts " << stats.watch_restarts << ", events " << stats.events << ", stale events "
            << stats.stale_events << ", expected unknown-state deletes >= " << expected_unknown_deletes
            << ", got " << rec.Count("delete", true) << std::endl;
  EXPECT_THAT(rec.violations(), ::testing::IsEmpty()) << "seed " << seed;
  EXPECT_GE(stats.relists, 1u);
  EXPECT_GE(stats.watch_restarts, 1u);
  EXPECT_GE(rec.Count("delete", true), expected_unknown_deletes > 0 ? 1 : 0);
}

// Restarting the (in-memory) server loses every GPU: the informer relists and reports them
// deleted; providers registering again show up as added. Real server only.
TEST_P(InformerTest, ServerRestartRelistsAndConverges) {
  if (!server_) GTEST_SKIP() << "needs a server to restart";
  MustCreate("gpu-a");
  MustCreate("gpu-b");
  MustCreate("gpu-c");
  auto& inf = NewInformer();
  Recorder rec;
  auto reg = inf.AddEventHandler(rec.Funcs());
  inf.Start();
  ASSERT_TRUE(inf.WaitForCacheSync(absl::Now() + kWait));
  ASSERT_TRUE(WaitFor([&] { return Converged(rec); }, kWait));

  server_->Restart();
  ASSERT_TRUE(WaitFor([&] { return rec.Count("delete", true) == 3; }, kWait)) << inf.Stats().last_error;
  EXPECT_TRUE(inf.GetIndexer()->List().empty());
  MustCreate("gpu-a");
  MustCreate("gpu-b");
  ASSERT_TRUE(WaitFor([&] { return Converged(rec); }, kWait));
  EXPECT_EQ(rec.Count("add", false), 2);
  EXPECT_GE(inf.Stats().relists, 1u);
  EXPECT_THAT(rec.violations(), ::testing::IsEmpty());
}

// With the durable SQLite backend the history survives a restart: the
// informer's watch resumes from its last RV (no relist, nothing reported
// deleted) and sees the writes made after the restart.
TEST(InformerDurable, SqliteRestartResumesWithoutRelist) {
  auto server = deviceapi::testing::TestServer::Start(
      "sqlite://",
      [](deviceapi::apiserver::ServerOptions& o) { o.watch_bookmark_interval = absl::Milliseconds(200); });
  deviceapi::Config c;
  c.target = server->target();
  c.timeout = absl::Seconds(10);
  auto cs = deviceapi::Clientset::NewForConfig(c);
  ASSERT_TRUE(cs.ok()) << cs.status();
  auto gpus = [&] { return (*cs)->DeviceV1alpha1().Gpus("default"); };
  for (const char* n : {"gpu-a", "gpu-b"})
    ASSERT_TRUE(gpus()->Create(deviceapi::testing::MakeGpu(n, {}, "default")).ok());
  deviceapi::InformerOptions o;
  o.reflector.initial_backoff = absl::Milliseconds(5);
  o.reflector.max_backoff = absl::Milliseconds(100);
  deviceapi::GpuInformer inf(gpus(), o);
  Recorder rec;
  auto reg = inf.AddEventHandler(rec.Funcs());
  inf.Start();
  ASSERT_TRUE(inf.WaitForCacheSync(absl::Now() + kWait));
  ASSERT_TRUE(WaitFor([&] { return rec.Count("add", true) == 2; }, kWait));

  server->Restart();
  auto r = gpus()->Create(deviceapi::testing::MakeGpu("gpu-c", {}, "default"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(WaitFor([&] { return inf.GetIndexer()->List().size() == 3; }, kWait)) << inf.Stats().last_error;
  ASSERT_TRUE(WaitFor([&] { return rec.Count("add", false) + rec.Count("add", true) == 3; }, kWait));
  EXPECT_EQ(rec.Count("add", false), 1)
      << "lists " << inf.Stats().lists << " relists " << inf.Stats().relists;
  EXPECT_EQ(rec.Count("delete", true) + rec.Count("delete", false), 0);
  EXPECT_EQ(inf.Stats().lists, 1u);
  EXPECT_EQ(inf.Stats().relists, 0u);
  EXPECT_GE(inf.Stats().watch_restarts, 1u);
  EXPECT_THAT(rec.violations(), ::testing::IsEmpty());
  inf.Stop();
}

}  // namespace
}  // namespace client_test
