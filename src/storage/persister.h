// The durability hook under MemoryStore: a durable backend (SQLite) is the
// in-memory serving layer plus a Persister. The store calls Commit() under its
// commit lock before the change becomes visible anywhere (snapshot, history,
// watches); if it fails the write fails with UNAVAILABLE and nothing changes.
#ifndef DEVICEAPI_STORAGE_PERSISTER_H_
#define DEVICEAPI_STORAGE_PERSISTER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/event.h"

namespace deviceapi::storage {

struct PersistedState {
  std::vector<StoredPtr> objects;  // each carries the RV it was last written at
  uint64_t last_rv = 0;            // the highest RV ever committed (or recorded)
};

class Persister {
 public:
  virtual ~Persister() = default;
  // Reads every stored object and the last RV (start-up only).
  virtual absl::StatusOr<PersistedState> Load() = 0;
  // Durably records one change (kAdded/kModified: upsert ev.object; kDeleted:
  // remove the key of ev.object) together with ev.rv as the last RV. Called
  // under the store's commit lock, one at a time. Returns OK only once the
  // change is durable; any error leaves the stored state as it was.
  virtual absl::Status Commit(const Event& ev) = 0;
  // Durably records several changes (in RV order) with one sync: all of them
  // or none. This is what lets concurrent writers share one fsync (group
  // commit). The default commits them one by one (not atomic).
  virtual absl::Status CommitBatch(const std::vector<const Event*>& events) {
    for (const Event* ev : events) {
      if (absl::Status s = Commit(*ev); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  // The persisted event history, oldest first and gapless (every event after
  // front()->rv - 1), bounded like the store's history ring; each event
  // carries its prev. Empty when the backend keeps no history.
  virtual absl::StatusOr<std::vector<EventPtr>> LoadHistory(size_t max_events, absl::Duration max_age) {
    return std::vector<EventPtr>();
  }
  // Records `rv` as the last RV without an object change (the store's start
  // RV), so RVs never go back even if the wall clock does.
  virtual absl::Status RecordRv(uint64_t rv) = 0;
};

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_PERSISTER_H_
