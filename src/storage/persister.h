// The durability hook under ServingStore: a durable backend (SQLite) is the
// serving store plus a Persister. Writers stage their changes under the
// commit lock; the store's flusher thread hands the staged batch to
// CommitBatch() with the commit lock RELEASED (writers keep staging behind
// it), and only after it succeeded does the batch become visible anywhere
// (snapshot, history, watches); if it fails, the batch's writes and those
// staged on top of it fail with UNAVAILABLE and nothing changes. See
// serving/group_commit.cc.
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
  // one at a time (from the flusher thread, without the store's commit lock).
  // Returns OK only once the change is durable; any error leaves the stored
  // state as it was.
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
