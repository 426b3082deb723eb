#include "apiserver/gpu_service.h"

#include <new>
#include <optional>
#include <vector>

#include "apiserver/metrics.h"
#include "apiserver/status_mapping.h"
#include "apiserver/watch_reactor.h"
#include "apiserver/wire_responses.h"

namespace deviceapi::apiserver {

namespace {

grpc::Status Malformed(std::string_view what) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string("malformed ") + std::string(what));
}

// The object a write request names: (namespace, name).
std::string_view OrDefault(const std::string& ns) { return ns.empty() ? kDefaultNamespace : ns; }
template <typename Req>
std::pair<std::string_view, std::string_view> TargetOf(const Req& req) {
  if constexpr (requires { req.gpu(); }) {
    return {OrDefault(req.gpu().metadata().namespace_()), req.gpu().metadata().name()};
  } else {
    return {OrDefault(req.namespace_()), req.name()};
  }
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
  // OnDone only counts the call out: gRPC may run it on the thread that sent
  // the answer. Otherwise gRPC 1.51 hands every call's OnDone to its executor
  // thread: a thread wake-up per call (0.8 context switches per Get measured,
  // docs/performance.md).
  bool InternalInlineable() override { return true; }

 private:
  GpuService* const service_;
};

namespace {

// The first blocks of the write calls' request arenas, reused: a fresh 16 KiB
// block per call made glibc merge its freed small chunks
// (malloc_consolidate) on every write.
class ArenaBlockPool {
 public:
  static constexpr size_t kBlock = 16 * 1024;  // a GPU with a few dozen conditions fits

  static ArenaBlockPool& Get() {
    static auto* pool = new ArenaBlockPool();  // never destroyed: calls may end during exit
    return *pool;
  }
  char* Take() {
    {
      absl::MutexLock l(&mu_);
      if (!free_.empty()) {
        char* b = free_.back();
        free_.pop_back();
        return b;
      }
    }
    return static_cast<char*>(::operator new (kBlock, std::align_val_t{16}));
  }
  void Give(char* b) {
    {
      absl::MutexLock l(&mu_);
      if (free_.size() < kMaxFree) {
        free_.push_back(b);
        return;
      }
    }
    ::operator delete (b, std::align_val_t{16});
  }

 private:
  static constexpr size_t kMaxFree = 64;  // about as many as writes in flight at once
  absl::Mutex mu_;
  std::vector<char*> free_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

// A write call owns its parsed request until it finishes: the registry and
// the store refer to it until they answer.
class GpuService::WriteCall final : public grpc::ServerUnaryReactor {
 public:
  explicit WriteCall(GpuService* service)
      : service_(service), block_(ArenaBlockPool::Get().Take()), arena_(ArenaOptions(block_)) {}
  ~WriteCall() override {
    arena_.reset();  // frees what outgrew the first block; the block itself is ours
    ArenaBlockPool::Get().Give(block_);
  }
  google::protobuf::Arena* arena() { return &*arena_; }
  void OnDone() override {
    service_->CallDone();
    delete this;
  }
  // As UnaryCall: OnDone frees the request arena and counts the call out,
  // nothing that needs a thread of its own.
  bool InternalInlineable() override { return true; }

 private:
  static google::protobuf::ArenaOptions ArenaOptions(char* block) {
    google::protobuf::ArenaOptions o;
    o.initial_block = block;
    o.initial_block_size = ArenaBlockPool::kBlock;
    o.start_block_size = ArenaBlockPool::kBlock;
    return o;
  }
  GpuService* const service_;
  char* const block_;
  std::optional<google::protobuf::Arena> arena_;
};

GpuService::GpuService(std::shared_ptr<GpuRegistry> registry, ServerMetrics* metrics,
                       GpuServiceOptions options)
    : registry_(std::move(registry)), metrics_(metrics), options_(std::move(options)) {}

bool GpuService::BeginCall() {
  absl::MutexLock l(&mu_);
  ++inflight_;
  return !draining_;
}

grpc::Status GpuService::Draining() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down");
}

template <typename Handler>
grpc::ServerUnaryReactor* GpuService::Unary(Handler&& handler) {
  const bool serving = BeginCall();
  auto* call = new UnaryCall(this);
  call->Finish(serving ? handler() : Draining());
  return call;
}

template <typename Req, typename Start>
grpc::ServerUnaryReactor* GpuService::Write(Ctx* ctx, std::string_view verb, const Bytes* raw, Bytes* resp,
                                            bool empty_response, Start&& start) {
  const bool serving = BeginCall();
  auto* call = new WriteCall(this);
  PeerCredentials peer = options_.peers ? options_.peers->Lookup(ctx->peer()) : PeerCredentials{};
  auto refuse = [&](grpc::Status s, std::string_view ns, std::string_view name, std::string_view reason) {
    if (metrics_ != nullptr) metrics_->RecordWrite(verb, s.error_code());
    Report(WriteEvent{peer, verb, ns, name, "", s, reason, options_.read_only});
    call->Finish(std::move(s));
    return call;
  };
  if (!serving) {  // not counted in writes_total (it never was), but reported
    const grpc::Status s = Draining();
    Report(WriteEvent{peer, verb, "", "", "", s, "", options_.read_only});
    call->Finish(s);
    return call;
  }
  auto* req = google::protobuf::Arena::CreateMessage<Req>(call->arena());
  if (!ParseMessage(*raw, req)) return refuse(Malformed(Req::descriptor()->name()), "", "", "");
  // Into the request, which lives until the call is done.
  const auto [ns, name] = TargetOf(*req);
  if (options_.read_only) {
    return refuse(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                               "writes are not allowed on this endpoint: it serves the API read-only"),
                  ns, name, "read_only");
  }
  StatusCheck check;
  if (const AuthorizationPolicy* policy = options_.authorization.get(); policy != nullptr) {
    if (absl::Status s = AuthorizeWriter(policy->writers, peer); !s.ok()) {
      return refuse(ToGrpcStatus(s, verb), ns, name, "not_writer");
    }
    if (!policy->ownership.empty() && !policy->ownership.IsOperator(peer.uid)) {
      check = [policy, uid = peer.uid](const v1::GpuStatus* old_status, const v1::GpuStatus* new_status) {
        return CheckConditionOwnership(policy->ownership, uid, old_status, new_status);
      };
    }
  }
  const bool checked = static_cast<bool>(check);
  start(
      *req,
      [this, call, verb, resp, empty_response, peer = std::move(peer), ns = ns, name = name,
       checked](storage::WriteResult r) {
        grpc::Status s = FinishWrite(verb, r, resp, empty_response);
        // The registry answers PERMISSION_DENIED only for a StatusCheck.
        const bool not_owner = checked && s.error_code() == grpc::StatusCode::PERMISSION_DENIED;
        Report(WriteEvent{peer, verb, r.ok() ? std::string_view((*r)->metadata().namespace_()) : ns,
                          r.ok() ? std::string_view((*r)->metadata().name()) : name,
                          r.ok() ? std::string_view((*r)->metadata().resource_version()) : std::string_view(),
                          s, not_owner ? "not_owner" : "", options_.read_only});
        call->Finish(std::move(s));
      },
      std::move(check));
  return call;
}

void GpuService::Report(const WriteEvent& event) {
  if (metrics_ != nullptr && !event.denied_reason.empty()) {
    metrics_->RecordWriteDenied(event.peer.known ? std::optional<uint32_t>(event.peer.uid) : std::nullopt,
                                event.denied_reason);
  }
  if (options_.observer) options_.observer(event);
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

grpc::ServerUnaryReactor* GpuService::GetGpu(Ctx* /*ctx*/, const Bytes* raw, Bytes* resp) {
  return Unary([&] {
    RequestArena arena;
    auto* req = google::protobuf::Arena::CreateMessage<v1::GetGpuRequest>(arena.get());
    if (!ParseMessage(*raw, req)) return Malformed("GetGpuRequest");
    auto r = registry_->Get(*req);
    if (r.ok()) *resp = GetResponseBytes(**r);
    return ToGrpcStatus(r.status(), "GetGpu");
  });
}

grpc::ServerUnaryReactor* GpuService::ListGpus(Ctx* /*ctx*/, const Bytes* raw, Bytes* resp) {
  return Unary([&] {
    RequestArena arena;
    auto* req = google::protobuf::Arena::CreateMessage<v1::ListGpusRequest>(arena.get());
    if (!ParseMessage(*raw, req)) return Malformed("ListGpusRequest");
    auto r = registry_->List(*req);
    if (r.ok()) *resp = ListResponseBytes(*r);
    return ToGrpcStatus(r.status(), "ListGpus");
  });
}

grpc::Status GpuService::FinishWrite(std::string_view verb, const storage::WriteResult& r, Bytes* resp,
                                     bool empty_response) {
  if (r.ok()) *resp = empty_response ? MessageBytes(google::protobuf::Empty()) : ObjectBytes(**r);
  grpc::Status s = ToGrpcStatus(r.status(), verb);
  if (metrics_ != nullptr) metrics_->RecordWrite(verb, s.error_code());
  return s;
}

grpc::ServerUnaryReactor* GpuService::CreateGpu(Ctx* ctx, const Bytes* raw, Bytes* resp) {
  return Write<v1::CreateGpuRequest>(ctx, "create", raw, resp, false,
                                     [this](const auto& req, storage::WriteDone done, StatusCheck check) {
                                       registry_->Create(req, std::move(done), std::move(check));
                                     });
}

grpc::ServerUnaryReactor* GpuService::UpdateGpu(Ctx* ctx, const Bytes* raw, Bytes* resp) {
  // The main resource: the status is kept, so there is no condition to check.
  return Write<v1::UpdateGpuRequest>(ctx, "update", raw, resp, false,
                                     [this](const auto& req, storage::WriteDone done, StatusCheck /*check*/) {
                                       registry_->Update(req, std::move(done));
                                     });
}

grpc::ServerUnaryReactor* GpuService::UpdateGpuStatus(Ctx* ctx, const Bytes* raw, Bytes* resp) {
  return Write<v1::UpdateGpuStatusRequest>(ctx, "update_status", raw, resp, false,
                                           [this](auto& req, storage::WriteDone done, StatusCheck check) {
                                             registry_->UpdateStatus(&req, std::move(done), std::move(check));
                                           });
}

grpc::ServerUnaryReactor* GpuService::PatchGpu(Ctx* ctx, const Bytes* raw, Bytes* resp) {
  return Write<v1::PatchGpuRequest>(ctx, "patch", raw, resp, false,
                                    [this](const auto& req, storage::WriteDone done, StatusCheck check) {
                                      registry_->Patch(req, std::move(done), std::move(check));
                                    });
}

grpc::ServerUnaryReactor* GpuService::DeleteGpu(Ctx* ctx, const Bytes* raw, Bytes* resp) {
  return Write<v1::DeleteGpuRequest>(ctx, "delete", raw, resp, true,
                                     [this](const auto& req, storage::WriteDone done, StatusCheck check) {
                                       registry_->Delete(req, std::move(done), std::move(check));
                                     });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* GpuService::WatchGpus(Ctx* /*ctx*/, const Bytes* raw) {
  auto* reactor = new WatchReactor(metrics_);
  v1::WatchGpusRequest req;
  if (!ParseMessage(*raw, &req)) {
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
