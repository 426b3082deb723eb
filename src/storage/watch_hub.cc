#include "storage/watch_hub.h"

#include <algorithm>

namespace deviceapi::storage {

WatchHub::WatchHub(WatchHubOptions opts) : opts_(std::move(opts)) {
  next_bookmark_ = absl::Now() + opts_.bookmark_interval;
  dispatcher_ = std::thread([this] { Run(); });
}

WatchHub::~WatchHub() { Shutdown(absl::UnavailableError("server is shutting down")); }

void WatchHub::Publish(const EventPtr& ev, std::vector<WatcherPtr>* notify) {
  absl::MutexLock l(&mu_);
  DispatchLocked(ev, notify);
}

void WatchHub::PublishAll(const std::vector<EventPtr>& events, std::vector<WatcherPtr>* notify) {
  absl::MutexLock l(&mu_);
  for (const EventPtr& ev : events) DispatchLocked(ev, notify);
}

bool WatchHub::Register(WatcherPtr w) {
  {
    absl::MutexLock l(&mu_);
    if (shut_down_) return false;
    watchers_.push_back(std::move(w));
    active_.store(watchers_.size(), std::memory_order_relaxed);
  }
  // Wake the dispatcher so a timeout shorter than the current wait is seen.
  absl::MutexLock l(&inbox_mu_);
  wake_ = true;
  return true;
}

void WatchHub::Wake() {
  absl::MutexLock l(&inbox_mu_);
  wake_ = true;
}

void WatchHub::Shutdown(absl::Status status) {
  std::vector<WatcherPtr> notify;
  {
    absl::MutexLock l(&mu_);
    if (!shut_down_) {
      shut_down_ = true;
      for (auto& w : watchers_) {
        if (w->End(status)) notify.push_back(w);
      }
      watchers_.clear();
      active_.store(0, std::memory_order_relaxed);
    }
  }
  for (auto& w : notify) w->Notify();
  {
    absl::MutexLock l(&inbox_mu_);
    stopping_ = true;
  }
  if (dispatcher_.joinable() && dispatcher_.get_id() != std::this_thread::get_id()) dispatcher_.join();
}

void WatchHub::Run() {
  std::vector<WatcherPtr> notify;
  for (;;) {
    absl::Time wake_at;
    {
      absl::MutexLock l(&mu_);
      wake_at = next_bookmark_;
      for (const auto& w : watchers_) wake_at = std::min(wake_at, w->deadline());
    }
    {
      absl::MutexLock l(&inbox_mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(inbox_mu_) { return stopping_ || wake_; };
      inbox_mu_.AwaitWithDeadline(absl::Condition(&ready), wake_at);
      if (stopping_) return;
      wake_ = false;
    }
    {
      absl::MutexLock l(&mu_);
      TimersLocked(absl::Now(), &notify);
      ReapLocked();
    }
    // Consumers are woken outside every lock: OnWatchReady may start a write.
    for (auto& w : notify) w->Notify();
    notify.clear();
  }
}

void WatchHub::DispatchLocked(const EventPtr& ev, std::vector<WatcherPtr>* notify) {
  for (const auto& w : watchers_) {
    // Offer() is true only for an armed (waiting) consumer; a consumer that
    // re-armed in between may be listed twice, and a spare Notify() is a no-op.
    if (w->Offer(ev)) notify->push_back(w);
  }
  dispatched_rv_ = ev->rv;
}

void WatchHub::TimersLocked(absl::Time now, std::vector<WatcherPtr>* notify) {
  const bool bookmark_due = now >= next_bookmark_;
  EventPtr bookmark;
  for (const auto& w : watchers_) {
    if (now >= w->deadline()) {
      // timeout_seconds elapsed: end cleanly; the client re-watches from its last RV.
      if (w->End(absl::OkStatus())) notify->push_back(w);
      continue;
    }
    if (bookmark_due && w->options().bookmarks) {
      // Every event up to dispatched_rv_ (or, for a watcher registered ahead
      // of the dispatcher, its min_rv) is already queued ahead of this one.
      const uint64_t rv = std::max(dispatched_rv_, w->min_rv());
      if (!bookmark || bookmark->rv != rv) bookmark = MakeBookmark(rv, false);
      if (w->OfferBookmark(bookmark)) notify->push_back(w);
    }
  }
  if (bookmark_due) next_bookmark_ = now + opts_.bookmark_interval;
}

void WatchHub::ReapLocked() {
  size_t evicted = 0;
  auto gone = [&](const WatcherPtr& w) {
    if (!w->is_ended()) return false;
    // Counted when reaped, also when the consumer has left since (the usual case: the stream
    // ends with RESOURCE_EXHAUSTED and cancels at once); an end with that code from
    // Shutdown/EndWatches is not an eviction.
    if (w->evicted()) ++evicted;
    return true;
  };
  watchers_.erase(std::remove_if(watchers_.begin(), watchers_.end(), gone), watchers_.end());
  active_.store(watchers_.size(), std::memory_order_relaxed);
  if (opts_.on_evicted) {
    for (size_t i = 0; i < evicted; ++i) opts_.on_evicted();
  }
}

}  // namespace deviceapi::storage
