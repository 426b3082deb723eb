// The gRPC implementation of the typed client.
#include <algorithm>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_format.h"
#include "client/queue_watch.h"
#include "client/requests.h"
#include "device/v1alpha1/gpu.grpc.pb.h"
#include "deviceapi/clientset.h"
#include "deviceapi/errors.h"
#include "deviceapi/version.h"

namespace deviceapi {
namespace {

constexpr char kService[] = "nvidia.nvsentinel.v1alpha1.GpuService";

std::string Seconds(absl::Duration d) { return absl::StrFormat("%.3fs", absl::ToDoubleSeconds(d)); }

// waitForReady for every method; transparent retries of UNAVAILABLE for the unary methods only
// (a watch's owner resumes it from its last RV instead).
std::string ServiceConfigJson(const Config& c) {
  const std::string wfr = c.wait_for_ready ? "true" : "false";
  std::string unary = absl::StrFormat(R"({"name":[{"service":"%s"}],"waitForReady":%s)", kService, wfr);
  if (c.retry.max_attempts > 1) {
    unary += absl::StrFormat(
        R"(,"retryPolicy":{"maxAttempts":%d,"initialBackoff":"%s","maxBackoff":"%s","backoffMultiplier":%g,)"
        R"("retryableStatusCodes":["UNAVAILABLE"]})",
        std::min(c.retry.max_attempts, 5), Seconds(c.retry.initial_backoff), Seconds(c.retry.max_backoff),
        c.retry.backoff_multiplier);
  }
  unary += "}";
  std::string watch =
      absl::StrFormat(R"({"name":[{"service":"%s","method":"WatchGpus"}],"waitForReady":%s})", kService, wfr);
  return absl::StrFormat(R"({"methodConfig":[%s,%s]})", unary, watch);
}

int Millis(absl::Duration d) {
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d), std::numeric_limits<int>::max()));
}

// What every typed client and watch of one clientset share; outlives the clientset when they do.
struct Connection {
  Config config;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::GpuService::Stub> stub;

  void Prepare(grpc::ClientContext* ctx, absl::Duration call_timeout, bool unary) const {
    absl::Duration t = call_timeout;
    if (t == absl::ZeroDuration()) t = unary ? config.timeout : absl::InfiniteDuration();
    if (t != absl::InfiniteDuration()) ctx->set_deadline(absl::ToChronoTime(absl::Now() + t));
    ctx->set_wait_for_ready(config.wait_for_ready);
  }
};

// Reads a WatchGpus stream into the watch's queue.
class GrpcEventSource final : public client::EventSource {
 public:
  GrpcEventSource(std::shared_ptr<Connection> conn, v1::WatchGpusRequest req, absl::Duration call_timeout)
      : conn_(std::move(conn)), req_(std::move(req)) {
    conn_->Prepare(&ctx_, call_timeout, /*unary=*/false);
  }

  absl::Status Run(client::EventSink& sink) override {
    std::unique_ptr<grpc::ClientReader<v1::WatchGpusResponse>> reader = conn_->stub->WatchGpus(&ctx_, req_);
    v1::WatchGpusResponse resp;
    while (reader->Read(&resp)) {
      std::optional<EventType> type = ParseEventType(resp.type());
      if (!type.has_value()) continue;  // unknown types are skipped, as upstream does
      WatchEvent ev;
      ev.type = *type;
      ev.object = std::move(*resp.mutable_object());
      if (!sink.Push(std::move(ev))) {
        ctx_.TryCancel();
        break;
      }
    }
    return errors::FromGrpcStatus(reader->Finish());
  }

  void Interrupt() override { ctx_.TryCancel(); }

 private:
  std::shared_ptr<Connection> conn_;
  v1::WatchGpusRequest req_;
  grpc::ClientContext ctx_;
};

class GrpcGpuClient final : public GpuInterface {
 public:
  GrpcGpuClient(std::shared_ptr<Connection> conn, std::string ns)
      : GpuInterface(std::move(ns)), conn_(std::move(conn)) {}

 protected:
  absl::StatusOr<v1::Gpu> DoGet(std::string_view name, const GetOptions& opts) override {
    v1::GetGpuResponse resp;
    absl::Status s = Call(&v1::GpuService::Stub::GetGpu, client::MakeGetRequest(ns(), name, opts), &resp,
                          opts.call_timeout);
    if (!s.ok()) return s;
    return std::move(*resp.mutable_gpu());
  }

  absl::StatusOr<v1::GpuList> DoList(const ListOptions& opts) override {
    v1::ListGpusResponse resp;
    absl::Status s =
        Call(&v1::GpuService::Stub::ListGpus, client::MakeListRequest(ns(), opts), &resp, opts.call_timeout);
    if (!s.ok()) return s;
    return std::move(*resp.mutable_gpu_list());
  }

  absl::StatusOr<WatchPtr> DoWatch(const ListOptions& opts) override {
    auto source =
        std::make_unique<GrpcEventSource>(conn_, client::MakeWatchRequest(ns(), opts), opts.call_timeout);
    return WatchPtr(std::make_unique<client::QueueWatch>(std::move(source)));
  }

  absl::StatusOr<v1::Gpu> DoCreate(const v1::Gpu& gpu, const CreateOptions& opts) override {
    return Write(&v1::GpuService::Stub::CreateGpu, client::MakeCreateRequest(ns(), gpu), opts.call_timeout);
  }
  absl::StatusOr<v1::Gpu> DoUpdate(const v1::Gpu& gpu, const UpdateOptions& opts) override {
    return Write(&v1::GpuService::Stub::UpdateGpu, client::MakeUpdateRequest(ns(), gpu), opts.call_timeout);
  }
  absl::StatusOr<v1::Gpu> DoUpdateStatus(const v1::Gpu& gpu, const UpdateOptions& opts) override {
    return Write(&v1::GpuService::Stub::UpdateGpuStatus, client::MakeUpdateStatusRequest(ns(), gpu),
                 opts.call_timeout);
  }
  absl::StatusOr<v1::Gpu> DoPatch(std::string_view name, std::string_view patch_type, std::string_view data,
                                  const PatchOptions& opts,
                                  const std::vector<std::string>& subresources) override {
    return Write(&v1::GpuService::Stub::PatchGpu,
                 client::MakePatchRequest(ns(), name, patch_type, data, subresources), opts.call_timeout);
  }
  absl::Status DoDelete(std::string_view name, const DeleteOptions& opts) override {
    google::protobuf::Empty resp;
    return Call(&v1::GpuService::Stub::DeleteGpu, client::MakeDeleteRequest(ns(), name, opts), &resp,
                opts.call_timeout);
  }

 private:
  template <typename Req, typename Resp>
  using Method = grpc::Status (v1::GpuService::Stub::*)(grpc::ClientContext*, const Req&, Resp*);

  template <typename Req, typename Resp>
  absl::Status Call(Method<Req, Resp> method, const Req& req, Resp* resp, absl::Duration call_timeout) {
    grpc::ClientContext ctx;
    conn_->Prepare(&ctx, call_timeout, /*unary=*/true);
    grpc::Status s = (conn_->stub.get()->*method)(&ctx, req, resp);
    if (s.error_code() == grpc::StatusCode::CANCELLED) {
      // We never cancel a unary call ourselves, so the server did: gRPC core
      // cancels calls queued but not yet dispatched when a server shuts down
      // (grpc/grpc#41785). That is "try again", not a caller's cancellation.
      s = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                       "call cancelled by the server (shutting down): " + s.error_message());
    }
    return errors::FromGrpcStatus(s);
  }

  template <typename Req>
  absl::StatusOr<v1::Gpu> Write(Method<Req, v1::Gpu> method, const Req& req, absl::Duration call_timeout) {
    v1::Gpu out;
    absl::Status s = Call(method, req, &out, call_timeout);
    if (!s.ok()) return s;
    return out;
  }

  std::shared_ptr<Connection> conn_;
};

class GrpcDeviceV1alpha1 final : public DeviceV1alpha1Interface {
 public:
  explicit GrpcDeviceV1alpha1(std::shared_ptr<Connection> conn) : conn_(std::move(conn)) {}
  GpuInterfacePtr Gpus(std::string_view ns) override {
    return std::make_unique<GrpcGpuClient>(conn_, std::string(ns));
  }

 private:
  std::shared_ptr<Connection> conn_;
};

}  // namespace

class Clientset::Impl {
 public:
  explicit Impl(std::shared_ptr<Connection> conn) : conn(conn), device_v1alpha1(conn) {}
  std::shared_ptr<Connection> conn;
  GrpcDeviceV1alpha1 device_v1alpha1;
};

absl::StatusOr<std::unique_ptr<Clientset>> Clientset::NewForConfig(const Config& config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  absl::StatusOr<std::string> target = NormalizeTarget(config.target);
  if (!target.ok()) return target.status();

  grpc::ChannelArguments args;
  args.SetUserAgentPrefix(config.user_agent.empty() ? DefaultUserAgent() : config.user_agent);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, Millis(config.keepalive_time));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Millis(config.keepalive_timeout));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, config.keepalive_without_calls ? 1 : 0);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, config.retry.max_attempts > 1 ? 1 : 0);
  args.SetMaxReceiveMessageSize(config.max_receive_message_bytes);
  args.SetMaxSendMessageSize(config.max_send_message_bytes);
  args.SetServiceConfigJSON(ServiceConfigJson(config));
  // Each clientset gets its own connection (no sharing of subchannels across clientsets).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel(*target, grpc::InsecureChannelCredentials(), args);
  return NewForConfigAndChannel(config, std::move(channel));
}

absl::StatusOr<std::unique_ptr<Clientset>> Clientset::NewFromEnvironment() {
  return NewForConfig(Config::FromEnvironment());
}

std::unique_ptr<Clientset> Clientset::NewForConfigAndChannel(const Config& config,
                                                             std::shared_ptr<grpc::Channel> channel) {
  auto conn = std::make_shared<Connection>();
  conn->config = config;
  conn->stub = v1::GpuService::NewStub(channel);
  conn->channel = std::move(channel);
  return std::unique_ptr<Clientset>(new Clientset(std::make_unique<Impl>(std::move(conn))));
}

Clientset::Clientset(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Clientset::~Clientset() = default;

DeviceV1alpha1Interface& Clientset::DeviceV1alpha1() { return impl_->device_v1alpha1; }
std::shared_ptr<grpc::Channel> Clientset::channel() const { return impl_->conn->channel; }
const Config& Clientset::config() const { return impl_->conn->config; }

}  // namespace deviceapi
