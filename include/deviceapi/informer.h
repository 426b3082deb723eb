// Informers: a local, always-converging cache of the server's GPUs plus ordered change
// notifications (client-go SharedIndexInformer).
//
// A GpuInformer runs two threads:
//  - the reflector lists (paged) and then watches from the list's resource version with
//    bookmarks. A watch that ends for a transient reason (server timeout, slow watcher, broken
//    connection, server restart) is resumed from the last RV seen; one whose RV is gone
//    (OUT_OF_RANGE, 410) makes it relist. Failures back off exponentially (800 ms doubling to
//    30 s, jitter, reset after 2 min of health; all in ReflectorOptions). The cache never moves
//    to an older RV: stale events and a list older than the cache are dropped.
//  - the dispatcher calls the registered event handlers, one notification at a time, in the
//    order the cache changed. A queue sits between the two, so a slow handler never blocks the
//    watch (the queue grows instead).
//
// A relist is diffed against the cache: objects gone from the list are reported with OnDelete
// (last known state, final_state_unknown = true), changed ones with OnUpdate, new ones with
// OnAdd; an object whose uid changed (deleted and created again while disconnected) is reported
// as OnDelete then OnAdd. OnUpdate is only sent when the resource version differs (or on resync).
//
// Thread-safety: every public method may be called from any thread; see each method for
// blocking. Handlers run on the dispatcher thread; a handler may read the cache, add or remove
// registrations, but must not call Stop() or destroy the informer.
#ifndef DEVICEAPI_INFORMER_H_
#define DEVICEAPI_INFORMER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "deviceapi/clientset.h"
#include "deviceapi/indexer.h"
#include "deviceapi/lister.h"

namespace deviceapi {

// How the reflector talks to the server. Defaults are client-go's.
struct ReflectorOptions {
  int64_t page_size = 500;  // List page size (0: one unpaged list)
  // Each watch asks the server to end it after a random time in [min, max] (then it resumes).
  absl::Duration min_watch_timeout = absl::Minutes(5);
  absl::Duration max_watch_timeout = absl::Minutes(10);
  // Backoff between failed attempts: initial, doubled up to max, each sleep multiplied by a
  // random factor in [1, 1 + jitter); back to initial after `backoff_reset_after` of health.
  absl::Duration initial_backoff = absl::Milliseconds(800);
  absl::Duration max_backoff = absl::Seconds(30);
  double backoff_jitter = 1.0;
  absl::Duration backoff_reset_after = absl::Minutes(2);
  // Deadline of each List call (Stop() may wait for one in flight).
  absl::Duration list_timeout = absl::Seconds(30);
  // Seed of the jitter and watch-timeout randomness; 0: random.
  uint64_t seed = 0;
};

struct InformerOptions {
  // Restrict the cache (sent with every List and Watch).
  std::string label_selector;
  std::string field_selector;
  // Default resync period of handlers registered without one (zero: no resync). A resync
  // replays the cache to the handler as OnUpdate(obj, obj), without calling the server.
  absl::Duration resync_period = absl::ZeroDuration();
  Indexers indexers = DefaultIndexers();
  ReflectorOptions reflector;
};

// Callbacks; any may be empty. They run on the informer's dispatcher thread, one at a time.
struct ResourceEventHandlerFuncs {
  // `is_in_initial_list`: the object came from the first list, or from the replay of the cache
  // to a handler registered after it.
  std::function<void(const v1::Gpu& obj, bool is_in_initial_list)> on_add;
  std::function<void(const v1::Gpu& old_obj, const v1::Gpu& new_obj)> on_update;
  // `obj`: the last known state. final_state_unknown: the deletion was inferred from a relist
  // (it happened while the watch was down), so `obj` is the cached state, not the deleted one
  // (client-go DeletedFinalStateUnknown).
  std::function<void(const v1::Gpu& obj, bool final_state_unknown)> on_delete;
};

// Counters for tests and diagnostics (no metrics dependency).
struct InformerStats {
  uint64_t lists = 0;    // successful (complete) lists applied, the first included
  uint64_t relists = 0;  // lists after the first
  uint64_t list_errors = 0;
  uint64_t stale_lists = 0;  // lists dropped because older than the cache
  uint64_t watch_starts = 0;
  uint64_t watch_restarts = 0;  // watches resumed from the last RV after an end
  uint64_t watch_errors = 0;    // watches that ended with an error status
  uint64_t events = 0;          // watch events applied (bookmarks excluded)
  uint64_t stale_events = 0;    // events dropped because not newer than the cache
  uint64_t bookmarks = 0;
  uint64_t resyncs = 0;        // resync rounds delivered
  uint64_t notifications = 0;  // handler callbacks made
  absl::Status last_error;     // the last list/watch error
};

// Handed out by AddEventHandler; destroying it (or Remove()) unregisters the handler.
class EventHandlerRegistration {
 public:
  virtual ~EventHandlerRegistration() = default;
  // Unregisters. Called from any thread but the dispatcher's, it returns once the handler is not
  // running and will never run again; from a handler (dispatcher thread) it does not wait.
  // Idempotent.
  virtual void Remove() = 0;
  // True once the handler has been given the initial state (the first list, or the replay of
  // the cache when registered later).
  virtual bool HasSynced() const = 0;
  // Blocks until HasSynced() or `deadline`; returns HasSynced().
  virtual bool WaitForSync(absl::Time deadline) const = 0;
};
using EventHandlerRegistrationPtr = std::unique_ptr<EventHandlerRegistration>;

class GpuInformer {
 public:
  // `client` decides the namespace ("" = all). Nothing runs before Start().
  explicit GpuInformer(GpuInterfacePtr client, InformerOptions options = {});
  // Stop(). Must not run on the dispatcher thread.
  ~GpuInformer();
  GpuInformer(const GpuInformer&) = delete;
  GpuInformer& operator=(const GpuInformer&) = delete;

  // Starts the reflector and the dispatcher. Non-blocking; calls after the first are no-ops.
  void Start();
  // Stops both threads and joins them; undelivered notifications are dropped. Blocks (for at
  // most an in-flight List's deadline). Idempotent; Start() after Stop() does nothing.
  void Stop();
  bool IsStopped() const;

  // True once the first list was applied to the cache.
  bool HasSynced() const;
  // Blocks until HasSynced(), Stop(), or `deadline`; returns HasSynced().
  bool WaitForCacheSync(absl::Time deadline) const;

  // Registers `handlers`. Registered after the cache synced, the handler first gets OnAdd for
  // every cached object (in key order), then the live notifications, with nothing missed or
  // repeated in between. `resync_period`: zero uses InformerOptions::resync_period; negative
  // disables resync for this handler. Non-blocking.
  EventHandlerRegistrationPtr AddEventHandler(ResourceEventHandlerFuncs handlers,
                                              absl::Duration resync_period = absl::ZeroDuration());

  // Adds indexes to the cache (client-go AddIndexers); ALREADY_EXISTS for a taken name.
  absl::Status AddIndexers(const Indexers& indexers);

  // The cache (read-only) and a lister over it. Both stay valid after the informer is gone.
  std::shared_ptr<const Indexer> GetIndexer() const;
  GpuLister Lister() const;

  // RV of the cache: the last list or event (bookmarks included) applied; "" before the first.
  std::string LastSyncResourceVersion() const;
  InformerStats Stats() const;

  // Blocks until every notification queued so far was delivered (or Stop(), or `deadline`);
  // true when delivered. For tests and orderly hand-offs.
  bool WaitForDelivery(absl::Time deadline) const;

  class Core;

 private:
  std::shared_ptr<Core> core_;
};

using GpuInformerPtr = std::unique_ptr<GpuInformer>;

}  // namespace deviceapi

#endif  // DEVICEAPI_INFORMER_H_
