#include "storage/serving/serving_store.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "apimachinery/conditions.h"
#include "apimachinery/errors.h"
#include "common/strings.h"
#include "storage/continue_token.h"

namespace deviceapi::storage {

namespace am = ::deviceapi::apimachinery;

namespace {

// Retries of an optimistic update that lost a race to another writer.
constexpr int kMaxUpdateAttempts = 64;

class ServingWatchHandle : public WatchHandle {
 public:
  ServingWatchHandle(WatcherPtr w, std::weak_ptr<ServingStore> store, WatchHub* hub)
      : w_(std::move(w)), store_(std::move(store)), hub_(hub) {}
  ~ServingWatchHandle() override {
    w_->Cancel();
    if (auto s = store_.lock()) hub_->Wake();
  }
  Watcher& watcher() override { return *w_; }

 private:
  WatcherPtr w_;
  std::weak_ptr<ServingStore> store_;
  WatchHub* hub_;
};

}  // namespace

uint64_t ServingStore::WallClockStartRv() { return static_cast<uint64_t>(absl::ToUnixMicros(absl::Now())); }

std::shared_ptr<ServingStore> ServingStore::Create(const StoreConfig& config, uint64_t start_rv) {
  return std::make_shared<ServingStore>(config, start_rv);
}

std::shared_ptr<ServingStore> ServingStore::Create(const StoreConfig& config, uint64_t start_rv,
                                                   std::unique_ptr<RvMark> mark) {
  auto store = std::make_shared<ServingStore>(config, start_rv);
  absl::MutexLock l(&store->commit_mu_);
  store->rv_mark_ = std::move(mark);
  return store;
}

ServingStore::ServingStore(const StoreConfig& config, uint64_t start_rv)
    : ServingStore(config, start_rv, Snapshot::Empty(start_rv), nullptr) {}

ServingStore::ServingStore(const StoreConfig& config, uint64_t start_rv, SnapshotPtr initial,
                           std::unique_ptr<Persister> persister, const std::vector<EventPtr>& history)
    : config_(config),
      persister_(std::move(persister)),
      // A persisted history is gapless from its first event: every RV from
      // just before it is resumable (the RVs after its last event up to
      // start_rv carry no change).
      history_(config.history_size, config.history_age,
               history.empty() ? start_rv : std::min(start_rv, history.front()->rv - 1)),
      last_rv_(start_rv),
      snapshot_(initial),
      head_(initial),
      hub_(WatchHubOptions{config.bookmark_interval, config.on_watcher_evicted}) {
  {
    absl::MutexLock l(&commit_mu_);
    for (const EventPtr& ev : history) {
      if (ev->rv <= start_rv) history_.Append(ev);
    }
  }
  if (persister_) flusher_ = std::thread([this] { FlusherLoop(); });
}

ServingStore::~ServingStore() {
  Shutdown();
  if (flusher_.joinable()) {
    {
      absl::MutexLock l(&commit_mu_);
      stopping_ = true;
    }
    flusher_.join();
  }
}

SnapshotPtr ServingStore::Current() const {
  absl::MutexLock l(&snap_mu_);
  return snapshot_;
}

SnapshotPtr ServingStore::Head() const {
  absl::MutexLock l(&snap_mu_);
  return head_;
}

void ServingStore::SetVisibleLocked(SnapshotPtr next) {
  absl::MutexLock l(&snap_mu_);
  // Staged changes are always above the visible RV; without a persister
  // nothing is ever staged.
  if (!persister_ || head_->rv() <= next->rv()) head_ = next;
  snapshot_ = std::move(next);
}

absl::StatusOr<uint64_t> ServingStore::CheckNotAhead(std::string_view rv_string, uint64_t current) const {
  auto n = am::ParseResourceVersion(rv_string);
  if (!n.ok()) return n.status();
  if (*n > current) return am::TooLargeResourceVersionError(*n, current);
  return *n;
}

absl::StatusOr<StoredPtr> ServingStore::Get(const ObjectKey& key, std::string_view rv) {
  SnapshotPtr snap = Current();
  if (!rv.empty() && rv != "0") {
    auto n = CheckNotAhead(rv, snap->rv());
    if (!n.ok()) return n.status();
  }
  StoredPtr obj = snap->Find(MakeKey(key.ns, key.name));
  if (!obj) return am::NotFoundError(key.name);
  return obj;
}

absl::StatusOr<std::vector<std::pair<std::string, StoredPtr>>> ServingStore::StateAt(uint64_t rv,
                                                                                     bool for_continue) {
  std::map<std::string, StoredPtr> state;
  {
    absl::MutexLock l(&commit_mu_);
    SnapshotPtr snap = Current();
    if (rv > snap->rv()) return am::TooLargeResourceVersionError(rv, snap->rv());
    history_.Trim(absl::Now());
    if (const uint64_t oldest = OldestResumableLocked(); rv < oldest) {
      if (for_continue) return am::ExpiredContinueError();
      return am::TooOldResourceVersionError(rv, oldest);
    }
    for (const auto* e : snap->Sorted()) state.emplace(e->key, e->object);
    // Undo, newest first, every change made after rv.
    history_.ForEachNewestFirst(rv, [&](const Event& ev) {
      const auto& md = (ev.prev ? ev.prev : ev.object)->metadata();
      const std::string key = MakeKey(md.namespace_(), md.name());
      if (ev.type == EventType::kAdded) {
        state.erase(key);
      } else {
        state[key] = ev.prev;
      }
    });
  }
  return std::vector<std::pair<std::string, StoredPtr>>(state.begin(), state.end());
}

absl::StatusOr<ListResult> ServingStore::List(const ListOptions& opts) {
  using Match = am::ResourceVersionMatch;
  std::vector<std::pair<std::string, StoredPtr>> items;
  ListResult out;
  std::string start_after;
  if (!opts.continue_token.empty()) {
    if (!opts.resource_version.empty()) {
      return am::BadRequestError("specifying resource version is not allowed when using continue");
    }
    if (opts.match != Match::kUnset) {
      return am::BadRequestError("resourceVersionMatch is forbidden when using continue");
    }
    auto tok = DecodeContinueToken(opts.continue_token);
    if (!tok.ok()) return tok.status();
    if (tok->rv > CurrentResourceVersion()) {
      return am::BadRequestError("continue key is not valid: resource version is in the future");
    }
    auto state = StateAt(tok->rv, /*for_continue=*/true);
    if (!state.ok()) return state.status();
    items = std::move(*state);
    out.rv = tok->rv;
    start_after = tok->start_after;
  } else {
    if (opts.match != Match::kUnset && opts.resource_version.empty()) {
      return am::BadRequestError("resourceVersionMatch is forbidden unless resourceVersion is provided");
    }
    if (opts.match == Match::kExact && opts.resource_version == "0") {
      return am::BadRequestError("resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"");
    }
    SnapshotPtr snap = Current();
    uint64_t wanted = 0;
    if (!opts.resource_version.empty() && opts.resource_version != "0") {
      auto n = CheckNotAhead(opts.resource_version, snap->rv());
      if (!n.ok()) return n.status();
      wanted = *n;
    }
    if (opts.match == Match::kExact && wanted != snap->rv()) {
      auto state = StateAt(wanted, /*for_continue=*/false);
      if (!state.ok()) return state.status();
      items = std::move(*state);
      out.rv = wanted;
    } else {
      auto sorted = snap->Sorted();
      items.reserve(sorted.size());
      for (const auto* e : sorted) items.emplace_back(e->key, e->object);
      out.rv = snap->rv();
    }
  }

  const int64_t limit = opts.limit > 0 ? opts.limit : INT64_MAX;
  auto it = items.begin();
  if (!start_after.empty()) {
    it = std::upper_bound(items.begin(), items.end(), start_after,
                          [](const std::string& k, const auto& p) { return k < p.first; });
  }
  for (; it != items.end(); ++it) {
    if (!opts.filter.Matches(*it->second)) continue;
    if (static_cast<int64_t>(out.items.size()) == limit) break;
    out.items.push_back(it->second);
  }
  if (it != items.end()) {
    // A page ended with more matching objects left: hand out a token for the
    // rest of this same snapshot.
    int64_t remaining = 0;
    for (auto r = it; r != items.end(); ++r) remaining += opts.filter.Matches(*r->second) ? 1 : 0;
    if (remaining > 0) {
      const auto& last = out.items.back()->metadata();
      out.continue_token = EncodeContinueToken({out.rv, MakeKey(last.namespace_(), last.name())});
      out.remaining = remaining;
    }
  }
  return out;
}

void ServingStore::WakeAfterUnlock(std::vector<WatcherPtr> watchers, AfterUnlock* after) {
  if (watchers.empty()) return;
  // Outside every lock: a consumer may start a write on its stream right away.
  after->Add([watchers = std::move(watchers)] {
    for (const auto& w : watchers) w->Notify();
  });
}

void ServingStore::CommitLocked(const std::string& key, EventType type, NextVersion obj, StoredPtr prev,
                                WriteDone done, AfterUnlock* after) {
  SnapshotPtr cur = Head();
  const uint64_t rv = std::max(last_rv_, cur->rv()) + 1;
  if (rv_mark_ && rv > rv_mark_->mark()) {
    // One fsync per window of RVs; until it is recorded, the RV is not handed out.
    if (absl::Status s = rv_mark_->Reserve(rv - 1 + rv_mark_->window()); !s.ok()) {
      after->Add([done = std::move(done), s = std::move(s)] { done(s); });
      return;
    }
  }
  last_rv_ = rv;
  // `obj` is private to this call until published: stamping it is no trace.
  obj->mutable_metadata()->set_resource_version(std::to_string(rv));
  StoredPtr committed = StoredObject::Commit(std::move(obj));
  auto ev = std::make_shared<Event>();
  ev->rv = rv;
  ev->type = type;
  ev->object = committed;
  ev->prev = std::move(prev);
  ev->time = absl::Now();
  if (!persister_) {
    PublishLocked(key, std::move(ev), cur, after);
    after->Add([done = std::move(done), committed = std::move(committed)] { done(committed); });
    return;
  }
  // Stage: later writers build on this change; readers and watchers see it
  // only once the flusher has made it durable, and only then is `done` told.
  SnapshotPtr next = cur->With(key, type == EventType::kDeleted ? nullptr : committed, rv);
  {
    absl::MutexLock l(&snap_mu_);
    head_ = next;
  }
  if (!open_batch_) open_batch_ = std::make_shared<Batch>();
  open_batch_->events.emplace_back(key, std::move(ev));
  open_batch_->after = std::move(next);
  open_batch_->waiters.emplace_back(std::move(done), std::move(committed));
}

void ServingStore::PublishLocked(const std::string& key, EventPtr ev, const SnapshotPtr& cur,
                                 AfterUnlock* after) {
  SnapshotPtr next = cur->With(key, ev->type == EventType::kDeleted ? nullptr : ev->object, ev->rv);
  PublishTransactionLocked({std::move(ev)}, std::move(next), after);
}

void ServingStore::PublishTransactionLocked(const std::vector<EventPtr>& events, SnapshotPtr next,
                                            AfterUnlock* after) {
  for (const EventPtr& ev : events) history_.Append(ev);
  std::vector<WatcherPtr> notify;
  hub_.PublishAll(events, &notify);
  SetVisibleLocked(std::move(next));
  WakeAfterUnlock(std::move(notify), after);
}

uint64_t ServingStore::OldestResumableLocked() const {
  // The floor never hides the current RV: a client that is up to date has
  // missed nothing, whatever the backend compacted.
  return std::max(history_.compacted_rv(), std::min(floor_, Current()->rv()));
}

absl::StatusOr<StoredPtr> ServingStore::Create(v1::Gpu gpu) {
  return AwaitWrite([&](WriteDone done) { CreateAsync(std::move(gpu), std::move(done)); });
}

absl::StatusOr<StoredPtr> ServingStore::Update(const ObjectKey& key, const UpdateFn& fn) {
  return AwaitWrite([&](WriteDone done) { UpdateAsync(key, fn, std::move(done)); });
}

absl::StatusOr<StoredPtr> ServingStore::Delete(const ObjectKey& key, const DeletePreconditions& pre) {
  return AwaitWrite([&](WriteDone done) { DeleteAsync(key, pre, std::move(done)); });
}

namespace {

std::function<void()> Answer(WriteDone done, absl::Status error) {
  return [done = std::move(done), error = std::move(error)] { done(error); };
}

}  // namespace

void ServingStore::CreateAsync(v1::Gpu gpu, WriteDone done) {
  const std::string key = MakeKey(gpu.metadata().namespace_(), gpu.metadata().name());
  auto obj = CopyObject(gpu);  // onto an arena of its own
  AfterUnlock after;
  {
    absl::MutexLock l(&commit_mu_);
    SnapshotPtr cur = Head();
    if (cur->Find(key)) {
      SettleLocked(cur->rv(), Answer(std::move(done), am::AlreadyExistsError(obj->metadata().name())),
                   &after);
    } else if (cur->size() >= config_.max_objects) {
      SettleLocked(cur->rv(), Answer(std::move(done), am::TooManyObjectsError(config_.max_objects)), &after);
    } else {
      CommitLocked(key, EventType::kAdded, std::move(obj), nullptr, std::move(done), &after);
    }
  }
  after.Run();
}

void ServingStore::UpdateAsync(const ObjectKey& key, UpdateFn fn, WriteDone done) {
  UpdateStoredAsync(
      key, [fn = std::move(fn)](const StoredObject& cur) { return fn(*cur.Object()); }, std::move(done));
}

void ServingStore::UpdateStoredAsync(const ObjectKey& key, StoredUpdateFn fn, WriteDone done) {
  const std::string k = MakeKey(key.ns, key.name);
  // Every answer is queued in `after` and runs when this returns, after the
  // lock of the branch that decided it is released.
  AfterUnlock after;
  for (int attempt = 0; attempt < kMaxUpdateAttempts; ++attempt) {
    SnapshotPtr head = Head();
    StoredPtr cur = head->Find(k);
    if (!cur) {
      absl::MutexLock l(&commit_mu_);
      SettleLocked(head->rv(), Answer(std::move(done), am::NotFoundError(key.name)), &after);
      return;
    }
    auto next = fn(*cur);
    if (!next.ok()) {
      absl::MutexLock l(&commit_mu_);
      SettleLocked(head->rv(), Answer(std::move(done), next.status()), &after);
      return;
    }
    if (*next == nullptr) {
      // No-op: nothing committed. Answer only with durable state: if `cur`
      // is still staged, look again once its batch is synced.
      absl::MutexLock l(&commit_mu_);
      SnapshotPtr visible = Current();
      if (visible->Find(k) == cur) {
        after.Add([done = std::move(done), cur = std::move(cur)] { done(cur); });
        return;
      }
      const uint64_t cur_rv = am::ParseResourceVersion(cur->metadata().resource_version()).value_or(0);
      if (persister_ && cur_rv > visible->rv()) {
        deferred_.emplace_back(cur_rv, [this, key, fn = std::move(fn), done = std::move(done)]() mutable {
          UpdateStoredAsync(key, std::move(fn), std::move(done));
        });
        return;
      }
      continue;  // it changed meanwhile: recompute
    }
    absl::MutexLock l(&commit_mu_);
    if (Head()->Find(k) != cur) continue;  // lost a race: recompute from the new state
    CommitLocked(k, EventType::kModified, std::move(*next), cur, std::move(done), &after);
    return;
  }
  done(am::ConflictError(key.name));  // every attempt lost a race
}

void ServingStore::DeleteAsync(const ObjectKey& key, const DeletePreconditions& pre, WriteDone done) {
  const std::string k = MakeKey(key.ns, key.name);
  AfterUnlock after;
  {
    absl::MutexLock l(&commit_mu_);
    SnapshotPtr head = Head();
    StoredPtr cur = head->Find(k);
    if (!cur) {
      SettleLocked(head->rv(), Answer(std::move(done), am::NotFoundError(key.name)), &after);
    } else if (auto s = CheckDeletePreconditions(key.name, cur->metadata(), pre); !s.ok()) {
      SettleLocked(head->rv(), Answer(std::move(done), std::move(s)), &after);
    } else {
      CommitLocked(k, EventType::kDeleted, CopyObject(*cur->Object()), cur, std::move(done), &after);
    }
  }
  after.Run();
}

absl::StatusOr<std::unique_ptr<WatchHandle>> ServingStore::Watch(WatchOptions opts, WatchConsumer* consumer) {
  const absl::Time now = absl::Now();
  absl::MutexLock l(&commit_mu_);
  if (shut_down_) return am::ShuttingDownError();
  SnapshotPtr snap = Current();
  const uint64_t cur = snap->rv();
  auto w = std::make_shared<Watcher>(std::move(opts), config_.watch_queue_size, now, cur);
  const WatchOptions& o = w->options();
  if (o.resume_rv) {
    const uint64_t from = *o.resume_rv;
    if (from > cur) return am::TooLargeResourceVersionError(from, cur);
    history_.Trim(now);
    if (const uint64_t oldest = OldestResumableLocked(); from < oldest) {
      return am::TooOldResourceVersionError(from, oldest);
    }
    for (const EventPtr& ev : history_.Since(from)) {
      if (auto as = VisibleAs(o.filter, *ev)) w->AddInitial(WatchItem{ev, *as});
    }
  } else {
    if (o.not_older_than && *o.not_older_than > cur) {
      return am::TooLargeResourceVersionError(*o.not_older_than, cur);
    }
    if (o.initial_state) {
      for (const auto* e : snap->Sorted()) {
        if (!o.filter.Matches(*e->object)) continue;
        auto ev = std::make_shared<Event>();
        ev->rv = cur;
        ev->type = EventType::kAdded;
        ev->object = e->object;
        w->AddInitial(WatchItem{std::move(ev), EventType::kAdded});
      }
    }
    if (o.initial_events_end) w->AddInitial(WatchItem{MakeBookmark(cur, true), EventType::kBookmark});
  }
  w->SetConsumer(consumer);
  if (!hub_.Register(w)) return am::ShuttingDownError();
  if (watchers_.size() >= watchers_prune_at_) {
    watchers_.erase(
        std::remove_if(watchers_.begin(), watchers_.end(), [](const auto& p) { return p.expired(); }),
        watchers_.end());
    watchers_prune_at_ = std::max<size_t>(64, 2 * watchers_.size());
  }
  watchers_.push_back(w);
  return std::unique_ptr<WatchHandle>(new ServingWatchHandle(w, weak_from_this(), &hub_));
}

uint64_t ServingStore::CurrentResourceVersion() { return Current()->rv(); }

StoreStats ServingStore::Stats() {
  StoreStats s;
  SnapshotPtr snap = Current();
  s.resource_version = snap->rv();
  s.objects = snap->size();
  snap->ForEach([&s](const StoredPtr& o) {
    switch (o->health()) {
      case am::Health::kHealthy:
        ++s.healthy;
        break;
      case am::Health::kUnhealthy:
        ++s.unhealthy;
        break;
      case am::Health::kUnknown:
        ++s.unknown;
        break;
    }
  });
  s.watchers = hub_.active();
  absl::MutexLock l(&commit_mu_);
  s.history_events = history_.size();
  s.history_oldest_rv = history_.size() ? history_.oldest_rv() : snap->rv();
  return s;
}

absl::Status ServingStore::Ready() {
  if (shut_down_) return am::ShuttingDownError();
  return absl::OkStatus();
}

void ServingStore::Shutdown() {
  {
    absl::MutexLock l(&commit_mu_);
    shut_down_ = true;
  }
  hub_.Shutdown(am::ShuttingDownError());
}

}  // namespace deviceapi::storage
