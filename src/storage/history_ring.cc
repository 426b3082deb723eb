#include "storage/history_ring.h"

#include <algorithm>

namespace deviceapi::storage {

HistoryRing::HistoryRing(size_t max_events, absl::Duration max_age, uint64_t start_rv)
    : max_events_(std::max<size_t>(1, max_events)), max_age_(max_age), compacted_rv_(start_rv) {}

void HistoryRing::PopFront() {
  compacted_rv_ = events_.front()->rv;
  events_.pop_front();
}

void HistoryRing::Append(EventPtr ev) {
  events_.push_back(std::move(ev));
  while (events_.size() > max_events_) PopFront();
  Trim(events_.back()->time);
}

void HistoryRing::Trim(absl::Time now) {
  // The newest event always stays so that a bookmark-less quiet period does
  // not push every watcher into a relist.
  while (events_.size() > 1 && now - events_.front()->time > max_age_) PopFront();
}

std::vector<EventPtr> HistoryRing::Since(uint64_t after) const {
  auto it = std::upper_bound(events_.begin(), events_.end(), after,
                             [](uint64_t rv, const EventPtr& e) { return rv < e->rv; });
  return std::vector<EventPtr>(it, events_.end());
}

}  // namespace deviceapi::storage
