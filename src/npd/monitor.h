// Serve mode: the npd-ext ExternalMonitor gRPC service on a Unix socket. Node Problem Detector
// connects, calls GetMetadata, then CheckHealth once per invoke_interval; every answer comes from
// memory (an informer on the Device API's GPUs), so a check costs microseconds and never waits on
// the Device API. XID events are collected as the informer sees them and handed over (once) by the
// next CheckHealth.
#ifndef DEVICEAPI_NPD_MONITOR_H_
#define DEVICEAPI_NPD_MONITOR_H_

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/secure_path.h"
#include "deviceapi/informer.h"
#include "npd/external/v1/external_monitor.grpc.pb.h"
#include "npd/metrics.h"
#include "npd/options.h"
#include "npd/report.h"

namespace deviceapi::npd {

class Monitor {
 public:
  // `client` reads the GPUs; `channel` is its connection (its state says whether the Device API is
  // reachable). `on_stop` runs when NPD calls Stop and --exit-on-stop is set.
  Monitor(MonitorOptions options, GpuInterfacePtr client, std::shared_ptr<grpc::Channel> channel,
          std::function<void()> on_stop = {});
  ~Monitor();  // Shutdown()s
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // Refuses a socket another process serves (UNAVAILABLE naming it), removes a stale one, creates
  // the parent directory, serves with the socket's mode set, and starts the informer.
  absl::Status Start();
  void Shutdown();

  // One CheckHealth answer (what the gRPC method returns).
  ::npd::external::v1::Status Check(const ::npd::external::v1::HealthCheckRequest& request)
      ABSL_LOCKS_EXCLUDED(mu_);
  ::npd::external::v1::MonitorMetadata Metadata() const;
  void OnStopCalled();

  std::string MetricsText() const { return metrics_.Serialize(); }
  bool Ready() const;  // serving and the GPUs listed
  bool Live() const { return true; }

  // Events waiting for the next CheckHealth; the oldest are dropped beyond this.
  static constexpr size_t kMaxQueuedEvents = 256;

 private:
  class Service;
  void Queue(std::vector<XidEvent> events) ABSL_LOCKS_EXCLUDED(mu_);

  const MonitorOptions options_;
  GpuInterfacePtr client_;
  std::shared_ptr<grpc::Channel> channel_;
  std::function<void()> on_stop_;
  mutable MonitorMetrics metrics_;
  std::unique_ptr<GpuInformer> informer_;
  EventHandlerRegistrationPtr handler_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  common::FileIdentity socket_id_;  // the socket bound, removed at shutdown only if still there
  bool shut_down_ = false;

  mutable absl::Mutex mu_;
  XidTracker xids_ ABSL_GUARDED_BY(mu_);
  std::deque<XidEvent> events_ ABSL_GUARDED_BY(mu_);
  absl::Time down_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();  // InfiniteFuture: connected
  // Per condition type: what was last reported and since when (the condition's transition).
  struct Reported {
    ProblemCondition condition;
    absl::Time since;
  };
  std::map<std::string, Reported> reported_ ABSL_GUARDED_BY(mu_);
};

}  // namespace deviceapi::npd

#endif  // DEVICEAPI_NPD_MONITOR_H_
