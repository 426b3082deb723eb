// The device-api-server process minus main(): the GpuService on the Unix
// socket, gRPC health + reflection on the TCP probe port, HTTP metrics and
// probes, and the graceful shutdown sequence.
#ifndef DEVICEAPI_APISERVER_SERVER_H_
#define DEVICEAPI_APISERVER_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "apiserver/options.h"

namespace deviceapi::storage {
class Store;
}
namespace deviceapi::observability {
class HttpServer;
}

namespace deviceapi::apiserver {

class GpuService;
class ReflectionService;
class AuditLog;
class HeartbeatMonitor;
class PeerTable;
class FdWindow;
class UnixAcceptor;
class GpuRegistry;
class GrpcServerMetrics;
class ServerMetrics;

inline constexpr char kGpuServiceName[] = "nvidia.nvsentinel.v1alpha1.GpuService";
inline constexpr char kHealthServiceName[] = "grpc.health.v1.Health";

class DeviceApiServer {
 public:
  // Binds every endpoint and starts serving; returns once health is SERVING.
  // Fails if the socket is in use by a live server, a port is taken, or the
  // datastore cannot be opened.
  static absl::StatusOr<std::unique_ptr<DeviceApiServer>> Start(const ServerOptions& options);
  ~DeviceApiServer();

  // The graceful sequence: health NOT_SERVING, wait --shutdown-delay, stop
  // accepting connections and calls, end open watches with UNAVAILABLE, let in-flight unary
  // calls finish within --shutdown-grace-period (then cancel them), stop the
  // probe servers and remove the socket. Idempotent; blocks until done.
  void Shutdown();

  int health_port() const { return health_port_; }
  int metrics_port() const;
  const std::string& socket_path() const { return options_.socket_path; }
  std::string target() const { return "unix://" + options_.socket_path; }
  bool ready() const { return ready_.load(); }
  storage::Store& store();

 private:
  explicit DeviceApiServer(ServerOptions options);
  absl::Status Init();
  void SetServing(bool serving);
  // Sets grpc.health.v1 on every server without touching ready_.
  void PublishHealth(bool serving);
  // While ready: follows store_->Ready() (an external datastore can go away
  // and come back), flipping health between SERVING and NOT_SERVING.
  void FollowStoreReadiness();

  ServerOptions options_;
  std::shared_ptr<storage::Store> store_;
  std::shared_ptr<ServerMetrics> metrics_;
  std::shared_ptr<GpuRegistry> registry_;
  std::unique_ptr<GpuService> service_;
  std::unique_ptr<GpuService> read_only_service_;
  // Reflection of what each listener serves: the sockets (GpuService and health) and the TCP probe
  // port (health only).
  std::unique_ptr<ReflectionService> socket_reflection_;
  std::unique_ptr<ReflectionService> tcp_reflection_;
  // Declared before the servers: destroyed after them.
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> unused_cqs_;
  std::unique_ptr<grpc::Server> api_server_;
  std::unique_ptr<grpc::Server> read_only_server_;
  // Accepts the Unix sockets' connections and hands them to the two servers
  // above, recording each peer's credentials in peers_ (unix_acceptor.h).
  // Declared after the servers: destroyed (stopped) before them.
  std::shared_ptr<PeerTable> peers_;
  std::shared_ptr<AuditLog> audit_;  // --audit-log; null when off
  std::shared_ptr<FdWindow> fd_window_;
  std::unique_ptr<UnixAcceptor> acceptor_;
  std::unique_ptr<grpc::Server> health_server_;
  std::unique_ptr<observability::HttpServer> http_;
  std::unique_ptr<HeartbeatMonitor> heartbeats_;
  int health_port_ = 0;
  std::atomic<bool> ready_{false};
  std::atomic<bool> shut_down_{false};
  absl::Notification stop_readiness_;
  std::thread readiness_thread_;
};

// Prepares the socket path: creates the parent directory (0750), refuses a
// live socket ("already in use"), removes a stale one, refuses to touch a
// path that is not a socket.
absl::Status PrepareSocketPath(const std::string& path);

}  // namespace deviceapi::apiserver

#endif  // DEVICEAPI_APISERVER_SERVER_H_
