// The serving store: the one serving core every backend runs on. Copy-on-write
// snapshots for reads, one commit lock for writes, the history ring and the
// watch hub. Alone it is the memory:// backend; with a Persister it is the
// sqlite:// backend (group commit, group_commit.cc); in mirror mode it serves
// what another store commits (the etcd:// backend, mirror.cc). So every
// backend shares these semantics.
//
// Files: serving_store.cc (reads, writes, commit and publish, watches),
// group_commit.cc (staging, the flusher, deferred answers), mirror.cc (the
// mirror-mode API).
#ifndef DEVICEAPI_STORAGE_SERVING_SERVING_STORE_H_
#define DEVICEAPI_STORAGE_SERVING_SERVING_STORE_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "storage/after_unlock.h"
#include "storage/history_ring.h"
#include "storage/persister.h"
#include "storage/rv_mark.h"
#include "storage/snapshot.h"
#include "storage/store.h"
#include "storage/watch_hub.h"

namespace deviceapi::storage {

class ServingStore : public Store, public std::enable_shared_from_this<ServingStore> {
 public:
  // `start_rv`: the first RV is start_rv + 1. A new in-memory store starts
  // above any RV an earlier process could have issued (wall clock in µs).
  static std::shared_ptr<ServingStore> Create(const StoreConfig& config, uint64_t start_rv);
  // An in-memory store whose RVs never pass `mark` (rv_mark.h): a write that needs an RV above it
  // first moves the mark a window ahead, and fails with UNAVAILABLE (changing nothing) if the mark
  // cannot be recorded. The caller has reserved start_rv already (start_rv <= mark->mark()).
  static std::shared_ptr<ServingStore> Create(const StoreConfig& config, uint64_t start_rv,
                                              std::unique_ptr<RvMark> mark);
  static uint64_t WallClockStartRv();
  // A durable store: loads the persisted objects and starts the RV at
  // max(last persisted RV, wall clock µs) (recorded back to the persister), so
  // RVs keep increasing across restarts. The history ring is seeded with the
  // persisted history, so a watch or Exact list from an RV issued before the
  // restart resumes when it is still in the window. Every commit is persisted
  // before it is published, with group commit: writers stage their change
  // (visible to later writers only) and a flusher thread syncs whatever is
  // staged as one batch, so writers that arrive during a sync share the next
  // one; no writer's thread waits for a sync (see the *Async writes).
  static absl::StatusOr<std::shared_ptr<ServingStore>> CreateWithPersister(
      const StoreConfig& config, std::unique_ptr<Persister> persister);

  explicit ServingStore(const StoreConfig& config, uint64_t start_rv);
  ServingStore(const StoreConfig& config, uint64_t start_rv, SnapshotPtr initial,
               std::unique_ptr<Persister> persister, const std::vector<EventPtr>& history = {});
  ~ServingStore() override;

  absl::StatusOr<StoredPtr> Get(const ObjectKey& key, std::string_view rv) override;
  absl::StatusOr<ListResult> List(const ListOptions& opts) override;
  absl::StatusOr<StoredPtr> Create(v1::Gpu gpu) override;
  absl::StatusOr<StoredPtr> Update(const ObjectKey& key, const UpdateFn& fn) override;
  absl::StatusOr<StoredPtr> Delete(const ObjectKey& key, const DeletePreconditions& pre) override;
  // With a persister, `done` runs on the flusher thread once the change is
  // durable and visible (or its sync failed); without one, before these return.
  void CreateAsync(v1::Gpu gpu, WriteDone done) override;
  void UpdateAsync(const ObjectKey& key, UpdateFn fn, WriteDone done) override;
  void UpdateStoredAsync(const ObjectKey& key, StoredUpdateFn fn, WriteDone done) override;
  void DeleteAsync(const ObjectKey& key, const DeletePreconditions& pre, WriteDone done) override;
  absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(WatchOptions opts, WatchConsumer* consumer) override;
  uint64_t CurrentResourceVersion() override;
  StoreStats Stats() override;
  absl::Status Ready() override;
  void Shutdown() override;

  // ---- Mirror mode: the serving layer of a backend that commits elsewhere
  // and assigns the RVs itself (etcd). Its writes go to the backend; the
  // backend's change feed comes back through ApplyExternal(), so lists,
  // history, continue tokens and watches are this class's, unchanged.

  // One change the backend committed at `rv`. `object` (null: `key` was
  // deleted) is private to the call; its resource_version is stamped here.
  struct ExternalChange {
    std::string key;  // MakeKey(namespace, name)
    uint64_t rv = 0;
    std::shared_ptr<v1::Gpu> object;
  };
  // Applies committed changes in RV order as if they had been written here:
  // the snapshot, the history and every watch see them. The event type comes
  // from the current state (a put of an absent key is ADDED). Changes below
  // the current RV (already applied) and deletions of absent keys are
  // skipped. Several changes may share one RV (one multi-key transaction).
  void ApplyExternal(std::vector<ExternalChange> changes);
  // Moves the RV up to `rv` with no change (the backend's revision after a
  // relist). Never moves it back.
  void AdvanceTo(uint64_t rv);
  // From now on an RV below min(rv, current RV) is too old for watches, Exact
  // lists and continue tokens (the backend compacted it, or a relist left a
  // gap the history cannot replay). Never lowers the floor.
  void RaiseFloor(uint64_t rv);
  // Waits until the RV is at least `rv` (a write's revision is applied:
  // read-your-writes). False on timeout.
  bool WaitForRv(uint64_t rv, absl::Duration timeout);
  // Ends every open watch with `status` (the history can no longer give them
  // a gapless stream); new watches are still accepted.
  void EndWatches(const absl::Status& status);
  // The object at `key` (MakeKey) in the current snapshot, or null.
  StoredPtr Find(const std::string& key) const;
  size_t ObjectCount() const;

  // The Delete preconditions check shared with mirror-mode backends.
  static absl::Status CheckDeletePreconditions(const std::string& name, const v1::ObjectMeta& current,
                                               const DeletePreconditions& pre);

 private:
  SnapshotPtr Current() const;
  // What writers build on: Current() plus the staged (not yet durable)
  // changes. The same as Current() without a persister.
  SnapshotPtr Head() const;
  // Sets the visible snapshot (and the head, which equals it without a persister).
  void SetVisibleLocked(SnapshotPtr next) ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);
  // Queues `answer` (a write's error) to run once the state it was decided
  // on (up to `decided_rv`) is durable and visible: into `after` when it
  // already is, else until a flush.
  void SettleLocked(uint64_t decided_rv, std::function<void()> answer, AfterUnlock* after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);
  // Group commit, on the flusher thread: syncs the open batch (releasing
  // commit_mu_ meanwhile), then publishes it or, on failure, fails it and
  // everything staged after it; queues the writers' answers and the deferred
  // answers now due into `after`.
  void FlusherLoop();
  bool FlushWanted() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);
  void FlushLocked(AfterUnlock* after) ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);
  // Commits `obj` at key under the commit lock (type kDeleted: removes key,
  // `obj` is the last state). Without a persister it is published at once
  // and `done`'s answer queued into `after`; with one it is staged into the
  // open batch, `done` with it. A failed sync answers UNAVAILABLE and leaves
  // no trace (no RV consumed, no event, no history). `obj` is stamped with
  // the RV and serialized here (StoredObject::Commit).
  void CommitLocked(const std::string& key, EventType type, NextVersion obj, StoredPtr prev, WriteDone done,
                    AfterUnlock* after) ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);
  // The objects at exactly `rv`, rebuilt from the current snapshot and the
  // history; OUT_OF_RANGE when the history no longer reaches back to it.
  absl::StatusOr<std::vector<std::pair<std::string, StoredPtr>>> StateAt(uint64_t rv, bool for_continue);
  absl::StatusOr<uint64_t> CheckNotAhead(std::string_view rv_string, uint64_t current) const;
  // The oldest RV a watch can resume from (or an Exact list be rebuilt at).
  uint64_t OldestResumableLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);
  // Publishes `ev` at key: a transaction of one event (below).
  // The watchers to wake are woken from `after`.
  void PublishLocked(const std::string& key, EventPtr ev, const SnapshotPtr& cur, AfterUnlock* after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);
  // Publishes the events of one transaction (all at one RV, `next` the state with all of them) as
  // a unit: history, hub (one dispatch, so no bookmark falls between its events), then the snapshot
  // (one swap, so a List never sees part of it).
  void PublishTransactionLocked(const std::vector<EventPtr>& events, SnapshotPtr next, AfterUnlock* after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);
  // Queues the wake-up of `watchers` (that have new events) into `after`.
  static void WakeAfterUnlock(std::vector<WatcherPtr> watchers, AfterUnlock* after);

  const StoreConfig config_;
  // Null for the pure in-memory backend. Used only under commit_mu_.
  const std::unique_ptr<Persister> persister_;

  // Serializes writers and orders them with watch registration.
  // Lock order: commit_mu_ -> snap_mu_, commit_mu_ -> hub's locks.
  absl::Mutex commit_mu_;
  HistoryRing history_ ABSL_GUARDED_BY(commit_mu_);
  // Group commit state (durable backends only).
  struct Batch {
    std::vector<std::pair<std::string, EventPtr>> events;  // key, event; RV order
    SnapshotPtr after;                                     // the head after the last one
    std::vector<std::pair<WriteDone, StoredPtr>> waiters;  // answered when it is synced
  };
  std::shared_ptr<Batch> open_batch_ ABSL_GUARDED_BY(commit_mu_);
  // Answers waiting until an RV is durable: (RV, answer).
  std::vector<std::pair<uint64_t, std::function<void()>>> deferred_ ABSL_GUARDED_BY(commit_mu_);
  // The flusher thread is told to exit (the destructor).
  bool stopping_ ABSL_GUARDED_BY(commit_mu_) = false;
  std::thread flusher_;  // with a persister only
  // In-memory stores with a high-water mark file only (see Create).
  std::unique_ptr<RvMark> rv_mark_ ABSL_GUARDED_BY(commit_mu_);
  // The highest RV handed out (a failed batch gives its RVs back).
  uint64_t last_rv_ ABSL_GUARDED_BY(commit_mu_) = 0;
  // RaiseFloor()'s bound (0 unless a mirror-mode backend set it).
  uint64_t floor_ ABSL_GUARDED_BY(commit_mu_) = 0;
  // Every watcher handed out (for EndWatches); expired ones are pruned as it grows.
  std::vector<std::weak_ptr<Watcher>> watchers_ ABSL_GUARDED_BY(commit_mu_);
  size_t watchers_prune_at_ ABSL_GUARDED_BY(commit_mu_) = 64;

  // Guards only the pointer swap: readers never wait for a writer's work.
  mutable absl::Mutex snap_mu_;
  SnapshotPtr snapshot_ ABSL_GUARDED_BY(snap_mu_);
  SnapshotPtr head_ ABSL_GUARDED_BY(snap_mu_);

  WatchHub hub_;
  // Shutdown() was called: no new watches, Ready() fails.
  std::atomic<bool> shut_down_{false};
};

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_SERVING_SERVING_STORE_H_
