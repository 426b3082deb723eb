// The provider's Prometheus metrics (served on /metrics):
//   nvml_provider_xid_events_total{gpu,xid,class}       XIDs seen, by classification
//   nvml_provider_ecc_events_total{gpu,type}             single/double-bit ECC events
//   nvml_provider_gpus{health="healthy|unhealthy|unknown"}  this provider's GPUs by NVMLReady
//   nvml_provider_retired_pages{gpu}                     retired pages (both causes)
//   nvml_provider_reconciles_total{result="success|error"}
//   nvml_provider_api_errors_total                       failed API calls
//   nvml_provider_nvml_loaded                            1 when NVML is loaded and initialized
// Thread-safe.
#ifndef DEVICEAPI_NVML_METRICS_H_
#define DEVICEAPI_NVML_METRICS_H_

#include <memory>
#include <string>
#include <string_view>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace deviceapi::nvml {

class ProviderMetrics {
 public:
  ProviderMetrics();

  void RecordXid(const std::string& gpu, uint64_t xid, std::string_view cls);
  void RecordEcc(const std::string& gpu, std::string_view type);
  void SetGpus(double healthy, double unhealthy, double unknown);
  void SetRetiredPages(const std::string& gpu, double pages);
  void RemoveGpu(const std::string& gpu);
  void RecordReconcile(bool ok);
  void RecordApiError();
  void SetNvmlLoaded(bool loaded);

  std::string Serialize() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& xid_;
  prometheus::Family<prometheus::Counter>& ecc_;
  prometheus::Family<prometheus::Gauge>& gpus_;
  prometheus::Family<prometheus::Gauge>& retired_;
  prometheus::Family<prometheus::Counter>& reconciles_;
  prometheus::Counter& api_errors_;
  prometheus::Gauge& nvml_loaded_;
};

}  // namespace deviceapi::nvml

#endif  // DEVICEAPI_NVML_METRICS_H_
