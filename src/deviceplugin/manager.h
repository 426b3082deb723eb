// The plugin's life on a node: an informer on the Device API's GPUs, one PluginServer per
// advertised resource, registration with the kubelet, re-registration when the kubelet restarts
// (kubelet.sock re-created, seen with inotify), the API-unavailable grace, and config reloads.
//
// One control thread makes every decision (start/stop servers, register, recompute the device
// lists), so the order the kubelet needs holds by construction: a resource's old server is
// stopped completely before its new one starts and registers. The informer's handlers, the
// directory watcher and Reload() only flag work and wake it.
#ifndef DEVICEAPI_DEVICEPLUGIN_MANAGER_H_
#define DEVICEAPI_DEVICEPLUGIN_MANAGER_H_

#include <map>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "deviceapi/informer.h"
#include "deviceplugin/config.h"
#include "deviceplugin/health.h"
#include "deviceplugin/metrics.h"
#include "deviceplugin/options.h"
#include "deviceplugin/plugin_server.h"

namespace deviceapi::deviceplugin {

class Plugin {
 public:
  // `client` reads the GPUs; `channel` is its connection, watched for the API-unavailable grace.
  Plugin(PluginOptions options, PluginConfig config, GpuInterfacePtr client,
         std::shared_ptr<grpc::Channel> channel);
  ~Plugin();  // Shutdown()s
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  // Creates the device plugin directory if needed, starts the directory watcher, the informer and
  // the control thread. Servers start and register once the first list of GPUs has arrived.
  absl::Status Start();

  // Replaces the config (SIGHUP): every server is stopped and started again with it. A config
  // equal to the current one changes nothing.
  void Reload(PluginConfig config) ABSL_LOCKS_EXCLUDED(mu_);

  // Stops the servers (their sockets removed) and the threads. Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

  std::string MetricsText() const { return metrics_.Serialize(); }
  void RecordConfigReload(bool ok) { metrics_.RecordConfigReload(ok); }
  // Ready: the GPUs are listed, every resource is served and registered (when registering).
  bool Ready() const ABSL_LOCKS_EXCLUDED(mu_);
  // Live: the control thread has run recently.
  bool Live() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Served {
    std::unique_ptr<PluginServer> server;
    bool registered = false;
    absl::Time retry_at = absl::InfinitePast();
    absl::Duration backoff = absl::Milliseconds(500);
  };

  void ControlLoop();
  void WatchDirectory();
  // Control thread only.
  void RestartServers(const char* why);
  void StopServers();
  void RegisterPending(absl::Time now);
  std::vector<ResourceState> ComputeResources(bool force_unhealthy);

  const PluginOptions options_;
  GpuInterfacePtr client_;
  std::shared_ptr<grpc::Channel> channel_;
  mutable PluginMetrics metrics_;
  std::unique_ptr<GpuInformer> informer_;
  EventHandlerRegistrationPtr handler_;
  std::thread control_;
  std::thread watcher_;
  int wake_fd_ = -1;  // eventfd that ends the directory watcher's poll

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool dirty_ ABSL_GUARDED_BY(mu_) = true;               // the GPUs changed
  bool kubelet_restarted_ ABSL_GUARDED_BY(mu_) = false;  // kubelet.sock was (re)created
  std::shared_ptr<const PluginConfig> pending_config_ ABSL_GUARDED_BY(mu_);
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_loop_ ABSL_GUARDED_BY(mu_) = absl::Now();
  bool shut_down_ = false;  // Shutdown() only

  // Control thread only.
  std::shared_ptr<const PluginConfig> config_;
  std::map<std::string, Served> servers_;
  ApiAvailability api_;
  bool synced_ = false;
};

}  // namespace deviceapi::deviceplugin

#endif  // DEVICEAPI_DEVICEPLUGIN_MANAGER_H_
