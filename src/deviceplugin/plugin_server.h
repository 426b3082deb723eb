// One advertised resource served to the kubelet: the DevicePlugin gRPC service on its own Unix
// socket in the device plugin directory. ListAndWatch streams get the full device list at once and
// again on every change (each message replaces the last); Allocate and GetPreferredAllocation read
// the current list. The server never blocks on a slow stream: a stream has at most one write in
// flight and only the newest list waits behind it.
#ifndef DEVICEAPI_DEVICEPLUGIN_PLUGIN_SERVER_H_
#define DEVICEAPI_DEVICEPLUGIN_PLUGIN_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <set>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/secure_path.h"
#include "deviceplugin/config.h"
#include "deviceplugin/devices.h"
#include "deviceplugin/metrics.h"
#include "deviceplugin/v1beta1/api.grpc.pb.h"

namespace deviceapi::deviceplugin {

// The socket file name for `resource` in the device plugin directory: "nvidia-<name>.sock", the
// name being the part after the '/' ("nvidia.com/gpu" -> "nvidia-gpu.sock").
std::string SocketName(std::string_view resource);

// The kubelet's view of a resource: one Device per advertised device, health and NUMA topology.
v1beta1::ListAndWatchResponse DeviceList(const ResourceState& state);

class PluginServer {
 public:
  // Mode of every plugin socket: the kubelet (root) dials it, nobody else needs to.
  static constexpr mode_t kSocketMode = 0660;

  // Removes a stale socket at `socket_path` (common::PrepareSocketPath: a link, a live socket or
  // another file there, or a directory writable by everyone, is an error), serves there with
  // kSocketMode and returns once the server accepts connections. `config` is fixed for the server's life (a
  // reload starts new servers).
  static absl::StatusOr<std::unique_ptr<PluginServer>> Start(std::string socket_path, ResourceState initial,
                                                             std::shared_ptr<const PluginConfig> config,
                                                             PluginMetrics* metrics);
  ~PluginServer();  // Stop()s
  PluginServer(const PluginServer&) = delete;
  PluginServer& operator=(const PluginServer&) = delete;

  // Replaces the device list; when it differs, every open ListAndWatch stream gets it.
  void Update(ResourceState state) ABSL_LOCKS_EXCLUDED(mu_);

  // Ends the streams, stops the gRPC server completely (no call runs after it returns) and removes
  // the socket if it is still the one this server created. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  const std::string& socket_path() const { return socket_path_; }
  const std::string& resource() const { return resource_; }
  std::shared_ptr<const ResourceState> state() const ABSL_LOCKS_EXCLUDED(mu_);
  int open_streams() const ABSL_LOCKS_EXCLUDED(mu_);

  class Stream;  // a ListAndWatch reactor

 private:
  class Service;
  PluginServer(std::string socket_path, ResourceState initial, std::shared_ptr<const PluginConfig> config,
               PluginMetrics* metrics);

  std::unique_ptr<grpc::ServerWriteReactor<v1beta1::ListAndWatchResponse>> NewStream();
  void RemoveStream(Stream* stream) ABSL_LOCKS_EXCLUDED(mu_);

  const std::string socket_path_;
  const std::string resource_;
  const std::shared_ptr<const PluginConfig> config_;
  PluginMetrics* const metrics_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  common::FileIdentity socket_id_;  // the socket bound; removed at Stop only if still there

  mutable absl::Mutex mu_;
  std::shared_ptr<const ResourceState> state_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const v1beta1::ListAndWatchResponse> list_ ABSL_GUARDED_BY(mu_);
  std::set<Stream*> streams_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ = false;  // only Stop() touches it, from one thread
};

}  // namespace deviceapi::deviceplugin

#endif  // DEVICEAPI_DEVICEPLUGIN_PLUGIN_SERVER_H_
