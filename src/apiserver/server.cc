#include "apiserver/server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "apiserver/audit_log.h"
#include "apiserver/authorization.h"
#include "apiserver/fd_window.h"
#include "apiserver/gpu_registry.h"
#include "apiserver/gpu_service.h"
#include "apiserver/grpc_metrics.h"
#include "apiserver/heartbeat_monitor.h"
#include "apiserver/metrics.h"
#include "apiserver/peer_table.h"
#include "apiserver/reflection_service.h"
#include "apiserver/unix_acceptor.h"
#include "common/strings.h"
#include "common/version.h"
#include "grpc/health/v1/health.pb.h"
#include "observability/http_server.h"
#include "storage/store.h"

namespace deviceapi::apiserver {

namespace {

// Permit client keepalive pings this often without a call in flight (Node
// Problem Detector's client pings every 30 s).
constexpr int kMinClientPingIntervalMs = 10000;

bool SocketIsLive(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  const bool live = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return live;
}

std::string TcpAddress(const std::string& host, int port) {
  if (host.empty()) return absl::StrCat("0.0.0.0:", port);
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

void ApplyCommonArgs(grpc::ServerBuilder& b, const ServerOptions& o) {
  b.SetMaxReceiveMessageSize(o.max_recv_msg_size);
  b.SetMaxSendMessageSize(o.max_send_msg_size);
  b.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, o.max_streams_per_connection);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  b.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, kMinClientPingIntervalMs);
  b.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
}

void MarkNotServing(grpc::Server* server) {
  if (auto* h = server->GetHealthCheckService()) {
    h->SetServingStatus("", false);
    h->SetServingStatus(kGpuServiceName, false);
  }
}

}  // namespace

absl::Status PrepareSocketPath(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path parent = fs::path(path).parent_path();
  if (!fs::exists(parent, ec)) {
    fs::create_directories(parent, ec);
    if (ec)
      return absl::FailedPreconditionError(
          absl::StrCat("create socket directory ", parent.string(), ": ", ec.message()));
    ::chmod(parent.c_str(), 0750);
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat("bind address ", path, " exists and is not a socket"));
    }
    if (SocketIsLive(path)) {
      return absl::FailedPreconditionError(
          absl::StrCat("bind address ", path, " is already in use by a running server"));
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return absl::FailedPreconditionError(
          absl::StrCat("remove stale socket ", path, ": ", common::ErrnoString(errno)));
    }
    spdlog::info("removed stale socket {}", path);
  }
  return absl::OkStatus();
}

DeviceApiServer::DeviceApiServer(ServerOptions options) : options_(std::move(options)) {}

DeviceApiServer::~DeviceApiServer() { Shutdown(); }

storage::Store& DeviceApiServer::store() { return *store_; }

int DeviceApiServer::metrics_port() const { return http_ ? http_->port() : 0; }

absl::StatusOr<std::unique_ptr<DeviceApiServer>> DeviceApiServer::Start(const ServerOptions& options) {
  if (auto s = ValidateServerOptions(options); !s.ok()) return s;
  std::unique_ptr<DeviceApiServer> server(new DeviceApiServer(options));
  if (auto s = server->Init(); !s.ok()) {
    server->Shutdown();
    return s;
  }
  return server;
}

absl::Status DeviceApiServer::Init() {
  const absl::Time started = absl::Now();
  metrics_ = std::make_shared<ServerMetrics>();
  storage::StoreConfig sc;
  sc.history_size = static_cast<size_t>(options_.watch_history_size);
  sc.history_age = options_.watch_history_age;
  sc.watch_queue_size = static_cast<size_t>(options_.watch_queue_size);
  sc.bookmark_interval = options_.watch_bookmark_interval;
  sc.max_objects = static_cast<size_t>(options_.max_objects);
  sc.rv_mark_file = options_.rv_mark_path;
  std::weak_ptr<ServerMetrics> weak_metrics = metrics_;
  sc.on_watcher_evicted = [weak_metrics] {
    if (auto m = weak_metrics.lock()) m->RecordWatcherEvicted();
  };
  auto store = storage::OpenStore(options_.datastore_endpoint, sc);
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  std::weak_ptr<storage::Store> weak_store = store_;
  metrics_->SetStoreGaugesProvider([weak_store] {
    StoreGauges g;
    if (auto s = weak_store.lock()) {
      auto st = s->Stats();
      g.resource_version = st.resource_version;
      g.objects = st.objects;
      g.gpus_healthy = st.healthy;
      g.gpus_unhealthy = st.unhealthy;
      g.gpus_unknown = st.unknown;
      g.watch_streams_active = st.watchers;
      g.history_events = st.history_events;
      g.history_oldest_rv = st.history_oldest_rv;
    }
    return g;
  });

  RegistryOptions ro;
  ro.limits.max_conditions = static_cast<size_t>(options_.max_conditions);
  ro.max_patch_bytes = static_cast<size_t>(options_.max_recv_msg_size);
  registry_ = std::make_shared<GpuRegistry>(store_, ro);
  peers_ = std::make_shared<PeerTable>();
  fd_window_ = FdWindow::ForProcess();
  acceptor_ = std::make_unique<UnixAcceptor>(peers_, fd_window_);
  auto policy = std::make_shared<const AuthorizationPolicy>(PolicyFromOptions(options_, ::geteuid()));
  {
    AuditLogOptions ao;
    ao.path = options_.audit_log_path;
    ao.max_size_bytes = options_.audit_log_max_size;
    ao.max_backups = options_.audit_log_max_backups;
    auto audit = AuditLog::Open(ao);
    if (!audit.ok()) return audit.status();
    audit_ = std::move(*audit);  // null when --audit-log is empty
  }
  WriteObserver audit_observer;
  if (audit_) {
    std::weak_ptr<ServerMetrics> wm = metrics_;
    audit_observer = [audit = audit_, wm](const WriteEvent& e) {
      AuditRecord r;
      r.time = absl::Now();
      if (e.peer.known) {
        r.uid = e.peer.uid;
        r.gid = e.peer.gid;
        r.pid = e.peer.pid;
      }
      r.socket = e.read_only_endpoint ? "read-only" : "api";
      r.verb = std::string(e.verb);
      r.namespace_ = std::string(e.ns);
      r.name = std::string(e.name);
      r.resource_version = std::string(e.resource_version);
      r.code = GrpcCodeName(e.status.error_code());
      r.message = e.status.error_message();
      const bool written = audit->Record(r);
      if (auto m = wm.lock()) m->RecordAudit(written);
    };
  }
  {
    GpuServiceOptions so;
    so.peers = peers_;
    so.authorization = policy;
    so.observer = audit_observer;
    service_ = std::make_unique<GpuService>(registry_, metrics_.get(), std::move(so));
  }

  grpc::EnableDefaultHealthCheckService(true);
  // Links the grpc.health.v1 descriptors so reflection can describe the
  // health service (Debian's libgrpc++ registers none).
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  socket_reflection_ =
      std::make_unique<ReflectionService>(std::vector<std::string>{kGpuServiceName, kHealthServiceName});
  tcp_reflection_ = std::make_unique<ReflectionService>(std::vector<std::string>{kHealthServiceName});
  auto grpc_metrics = std::make_shared<GrpcServerMetrics>(metrics_->registry());
  // Every service here is a callback service (reflection too: ReflectionService
  // replaced libgrpc++_reflection's synchronous one). A synchronous service
  // gives its server a pool of sync-server threads that poll the sockets too
  // (gRPC's pollers are process-wide) and pick up API traffic (measured: 0.7
  // more context switches per Get, docs/performance.md); a server with a
  // completion queue of its own is "hybrid" to gRPC and keeps such threads on
  // non-polling queues. The queue stays as that guard for any synchronous
  // service added later; it is never used, only shut down at the end.
  auto keep_sync_threads_off_sockets = [this](grpc::ServerBuilder& b) {
    unused_cqs_.push_back(b.AddCompletionQueue(/*is_frequently_polled=*/true));
  };

  // The API socket, and optionally a read-only twin for consumers. The
  // servers listen on no port of their own: acceptor_ hands them their
  // connections.
  auto serve_socket = [&](const std::string& path,
                          grpc::Service* service) -> absl::StatusOr<std::unique_ptr<grpc::Server>> {
    if (auto s = PrepareSocketPath(path); !s.ok()) return s;
    grpc::ServerBuilder b;
    ApplyCommonArgs(b, options_);
    keep_sync_threads_off_sockets(b);
    b.RegisterService(service);
    b.RegisterService(socket_reflection_.get());
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> ic;
    ic.push_back(MakeGrpcMetricsInterceptorFactory(grpc_metrics));
    b.experimental().SetInterceptorCreators(std::move(ic));
    std::unique_ptr<grpc::Server> server = b.BuildAndStart();
    if (!server) return absl::UnavailableError(absl::StrCat("cannot listen on unix://", path));
    // The default health service answers SERVING for "" until told otherwise.
    MarkNotServing(server.get());
    if (auto s = acceptor_->Listen(path, options_.socket_mode, server.get()); !s.ok()) return s;
    return server;
  };
  auto api = serve_socket(options_.socket_path, service_.get());
  if (!api.ok()) return api.status();
  api_server_ = std::move(*api);
  if (!options_.read_only_socket_path.empty()) {
    GpuServiceOptions so;
    so.read_only = true;
    so.peers = peers_;
    so.observer = audit_observer;
    read_only_service_ = std::make_unique<GpuService>(registry_, metrics_.get(), std::move(so));
    auto ro = serve_socket(options_.read_only_socket_path, read_only_service_.get());
    if (!ro.ok()) return ro.status();
    read_only_server_ = std::move(*ro);
  }
  if (auto s = acceptor_->Start(); !s.ok()) return s;
  spdlog::info(
      "writers: --writer-uids {} --writer-gids {}; {} condition type(s) owned by providers, "
      "--operator-uids {}; descriptors of connections from [{}, {})",
      FormatIds(policy->writers.uids), FormatIds(policy->writers.gids),
      policy->ownership.owner_of_type.size(), FormatIds(policy->ownership.operator_uids), fd_window_->base(),
      fd_window_->base() + fd_window_->size());
  {
    grpc::ServerBuilder b;
    ApplyCommonArgs(b, options_);
    keep_sync_threads_off_sockets(b);
    b.AddListeningPort(TcpAddress(options_.health_host, options_.health_port),
                       grpc::InsecureServerCredentials(), &health_port_);
    b.RegisterService(tcp_reflection_.get());
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> ic;
    ic.push_back(MakeGrpcMetricsInterceptorFactory(grpc_metrics));
    b.experimental().SetInterceptorCreators(std::move(ic));
    health_server_ = b.BuildAndStart();
    if (!health_server_ || health_port_ == 0) {
      return absl::UnavailableError(
          absl::StrCat("health probe bind address ", options_.health_probe_bind_address, ": cannot listen"));
    }
    MarkNotServing(health_server_.get());
  }
  observability::HttpServer::Handlers h;
  std::weak_ptr<ServerMetrics> wm = metrics_;
  h.metrics = [wm] {
    auto m = wm.lock();
    return m ? m->Serialize() : std::string();
  };
  h.ready = [this] { return ready_.load() && store_->Ready().ok(); };
  h.live = [] { return true; };
  h.version_json = [] { return common::VersionJson(); };
  auto http = observability::HttpServer::Start(options_.metrics_host, options_.metrics_port, std::move(h));
  if (!http.ok()) return http.status();
  http_ = std::move(*http);

  if (auto s = store_->Ready(); !s.ok()) return s;
  if (options_.condition_heartbeat_timeout > absl::ZeroDuration()) {
    HeartbeatMonitorOptions ho;
    ho.timeout = options_.condition_heartbeat_timeout;
    ho.on_timeout = [wm] {
      if (auto m = wm.lock()) m->RecordHeartbeatTimeout();
    };
    heartbeats_ = std::make_unique<HeartbeatMonitor>(store_, std::move(ho));
  }
  SetServing(true);
  readiness_thread_ = std::thread([this] { FollowStoreReadiness(); });
  spdlog::info("device-api-server {} serving unix://{} (health :{}, metrics :{}, datastore {}) ready in {}",
               common::GetBuildInfo().version, options_.socket_path, health_port_, http_->port(),
               options_.datastore_endpoint, absl::FormatDuration(absl::Now() - started));
  return absl::OkStatus();
}

void DeviceApiServer::SetServing(bool serving) {
  ready_ = serving;
  PublishHealth(serving);
}

void DeviceApiServer::FollowStoreReadiness() {
  bool serving = true;
  while (!stop_readiness_.WaitForNotificationWithTimeout(absl::Milliseconds(250))) {
    absl::Status s = store_->Ready();
    if (s.ok() == serving) continue;
    serving = s.ok();
    if (serving) {
      spdlog::info("datastore ready again: SERVING");
    } else {
      spdlog::warn("datastore not ready: NOT_SERVING: {}", std::string(s.message()));
    }
    PublishHealth(serving);
  }
}

void DeviceApiServer::PublishHealth(bool serving) {
  for (grpc::Server* s : {api_server_.get(), read_only_server_.get(), health_server_.get()}) {
    if (s == nullptr || s->GetHealthCheckService() == nullptr) continue;
    s->GetHealthCheckService()->SetServingStatus("", serving);
    s->GetHealthCheckService()->SetServingStatus(kGpuServiceName, serving);
  }
}

void DeviceApiServer::Shutdown() {
  if (shut_down_.exchange(true)) return;
  stop_readiness_.Notify();
  if (readiness_thread_.joinable()) readiness_thread_.join();
  const bool was_serving = ready_.load();
  SetServing(false);
  if (was_serving) {
    spdlog::info("shutting down: NOT_SERVING, waiting {} before stopping",
                 absl::FormatDuration(options_.shutdown_delay));
    absl::SleepFor(options_.shutdown_delay);
  }
  const absl::Time deadline = absl::Now() + options_.shutdown_grace_period;
  // No new connections (they are refused): the accept loop stops first.
  if (acceptor_) acceptor_->Stop();
  // New unary calls are refused with UNAVAILABLE from here on; open watches
  // end with UNAVAILABLE so clients resume elsewhere.
  heartbeats_.reset();  // no more server-side writes
  if (service_) service_->StartDraining();
  if (read_only_service_) read_only_service_->StartDraining();
  if (store_) store_->Shutdown();
  if (read_only_service_) read_only_service_->WaitIdle(deadline);
  if (service_ && !service_->WaitIdle(deadline)) {
    spdlog::warn("shutdown grace period {} expired with unary calls in flight; cancelling them",
                 absl::FormatDuration(options_.shutdown_grace_period));
  }
  // Nothing of ours is in flight any more: stop at once. An immediate
  // deadline also closes idle client connections instead of waiting for the
  // clients to hang up after GOAWAY.
  const auto now = std::chrono::system_clock::now();
  if (api_server_) api_server_->Shutdown(now);
  if (read_only_server_) read_only_server_->Shutdown(now);
  if (health_server_) {
    if (health_server_->GetHealthCheckService()) health_server_->GetHealthCheckService()->Shutdown();
    health_server_->Shutdown(now);
  }
  for (auto& cq : unused_cqs_) {
    cq->Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (cq->Next(&tag, &ok)) {
    }
  }
  if (http_) http_->Stop();
  if (api_server_) ::unlink(options_.socket_path.c_str());
  if (read_only_server_) ::unlink(options_.read_only_socket_path.c_str());
  spdlog::info("shutdown complete");
}

}  // namespace deviceapi::apiserver
