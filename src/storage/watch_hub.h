// Fans committed events out to every watcher without ever blocking a writer.
#ifndef DEVICEAPI_STORAGE_WATCH_HUB_H_
#define DEVICEAPI_STORAGE_WATCH_HUB_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/event.h"
#include "storage/watcher.h"

namespace deviceapi::storage {

struct WatchHubOptions {
  absl::Duration bookmark_interval = absl::Seconds(10);
  std::function<void()> on_evicted;  // a watcher was ended for being too slow
};

// Writers Publish() events in RV order (under the store's commit lock): the
// event is filtered for every watcher and enqueued on that watcher's bounded
// queue right there, on the committing thread (no hop to another thread on
// the way to the streams), and the caller wakes the returned consumers once
// it holds no lock. A dispatcher thread sends periodic bookmarks, ends
// timed-out watches and drops ended ones.
//
// Lock order: store commit lock -> inbox_mu_; store commit lock -> mu_.
// The dispatcher takes inbox_mu_ and mu_ one at a time, never the store's.
class WatchHub {
 public:
  explicit WatchHub(WatchHubOptions opts);
  ~WatchHub();
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Offers a committed event to every watcher. Never blocks on watchers.
  // Caller holds the store's commit lock, so events arrive in RV order, and
  // calls Notify() on the watchers added to `notify` after releasing it.
  void Publish(const EventPtr& ev, std::vector<WatcherPtr>* notify);
  // Publishes the events of one transaction (all at one RV) as a unit: no bookmark is offered
  // between them.
  void PublishAll(const std::vector<EventPtr>& events, std::vector<WatcherPtr>* notify);

  // Makes `w` live: it receives every published event with rv > w->min_rv().
  // Caller holds the store's commit lock (snapshot and subscription are one
  // atomic step). Returns false when the hub is shut down.
  bool Register(WatcherPtr w);

  // Ends every watch with `status` (UNAVAILABLE at shutdown) and stops
  // accepting new ones. Blocks until the dispatcher has stopped.
  void Shutdown(absl::Status status);

  // Asks the dispatcher to drop cancelled watchers now (after a consumer left).
  void Wake();

  size_t active() const { return active_.load(std::memory_order_relaxed); }

 private:
  void Run();
  // Returns the watchers to notify.
  void DispatchLocked(const EventPtr& ev, std::vector<WatcherPtr>* notify) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TimersLocked(absl::Time now, std::vector<WatcherPtr>* notify) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReapLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const WatchHubOptions opts_;

  absl::Mutex inbox_mu_;
  bool stopping_ ABSL_GUARDED_BY(inbox_mu_) = false;  // the hub's thread is told to exit
  bool wake_ ABSL_GUARDED_BY(inbox_mu_) = false;

  absl::Mutex mu_;
  std::vector<WatcherPtr> watchers_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;  // Shutdown() was called: no new watchers
  uint64_t dispatched_rv_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time next_bookmark_ ABSL_GUARDED_BY(mu_);

  std::atomic<size_t> active_{0};
  std::thread dispatcher_;
};

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_WATCH_HUB_H_
