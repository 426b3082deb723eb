#include "storage/watcher.h"

#include "absl/strings/str_cat.h"

namespace deviceapi::storage {

std::optional<EventType> VisibleAs(const Filter& filter, const Event& ev) {
  const bool now = ev.object && filter.Matches(*ev.object);
  const bool before = ev.prev && filter.Matches(*ev.prev);
  switch (ev.type) {
    case EventType::kAdded:
      if (now) return EventType::kAdded;
      break;
    case EventType::kModified:
      if (before && now) return EventType::kModified;
      if (now) return EventType::kAdded;
      if (before) return EventType::kDeleted;
      break;
    case EventType::kDeleted:
      if (before) return EventType::kDeleted;
      break;
    case EventType::kBookmark:
      return EventType::kBookmark;
  }
  return std::nullopt;
}

Watcher::Watcher(WatchOptions opts, size_t queue_limit, absl::Time now, uint64_t min_rv)
    : opts_(std::move(opts)),
      queue_limit_(std::max<size_t>(1, queue_limit)),
      deadline_(opts_.timeout > absl::ZeroDuration() ? now + opts_.timeout : absl::InfiniteFuture()),
      min_rv_(min_rv) {}

void Watcher::SetConsumer(WatchConsumer* c) {
  absl::MutexLock l(&consumer_mu_);
  consumer_ = c;
}

std::optional<WatchItem> Watcher::Next() {
  absl::MutexLock l(&mu_);
  if (!initial_.empty()) {
    WatchItem it = std::move(initial_.front());
    initial_.pop_front();
    return it;
  }
  if (!live_.empty()) {
    WatchItem it = std::move(live_.front());
    live_.pop_front();
    return it;
  }
  if (!end_) armed_ = true;
  return std::nullopt;
}

std::optional<absl::Status> Watcher::ended() {
  absl::MutexLock l(&mu_);
  return end_;
}

bool Watcher::is_ended() {
  absl::MutexLock l(&mu_);
  return end_.has_value();
}

bool Watcher::cancelled() {
  absl::MutexLock l(&mu_);
  return cancelled_;
}

void Watcher::Cancel() {
  {
    absl::MutexLock l(&mu_);
    cancelled_ = true;
    if (!end_) end_ = absl::CancelledError("watch cancelled");
    initial_.clear();
    live_.clear();
  }
  absl::MutexLock l(&consumer_mu_);
  consumer_ = nullptr;
}

uint64_t Watcher::dropped_on_eviction() {
  absl::MutexLock l(&mu_);
  return dropped_;
}

bool Watcher::evicted() {
  absl::MutexLock l(&mu_);
  return evicted_;
}

void Watcher::AddInitial(WatchItem item) {
  absl::MutexLock l(&mu_);
  initial_.push_back(std::move(item));
}

bool Watcher::PushLocked(WatchItem item) {
  if (end_) return false;
  if (live_.size() >= queue_limit_) {
    evicted_ = true;
    dropped_ = live_.size() + initial_.size();
    live_.clear();
    initial_.clear();
    end_ = absl::ResourceExhaustedError(
        absl::StrCat("watcher too slow: more than ", queue_limit_,
                     " events pending; watch again from the last resource version received"));
  } else {
    live_.push_back(std::move(item));
  }
  const bool notify = armed_;
  armed_ = false;
  return notify;
}

bool Watcher::Offer(const EventPtr& ev) {
  if (ev->rv <= min_rv_) return false;
  auto as = VisibleAs(opts_.filter, *ev);
  if (!as) return false;
  absl::MutexLock l(&mu_);
  return PushLocked(WatchItem{ev, *as});
}

bool Watcher::OfferBookmark(const EventPtr& bookmark) {
  absl::MutexLock l(&mu_);
  return PushLocked(WatchItem{bookmark, EventType::kBookmark});
}

bool Watcher::End(absl::Status status) {
  absl::MutexLock l(&mu_);
  if (end_) return false;
  end_ = std::move(status);
  initial_.clear();
  live_.clear();
  const bool notify = armed_;
  armed_ = false;
  return notify;
}

void Watcher::Notify() {
  absl::MutexLock l(&consumer_mu_);
  if (consumer_ != nullptr) consumer_->OnWatchReady();
}

}  // namespace deviceapi::storage
