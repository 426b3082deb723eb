#include "deviceplugin/plugin_server.h"

#include <optional>
#include <random>

#include <spdlog/spdlog.h>

#include "common/logging.h"
#include "common/strings.h"
#include "deviceplugin/allocator.h"

namespace deviceapi::deviceplugin {

using common::Cat;

std::string SocketName(std::string_view resource) {
  const size_t slash = resource.rfind('/');
  std::string_view name = slash == std::string_view::npos ? resource : resource.substr(slash + 1);
  return Cat("nvidia-", name, ".sock");
}

v1beta1::ListAndWatchResponse DeviceList(const ResourceState& state) {
  v1beta1::ListAndWatchResponse out;
  out.mutable_devices()->Reserve(static_cast<int>(state.devices.size()));
  for (const Device& d : state.devices) {
    v1beta1::Device* dev = out.add_devices();
    dev->set_id(d.id);
    dev->set_health(std::string(state.Healthy(d) ? kHealthy : kUnhealthy));
    const int numa = state.GpuOf(d).numa_node;
    if (numa >= 0) dev->mutable_topology()->add_nodes()->set_id(numa);
  }
  return out;
}

namespace {

// A unique suffix for the CDI annotation key of one response (NVIDIA uses a random UUID).
std::string RandomSuffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const uint64_t a = rng(), b = rng();
  return fmt::format("{:016x}{:016x}", a, b);
}

std::string_view FailureReason(const absl::Status& s) {
  const std::string_view m = common::ToStd(s.message());
  if (m.find("unknown device") != std::string_view::npos) return "unknown_device";
  if (m.find("maximum request size") != std::string_view::npos) return "request_too_large";
  if (m.find("unhealthy") != std::string_view::npos) return "unhealthy";
  if (m.find("no devices requested") != std::string_view::npos) return "empty_request";
  return "invalid";
}

grpc::Status ToGrpc(const absl::Status& s) {
  const auto code = s.code() == absl::StatusCode::kInvalidArgument ? grpc::StatusCode::INVALID_ARGUMENT
                                                                   : grpc::StatusCode::UNKNOWN;
  return grpc::Status(code, std::string(s.message()));
}

}  // namespace

// A ListAndWatch stream: at most one write in flight; the newest list waits behind it.
class PluginServer::Stream : public grpc::ServerWriteReactor<v1beta1::ListAndWatchResponse> {
 public:
  explicit Stream(PluginServer* server) : server_(server) {}

  // Queues `list` (replacing a queued older one) and writes it when nothing is in flight.
  void Push(std::shared_ptr<const v1beta1::ListAndWatchResponse> list) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock l(&mu_);
      pending_ = std::move(list);
    }
    Pump();
  }
  // Ends the stream (OK) once the write in flight, if any, is done.
  void End() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock l(&mu_);
      ending_ = true;
    }
    Pump();
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock l(&mu_);
      in_flight_ = false;
      writing_.reset();
      if (!ok) cancelled_ = true;  // the kubelet is gone
    }
    if (ok) server_->metrics_->RecordListAndWatchUpdate(server_->resource_);
    Pump();
  }
  void OnCancel() override {
    {
      absl::MutexLock l(&mu_);
      cancelled_ = true;
    }
    Pump();
  }
  void OnDone() override {
    server_->RemoveStream(this);
    delete this;
  }

 private:
  void Pump() ABSL_LOCKS_EXCLUDED(mu_) {
    std::optional<grpc::Status> finish;
    const v1beta1::ListAndWatchResponse* write = nullptr;
    {
      absl::MutexLock l(&mu_);
      if (in_flight_ || finished_) return;
      if (cancelled_) {
        finished_ = true;
        finish = grpc::Status(grpc::StatusCode::CANCELLED, "ListAndWatch cancelled");
      } else if (pending_ != nullptr) {
        writing_ = std::move(pending_);
        pending_.reset();
        in_flight_ = true;
        write = writing_.get();
      } else if (ending_) {
        finished_ = true;
        finish = grpc::Status::OK;
      }
    }
    if (write != nullptr) {
      StartWrite(write);
    } else if (finish) {
      Finish(*finish);
    }
  }

  PluginServer* const server_;
  absl::Mutex mu_;
  std::shared_ptr<const v1beta1::ListAndWatchResponse> pending_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const v1beta1::ListAndWatchResponse> writing_ ABSL_GUARDED_BY(mu_);
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

class PluginServer::Service : public v1beta1::DevicePlugin::CallbackService {
 public:
  explicit Service(PluginServer* server) : server_(server) {}

  grpc::ServerUnaryReactor* GetDevicePluginOptions(grpc::CallbackServerContext* ctx, const v1beta1::Empty*,
                                                   v1beta1::DevicePluginOptions* out) override {
    // PreStartContainer is not needed: everything a container gets is decided in Allocate.
    out->set_pre_start_required(false);
    out->set_get_preferred_allocation_available(true);
    return Done(ctx, grpc::Status::OK);
  }

  grpc::ServerWriteReactor<v1beta1::ListAndWatchResponse>* ListAndWatch(grpc::CallbackServerContext*,
                                                                        const v1beta1::Empty*) override {
    return server_->NewStream().release();
  }

  grpc::ServerUnaryReactor* GetPreferredAllocation(grpc::CallbackServerContext* ctx,
                                                   const v1beta1::PreferredAllocationRequest* req,
                                                   v1beta1::PreferredAllocationResponse* out) override {
    const std::shared_ptr<const ResourceState> state = server_->state();
    for (const v1beta1::ContainerPreferredAllocationRequest& c : req->container_requests()) {
      std::vector<std::string> available(c.available_deviceids().begin(), c.available_deviceids().end());
      std::vector<std::string> must(c.must_include_deviceids().begin(), c.must_include_deviceids().end());
      absl::StatusOr<std::vector<std::string>> ids = PreferredAllocation(
          *state, available, must, c.allocation_size(), server_->config_->shared_allocation_policy);
      if (!ids.ok()) {
        server_->metrics_->RecordPreferredAllocation(server_->resource_, false);
        spdlog::warn("GetPreferredAllocation for {}: {}", server_->resource_,
                     common::ToStd(ids.status().message()));
        return Done(ctx, ToGrpc(ids.status()));
      }
      DAPI_VLOG(2, "GetPreferredAllocation {} of {} (must include {}): {}", c.allocation_size(),
                server_->resource_, fmt::join(must, ","), fmt::join(*ids, ","));
      auto* r = out->add_container_responses();
      for (std::string& id : *ids) r->add_deviceids(std::move(id));
    }
    server_->metrics_->RecordPreferredAllocation(server_->resource_, true);
    return Done(ctx, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* Allocate(grpc::CallbackServerContext* ctx, const v1beta1::AllocateRequest* req,
                                     v1beta1::AllocateResponse* out) override {
    const std::shared_ptr<const ResourceState> state = server_->state();
    const PluginConfig& config = *server_->config_;
    if (req->container_requests_size() == 0) {
      server_->metrics_->RecordAllocationFailure(server_->resource_, "empty_request");
      return Done(ctx, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                    Cat("invalid allocation request for \"", server_->resource_,
                                        "\": no container requests")));
    }
    for (const v1beta1::ContainerAllocateRequest& c : req->container_requests()) {
      std::vector<std::string> ids(c.devices_ids().begin(), c.devices_ids().end());
      absl::Status valid =
          ValidateAllocateRequest(*state, ids, config.time_slicing.fail_requests_greater_than_one);
      if (!valid.ok()) {
        server_->metrics_->RecordAllocationFailure(server_->resource_, FailureReason(valid));
        spdlog::warn("Allocate refused: {}", common::ToStd(valid.message()));
        return Done(ctx, ToGrpc(valid));
      }
      *out->add_container_responses() = ContainerResponse(*state, ids, config, RandomSuffix());
      spdlog::info("Allocate {}: {}", server_->resource_, fmt::join(ids, ","));
    }
    server_->metrics_->RecordAllocation(server_->resource_);
    return Done(ctx, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* PreStartContainer(grpc::CallbackServerContext* ctx,
                                              const v1beta1::PreStartContainerRequest*,
                                              v1beta1::PreStartContainerResponse*) override {
    // Not advertised; harmless for any IDs, including allocations restored from the kubelet's
    // checkpoint after a restart (nothing is prepared per container).
    return Done(ctx, grpc::Status::OK);
  }

 private:
  static grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx, const grpc::Status& s) {
    grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
    r->Finish(s);
    return r;
  }

  PluginServer* const server_;
};

PluginServer::PluginServer(std::string socket_path, ResourceState initial,
                           std::shared_ptr<const PluginConfig> config, PluginMetrics* metrics)
    : socket_path_(std::move(socket_path)),
      resource_(initial.name),
      config_(std::move(config)),
      metrics_(metrics),
      state_(std::make_shared<const ResourceState>(std::move(initial))) {
  list_ = std::make_shared<const v1beta1::ListAndWatchResponse>(DeviceList(*state_));
}

absl::StatusOr<std::unique_ptr<PluginServer>> PluginServer::Start(std::string socket_path,
                                                                  ResourceState initial,
                                                                  std::shared_ptr<const PluginConfig> config,
                                                                  PluginMetrics* metrics) {
  // The directory must not be writable by everyone; a link, a live socket (another plugin still
  // serving: retried, see Plugin) or any other file at the path is refused, a stale socket (ours
  // from before a crash; the kubelet removes the others when it restarts) is removed.
  if (absl::Status st = common::PrepareSocketPath(socket_path); !st.ok()) return st;
  std::unique_ptr<PluginServer> s(
      new PluginServer(std::move(socket_path), std::move(initial), std::move(config), metrics));
  s->service_ = std::make_unique<Service>(s.get());
  grpc::ServerBuilder b;
  b.AddListeningPort("unix:" + s->socket_path_, grpc::InsecureServerCredentials());
  b.RegisterService(s->service_.get());
  // The kubelet is the only client: keep the server small.
  b.SetMaxReceiveMessageSize(4 << 20);
  s->server_ = b.BuildAndStart();
  if (s->server_ == nullptr) return absl::UnavailableError(Cat("cannot listen on unix://", s->socket_path_));
  absl::StatusOr<common::FileIdentity> id = common::RestrictSocketMode(s->socket_path_, kSocketMode);
  if (!id.ok()) return id.status();
  s->socket_id_ = *id;
  s->Update(*s->state());  // the metrics of the initial list
  return s;
}

PluginServer::~PluginServer() { Stop(); }

std::shared_ptr<const ResourceState> PluginServer::state() const {
  absl::MutexLock l(&mu_);
  return state_;
}

int PluginServer::open_streams() const {
  absl::MutexLock l(&mu_);
  return static_cast<int>(streams_.size());
}

void PluginServer::Update(ResourceState state) {
  int healthy = 0;
  for (const Device& d : state.devices) healthy += state.Healthy(d) ? 1 : 0;
  metrics_->SetDevices(resource_, healthy, static_cast<double>(state.devices.size()) - healthy,
                       static_cast<double>(state.gpus.size()));
  auto list = std::make_shared<const v1beta1::ListAndWatchResponse>(DeviceList(state));
  absl::MutexLock l(&mu_);
  state_ = std::make_shared<const ResourceState>(std::move(state));
  if (list_ != nullptr && list_->SerializeAsString() == list->SerializeAsString()) return;
  list_ = list;
  DAPI_VLOG(1, "{}: {} devices, {} healthy; sending to {} stream(s)", resource_, list->devices_size(),
            healthy, streams_.size());
  // Under mu_: a stream removes itself (OnDone) under mu_ before it is deleted.
  for (Stream* s : streams_) s->Push(list);
}

std::unique_ptr<grpc::ServerWriteReactor<v1beta1::ListAndWatchResponse>> PluginServer::NewStream() {
  auto stream = std::make_unique<Stream>(this);
  absl::MutexLock l(&mu_);
  if (stopping_) {
    stream->End();
    return stream;
  }
  streams_.insert(stream.get());
  metrics_->AddStreams(resource_, 1);
  DAPI_VLOG(1, "{}: ListAndWatch opened; sending {} devices", resource_, list_->devices_size());
  stream->Push(list_);
  return stream;
}

void PluginServer::RemoveStream(Stream* stream) {
  absl::MutexLock l(&mu_);
  if (streams_.erase(stream) > 0) metrics_->AddStreams(resource_, -1);
}

void PluginServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    for (Stream* s : streams_) s->End();
  }
  if (server_ != nullptr) {
    // Streams still writing are cancelled at the deadline; Shutdown returns when no call runs.
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
    server_->Wait();
  }
  // Remove the socket only if it is still ours (the kubelet deletes plugin sockets when it
  // restarts; a new server may own the path by now).
  common::RemoveSocketIfSame(socket_path_, socket_id_);
  spdlog::info("stopped serving {} on {}", resource_, socket_path_);
}

}  // namespace deviceapi::deviceplugin
