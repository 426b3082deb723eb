// GpuInformer: the cache, the notification queue and the dispatcher thread. The reflector
// (reflector.cc) feeds the cache through the ReflectorStore interface.
//
// Lock order: Core::mu_ before the Indexer's own lock (the cache is changed and the matching
// notifications queued under mu_, so a handler registering concurrently sees either the state
// before a change plus its notification, or the state after it without).
#include "deviceapi/informer.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "client/reflector.h"

namespace deviceapi {

class GpuInformer::Core final : public client::ReflectorStore, public std::enable_shared_from_this<Core> {
 public:
  Core(GpuInterfacePtr client, InformerOptions options)
      : client_(std::move(client)),
        options_(std::move(options)),
        indexer_(std::make_shared<Indexer>(options_.indexers)) {
    ListOptions base;
    base.label_selector = options_.label_selector;
    base.field_selector = options_.field_selector;
    reflector_ = std::make_unique<client::Reflector>(*client_, base, options_.reflector, *this);
  }

  ~Core() override { Stop(); }

  void Start() {
    absl::MutexLock lock(&mu_);
    if (started_ || stopping_) return;
    started_ = true;
    dispatcher_ = std::thread([this] { Dispatch(); });
    reflector_thread_ = std::thread([this] { reflector_->Run(); });
  }

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    reflector_->Stop();
    absl::MutexLock join_lock(&join_mu_);
    if (reflector_thread_.joinable()) reflector_thread_.join();
    if (dispatcher_.joinable() && dispatcher_.get_id() != std::this_thread::get_id()) dispatcher_.join();
  }

  bool IsStopped() const {
    absl::MutexLock lock(&mu_);
    return stopping_;
  }

  bool HasSynced() const {
    absl::MutexLock lock(&mu_);
    return synced_;
  }

  bool WaitForCacheSync(absl::Time deadline) const {
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return synced_ || stopping_; };
    mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
    return synced_;
  }

  bool WaitForDelivery(absl::Time deadline) const {
    absl::MutexLock lock(&mu_);
    const uint64_t target = enqueued_;
    auto done = [this, target]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return delivered_ >= target || stopping_; };
    mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
    return delivered_ >= target;
  }

  uint64_t AddHandler(ResourceEventHandlerFuncs funcs, absl::Duration resync) {
    auto h = std::make_shared<Handler>();
    h->funcs = std::move(funcs);
    if (resync == absl::ZeroDuration()) resync = options_.resync_period;
    h->resync = resync > absl::ZeroDuration() ? resync : absl::ZeroDuration();
    absl::MutexLock lock(&mu_);
    h->id = next_id_++;
    if (synced_) {
      // Replay the cache to this handler alone, ahead of any later change.
      for (GpuPtr& obj : indexer_->List()) {
        EnqueueLocked(Notification{Notification::kAdd, nullptr, std::move(obj), true, h->id, 0});
      }
      EnqueueLocked(Notification{Notification::kSynced, nullptr, nullptr, false, h->id, 0});
    }
    // Otherwise the first list's notifications, broadcast after it, include this handler.
    handlers_[h->id] = h;
    return h->id;
  }

  void RemoveHandler(uint64_t id) {
    absl::MutexLock lock(&mu_);
    auto it = handlers_.find(id);
    if (it != handlers_.end()) {
      it->second->removed = true;
      handlers_.erase(it);
    }
    if (std::this_thread::get_id() == dispatcher_id_) return;
    auto idle = [this, id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return delivering_ != id; };
    mu_.Await(absl::Condition(&idle));
  }

  bool HandlerSynced(uint64_t id, absl::Time deadline) const {
    absl::MutexLock lock(&mu_);
    auto synced = [this, id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      if (stopping_) return true;
      auto it = handlers_.find(id);
      return it == handlers_.end() || it->second->synced;
    };
    mu_.AwaitWithDeadline(absl::Condition(&synced), deadline);
    auto it = handlers_.find(id);
    return it != handlers_.end() && it->second->synced;
  }

  absl::Status AddIndexers(const Indexers& indexers) { return indexer_->AddIndexers(indexers); }
  std::shared_ptr<const Indexer> indexer() const { return indexer_; }

  std::string LastSyncResourceVersion() const {
    absl::MutexLock lock(&mu_);
    return rv_;
  }

  InformerStats Stats() const {
    InformerStats s;
    {
      absl::MutexLock lock(&mu_);
      s = stats_;
    }
    reflector_->FillStats(s);
    return s;
  }

  // ---- ReflectorStore (reflector thread) ----
  bool Replace(std::vector<v1::Gpu> items, const std::string& rv) override {
    absl::MutexLock lock(&mu_);
    if (!rv_.empty() && client::ResourceVersionNewer(rv_, rv)) {
      ++stats_.stale_lists;
      return false;
    }
    ++stats_.lists;
    if (synced_) ++stats_.relists;
    std::map<std::string, GpuPtr> old;
    for (GpuPtr& o : indexer_->List()) old.emplace(ObjectKey(*o), std::move(o));
    const bool initial = !synced_;
    std::vector<GpuPtr> next;
    next.reserve(items.size());
    for (v1::Gpu& item : items) {
      auto obj = std::make_shared<const v1::Gpu>(std::move(item));
      auto it = old.find(ObjectKey(*obj));
      if (it == old.end()) {
        BroadcastLocked(Notification::kAdd, nullptr, obj, initial);
      } else {
        const GpuPtr& prev = it->second;
        const std::string& old_uid = prev->metadata().uid();
        const std::string& new_uid = obj->metadata().uid();
        if (!old_uid.empty() && !new_uid.empty() && old_uid != new_uid) {
          // Deleted and created again while we were not watching.
          BroadcastLocked(Notification::kDelete, nullptr, prev, true);
          BroadcastLocked(Notification::kAdd, nullptr, obj, false);
        } else if (prev->metadata().resource_version() != obj->metadata().resource_version()) {
          BroadcastLocked(Notification::kUpdate, prev, obj, false);
        } else {
          obj = prev;  // unchanged: keep the instance handlers have seen
        }
        old.erase(it);
      }
      next.push_back(std::move(obj));
    }
    for (auto& [key, prev] : old) BroadcastLocked(Notification::kDelete, nullptr, prev, true);
    indexer_->Replace(next);
    rv_ = rv;
    if (!synced_) {
      synced_ = true;
      BroadcastLocked(Notification::kSynced, nullptr, nullptr, false);
    }
    return true;
  }

  void Apply(WatchEvent event) override {
    absl::MutexLock lock(&mu_);
    if (event.type == EventType::kBookmark) {
      ++stats_.bookmarks;
      if (client::ResourceVersionNewer(event.resource_version(), rv_)) rv_ = event.resource_version();
      return;
    }
    if (!client::ResourceVersionNewer(event.resource_version(), rv_)) {
      ++stats_.stale_events;
      return;
    }
    ++stats_.events;
    rv_ = event.resource_version();
    auto obj = std::make_shared<const v1::Gpu>(std::move(event.object));
    const std::string key = ObjectKey(*obj);
    if (event.type == EventType::kDeleted) {
      if (GpuPtr prev = indexer_->Remove(key)) BroadcastLocked(Notification::kDelete, nullptr, obj, false);
      return;
    }
    if (GpuPtr prev = indexer_->Upsert(obj)) {
      BroadcastLocked(Notification::kUpdate, prev, obj, false);
    } else {
      BroadcastLocked(Notification::kAdd, nullptr, obj, false);
    }
  }

  std::string ResourceVersion() override { return LastSyncResourceVersion(); }

 private:
  struct Handler {
    uint64_t id = 0;
    ResourceEventHandlerFuncs funcs;
    absl::Duration resync = absl::ZeroDuration();  // zero: none
    absl::Time next_resync = absl::InfiniteFuture();
    bool synced = false;
    bool removed = false;
  };

  struct Notification {
    enum Kind { kAdd, kUpdate, kDelete, kSynced };
    Kind kind;
    GpuPtr old_obj;
    GpuPtr obj;
    bool flag;        // add: is_in_initial_list; delete: final_state_unknown
    uint64_t target;  // one handler, or 0: every handler with id <= max_id
    uint64_t max_id;
    uint64_t seq = 0;
  };

  void EnqueueLocked(Notification n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    n.seq = ++enqueued_;
    queue_.push_back(std::move(n));
  }

  void BroadcastLocked(Notification::Kind kind, GpuPtr old_obj, GpuPtr obj, bool flag)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    EnqueueLocked(Notification{kind, std::move(old_obj), std::move(obj), flag, 0, next_id_ - 1});
  }

  // The earliest resync due among synced handlers (InfiniteFuture: none).
  absl::Time NextResyncLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    absl::Time t = absl::InfiniteFuture();
    for (const auto& [id, h] : handlers_) {
      if (h->synced && h->resync > absl::ZeroDuration()) t = std::min(t, h->next_resync);
    }
    return t;
  }

  void Dispatch() {
    {
      absl::MutexLock lock(&mu_);
      dispatcher_id_ = std::this_thread::get_id();
    }
    for (;;) {
      std::vector<Notification> batch;
      {
        absl::MutexLock lock(&mu_);
        for (;;) {
          if (stopping_) return;
          if (!queue_.empty()) break;
          const absl::Time due = NextResyncLocked();
          if (due <= absl::Now()) break;
          auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); };
          mu_.AwaitWithDeadline(absl::Condition(&wake), due);
        }
        if (!queue_.empty()) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        } else {
          // Resync only with an empty queue: the cache then holds exactly what the handlers have
          // been told, so the replay cannot overtake a pending change.
          const absl::Time now = absl::Now();
          std::vector<GpuPtr> objs = indexer_->List();
          for (auto& [id, h] : handlers_) {
            if (!h->synced || h->resync <= absl::ZeroDuration() || h->next_resync > now) continue;
            h->next_resync = now + h->resync;
            for (const GpuPtr& o : objs)
              batch.push_back(Notification{Notification::kUpdate, o, o, false, id, 0});
          }
          ++stats_.resyncs;
        }
      }
      for (const Notification& n : batch) Deliver(n);
    }
  }

  void Deliver(const Notification& n) {
    std::vector<std::shared_ptr<Handler>> targets;
    {
      absl::MutexLock lock(&mu_);
      if (n.target != 0) {
        if (auto it = handlers_.find(n.target); it != handlers_.end()) targets.push_back(it->second);
      } else {
        for (auto it = handlers_.begin(); it != handlers_.end() && it->first <= n.max_id; ++it) {
          targets.push_back(it->second);
        }
      }
    }
    for (const auto& h : targets) {
      {
        absl::MutexLock lock(&mu_);
        if (h->removed || stopping_) continue;
        if (n.kind == Notification::kSynced) {
          h->synced = true;
          if (h->resync > absl::ZeroDuration()) h->next_resync = absl::Now() + h->resync;
          continue;
        }
        delivering_ = h->id;
        ++stats_.notifications;
      }
      switch (n.kind) {
        case Notification::kAdd:
          if (h->funcs.on_add) h->funcs.on_add(*n.obj, n.flag);
          break;
        case Notification::kUpdate:
          if (h->funcs.on_update) h->funcs.on_update(*n.old_obj, *n.obj);
          break;
        case Notification::kDelete:
          if (h->funcs.on_delete) h->funcs.on_delete(*n.obj, n.flag);
          break;
        case Notification::kSynced:
          break;
      }
      absl::MutexLock lock(&mu_);
      delivering_ = 0;
    }
    if (n.seq != 0) {
      absl::MutexLock lock(&mu_);
      delivered_ = n.seq;
    }
  }

  const GpuInterfacePtr client_;
  const InformerOptions options_;
  const IndexerPtr indexer_;
  std::unique_ptr<client::Reflector> reflector_;

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  std::string rv_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::shared_ptr<Handler>> handlers_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::deque<Notification> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t enqueued_ ABSL_GUARDED_BY(mu_) = 0;    // seq of the last notification queued
  uint64_t delivered_ ABSL_GUARDED_BY(mu_) = 0;   // seq of the last one delivered
  uint64_t delivering_ ABSL_GUARDED_BY(mu_) = 0;  // id of the handler running now (0: none)
  std::thread::id dispatcher_id_ ABSL_GUARDED_BY(mu_);
  InformerStats stats_ ABSL_GUARDED_BY(mu_);

  absl::Mutex join_mu_;  // serializes Stop()'s joins; never held with mu_
  std::thread dispatcher_;
  std::thread reflector_thread_;
};

namespace {

class Registration final : public EventHandlerRegistration {
 public:
  Registration(std::shared_ptr<GpuInformer::Core> core, uint64_t id) : core_(std::move(core)), id_(id) {}
  ~Registration() override { Remove(); }

  void Remove() override {
    if (removed_.exchange(true)) return;
    core_->RemoveHandler(id_);
  }
  bool HasSynced() const override { return WaitForSync(absl::InfinitePast()); }
  bool WaitForSync(absl::Time deadline) const override {
    if (removed_.load()) return false;
    return core_->HandlerSynced(id_, deadline);
  }

 private:
  const std::shared_ptr<GpuInformer::Core> core_;
  const uint64_t id_;
  std::atomic<bool> removed_{false};
};

}  // namespace

GpuInformer::GpuInformer(GpuInterfacePtr client, InformerOptions options)
    : core_(std::make_shared<Core>(std::move(client), std::move(options))) {}

GpuInformer::~GpuInformer() { core_->Stop(); }

void GpuInformer::Start() { core_->Start(); }
void GpuInformer::Stop() { core_->Stop(); }
bool GpuInformer::IsStopped() const { return core_->IsStopped(); }
bool GpuInformer::HasSynced() const { return core_->HasSynced(); }
bool GpuInformer::WaitForCacheSync(absl::Time deadline) const { return core_->WaitForCacheSync(deadline); }

EventHandlerRegistrationPtr GpuInformer::AddEventHandler(ResourceEventHandlerFuncs handlers,
                                                         absl::Duration resync_period) {
  uint64_t id = core_->AddHandler(std::move(handlers), resync_period);
  return std::make_unique<Registration>(core_, id);
}

absl::Status GpuInformer::AddIndexers(const Indexers& indexers) { return core_->AddIndexers(indexers); }
std::shared_ptr<const Indexer> GpuInformer::GetIndexer() const { return core_->indexer(); }
GpuLister GpuInformer::Lister() const { return GpuLister(core_->indexer()); }
std::string GpuInformer::LastSyncResourceVersion() const { return core_->LastSyncResourceVersion(); }
InformerStats GpuInformer::Stats() const { return core_->Stats(); }
bool GpuInformer::WaitForDelivery(absl::Time deadline) const { return core_->WaitForDelivery(deadline); }

}  // namespace deviceapi
