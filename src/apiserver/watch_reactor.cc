#include "apiserver/watch_reactor.h"

#include "apiserver/metrics.h"
#include "apiserver/status_mapping.h"
#include "apiserver/wire_responses.h"

namespace deviceapi::apiserver {

WatchReactor::WatchReactor(ServerMetrics* metrics) : metrics_(metrics) {}

void WatchReactor::Start(absl::StatusOr<std::unique_ptr<storage::WatchHandle>> handle) {
  if (!handle.ok()) {
    {
      absl::MutexLock l(&mu_);
      finished_ = true;
    }
    Finish(ToGrpcStatus(handle.status(), "WatchGpus"));
    return;
  }
  handle_ = std::move(*handle);
  Pump();
}

void WatchReactor::Pump() {
  std::optional<storage::WatchItem> item;
  std::optional<grpc::Status> finish;
  {
    absl::MutexLock l(&mu_);
    if (in_flight_ || finished_) return;
    if (cancelled_) {
      finished_ = true;
      finish = grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled");
    } else {
      item = handle_->watcher().Next();
      if (item) {
        in_flight_ = true;
        buffer_ = WatchEventBytes(*item->event, item->as);  // a header and the shared bytes
      } else if (auto end = handle_->watcher().ended()) {
        finished_ = true;
        finish = ToGrpcStatus(*end, "WatchGpus");
      }
    }
  }
  if (item) {
    if (metrics_ != nullptr) metrics_->RecordWatchEventSent(storage::EventTypeName(item->as));
    StartWrite(&buffer_);
  } else if (finish) {
    Finish(*finish);
  }
}

void WatchReactor::OnWriteDone(bool ok) {
  {
    absl::MutexLock l(&mu_);
    in_flight_ = false;
    // A failed write means the stream is broken (client gone).
    if (!ok) cancelled_ = true;
  }
  Pump();
}

void WatchReactor::OnCancel() {
  {
    absl::MutexLock l(&mu_);
    cancelled_ = true;
  }
  Pump();
}

void WatchReactor::OnDone() {
  if (handle_) {
    // Fences off a notification running on another thread (a writer's, the
    // flusher's or the hub's) before the handle (and this reactor) go away.
    handle_->watcher().Cancel();
    handle_.reset();
  }
  delete this;
}

}  // namespace deviceapi::apiserver
