// gpu-device-plugin's Prometheus metrics (served on /metrics with the process_* metrics):
//   gpu_device_plugin_devices{resource,health="healthy|unhealthy"}    advertised devices
//   gpu_device_plugin_gpus{resource}                                   physical GPUs behind them
//   gpu_device_plugin_allocations_total{resource}                      successful Allocate calls
//   gpu_device_plugin_allocation_failures_total{resource,reason}       refused Allocate calls
//   gpu_device_plugin_preferred_allocations_total{resource,result}     GetPreferredAllocation calls
//   gpu_device_plugin_registrations_total{resource,result="success|error"}
//   gpu_device_plugin_kubelet_restarts_total                           kubelet.sock re-creations seen
//   gpu_device_plugin_list_and_watch_streams{resource}                 open ListAndWatch streams
//   gpu_device_plugin_list_and_watch_updates_total{resource}           device lists sent
//   gpu_device_plugin_device_api_connected                             1 while the Device API is reachable
//   gpu_device_plugin_device_api_grace_expired                         1 while devices are forced Unhealthy
//   gpu_device_plugin_config_reloads_total{result="success|error"}     SIGHUP reloads
// Thread-safe.
#ifndef DEVICEAPI_DEVICEPLUGIN_METRICS_H_
#define DEVICEAPI_DEVICEPLUGIN_METRICS_H_

#include <memory>
#include <string>
#include <string_view>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace deviceapi::deviceplugin {

class PluginMetrics {
 public:
  PluginMetrics();

  void SetDevices(const std::string& resource, double healthy, double unhealthy, double gpus);
  void RecordAllocation(const std::string& resource);
  void RecordAllocationFailure(const std::string& resource, std::string_view reason);
  void RecordPreferredAllocation(const std::string& resource, bool ok);
  void RecordRegistration(const std::string& resource, bool ok);
  void RecordKubeletRestart();
  void AddStreams(const std::string& resource, double delta);
  void RecordListAndWatchUpdate(const std::string& resource);
  void SetDeviceApi(bool connected, bool grace_expired);
  void RecordConfigReload(bool ok);

  std::string Serialize() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>& devices_;
  prometheus::Family<prometheus::Gauge>& gpus_;
  prometheus::Family<prometheus::Counter>& allocations_;
  prometheus::Family<prometheus::Counter>& allocation_failures_;
  prometheus::Family<prometheus::Counter>& preferred_;
  prometheus::Family<prometheus::Counter>& registrations_;
  prometheus::Counter& kubelet_restarts_;
  prometheus::Family<prometheus::Gauge>& streams_;
  prometheus::Family<prometheus::Counter>& updates_;
  prometheus::Gauge& api_connected_;
  prometheus::Gauge& grace_expired_;
  prometheus::Family<prometheus::Counter>& reloads_;
};

}  // namespace deviceapi::deviceplugin

#endif  // DEVICEAPI_DEVICEPLUGIN_METRICS_H_
