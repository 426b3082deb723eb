// One watch stream's server-side state: its filter, the initial backlog, a
// bounded queue of live events, and its end.
#ifndef DEVICEAPI_STORAGE_WATCHER_H_
#define DEVICEAPI_STORAGE_WATCHER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/event.h"
#include "storage/filter.h"

namespace deviceapi::storage {

// Implemented by whoever sends a watch's events (the gRPC stream reactor).
class WatchConsumer {
 public:
  virtual ~WatchConsumer() = default;
  // Something became available to Watcher::Next(), or the watch ended.
  // Called without any store or hub lock held, from any thread; must not block.
  virtual void OnWatchReady() = 0;
};

struct WatchItem {
  EventPtr event;
  EventType as;  // the type this watcher sees (selectors turn changes into enter/leave)
};

struct WatchOptions {
  Filter filter;
  // Replay every matching change after this RV, then go live.
  // nullopt: start from the current state instead.
  std::optional<uint64_t> resume_rv;
  // Without resume_rv: the state must be at least this fresh (else UNAVAILABLE).
  std::optional<uint64_t> not_older_than;
  // Without resume_rv: synthetic ADDED events for the current objects.
  bool initial_state = true;
  // End the initial state with a BOOKMARK annotated k8s.io/initial-events-end.
  bool initial_events_end = false;
  bool bookmarks = false;
  absl::Duration timeout = absl::ZeroDuration();  // zero: no timeout
};

// Thread-safe. Producers call Offer/End (WatchHub::Publish on the committing
// thread under the store's commit lock; the hub's thread for bookmarks and
// timeouts; the store when it ends every watch) and then Notify() with no
// lock held; the consumer calls Next/Cancel. The live queue is bounded: overflowing it ends the watch
// with RESOURCE_EXHAUSTED, so an event is either delivered or the stream ends.
class Watcher {
 public:
  // `min_rv`: the RV of the state the watcher starts from; every event at or
  // below it is in its initial backlog, so Offer() skips it.
  Watcher(WatchOptions opts, size_t queue_limit, absl::Time now, uint64_t min_rv);

  const WatchOptions& options() const { return opts_; }

  // ---- consumer side ----
  void SetConsumer(WatchConsumer* c);
  // Next item to send, or nullopt: then either ended() is set or the consumer
  // is notified (once) when an item arrives.
  std::optional<WatchItem> Next();
  // The status to end the stream with, once no item is left to send.
  std::optional<absl::Status> ended();
  // The consumer is going away: no more notifications. Blocks while a
  // notification is running; never call it from inside OnWatchReady.
  void Cancel();

  // ---- producer side (the hub) ----
  // Adds to the initial backlog (before the watcher is live). Not bounded.
  void AddInitial(WatchItem item);
  // Offers a committed event. Returns true if the consumer must be notified.
  bool Offer(const EventPtr& ev);
  // Queues a bookmark; returns true if the consumer must be notified.
  bool OfferBookmark(const EventPtr& bookmark);
  // Ends the watch (drops undelivered items). Returns true if the consumer
  // must be notified.
  bool End(absl::Status status);
  // Calls the consumer's OnWatchReady (without holding mu_).
  void Notify();

  bool cancelled();
  bool is_ended();
  uint64_t min_rv() const { return min_rv_; }
  absl::Time deadline() const { return deadline_; }
  // How many undelivered items the watch dropped when it was ended for being
  // too slow (0 otherwise).
  uint64_t dropped_on_eviction() ABSL_LOCKS_EXCLUDED(mu_);
  // Ended for being too slow (its queue overflowed), whether or not the
  // consumer has cancelled since.
  bool evicted() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  bool PushLocked(WatchItem item) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const WatchOptions opts_;
  const size_t queue_limit_;
  const absl::Time deadline_;
  const uint64_t min_rv_;  // events <= it are in the backlog

  absl::Mutex mu_;
  std::deque<WatchItem> initial_ ABSL_GUARDED_BY(mu_);
  std::deque<WatchItem> live_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> end_ ABSL_GUARDED_BY(mu_);
  bool armed_ ABSL_GUARDED_BY(mu_) = false;  // consumer waits for a notification
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  bool evicted_ ABSL_GUARDED_BY(mu_) = false;

  // Guards consumer_ across a notification so Cancel() can't race it.
  // Lock order: never take mu_ while holding consumer_mu_ is NOT required;
  // Notify() takes consumer_mu_ alone.
  absl::Mutex consumer_mu_;
  WatchConsumer* consumer_ ABSL_GUARDED_BY(consumer_mu_) = nullptr;
};

using WatcherPtr = std::shared_ptr<Watcher>;

// Maps a committed event to what a watcher with `filter` sees, if anything.
std::optional<EventType> VisibleAs(const Filter& filter, const Event& ev);

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_WATCHER_H_
