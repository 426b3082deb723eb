// The in-memory backend: copy-on-write snapshots for reads, one commit lock for
// writes, the history ring and the watch hub. It is also the serving layer
// that durable backends will persist through (a commit hook), so every
// backend shares these semantics.
#pragma once

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "storage/history_ring.h"
#include "storage/persister.h"
#include "storage/snapshot.h"
#include "storage/store.h"
#include "storage/watch_hub.h"

namespace deviceapi::storage {

class MemoryStore : public Store, public std::enable_shared_from_this<MemoryStore> {
 public:
  // `start_rv`: the first RV is start_rv + 1. A new in-memory store starts
  // above any RV an earlier process could have issued (wall clock in µs).
  static std::shared_ptr<MemoryStore> Create(const StoreConfig& config, uint64_t start_rv);
  static uint64_t WallClockStartRv();
  // A durable store: loads the persisted objects and starts the RV at
  // max(last persisted RV, wall clock µs) (recorded back to the persister), so
  // RVs keep increasing across restarts. The history ring starts empty: a
  // watch or Exact list from before the restart is OUT_OF_RANGE (except at
  // exactly the current RV), as with the memory backend. Every commit is
  // persisted before it is published.
  static absl::StatusOr<std::shared_ptr<MemoryStore>> CreateWithPersister(const StoreConfig& config,
                                                                          std::unique_ptr<Persister> persister);

  explicit MemoryStore(const StoreConfig& config, uint64_t start_rv);
  MemoryStore(const StoreConfig& config, uint64_t start_rv, SnapshotPtr initial, std::unique_ptr<Persister> persister);
  ~MemoryStore() override;

  absl::StatusOr<ObjectPtr> Get(const ObjectKey& key, std::string_view rv) override;
  absl::StatusOr<ListResult> List(const ListOptions& opts) override;
  absl::StatusOr<ObjectPtr> Create(v1::Gpu gpu) override;
  absl::StatusOr<ObjectPtr> Update(const ObjectKey& key, const UpdateFn& fn) override;
  absl::StatusOr<ObjectPtr> Delete(const ObjectKey& key, const DeletePreconditions& pre) override;
  absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(WatchOptions opts, WatchConsumer* consumer) override;
  uint64_t CurrentResourceVersion() override;
  StoreStats Stats() override;
  absl::Status Ready() override;
  void Shutdown() override;

 private:
  SnapshotPtr Current() const;
  // Commits `obj` at key under the commit lock (type kDeleted: removes key,
  // `obj` is the last state). Persists first: on a persist failure returns
  // UNAVAILABLE and leaves no trace (no RV consumed, no event, no history).
  absl::StatusOr<ObjectPtr> CommitLocked(const std::string& key, EventType type, std::shared_ptr<v1::Gpu> obj, ObjectPtr prev)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_);
  // The objects at exactly `rv`, rebuilt from the current snapshot and the
  // history; OUT_OF_RANGE when the history no longer reaches back to it.
  absl::StatusOr<std::vector<std::pair<std::string, ObjectPtr>>> StateAt(uint64_t rv, bool for_continue);
  absl::StatusOr<uint64_t> CheckNotAhead(std::string_view rv_string, uint64_t current) const;

  const StoreConfig config_;
  // Null for the pure in-memory backend. Used only under commit_mu_.
  const std::unique_ptr<Persister> persister_;

  // Serializes writers and orders them with watch registration.
  // Lock order: commit_mu_ -> snap_mu_, commit_mu_ -> hub's locks.
  absl::Mutex commit_mu_;
  HistoryRing history_ ABSL_GUARDED_BY(commit_mu_);

  // Guards only the pointer swap: readers never wait for a writer's work.
  mutable absl::Mutex snap_mu_;
  SnapshotPtr snapshot_ ABSL_GUARDED_BY(snap_mu_);

  WatchHub hub_;
  std::atomic<bool> shut_{false};
};

}  // namespace deviceapi::storage
