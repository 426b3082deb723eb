#include "apiserver/gpu_service.h"

#include "apiserver/metrics.h"
#include "apiserver/status_mapping.h"
#include "apiserver/watch_reactor.h"

namespace deviceapi::apiserver {

namespace {

bool ParseRequest(const grpc::ByteBuffer& buf, google::protobuf::Message* msg) {
  std::vector<grpc::Slice> slices;
  if (!buf.Dump(&slices).ok()) return false;
  std::string raw;
  raw.reserve(buf.Length());
  for (const auto& s : slices) raw.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return msg->ParseFromString(raw);
}

}  // namespace

// Counts the call as in flight from the handler until gRPC is done with it
// (the response sent), so shutdown can wait for exactly these.
class GpuService::UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  explicit UnaryCall(GpuService* service) : service_(service) {}
  void OnDone() override {
    service_->CallDone();
    delete this;
  }

 private:
  GpuService* const service_;
};

GpuService::GpuService(std::shared_ptr<GpuRegistry> registry, ServerMetrics* metrics, bool read_only)
    : registry_(std::move(registry)), metrics_(metrics), read_only_(read_only) {}

template <typename Handler>
grpc::ServerUnaryReactor* GpuService::Unary(Handler&& handler) {
  bool draining;
  {
    absl::MutexLock l(&mu_);
    draining = draining_;
    ++inflight_;
  }
  auto* call = new UnaryCall(this);
  call->Finish(draining ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down") : handler());
  return call;
}

template <typename Handler>
grpc::ServerUnaryReactor* GpuService::Write(std::string_view verb, Handler&& handler) {
  if (!read_only_) return Unary(std::forward<Handler>(handler));
  return Unary([&] {
    if (metrics_ != nullptr) metrics_->RecordWrite(verb, grpc::StatusCode::PERMISSION_DENIED);
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "writes are not allowed on this endpoint: it serves the API read-only");
  });
}

void GpuService::CallDone() {
  absl::MutexLock l(&mu_);
  --inflight_;
}

void GpuService::StartDraining() {
  absl::MutexLock l(&mu_);
  draining_ = true;
}

bool GpuService::WaitIdle(absl::Time deadline) {
  absl::MutexLock l(&mu_);
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return inflight_ == 0; };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

grpc::ServerUnaryReactor* GpuService::GetGpu(grpc::CallbackServerContext* ctx, const v1::GetGpuRequest* req,
                                             v1::GetGpuResponse* resp) {
  return Unary([&] {
    auto r = registry_->Get(*req);
    if (r.ok()) *resp->mutable_gpu() = **r;
    return ToGrpcStatus(r.status(), "GetGpu");
  });
}

grpc::ServerUnaryReactor* GpuService::ListGpus(grpc::CallbackServerContext* ctx, const v1::ListGpusRequest* req,
                                               v1::ListGpusResponse* resp) {
  return Unary([&] {
  auto r = registry_->List(*req);
  if (r.ok()) {
    auto* list = resp->mutable_gpu_list();
    list->mutable_metadata()->set_resource_version(std::to_string(r->rv));
    list->mutable_metadata()->set_continue_(r->continue_token);
    if (r->remaining >= 0) list->mutable_metadata()->set_remaining_item_count(r->remaining);
    list->mutable_items()->Reserve(static_cast<int>(r->items.size()));
    for (const auto& obj : r->items) *list->add_items() = *obj;
  }
  return ToGrpcStatus(r.status(), "ListGpus");
  });
}

grpc::Status GpuService::FinishWrite(std::string_view verb, const absl::StatusOr<storage::ObjectPtr>& r,
                                     v1::Gpu* resp) {
  if (r.ok() && resp != nullptr) *resp = **r;
  grpc::Status s = ToGrpcStatus(r.status(), verb);
  if (metrics_ != nullptr) metrics_->RecordWrite(verb, s.error_code());
  return s;
}

grpc::ServerUnaryReactor* GpuService::CreateGpu(grpc::CallbackServerContext* ctx, const v1::CreateGpuRequest* req,
                                                v1::Gpu* resp) {
  return Write("create", [&] { return FinishWrite("create", registry_->Create(*req), resp); });
}

grpc::ServerUnaryReactor* GpuService::UpdateGpu(grpc::CallbackServerContext* ctx, const v1::UpdateGpuRequest* req,
                                                v1::Gpu* resp) {
  return Write("update", [&] { return FinishWrite("update", registry_->Update(*req), resp); });
}

grpc::ServerUnaryReactor* GpuService::UpdateGpuStatus(grpc::CallbackServerContext* ctx,
                                                      const v1::UpdateGpuStatusRequest* req, v1::Gpu* resp) {
  return Write("update_status", [&] { return FinishWrite("update_status", registry_->UpdateStatus(*req), resp); });
}

grpc::ServerUnaryReactor* GpuService::PatchGpu(grpc::CallbackServerContext* ctx, const v1::PatchGpuRequest* req,
                                               v1::Gpu* resp) {
  return Write("patch", [&] { return FinishWrite("patch", registry_->Patch(*req), resp); });
}

grpc::ServerUnaryReactor* GpuService::DeleteGpu(grpc::CallbackServerContext* ctx, const v1::DeleteGpuRequest* req,
                                                google::protobuf::Empty* /*resp*/) {
  return Write("delete", [&] { return FinishWrite("delete", registry_->Delete(*req), nullptr); });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* GpuService::WatchGpus(grpc::CallbackServerContext* ctx,
                                                                  const grpc::ByteBuffer* raw) {
  auto* reactor = new WatchReactor(metrics_);
  v1::WatchGpusRequest req;
  if (!ParseRequest(*raw, &req)) {
    reactor->Start(absl::InvalidArgumentError("malformed WatchGpusRequest"));
    return reactor;
  }
  auto opts = registry_->WatchOptionsFor(req);
  if (!opts.ok()) {
    reactor->Start(opts.status());
    return reactor;
  }
  reactor->Start(registry_->store().Watch(std::move(*opts), reactor));
  return reactor;
}

}  // namespace deviceapi::apiserver
