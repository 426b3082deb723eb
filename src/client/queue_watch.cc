#include "client/queue_watch.h"

#include <utility>

namespace deviceapi::client {

QueueWatch::QueueWatch(std::unique_ptr<EventSource> source, size_t capacity)
    : source_(std::move(source)), capacity_(capacity == 0 ? 1 : capacity) {
  producer_ = std::thread([this] { Produce(); });
}

QueueWatch::~QueueWatch() {
  Stop();
  if (producer_.joinable()) producer_.join();
  if (dispatcher_.joinable()) {
    // Destroying the watch from its own callback is documented as unsupported; detaching at
    // least avoids a self-join abort.
    if (dispatcher_.get_id() == std::this_thread::get_id()) {
      dispatcher_.detach();
    } else {
      dispatcher_.join();
    }
  }
}

void QueueWatch::Produce() {
  absl::Status status = source_->Run(*this);
  absl::MutexLock lock(&mu_);
  end_ = std::move(status);
}

bool QueueWatch::Push(WatchEvent event) {
  absl::MutexLock lock(&mu_);
  auto room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopped_ || queue_.size() < capacity_; };
  mu_.Await(absl::Condition(&room));
  if (stopped_) return false;
  queue_.push_back(std::move(event));
  return true;
}

std::optional<WatchEvent> QueueWatch::NextUntil(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopped_ || !queue_.empty() || end_.has_value();
  };
  mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
  if (stopped_ || queue_.empty()) return std::nullopt;
  WatchEvent ev = std::move(queue_.front());
  queue_.pop_front();
  if (!ev.resource_version().empty()) last_rv_ = ev.resource_version();
  return ev;
}

void QueueWatch::Dispatch(EventHandler on_event, EndHandler on_end) {
  dispatcher_ = std::thread([this, on_event = std::move(on_event), on_end = std::move(on_end)] {
    for (;;) {
      std::optional<WatchEvent> ev = NextUntil(absl::InfiniteFuture());
      if (!ev.has_value()) break;
      if (on_event) on_event(*ev);
    }
    std::optional<WatchResult> result = WaitUntil(absl::InfiniteFuture());
    if (on_end && result.has_value()) on_end(*result);
  });
}

void QueueWatch::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    queue_.clear();
  }
  source_->Interrupt();
}

bool QueueWatch::DoneLocked() const { return end_.has_value() && (stopped_ || queue_.empty()); }

bool QueueWatch::Done() const {
  absl::MutexLock lock(&mu_);
  return DoneLocked();
}

WatchResult QueueWatch::ResultLocked() const {
  WatchResult r;
  r.last_resource_version = last_rv_;
  if (stopped_) {
    r.status = absl::CancelledError("watch stopped");
    r.action = WatchEndAction::kStopped;
  } else {
    r.status = *end_;
    r.action = ClassifyWatchEnd(r.status);
  }
  return r;
}

std::optional<WatchResult> QueueWatch::Result() const {
  absl::MutexLock lock(&mu_);
  if (!DoneLocked()) return std::nullopt;
  return ResultLocked();
}

std::optional<WatchResult> QueueWatch::WaitUntil(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // Unconsumed events are discarded so a producer blocked on a full queue can finish.
    if (!queue_.empty() && !end_.has_value()) queue_.clear();
    return end_.has_value();
  };
  if (!mu_.AwaitWithDeadline(absl::Condition(&ended), deadline)) return std::nullopt;
  queue_.clear();
  return ResultLocked();
}

std::string QueueWatch::LastResourceVersion() const {
  absl::MutexLock lock(&mu_);
  return last_rv_;
}

}  // namespace deviceapi::client
