#include "storage/memory/memory_store.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "apimachinery/conditions.h"
#include "common/strings.h"
#include "apimachinery/errors.h"
#include "storage/continue_token.h"

namespace deviceapi::storage {

namespace am = ::deviceapi::apimachinery;
using ::deviceapi::common::ToStd;

namespace {

// Retries of an optimistic update that lost a race to another writer.
constexpr int kMaxUpdateAttempts = 64;

class MemoryWatchHandle : public WatchHandle {
 public:
  MemoryWatchHandle(WatcherPtr w, std::weak_ptr<MemoryStore> store, WatchHub* hub)
      : w_(std::move(w)), store_(std::move(store)), hub_(hub) {}
  ~MemoryWatchHandle() override {
    w_->Cancel();
    if (auto s = store_.lock()) hub_->Wake();
  }
  Watcher& watcher() override { return *w_; }

 private:
  WatcherPtr w_;
  std::weak_ptr<MemoryStore> store_;
  WatchHub* hub_;
};

}  // namespace

uint64_t MemoryStore::WallClockStartRv() { return static_cast<uint64_t>(absl::ToUnixMicros(absl::Now())); }

std::shared_ptr<MemoryStore> MemoryStore::Create(const StoreConfig& config, uint64_t start_rv) {
  return std::make_shared<MemoryStore>(config, start_rv);
}

absl::StatusOr<std::shared_ptr<MemoryStore>> MemoryStore::CreateWithPersister(
    const StoreConfig& config, std::unique_ptr<Persister> persister) {
  auto state = persister->Load();
  if (!state.ok()) return state.status();
  const uint64_t start_rv = std::max(state->last_rv, WallClockStartRv());
  if (auto s = persister->RecordRv(start_rv); !s.ok()) return s;
  SnapshotPtr snap = Snapshot::Empty(start_rv);
  for (const ObjectPtr& obj : state->objects) {
    snap = snap->With(MakeKey(obj->metadata().namespace_(), obj->metadata().name()), obj, start_rv);
  }
  return std::make_shared<MemoryStore>(config, start_rv, std::move(snap), std::move(persister));
}

MemoryStore::MemoryStore(const StoreConfig& config, uint64_t start_rv)
    : MemoryStore(config, start_rv, Snapshot::Empty(start_rv), nullptr) {}

MemoryStore::MemoryStore(const StoreConfig& config, uint64_t start_rv, SnapshotPtr initial,
                         std::unique_ptr<Persister> persister)
    : config_(config),
      persister_(std::move(persister)),
      history_(config.history_size, config.history_age, start_rv),
      snapshot_(std::move(initial)),
      hub_(WatchHubOptions{config.bookmark_interval, config.on_watcher_evicted}) {}

MemoryStore::~MemoryStore() { Shutdown(); }

SnapshotPtr MemoryStore::Current() const {
  absl::MutexLock l(&snap_mu_);
  return snapshot_;
}

absl::StatusOr<uint64_t> MemoryStore::CheckNotAhead(std::string_view rv_string, uint64_t current) const {
  auto n = am::ParseResourceVersion(rv_string);
  if (!n.ok()) return n.status();
  if (*n > current) return am::TooLargeResourceVersionError(*n, current);
  return *n;
}

absl::StatusOr<ObjectPtr> MemoryStore::Get(const ObjectKey& key, std::string_view rv) {
  SnapshotPtr snap = Current();
  if (!rv.empty() && rv != "0") {
    auto n = CheckNotAhead(rv, snap->rv());
    if (!n.ok()) return n.status();
  }
  ObjectPtr obj = snap->Find(MakeKey(key.ns, key.name));
  if (!obj) return am::NotFoundError(key.name);
  return obj;
}

absl::StatusOr<std::vector<std::pair<std::string, ObjectPtr>>> MemoryStore::StateAt(uint64_t rv,
                                                                                      bool for_continue) {
  std::map<std::string, ObjectPtr> state;
  {
    absl::MutexLock l(&commit_mu_);
    SnapshotPtr snap = Current();
    if (rv > snap->rv()) return am::TooLargeResourceVersionError(rv, snap->rv());
    history_.Trim(absl::Now());
    if (rv < history_.compacted_rv()) {
      if (for_continue) return am::ExpiredContinueError();
      return am::TooOldResourceVersionError(rv, history_.compacted_rv());
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
  return std::vector<std::pair<std::string, ObjectPtr>>(state.begin(), state.end());
}

absl::StatusOr<ListResult> MemoryStore::List(const ListOptions& opts) {
  using Match = am::ResourceVersionMatch;
  std::vector<std::pair<std::string, ObjectPtr>> items;
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

absl::StatusOr<ObjectPtr> MemoryStore::CommitLocked(const std::string& key, EventType type,
                                                    std::shared_ptr<v1::Gpu> obj, ObjectPtr prev) {
  SnapshotPtr cur = Current();
  const uint64_t rv = cur->rv() + 1;
  // `obj` is private to this call until published: stamping it is no trace.
  obj->mutable_metadata()->set_resource_version(std::to_string(rv));
  ObjectPtr committed = std::move(obj);
  auto ev = std::make_shared<Event>();
  ev->rv = rv;
  ev->type = type;
  ev->object = committed;
  ev->prev = std::move(prev);
  ev->time = absl::Now();
  if (persister_) {
    if (absl::Status s = persister_->Commit(*ev); !s.ok()) {
      return absl::UnavailableError(common::Cat("storage: the change was not persisted: ", ToStd(s.message())));
    }
  }
  history_.Append(ev);
  hub_.Publish(ev);
  SnapshotPtr next = cur->With(key, type == EventType::kDeleted ? nullptr : committed, rv);
  absl::MutexLock l(&snap_mu_);
  snapshot_ = std::move(next);
  return committed;
}

absl::StatusOr<ObjectPtr> MemoryStore::Create(v1::Gpu gpu) {
  const std::string key = MakeKey(gpu.metadata().namespace_(), gpu.metadata().name());
  auto obj = std::make_shared<v1::Gpu>(std::move(gpu));
  absl::MutexLock l(&commit_mu_);
  SnapshotPtr cur = Current();
  if (cur->Find(key)) return am::AlreadyExistsError(obj->metadata().name());
  if (cur->size() >= config_.max_objects) return am::TooManyObjectsError(config_.max_objects);
  return CommitLocked(key, EventType::kAdded, std::move(obj), nullptr);
}

absl::StatusOr<ObjectPtr> MemoryStore::Update(const ObjectKey& key, const UpdateFn& fn) {
  const std::string k = MakeKey(key.ns, key.name);
  for (int attempt = 0; attempt < kMaxUpdateAttempts; ++attempt) {
    ObjectPtr cur = Current()->Find(k);
    if (!cur) return am::NotFoundError(key.name);
    auto next = fn(*cur);
    if (!next.ok()) return next.status();
    if (!next->has_value()) return cur;  // no-op: nothing committed
    auto obj = std::make_shared<v1::Gpu>(std::move(**next));
    absl::MutexLock l(&commit_mu_);
    if (Current()->Find(k) != cur) continue;  // lost a race: recompute from the new state
    return CommitLocked(k, EventType::kModified, std::move(obj), cur);
  }
  return am::ConflictError(key.name);
}

absl::StatusOr<ObjectPtr> MemoryStore::Delete(const ObjectKey& key, const DeletePreconditions& pre) {
  const std::string k = MakeKey(key.ns, key.name);
  absl::MutexLock l(&commit_mu_);
  ObjectPtr cur = Current()->Find(k);
  if (!cur) return am::NotFoundError(key.name);
  const auto& md = cur->metadata();
  if (pre.uid && *pre.uid != md.uid()) {
    return am::PreconditionError(key.name,
                                 absl::StrCat("UID in precondition: ", *pre.uid, ", UID in object meta: ", md.uid()));
  }
  if (pre.resource_version && *pre.resource_version != md.resource_version()) {
    return am::PreconditionError(key.name, absl::StrCat("ResourceVersion in precondition: ", *pre.resource_version,
                                                        ", ResourceVersion in object meta: ", md.resource_version()));
  }
  return CommitLocked(k, EventType::kDeleted, std::make_shared<v1::Gpu>(*cur), cur);
}

absl::StatusOr<std::unique_ptr<WatchHandle>> MemoryStore::Watch(WatchOptions opts, WatchConsumer* consumer) {
  const absl::Time now = absl::Now();
  absl::MutexLock l(&commit_mu_);
  if (shut_) return am::ShuttingDownError();
  SnapshotPtr snap = Current();
  const uint64_t cur = snap->rv();
  auto w = std::make_shared<Watcher>(std::move(opts), config_.watch_queue_size, now);
  const WatchOptions& o = w->options();
  if (o.resume_rv) {
    const uint64_t from = *o.resume_rv;
    if (from > cur) return am::TooLargeResourceVersionError(from, cur);
    history_.Trim(now);
    if (from < history_.compacted_rv()) return am::TooOldResourceVersionError(from, history_.compacted_rv());
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
  w->set_min_rv(cur);
  w->SetConsumer(consumer);
  if (!hub_.Register(w)) return am::ShuttingDownError();
  return std::unique_ptr<WatchHandle>(new MemoryWatchHandle(w, weak_from_this(), &hub_));
}

uint64_t MemoryStore::CurrentResourceVersion() { return Current()->rv(); }

StoreStats MemoryStore::Stats() {
  StoreStats s;
  SnapshotPtr snap = Current();
  s.resource_version = snap->rv();
  s.objects = snap->size();
  snap->ForEach([&s](const ObjectPtr& o) {
    switch (am::GpuHealth(*o)) {
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

absl::Status MemoryStore::Ready() {
  if (shut_) return am::ShuttingDownError();
  return absl::OkStatus();
}

void MemoryStore::Shutdown() {
  {
    absl::MutexLock l(&commit_mu_);
    shut_ = true;
  }
  hub_.Shutdown(am::ShuttingDownError());
}

}  // namespace deviceapi::storage
