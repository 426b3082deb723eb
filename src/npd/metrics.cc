#include "npd/metrics.h"

#include "observability/exposition.h"

namespace deviceapi::npd {

MonitorMetrics::MonitorMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      checks_(prometheus::BuildCounter()
                  .Name("npd_gpu_monitor_check_health_total")
                  .Help("CheckHealth calls answered")
                  .Register(*registry_)
                  .Add({})),
      condition_(prometheus::BuildGauge()
                     .Name("npd_gpu_monitor_condition")
                     .Help("1 for the status each condition was last reported with (True = problem)")
                     .Register(*registry_)),
      xids_(prometheus::BuildCounter()
                .Name("npd_gpu_monitor_xid_events_total")
                .Help("XID events handed to NPD, by XID")
                .Register(*registry_)),
      dropped_(prometheus::BuildCounter()
                   .Name("npd_gpu_monitor_events_dropped_total")
                   .Help("Events dropped because NPD did not collect them (queue full)")
                   .Register(*registry_)
                   .Add({})),
      gpus_(prometheus::BuildGauge()
                .Name("npd_gpu_monitor_gpus")
                .Help("GPUs in the informer's cache, by health")
                .Register(*registry_)),
      connected_(prometheus::BuildGauge()
                     .Name("npd_gpu_monitor_device_api_connected")
                     .Help("1 while the Device API server is reachable")
                     .Register(*registry_)
                     .Add({})),
      stops_(prometheus::BuildCounter()
                 .Name("npd_gpu_monitor_stop_calls_total")
                 .Help("Stop calls from NPD")
                 .Register(*registry_)
                 .Add({})) {
  SetGpus(0, 0, 0);
}

void MonitorMetrics::RecordCheck(const std::vector<ProblemCondition>& conditions) {
  checks_.Increment();
  for (const ProblemCondition& c : conditions) {
    for (ProblemStatus s : {ProblemStatus::kTrue, ProblemStatus::kFalse, ProblemStatus::kUnknown}) {
      condition_.Add({{"type", c.type}, {"status", std::string(ProblemStatusName(s))}})
          .Set(c.status == s ? 1 : 0);
    }
  }
}

void MonitorMetrics::RecordXid(uint64_t xid) { xids_.Add({{"xid", std::to_string(xid)}}).Increment(); }
void MonitorMetrics::RecordDroppedEvent() { dropped_.Increment(); }

void MonitorMetrics::SetGpus(double healthy, double unhealthy, double unknown) {
  gpus_.Add({{"health", "healthy"}}).Set(healthy);
  gpus_.Add({{"health", "unhealthy"}}).Set(unhealthy);
  gpus_.Add({{"health", "unknown"}}).Set(unknown);
}

void MonitorMetrics::SetConnected(bool connected) { connected_.Set(connected ? 1 : 0); }
void MonitorMetrics::RecordStop() { stops_.Increment(); }

std::string MonitorMetrics::Serialize() const { return observability::ExpositionText({registry_.get()}); }

}  // namespace deviceapi::npd
