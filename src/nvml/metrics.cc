#include "nvml/metrics.h"

#include "observability/exposition.h"

namespace deviceapi::nvml {

ProviderMetrics::ProviderMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      xid_(prometheus::BuildCounter()
               .Name("nvml_provider_xid_events_total")
               .Help("XID events seen, by GPU, XID and classification")
               .Register(*registry_)),
      ecc_(prometheus::BuildCounter()
               .Name("nvml_provider_ecc_events_total")
               .Help("ECC error events seen, by GPU and type")
               .Register(*registry_)),
      gpus_(prometheus::BuildGauge()
                .Name("nvml_provider_gpus")
                .Help("GPUs registered by this provider, by NVMLReady health")
                .Register(*registry_)),
      retired_(prometheus::BuildGauge()
                   .Name("nvml_provider_retired_pages")
                   .Help("Retired memory pages per GPU (both causes)")
                   .Register(*registry_)),
      reconciles_(prometheus::BuildCounter()
                      .Name("nvml_provider_reconciles_total")
                      .Help("Full reconciles, by result")
                      .Register(*registry_)),
      api_errors_(prometheus::BuildCounter()
                      .Name("nvml_provider_api_errors_total")
                      .Help("Device API calls that failed")
                      .Register(*registry_)
                      .Add({})),
      nvml_loaded_(prometheus::BuildGauge()
                       .Name("nvml_provider_nvml_loaded")
                       .Help("1 when NVML is loaded and initialized")
                       .Register(*registry_)
                       .Add({})) {
  SetGpus(0, 0, 0);
  reconciles_.Add({{"result", "success"}});
  reconciles_.Add({{"result", "error"}});
}

void ProviderMetrics::RecordXid(const std::string& gpu, uint64_t xid, std::string_view cls) {
  xid_.Add({{"gpu", gpu}, {"xid", std::to_string(xid)}, {"class", std::string(cls)}}).Increment();
}

void ProviderMetrics::RecordEcc(const std::string& gpu, std::string_view type) {
  ecc_.Add({{"gpu", gpu}, {"type", std::string(type)}}).Increment();
}

void ProviderMetrics::SetGpus(double healthy, double unhealthy, double unknown) {
  gpus_.Add({{"health", "healthy"}}).Set(healthy);
  gpus_.Add({{"health", "unhealthy"}}).Set(unhealthy);
  gpus_.Add({{"health", "unknown"}}).Set(unknown);
}

void ProviderMetrics::SetRetiredPages(const std::string& gpu, double pages) {
  retired_.Add({{"gpu", gpu}}).Set(pages);
}

void ProviderMetrics::RemoveGpu(const std::string& gpu) {
  if (retired_.Has({{"gpu", gpu}})) retired_.Remove(&retired_.Add({{"gpu", gpu}}));
}

void ProviderMetrics::RecordReconcile(bool ok) {
  reconciles_.Add({{"result", ok ? "success" : "error"}}).Increment();
}

void ProviderMetrics::RecordApiError() { api_errors_.Increment(); }

void ProviderMetrics::SetNvmlLoaded(bool loaded) { nvml_loaded_.Set(loaded ? 1 : 0); }

std::string ProviderMetrics::Serialize() const { return observability::ExpositionText({registry_.get()}); }

}  // namespace deviceapi::nvml
