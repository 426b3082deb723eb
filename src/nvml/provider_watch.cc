// The Provider's own watch of its GPUs (label device.nvidia.com/provider=<provider-id>): lists
// and watches them to notice what others did to them. A GPU deleted by someone else is registered
// again; an NVMLReady removed is put back; an NVMLReady=True written by someone else (an operator
// clear) clears the fault when FaultTracker::ClearsFault says it may; a server that comes back or
// a watch that breaks (server restart) asks the worker for a full reconcile at once. It never
// writes: it only changes the shared state under mu_ and wakes the worker (dirty_,
// full_requested_).
//
// Threads: the watcher thread only (started by Start(), stopped by Shutdown() through stopping_ and
// active_watch_).
#include <algorithm>
#include <optional>

#include "common/logging.h"
#include "common/strings.h"
#include "deviceapi/conditions.h"
#include "nvml/provider.h"

namespace deviceapi::nvml {

using common::Cat;

void Provider::WatchLoop() {
  // Two backoffs: lists failing (the server is down or restarting) retry quickly, and reset as soon
  // as a list works, so that a restarted server is found within about 100 ms each time; watches
  // that end at once without delivering anything while lists work back off separately.
  constexpr absl::Duration kMinBackoff = absl::Milliseconds(100);
  absl::Duration list_backoff = kMinBackoff;
  absl::Duration churn_backoff = kMinBackoff;
  const std::string selector = Cat(kProviderLabel, "=", options_.provider_id);
  auto sleep = [&](absl::Duration d) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), d);
  };
  bool first = true;
  bool failed = false;
  while (!Stopping()) {
    ListOptions lo;
    lo.label_selector = selector;
    std::shared_ptr<GpuInterface> gpus = Client();
    absl::StatusOr<v1::GpuList> list = gpus->List(lo);
    if (!list.ok()) {
      DAPI_VLOG(2, "watch list failed: {}", list.status().ToString());
      MaybeReconnect(list.status());
      failed = true;
      sleep(list_backoff);
      list_backoff = std::min(list_backoff * 2, absl::Seconds(1));
      continue;
    }
    list_backoff = kMinBackoff;
    if (!first || failed) {
      // The server is (back) up, or the watch broke (server restart): let the worker re-check
      // everything now instead of at the end of its backoff.
      absl::MutexLock lock(&mu_);
      full_requested_ = true;
    }
    first = false;
    failed = false;
    ListOptions wo;
    wo.label_selector = selector;
    wo.resource_version = list->metadata().resource_version();
    wo.allow_watch_bookmarks = true;
    absl::StatusOr<WatchPtr> watch = gpus->Watch(wo);
    if (!watch.ok()) {
      sleep(churn_backoff);
      churn_backoff = std::min(churn_backoff * 2, absl::Seconds(2));
      continue;
    }
    {
      absl::MutexLock lock(&mu_);
      active_watch_ = watch->get();
      if (stopping_) (*watch)->Stop();
    }
    const absl::Time started = absl::Now();
    bool delivered = false;
    while (true) {
      std::optional<WatchEvent> ev = (*watch)->Next(absl::Milliseconds(500));
      if (!ev.has_value()) {
        if ((*watch)->Done() || Stopping()) break;
        continue;
      }
      delivered = true;
      if (ev->type == EventType::kBookmark) continue;
      const std::string& uuid = ev->object.spec().uuid();
      const uint64_t rv = ParseRv(ev->resource_version());
      absl::MutexLock lock(&mu_);
      auto it = gpus_state_.find(uuid);
      if (it == gpus_state_.end() || !it->second.present) continue;
      GpuState& s = it->second;
      if (ev->type == EventType::kDeleted) {
        DAPI_LOG_WARN("GPU {} was deleted by someone else; registering it again",
                      ev->object.metadata().name());
        dirty_.insert(uuid);
        s.last_heartbeat = absl::InfinitePast();
        continue;
      }
      if (rv <= s.last_written_rv) continue;  // our own write, or older
      const v1::Condition* c = FindCondition(ev->object.status(), kConditionType);
      if (c == nullptr) {
        dirty_.insert(uuid);  // someone removed our condition: put it back
        continue;
      }
      if (c->status() == kConditionTrue && FaultTracker::ClearsFault(s.health, rv)) {
        ApplyClearLocked(&s, ev->object, rv);
      }
    }
    std::optional<WatchResult> result = (*watch)->Result();
    {
      absl::MutexLock lock(&mu_);
      active_watch_ = nullptr;
    }
    watch->reset();
    if (Stopping()) break;
    DAPI_VLOG(1, "watch ended ({}); re-listing", result.has_value() ? result->status.ToString() : "unknown");
    if (delivered || absl::Now() - started > absl::Seconds(1)) {
      churn_backoff = kMinBackoff;  // a watch that worked: re-list at once
    } else {
      sleep(churn_backoff);
      churn_backoff = std::min(churn_backoff * 2, absl::Seconds(2));
    }
  }
}

}  // namespace deviceapi::nvml
