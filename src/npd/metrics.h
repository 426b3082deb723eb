// npd-gpu-monitor's Prometheus metrics (serve mode, on /metrics with the process_* metrics):
//   npd_gpu_monitor_check_health_total                       CheckHealth calls answered
//   npd_gpu_monitor_condition{type,status="True|False|Unknown"}  1 for the status last reported
//   npd_gpu_monitor_xid_events_total{xid}                    XID events handed to NPD
//   npd_gpu_monitor_events_dropped_total                     events dropped (queue full)
//   npd_gpu_monitor_gpus{health="healthy|unhealthy|unknown"} GPUs in the informer's cache
//   npd_gpu_monitor_device_api_connected                     1 while the Device API is reachable
//   npd_gpu_monitor_stop_calls_total                         Stop calls from NPD
// Thread-safe.
#ifndef DEVICEAPI_NPD_METRICS_H_
#define DEVICEAPI_NPD_METRICS_H_

#include <memory>
#include <string>
#include <vector>

#include "npd/report.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace deviceapi::npd {

class MonitorMetrics {
 public:
  MonitorMetrics();
  void RecordCheck(const std::vector<ProblemCondition>& conditions);
  void RecordXid(uint64_t xid);
  void RecordDroppedEvent();
  void SetGpus(double healthy, double unhealthy, double unknown);
  void SetConnected(bool connected);
  void RecordStop();
  std::string Serialize() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter& checks_;
  prometheus::Family<prometheus::Gauge>& condition_;
  prometheus::Family<prometheus::Counter>& xids_;
  prometheus::Counter& dropped_;
  prometheus::Family<prometheus::Gauge>& gpus_;
  prometheus::Gauge& connected_;
  prometheus::Counter& stops_;
};

}  // namespace deviceapi::npd

#endif  // DEVICEAPI_NPD_METRICS_H_
