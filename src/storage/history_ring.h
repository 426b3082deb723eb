// The window of recent committed events that watches resume from and that
// Exact lists and continue tokens are reconstructed from.
#ifndef DEVICEAPI_STORAGE_HISTORY_RING_H_
#define DEVICEAPI_STORAGE_HISTORY_RING_H_

#include <cstdint>
#include <deque>
#include <vector>

#include "absl/time/time.h"
#include "storage/event.h"

namespace deviceapi::storage {

// Bounded by count and by age. Not thread-safe: the store guards it with its
// commit lock.
class HistoryRing {
 public:
  // `start_rv`: the RV the store started at; events after it are retained
  // until evicted. A request for an RV below it is "too old".
  HistoryRing(size_t max_events, absl::Duration max_age, uint64_t start_rv);

  // Appends an event whose rv is above every retained one; evicts what falls
  // out of the window.
  void Append(EventPtr ev);
  // Evicts events older than max_age relative to `now`.
  void Trim(absl::Time now);

  // Every event with rv > `after` is retained iff after >= compacted_rv().
  uint64_t compacted_rv() const { return compacted_rv_; }
  // Events with rv > after, oldest first. Requires after >= compacted_rv().
  std::vector<EventPtr> Since(uint64_t after) const;
  // Calls f(ev) for events with rv > after, newest first.
  template <typename F>
  void ForEachNewestFirst(uint64_t after, F&& f) const {
    for (auto it = events_.rbegin(); it != events_.rend() && (*it)->rv > after; ++it) f(**it);
  }

  size_t size() const { return events_.size(); }
  // RV of the oldest retained event, or 0 when empty.
  uint64_t oldest_rv() const { return events_.empty() ? 0 : events_.front()->rv; }

 private:
  void PopFront();

  const size_t max_events_;
  const absl::Duration max_age_;
  uint64_t compacted_rv_;
  std::deque<EventPtr> events_;
};

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_HISTORY_RING_H_
