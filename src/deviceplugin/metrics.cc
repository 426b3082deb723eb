#include "deviceplugin/metrics.h"

#include "observability/exposition.h"

namespace deviceapi::deviceplugin {

PluginMetrics::PluginMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      devices_(prometheus::BuildGauge()
                   .Name("gpu_device_plugin_devices")
                   .Help("Devices advertised to the kubelet, by resource and health")
                   .Register(*registry_)),
      gpus_(prometheus::BuildGauge()
                .Name("gpu_device_plugin_gpus")
                .Help("Physical GPUs behind each advertised resource")
                .Register(*registry_)),
      allocations_(prometheus::BuildCounter()
                       .Name("gpu_device_plugin_allocations_total")
                       .Help("Successful Allocate calls, by resource")
                       .Register(*registry_)),
      allocation_failures_(prometheus::BuildCounter()
                               .Name("gpu_device_plugin_allocation_failures_total")
                               .Help("Refused Allocate calls, by resource and reason")
                               .Register(*registry_)),
      preferred_(prometheus::BuildCounter()
                     .Name("gpu_device_plugin_preferred_allocations_total")
                     .Help("GetPreferredAllocation calls, by resource and result")
                     .Register(*registry_)),
      registrations_(prometheus::BuildCounter()
                         .Name("gpu_device_plugin_registrations_total")
                         .Help("Register calls to the kubelet, by resource and result")
                         .Register(*registry_)),
      kubelet_restarts_(prometheus::BuildCounter()
                            .Name("gpu_device_plugin_kubelet_restarts_total")
                            .Help("Kubelet restarts seen (kubelet.sock re-created)")
                            .Register(*registry_)
                            .Add({})),
      streams_(prometheus::BuildGauge()
                   .Name("gpu_device_plugin_list_and_watch_streams")
                   .Help("Open ListAndWatch streams, by resource")
                   .Register(*registry_)),
      updates_(prometheus::BuildCounter()
                   .Name("gpu_device_plugin_list_and_watch_updates_total")
                   .Help("Device lists sent on ListAndWatch streams, by resource")
                   .Register(*registry_)),
      api_connected_(prometheus::BuildGauge()
                         .Name("gpu_device_plugin_device_api_connected")
                         .Help("1 while the Device API server is reachable")
                         .Register(*registry_)
                         .Add({})),
      grace_expired_(prometheus::BuildGauge()
                         .Name("gpu_device_plugin_device_api_grace_expired")
                         .Help("1 while every device is reported Unhealthy because the Device API has been "
                               "unreachable for longer than --api-unavailable-grace")
                         .Register(*registry_)
                         .Add({})),
      reloads_(prometheus::BuildCounter()
                   .Name("gpu_device_plugin_config_reloads_total")
                   .Help("Config reloads on SIGHUP, by result")
                   .Register(*registry_)) {
  reloads_.Add({{"result", "success"}});
  reloads_.Add({{"result", "error"}});
}

void PluginMetrics::SetDevices(const std::string& resource, double healthy, double unhealthy, double gpus) {
  devices_.Add({{"resource", resource}, {"health", "healthy"}}).Set(healthy);
  devices_.Add({{"resource", resource}, {"health", "unhealthy"}}).Set(unhealthy);
  gpus_.Add({{"resource", resource}}).Set(gpus);
}

void PluginMetrics::RecordAllocation(const std::string& resource) {
  allocations_.Add({{"resource", resource}}).Increment();
}

void PluginMetrics::RecordAllocationFailure(const std::string& resource, std::string_view reason) {
  allocation_failures_.Add({{"resource", resource}, {"reason", std::string(reason)}}).Increment();
}

void PluginMetrics::RecordPreferredAllocation(const std::string& resource, bool ok) {
  preferred_.Add({{"resource", resource}, {"result", ok ? "success" : "error"}}).Increment();
}

void PluginMetrics::RecordRegistration(const std::string& resource, bool ok) {
  registrations_.Add({{"resource", resource}, {"result", ok ? "success" : "error"}}).Increment();
}

void PluginMetrics::RecordKubeletRestart() { kubelet_restarts_.Increment(); }

void PluginMetrics::AddStreams(const std::string& resource, double delta) {
  streams_.Add({{"resource", resource}}).Increment(delta);
}

void PluginMetrics::RecordListAndWatchUpdate(const std::string& resource) {
  updates_.Add({{"resource", resource}}).Increment();
}

void PluginMetrics::SetDeviceApi(bool connected, bool grace_expired) {
  api_connected_.Set(connected ? 1 : 0);
  grace_expired_.Set(grace_expired ? 1 : 0);
}

void PluginMetrics::RecordConfigReload(bool ok) {
  reloads_.Add({{"result", ok ? "success" : "error"}}).Increment();
}

std::string PluginMetrics::Serialize() const { return observability::ExpositionText({registry_.get()}); }

}  // namespace deviceapi::deviceplugin
