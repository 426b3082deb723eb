// Server-side gRPC metrics named and labelled exactly like Go's go-grpc-middleware prometheus
// provider, so dashboards written for Go gRPC servers work unchanged.
#ifndef DEVICEAPI_APISERVER_GRPC_METRICS_H_
#define DEVICEAPI_APISERVER_GRPC_METRICS_H_

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "grpcpp/support/server_interceptor.h"
#include "grpcpp/support/status.h"
#include "prometheus/registry.h"

namespace deviceapi::apiserver {

// Go's codes.Code String(): "OK", "Canceled", ..., "Unauthenticated"; "Code(N)" when out of range.
std::string GrpcCodeName(grpc::StatusCode code);

// "/pkg.Service/Method" -> {"pkg.Service", "Method"}; anything else -> {"unknown", name}.
std::pair<std::string_view, std::string_view> SplitGrpcMethodName(std::string_view full_method);

// Metric families shared by every interceptor built from one instance:
//   grpc_server_started_total{grpc_type,grpc_service,grpc_method}
//   grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}
//   grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method} (histogram, buckets
//     .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10)
//   grpc_server_msg_received_total{grpc_type,grpc_service,grpc_method}
//   grpc_server_msg_sent_total{grpc_type,grpc_service,grpc_method}
// grpc_type is "unary", "client_stream", "server_stream" or "bidi_stream".
// Thread-safe. Series are created on first use and their references cached per method, so a call
// costs one locked hash lookup when the RPC starts and atomic increments afterwards.
class GrpcServerMetrics {
 public:
  // Registers the families in `registry` (merging with families of the same name already there).
  explicit GrpcServerMetrics(std::shared_ptr<prometheus::Registry> registry);
  ~GrpcServerMetrics();
  GrpcServerMetrics(const GrpcServerMetrics&) = delete;
  GrpcServerMetrics& operator=(const GrpcServerMetrics&) = delete;

  struct State;  // implementation detail, public only for the interceptor in the .cc

 private:
  friend std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  MakeGrpcMetricsInterceptorFactory(std::shared_ptr<GrpcServerMetrics> metrics);
  std::shared_ptr<State> state_;
};

// An interceptor factory recording into `metrics`. Every factory made from the same
// GrpcServerMetrics shares its series; the factory keeps their shared state (and the registry)
// alive, so it may be moved into
// ServerBuilder::experimental().SetInterceptorCreators() and outlive `metrics`.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeGrpcMetricsInterceptorFactory(
    std::shared_ptr<GrpcServerMetrics> metrics);

// Shorthand: a factory with its own GrpcServerMetrics on `registry`.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeGrpcMetricsInterceptorFactory(
    std::shared_ptr<prometheus::Registry> registry);

}  // namespace deviceapi::apiserver

#endif  // DEVICEAPI_APISERVER_GRPC_METRICS_H_
