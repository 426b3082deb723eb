// Group commit, the durable half of the serving store (see serving_store.h): writers stage their
// change under the commit lock and return; the flusher thread syncs whatever is staged as one batch
// through the Persister, then publishes it (history, watchers, the visible snapshot) and answers its
// writers. Answers decided on staged state (a conflict, "already exists", a no-op) are deferred
// until that state is durable. Only a store opened with a persister runs this.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "storage/serving/serving_store.h"

namespace deviceapi::storage {

using ::deviceapi::common::ToStd;

absl::StatusOr<std::shared_ptr<ServingStore>> ServingStore::CreateWithPersister(
    const StoreConfig& config, std::unique_ptr<Persister> persister) {
  auto state = persister->Load();
  if (!state.ok()) return state.status();
  const uint64_t start_rv = std::max(state->last_rv, WallClockStartRv());
  if (auto s = persister->RecordRv(start_rv); !s.ok()) return s;
  auto history = persister->LoadHistory(config.history_size, config.history_age);
  if (!history.ok()) return history.status();
  SnapshotPtr snap = Snapshot::Empty(start_rv);
  for (const StoredPtr& obj : state->objects) {
    snap = snap->With(MakeKey(obj->metadata().namespace_(), obj->metadata().name()), obj, start_rv);
  }
  return std::make_shared<ServingStore>(config, start_rv, std::move(snap), std::move(persister), *history);
}

bool ServingStore::FlushWanted() const { return open_batch_ != nullptr || stopping_; }

void ServingStore::FlusherLoop() {
  absl::MutexLock l(&commit_mu_);
  while (true) {
    commit_mu_.Await(absl::Condition(this, &ServingStore::FlushWanted));
    if (!open_batch_) break;  // stopping, and nothing is staged
    AfterUnlock after;
    FlushLocked(&after);
    commit_mu_.Unlock();
    after.Run();
    commit_mu_.Lock();
  }
  // Nothing is staged, so nothing deferred can still be waiting for a sync.
  AfterUnlock after;
  for (auto& [rv, f] : deferred_) after.Add(std::move(f));
  deferred_.clear();
  commit_mu_.Unlock();
  after.Run();
  commit_mu_.Lock();
}

void ServingStore::FlushLocked(AfterUnlock* after) {
  std::shared_ptr<Batch> batch = std::move(open_batch_);
  open_batch_ = nullptr;
  std::vector<const Event*> events;
  events.reserve(batch->events.size());
  for (const auto& [key, ev] : batch->events) events.push_back(ev.get());
  // Writers keep staging into a new batch while this one syncs.
  commit_mu_.Unlock();
  absl::Status s = persister_->CommitBatch(events);
  commit_mu_.Lock();
  if (s.ok()) {
    std::vector<WatcherPtr> notify;
    for (auto& [key, ev] : batch->events) {
      history_.Append(ev);
      hub_.Publish(ev, &notify);
    }
    SetVisibleLocked(batch->after);
    WakeAfterUnlock(std::move(notify), after);
    for (auto& [done, obj] : batch->waiters) {
      after->Add([done = std::move(done), obj = std::move(obj)] { done(obj); });
    }
  } else {
    // What was staged after this batch was computed on top of it: it fails
    // too, and writers start again from the visible state.
    const absl::Status failed =
        absl::UnavailableError(common::Cat("storage: the change was not persisted: ", ToStd(s.message())));
    for (const auto& b : {batch, open_batch_}) {
      if (!b) continue;
      for (auto& [done, obj] : b->waiters) after->Add([done = std::move(done), failed] { done(failed); });
    }
    open_batch_ = nullptr;
    absl::MutexLock l(&snap_mu_);
    head_ = snapshot_;
    // Nothing staged is left and no failed RV was ever visible or
    // acknowledged: the next write takes the next RV, as if none had failed.
    last_rv_ = snapshot_->rv();
  }
  // Answers decided on state that is now durable (or that was dropped: they
  // stand as decided, and a retry sees the state as it is).
  const uint64_t visible = Current()->rv();
  auto keep = deferred_.begin();
  for (auto it = deferred_.begin(); it != deferred_.end(); ++it) {
    if (!s.ok() || it->first <= visible) {
      after->Add(std::move(it->second));
    } else {
      *keep++ = std::move(*it);
    }
  }
  deferred_.erase(keep, deferred_.end());
}

void ServingStore::SettleLocked(uint64_t decided_rv, std::function<void()> answer, AfterUnlock* after) {
  // An answer decided on staged (not yet durable) state waits for it: a
  // client told "conflict" or "already exists" must then be able to read the
  // state that caused it.
  if (persister_ && decided_rv > Current()->rv()) {
    deferred_.emplace_back(decided_rv, std::move(answer));
  } else {
    after->Add(std::move(answer));
  }
}

}  // namespace deviceapi::storage
