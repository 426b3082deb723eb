#include "apiserver/grpc_metrics.h"

#include <array>
#include <atomic>
#include <chrono>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"

namespace deviceapi::apiserver {
namespace {

constexpr int kNumCodes = 17;  // OK .. UNAUTHENTICATED

using RpcType = grpc::experimental::ServerRpcInfo::Type;
using Hook = grpc::experimental::InterceptionHookPoints;

std::string_view RpcTypeName(RpcType type) {
  switch (type) {
    case RpcType::UNARY:
      return "unary";
    case RpcType::CLIENT_STREAMING:
      return "client_stream";
    case RpcType::SERVER_STREAMING:
      return "server_stream";
    case RpcType::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unknown";
}

}  // namespace

std::string GrpcCodeName(grpc::StatusCode code) {
  static constexpr std::array<std::string_view, kNumCodes> kNames = {
      "OK",       "Canceled",        "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",   "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",      "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated",
  };
  int n = static_cast<int>(code);
  if (n >= 0 && n < kNumCodes) return std::string(kNames[n]);
  return "Code(" + std::to_string(n) + ")";
}

std::pair<std::string_view, std::string_view> SplitGrpcMethodName(std::string_view full_method) {
  if (!full_method.empty() && full_method.front() == '/') full_method.remove_prefix(1);
  size_t slash = full_method.find('/');
  if (slash == std::string_view::npos) return {"unknown", full_method};
  return {full_method.substr(0, slash), full_method.substr(slash + 1)};
}

// Series of one (method, rpc type).
struct MethodSeries {
  prometheus::Labels labels;
  prometheus::Counter* started = nullptr;
  prometheus::Counter* msg_received = nullptr;
  prometheus::Counter* msg_sent = nullptr;
  prometheus::Histogram* handling = nullptr;
  // Created on first use of each code, like Go; written once under State::mu.
  std::array<std::atomic<prometheus::Counter*>, kNumCodes> handled{};
};

struct GrpcServerMetrics::State {
  explicit State(std::shared_ptr<prometheus::Registry> r)
      : registry(std::move(r)),
        started(prometheus::BuildCounter()
                    .Name("grpc_server_started_total")
                    .Help("Total number of RPCs started on the server.")
                    .Register(*registry)),
        handled(prometheus::BuildCounter()
                    .Name("grpc_server_handled_total")
                    .Help("Total number of RPCs completed on the server, regardless of success or "
                          "failure.")
                    .Register(*registry)),
        msg_received(prometheus::BuildCounter()
                         .Name("grpc_server_msg_received_total")
                         .Help("Total number of RPC stream messages received on the server.")
                         .Register(*registry)),
        msg_sent(prometheus::BuildCounter()
                     .Name("grpc_server_msg_sent_total")
                     .Help("Total number of gRPC stream messages sent by the server.")
                     .Register(*registry)),
        handling(prometheus::BuildHistogram()
                     .Name("grpc_server_handling_seconds")
                     .Help("Histogram of response latency (seconds) of gRPC that had been "
                           "application-level handled by the server.")
                     .Register(*registry)) {}

  // Never null; the returned series lives as long as this State.
  MethodSeries* Series(std::string_view full_method, RpcType type) {
    std::string key = std::to_string(static_cast<int>(type));
    key += full_method;
    absl::MutexLock lock(&mu);
    auto& slot = series[key];
    if (slot == nullptr) {
      auto [service, method] = SplitGrpcMethodName(full_method);
      slot = std::make_unique<MethodSeries>();
      slot->labels = {{"grpc_type", std::string(RpcTypeName(type))},
                      {"grpc_service", std::string(service)},
                      {"grpc_method", std::string(method)}};
      slot->started = &started.Add(slot->labels);
      slot->msg_received = &msg_received.Add(slot->labels);
      slot->msg_sent = &msg_sent.Add(slot->labels);
      slot->handling = &handling.Add(slot->labels, prometheus::Histogram::BucketBoundaries{
                                                       .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10});
    }
    return slot.get();
  }

  prometheus::Counter& Handled(MethodSeries& s, grpc::StatusCode code) {
    int n = static_cast<int>(code);
    if (n < 0 || n >= kNumCodes) n = static_cast<int>(grpc::StatusCode::UNKNOWN);
    if (prometheus::Counter* c = s.handled[n].load(std::memory_order_acquire)) return *c;
    absl::MutexLock lock(&mu);
    prometheus::Counter* c = s.handled[n].load(std::memory_order_relaxed);
    if (c == nullptr) {
      prometheus::Labels labels = s.labels;
      labels["grpc_code"] = GrpcCodeName(static_cast<grpc::StatusCode>(n));
      c = &handled.Add(labels);
      s.handled[n].store(c, std::memory_order_release);
    }
    return *c;
  }

  std::shared_ptr<prometheus::Registry> registry;
  prometheus::Family<prometheus::Counter>& started;
  prometheus::Family<prometheus::Counter>& handled;
  prometheus::Family<prometheus::Counter>& msg_received;
  prometheus::Family<prometheus::Counter>& msg_sent;
  prometheus::Family<prometheus::Histogram>& handling;
  absl::Mutex mu;
  absl::flat_hash_map<std::string, std::unique_ptr<MethodSeries>> series ABSL_GUARDED_BY(mu);
};

namespace {

// One per RPC; gRPC creates it when the call arrives and deletes it when the call is done.
class MetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(std::shared_ptr<GrpcServerMetrics::State> state, MethodSeries* series)
      : state_(std::move(state)), series_(series) {}

  ~MetricsInterceptor() override {
    // A call torn down without sending a status (client gone) counts as Canceled, as in Go.
    if (started_ && !handled_) Finish(grpc::StatusCode::CANCELLED);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(Hook::POST_RECV_INITIAL_METADATA)) {
      started_ = true;
      start_ = std::chrono::steady_clock::now();
      series_->started->Increment();
    }
    if (methods->QueryInterceptionHookPoint(Hook::POST_RECV_MESSAGE)) {
      series_->msg_received->Increment();
    }
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_MESSAGE)) {
      series_->msg_sent->Increment();
    }
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_STATUS) && !handled_) {
      Finish(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Finish(grpc::StatusCode code) {
    handled_ = true;
    state_->Handled(*series_, code).Increment();
    if (started_) {
      std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
      series_->handling->Observe(elapsed.count());
    }
  }

  std::shared_ptr<GrpcServerMetrics::State> state_;
  MethodSeries* series_;
  bool started_ = false;
  bool handled_ = false;
  std::chrono::steady_clock::time_point start_;
};

class MetricsInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(std::shared_ptr<GrpcServerMetrics::State> state)
      : state_(std::move(state)) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    const char* method = info->method();
    return new MetricsInterceptor(state_, state_->Series(method != nullptr ? method : "", info->type()));
  }

 private:
  std::shared_ptr<GrpcServerMetrics::State> state_;
};

}  // namespace

GrpcServerMetrics::GrpcServerMetrics(std::shared_ptr<prometheus::Registry> registry)
    : state_(std::make_shared<State>(std::move(registry))) {}

GrpcServerMetrics::~GrpcServerMetrics() = default;

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeGrpcMetricsInterceptorFactory(
    std::shared_ptr<GrpcServerMetrics> metrics) {
  return std::make_unique<MetricsInterceptorFactory>(metrics->state_);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeGrpcMetricsInterceptorFactory(
    std::shared_ptr<prometheus::Registry> registry) {
  return MakeGrpcMetricsInterceptorFactory(std::make_shared<GrpcServerMetrics>(std::move(registry)));
}

}  // namespace deviceapi::apiserver
