// The storage interface behind GpuService: objects, one global resource
// version, lists over consistent snapshots, and watches.
//
// Every backend (memory, SQLite, etcd) gives the same semantics; the
// conformance suite in tests/conformance runs against each of them.
#ifndef DEVICEAPI_STORAGE_STORE_H_
#define DEVICEAPI_STORAGE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apimachinery/resource_version.h"
#include "storage/event.h"
#include "storage/filter.h"
#include "storage/next_version.h"
#include "storage/watcher.h"

namespace deviceapi::storage {

struct ObjectKey {
  std::string ns;
  std::string name;
};

struct ListOptions {
  Filter filter;
  // The request's resource_version: "" = consistent latest, "0" = any,
  // N = at least N (or exactly N with match Exact).
  std::string resource_version;
  apimachinery::ResourceVersionMatch match = apimachinery::ResourceVersionMatch::kUnset;
  int64_t limit = 0;  // <= 0: no limit
  std::string continue_token;
};

struct ListResult {
  std::vector<StoredPtr> items;  // ordered by namespace, then name
  uint64_t rv = 0;               // the snapshot's RV
  std::string continue_token;    // empty on the last page
  int64_t remaining = -1;        // remaining_item_count, -1 when unknown
};

struct DeletePreconditions {
  std::optional<std::string> uid;
  std::optional<std::string> resource_version;
};

// Computes the next version of `current` (see NextVersion: owned, built with
// NewObject() so it lives on an arena of its own, or borrowed), or no change
// (a no-op commits nothing). May be called more than once when writers race.
using UpdateFn = std::function<absl::StatusOr<NextVersion>(const v1::Gpu& current)>;
// The same, given the stored version itself: its metadata and bytes are at
// hand without parsing the whole object (StoredObject::Object() parses it).
using StoredUpdateFn = std::function<absl::StatusOr<NextVersion>(const StoredObject& current)>;

// An empty object on an arena of its own: its fields are carved from one
// block instead of a few hundred separate allocations, and freed at once
// with the last reference. `like` (a previous version) sizes the block.
std::shared_ptr<v1::Gpu> NewObject(const v1::Gpu* like = nullptr);
// The same, sized for an object parsed from `serialized_bytes` bytes.
std::shared_ptr<v1::Gpu> NewObjectForParse(size_t serialized_bytes);
// A copy of `src` made with NewObject().
std::shared_ptr<v1::Gpu> CopyObject(const v1::Gpu& src);

// A write's outcome: the committed object (a delete: the deleted object with
// the deletion's RV) or the error.
using WriteResult = absl::StatusOr<StoredPtr>;
// Told a write's outcome exactly once, on the calling thread or later on
// another one (a durable backend answers once the change is synced, on its
// flusher thread). It must not wait for another write of the same store:
// that write may need the very thread it runs on.
using WriteDone = std::function<void(WriteResult)>;

// Starts an asynchronous write with `start` and waits for its outcome.
WriteResult AwaitWrite(const std::function<void(WriteDone)>& start);

struct StoreStats {
  uint64_t resource_version = 0;
  uint64_t objects = 0;
  uint64_t healthy = 0, unhealthy = 0, unknown = 0;
  uint64_t watchers = 0;
  uint64_t history_events = 0;
  uint64_t history_oldest_rv = 0;
};

// RAII: destroying it ends the watch's subscription.
class WatchHandle {
 public:
  virtual ~WatchHandle() = default;
  virtual Watcher& watcher() = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // rv: "" latest, "0" any, N not older than N (UNAVAILABLE if N is ahead).
  virtual absl::StatusOr<StoredPtr> Get(const ObjectKey& key, std::string_view rv) = 0;
  virtual absl::StatusOr<ListResult> List(const ListOptions& opts) = 0;
  // `gpu` is complete (defaulted and validated) except for resource_version.
  virtual absl::StatusOr<StoredPtr> Create(v1::Gpu gpu) = 0;
  virtual absl::StatusOr<StoredPtr> Update(const ObjectKey& key, const UpdateFn& fn) = 0;
  // Returns the deleted object carrying the deletion's RV.
  virtual absl::StatusOr<StoredPtr> Delete(const ObjectKey& key, const DeletePreconditions& pre) = 0;
  // The same writes, answered through `done` (see WriteDone) so a caller
  // need not hold a thread while a durable backend syncs. `fn` may be called
  // again after this returns (a retry): what it refers to must stay alive
  // until `done` runs. These defaults answer inline from the blocking calls.
  virtual void CreateAsync(v1::Gpu gpu, WriteDone done) { done(Create(std::move(gpu))); }
  virtual void UpdateAsync(const ObjectKey& key, UpdateFn fn, WriteDone done) { done(Update(key, fn)); }
  // An update whose function reads the stored version (see StoredUpdateFn).
  virtual void UpdateStoredAsync(const ObjectKey& key, StoredUpdateFn fn, WriteDone done) = 0;
  virtual void DeleteAsync(const ObjectKey& key, const DeletePreconditions& pre, WriteDone done) {
    done(Delete(key, pre));
  }
  // Starts a watch; `consumer` is told when events are ready (see Watcher).
  virtual absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(WatchOptions opts, WatchConsumer* consumer) = 0;

  virtual uint64_t CurrentResourceVersion() = 0;
  virtual StoreStats Stats() = 0;
  // OK once the store serves requests.
  virtual absl::Status Ready() = 0;
  // Ends every watch with UNAVAILABLE and refuses new ones; Ready() fails
  // from then on. Reads and writes keep working so in-flight calls drain.
  virtual void Shutdown() = 0;
};

using StorePtr = std::shared_ptr<Store>;

struct StoreConfig {
  size_t history_size = 10000;
  absl::Duration history_age = absl::Minutes(10);
  size_t watch_queue_size = 1000;
  absl::Duration bookmark_interval = absl::Seconds(10);
  size_t max_objects = 4096;
  std::function<void()> on_watcher_evicted;
  // memory:// only: the resource-version high-water mark file (rv_mark.h); empty: none (RVs start
  // from the wall clock and may go back across a restart if it does).
  std::string rv_mark_file;
};

// Opens the backend named by a --datastore-endpoint ("memory://").
absl::StatusOr<StorePtr> OpenStore(std::string_view endpoint, const StoreConfig& config);

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_STORE_H_
