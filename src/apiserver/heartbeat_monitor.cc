#include "apiserver/heartbeat_monitor.h"

#include <algorithm>

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include "apimachinery/conditions.h"
#include "common/strings.h"

namespace deviceapi::apiserver {

namespace {

google::protobuf::Timestamp ToProto(absl::Time t) {
  const int64_t ns = absl::ToUnixNanos(t);
  google::protobuf::Timestamp ts;
  ts.set_seconds(ns / 1000000000);
  ts.set_nanos(static_cast<int32_t>(ns % 1000000000));
  return ts;
}

absl::Duration PeriodFor(const HeartbeatMonitorOptions& o) {
  if (o.period > absl::ZeroDuration()) return o.period;
  return std::clamp(o.timeout / 4, absl::Milliseconds(100), absl::Seconds(5));
}

}  // namespace

int ExpireStaleConditions(v1::GpuStatus* status, absl::Time now, absl::Duration timeout) {
  int expired = 0;
  for (auto& c : *status->mutable_conditions()) {
    const std::optional<absl::Time> beat = apimachinery::LiveHeartbeat(c);
    if (!beat || now - *beat <= timeout) continue;
    c.set_status("Unknown");
    c.set_reason(kHeartbeatTimeoutReason);
    c.set_message(common::Cat("provider stopped posting heartbeats: last at ",
                              google::protobuf::util::TimeUtil::ToString(c.last_heartbeat_time()),
                              ", timeout ", absl::FormatDuration(timeout)));
    *c.mutable_last_transition_time() = ToProto(now);
    ++expired;
  }
  return expired;
}

HeartbeatMonitor::HeartbeatMonitor(storage::StorePtr store, HeartbeatMonitorOptions opts)
    : store_(std::move(store)), opts_(std::move(opts)) {
  thread_ = std::thread([this] { Run(); });
}

HeartbeatMonitor::~HeartbeatMonitor() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void HeartbeatMonitor::Run() {
  const absl::Duration period = PeriodFor(opts_);
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      auto stopping = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping), period)) return;
    }
    ScanOnce();
  }
}

int HeartbeatMonitor::ScanOnce() {
  auto list = store_->List(storage::ListOptions{});
  if (!list.ok()) return 0;
  int marked = 0;
  const absl::Time now = opts_.clock();
  for (const storage::StoredPtr& obj : list->items) {
    // Only a version with a heartbeat older than the timeout can have a
    // condition to expire (the stored object knows its oldest heartbeat,
    // so a fresh object is not even parsed).
    if (now - obj->oldest_heartbeat() <= opts_.timeout) continue;
    const storage::ObjectKey key{obj->metadata().namespace_(), obj->metadata().name()};
    int n = 0;
    // Re-evaluated against the latest object: a heartbeat that arrived in
    // between wins and nothing is written.
    auto r = store_->Update(key, [&](const v1::Gpu& cur) -> absl::StatusOr<std::shared_ptr<v1::Gpu>> {
      auto next = storage::CopyObject(cur);
      n = ExpireStaleConditions(next->mutable_status(), opts_.clock(), opts_.timeout);
      if (n == 0) return nullptr;
      return next;
    });
    if (!r.ok()) {
      if (r.status().code() != absl::StatusCode::kNotFound) {
        spdlog::warn("heartbeat monitor: {}/{}: {}", key.ns, key.name, r.status().ToString());
      }
      continue;
    }
    if (n > 0) {
      spdlog::info("heartbeat monitor: {}/{}: {} condition(s) Unknown ({})", key.ns, key.name, n,
                   kHeartbeatTimeoutReason);
      marked += n;
      for (int i = 0; i < n && opts_.on_timeout; ++i) opts_.on_timeout();
    }
  }
  return marked;
}

}  // namespace deviceapi::apiserver
