#include "npd/monitor.h"

#include <spdlog/spdlog.h>

#include "common/logging.h"
#include "common/secure_path.h"
#include "common/strings.h"
#include "common/version.h"

namespace deviceapi::npd {

using common::Cat;
namespace ext = ::npd::external::v1;

namespace {

constexpr char kSource[] = "npd-gpu-monitor";

google::protobuf::Timestamp Proto(absl::Time t) { return ToTimestamp(t); }

ext::ConditionStatus ToProto(ProblemStatus s) {
  switch (s) {
    case ProblemStatus::kTrue:
      return ext::CONDITION_STATUS_TRUE;
    case ProblemStatus::kFalse:
      return ext::CONDITION_STATUS_FALSE;
    case ProblemStatus::kUnknown:
      return ext::CONDITION_STATUS_UNKNOWN;
  }
  return ext::CONDITION_STATUS_UNKNOWN;
}

}  // namespace

class Monitor::Service : public ext::ExternalMonitor::CallbackService {
 public:
  explicit Service(Monitor* m) : m_(m) {}
  grpc::ServerUnaryReactor* CheckHealth(grpc::CallbackServerContext* ctx, const ext::HealthCheckRequest* req,
                                        ext::Status* out) override {
    *out = m_->Check(*req);
    return Done(ctx);
  }
  grpc::ServerUnaryReactor* GetMetadata(grpc::CallbackServerContext* ctx, const google::protobuf::Empty*,
                                        ext::MonitorMetadata* out) override {
    *out = m_->Metadata();
    spdlog::info("NPD connected (GetMetadata from {})", ctx->peer());
    return Done(ctx);
  }
  grpc::ServerUnaryReactor* Stop(grpc::CallbackServerContext* ctx, const google::protobuf::Empty*,
                                 google::protobuf::Empty*) override {
    m_->OnStopCalled();
    return Done(ctx);
  }

 private:
  static grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx) {
    grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
  Monitor* const m_;
};

Monitor::Monitor(MonitorOptions options, GpuInterfacePtr client, std::shared_ptr<grpc::Channel> channel,
                 std::function<void()> on_stop)
    : options_(std::move(options)),
      client_(std::move(client)),
      channel_(std::move(channel)),
      on_stop_(std::move(on_stop)) {}

Monitor::~Monitor() { Shutdown(); }

absl::Status Monitor::Start() {
  const std::string& path = options_.socket;
  // A missing directory is created 0750; an existing one must not be writable by everyone. A link
  // or a live socket at the path is refused, a stale socket removed (common/secure_path.h).
  if (absl::Status s = common::EnsureDirectory(common::DirectoryOf(path), 0750); !s.ok()) return s;
  if (absl::Status s = common::PrepareSocketPath(path); !s.ok()) return s;

  InformerOptions io;
  io.reflector.initial_backoff = absl::Milliseconds(200);
  io.reflector.max_backoff = absl::Seconds(5);
  informer_ = std::make_unique<GpuInformer>(std::move(client_), io);
  ResourceEventHandlerFuncs handlers;
  handlers.on_add = [this](const v1::Gpu& g, bool initial) {
    std::vector<XidEvent> events;
    {
      absl::MutexLock l(&mu_);
      events = xids_.Observe(g, /*seed=*/initial);
    }
    Queue(std::move(events));
  };
  handlers.on_update = [this](const v1::Gpu&, const v1::Gpu& g) {
    std::vector<XidEvent> events;
    {
      absl::MutexLock l(&mu_);
      events = xids_.Observe(g);
    }
    Queue(std::move(events));
  };
  handlers.on_delete = [this](const v1::Gpu& g, bool) {
    absl::MutexLock l(&mu_);
    xids_.Forget(g.metadata().name());
  };
  handler_ = informer_->AddEventHandler(std::move(handlers));
  informer_->Start();

  service_ = std::make_unique<Service>(this);
  grpc::ServerBuilder b;
  b.AddListeningPort("unix:" + path, grpc::InsecureServerCredentials());
  b.RegisterService(service_.get());
  // NPD pings every 30 s with no call in flight (Time=30s, PermitWithoutStream): accept that instead
  // of answering GOAWAY too_many_pings after two strikes (gRPC's default minimum is 5 minutes).
  b.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  b.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  server_ = b.BuildAndStart();
  if (server_ == nullptr) return absl::UnavailableError(Cat("cannot listen on unix://", path));
  absl::StatusOr<common::FileIdentity> socket = common::RestrictSocketMode(path, options_.socket_mode);
  if (!socket.ok()) return socket.status();
  socket_id_ = *socket;
  spdlog::info("serving npd.external.v1.ExternalMonitor on unix://{}", path);
  return absl::OkStatus();
}

void Monitor::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
    server_->Wait();
    common::RemoveSocketIfSame(options_.socket, socket_id_);  // not one that replaced ours
  }
  if (handler_) handler_->Remove();
  if (informer_) informer_->Stop();
}

bool Monitor::Ready() const { return server_ != nullptr && informer_ != nullptr && informer_->HasSynced(); }

void Monitor::Queue(std::vector<XidEvent> events) {
  if (events.empty()) return;
  absl::MutexLock l(&mu_);
  for (XidEvent& e : events) {
    spdlog::info("{} on GPU {}: queued for NPD", e.reason(), e.gpu);
    metrics_.RecordXid(e.xid);
    events_.push_back(std::move(e));
    if (events_.size() > kMaxQueuedEvents) {
      events_.pop_front();
      metrics_.RecordDroppedEvent();
    }
  }
}

ext::Status Monitor::Check(const ext::HealthCheckRequest& request) {
  const absl::Time now = absl::Now();
  ReportOptions ro;
  ro.expected_gpus = options_.expected_gpus;
  if (auto it = request.parameters().find("expected_gpus"); it != request.parameters().end()) {
    int n = 0;
    if (absl::SimpleAtoi(it->second, &n) && n >= 0) ro.expected_gpus = n;
  }
  const bool synced = informer_ != nullptr && informer_->HasSynced();
  const bool connected = synced && channel_->GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_READY;
  metrics_.SetConnected(connected);

  std::vector<ProblemCondition> conditions;
  bool reachable = true;
  {
    absl::MutexLock l(&mu_);
    if (connected) {
      down_since_ = absl::InfiniteFuture();
    } else if (down_since_ == absl::InfiniteFuture()) {
      down_since_ = now;
    }
    reachable = connected || (synced && now - down_since_ < options_.api_unavailable_grace);
  }
  if (!reachable) {
    conditions = UnreachableConditions(synced ? "connection lost" : "no list of GPUs yet", ro);
  } else {
    std::vector<GpuSummary> gpus;
    double healthy = 0, unhealthy = 0, unknown = 0;
    absl::StatusOr<std::vector<GpuPtr>> listed = informer_->Lister().List();
    if (listed.ok()) {
      for (const GpuPtr& g : *listed) {
        gpus.push_back(Summarize(*g));
        healthy += gpus.back().health == Health::kHealthy ? 1 : 0;
        unhealthy += gpus.back().health == Health::kUnhealthy ? 1 : 0;
        unknown += gpus.back().health == Health::kUnknown ? 1 : 0;
      }
      metrics_.SetGpus(healthy, unhealthy, unknown);
      conditions = Conditions(gpus, ro);
    } else {
      conditions = UnreachableConditions(common::ToStd(listed.status().message()), ro);
    }
  }
  metrics_.RecordCheck(conditions);

  ext::Status out;
  out.set_source(kSource);
  absl::MutexLock l(&mu_);
  for (const ProblemCondition& c : conditions) {
    Reported& r = reported_[c.type];
    if (r.since == absl::Time() || !(r.condition == c)) {
      if (r.since != absl::Time() && r.condition.status != c.status) {
        spdlog::info("{} is now {} ({}): {}", c.type, ProblemStatusName(c.status), c.reason, c.message);
      }
      r = Reported{c, now};
    }
    ext::Condition* pc = out.add_conditions();
    pc->set_type(c.type);
    pc->set_status(ToProto(c.status));
    *pc->mutable_transition() = Proto(r.since);
    pc->set_reason(c.reason);
    pc->set_message(c.message);
  }
  for (const XidEvent& e : events_) {
    ext::Event* pe = out.add_events();
    pe->set_severity(ext::SEVERITY_WARN);
    *pe->mutable_timestamp() = Proto(e.at == absl::UnixEpoch() ? now : e.at);
    pe->set_reason(e.reason());
    pe->set_message(e.message());
  }
  events_.clear();
  DAPI_VLOG(2, "CheckHealth #{}: {} conditions, {} events", request.sequence(), out.conditions_size(),
            out.events_size());
  return out;
}

ext::MonitorMetadata Monitor::Metadata() const {
  ext::MonitorMetadata m;
  m.set_name(kSource);
  m.set_version(common::GetBuildInfo().version);
  m.set_description(
      "GPU health from the node-local Device API (conditions: problem polarity, True = problem)");
  for (std::string_view c : {kGpuUnhealthy, kGpuHealthUnknown, kGpuCountMismatch})
    m.add_supported_conditions(std::string(c));
  (*m.mutable_capabilities())["events"] = "GPUXID<n>: a new critical XID on a GPU";
  (*m.mutable_capabilities())["source"] = "device-api";
  (*m.mutable_capabilities())["parameters"] = "expected_gpus";
  m.set_api_version("v1");
  return m;
}

void Monitor::OnStopCalled() {
  metrics_.RecordStop();
  if (options_.exit_on_stop && on_stop_) {
    spdlog::info("NPD called Stop; exiting (--exit-on-stop)");
    on_stop_();
  } else {
    spdlog::info("NPD called Stop; still serving (pass --exit-on-stop to exit)");
  }
}

}  // namespace deviceapi::npd
