// The standard process_* metrics of Prometheus client libraries, read from /proc/self.
#ifndef DEVICEAPI_OBSERVABILITY_PROCESS_METRICS_H_
#define DEVICEAPI_OBSERVABILITY_PROCESS_METRICS_H_

#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace deviceapi::observability {

// Reads /proc/self/stat, /proc/self/fd, /proc/stat and RLIMIT_NOFILE at every Collect() and
// exports, with client_golang's names and HELP texts:
//   process_cpu_seconds_total (counter), process_open_fds, process_max_fds,
//   process_virtual_memory_bytes, process_resident_memory_bytes, process_start_time_seconds,
//   process_threads (gauges).
// A value that cannot be read is left out rather than reported as 0. Thread-safe (stateless
// apart from values computed once in the constructor).
class ProcessCollector : public prometheus::Collectable {
 public:
  ProcessCollector();
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  double boot_time_seconds_ = 0;  // btime from /proc/stat, 0 if unknown
  long clock_ticks_per_second_ = 100;
  long page_size_ = 4096;
};

}  // namespace deviceapi::observability

#endif  // DEVICEAPI_OBSERVABILITY_PROCESS_METRICS_H_
