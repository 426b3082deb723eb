// GpuService on the wire: the gRPC callback adapter over GpuRegistry. Unary
// calls never block (the memory store never waits); WatchGpus is a raw
// (ByteBuffer) stream so each event is serialized once and the same bytes go
// to every watcher.
#pragma once

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "apiserver/gpu_registry.h"
#include "device/v1alpha1/gpu.grpc.pb.h"

namespace deviceapi::apiserver {

class ServerMetrics;

class GpuService final : public v1::GpuService::WithRawCallbackMethod_WatchGpus<v1::GpuService::CallbackService> {
 public:
  // `metrics` may be null; it must outlive the service. A `read_only`
  // service answers every write with PERMISSION_DENIED.
  GpuService(std::shared_ptr<GpuRegistry> registry, ServerMetrics* metrics, bool read_only = false);

  grpc::ServerUnaryReactor* GetGpu(grpc::CallbackServerContext* ctx, const v1::GetGpuRequest* req,
                                   v1::GetGpuResponse* resp) override;
  grpc::ServerUnaryReactor* ListGpus(grpc::CallbackServerContext* ctx, const v1::ListGpusRequest* req,
                                     v1::ListGpusResponse* resp) override;
  grpc::ServerUnaryReactor* CreateGpu(grpc::CallbackServerContext* ctx, const v1::CreateGpuRequest* req,
                                      v1::Gpu* resp) override;
  grpc::ServerUnaryReactor* UpdateGpu(grpc::CallbackServerContext* ctx, const v1::UpdateGpuRequest* req,
                                      v1::Gpu* resp) override;
  grpc::ServerUnaryReactor* UpdateGpuStatus(grpc::CallbackServerContext* ctx,
                                            const v1::UpdateGpuStatusRequest* req, v1::Gpu* resp) override;
  grpc::ServerUnaryReactor* DeleteGpu(grpc::CallbackServerContext* ctx, const v1::DeleteGpuRequest* req,
                                      google::protobuf::Empty* resp) override;
  grpc::ServerUnaryReactor* PatchGpu(grpc::CallbackServerContext* ctx, const v1::PatchGpuRequest* req,
                                     v1::Gpu* resp) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchGpus(grpc::CallbackServerContext* ctx,
                                                        const grpc::ByteBuffer* req) override;

  // Shutdown: from now on unary calls are refused with UNAVAILABLE "server
  // is shutting down"; the ones in flight finish normally.
  void StartDraining();
  // Blocks until no unary call is in flight or `deadline`; true if drained.
  bool WaitIdle(absl::Time deadline);

 private:
  class UnaryCall;
  // Runs `handler` unless draining, finishing the call with its status.
  template <typename Handler>
  grpc::ServerUnaryReactor* Unary(Handler&& handler);
  template <typename Handler>
  grpc::ServerUnaryReactor* Write(std::string_view verb, Handler&& handler);
  void CallDone();

  // Finishes a write call: copies the object out and records the metric.
  grpc::Status FinishWrite(std::string_view verb, const absl::StatusOr<storage::ObjectPtr>& r, v1::Gpu* resp);

  std::shared_ptr<GpuRegistry> registry_;
  ServerMetrics* metrics_;
  const bool read_only_;

  absl::Mutex mu_;
  int inflight_ ABSL_GUARDED_BY(mu_) = 0;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace deviceapi::apiserver
