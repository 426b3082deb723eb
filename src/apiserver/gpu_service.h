// GpuService on the wire: the gRPC callback adapter over GpuRegistry. Unary
// calls never block (the memory store never waits); WatchGpus is a raw
// (ByteBuffer) stream so each event is serialized once and the same bytes go
// to every watcher.
#ifndef DEVICEAPI_APISERVER_GPU_SERVICE_H_
#define DEVICEAPI_APISERVER_GPU_SERVICE_H_

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "apiserver/authorization.h"
#include "apiserver/gpu_registry.h"
#include "apiserver/peer_table.h"
#include "apiserver/write_observer.h"
#include "device/v1alpha1/gpu.grpc.pb.h"

namespace deviceapi::apiserver {

class ServerMetrics;

// Every method is raw: requests are parsed onto a stack arena and responses
// are serialized straight from the stored objects (see wire_responses.h).
using GpuServiceBase = v1::GpuService::WithRawCallbackMethod_GetGpu<
    v1::GpuService::WithRawCallbackMethod_ListGpus<v1::GpuService::WithRawCallbackMethod_WatchGpus<
        v1::GpuService::WithRawCallbackMethod_CreateGpu<v1::GpuService::WithRawCallbackMethod_UpdateGpu<
            v1::GpuService::WithRawCallbackMethod_UpdateGpuStatus<
                v1::GpuService::WithRawCallbackMethod_DeleteGpu<
                    v1::GpuService::WithRawCallbackMethod_PatchGpu<v1::GpuService::CallbackService>>>>>>>>;

struct GpuServiceOptions {
  // Answer every write with PERMISSION_DENIED (--read-only-bind-address).
  bool read_only = false;
  // The credentials of the connections the calls come in on (see
  // UnixAcceptor). Null: every peer is unknown.
  std::shared_ptr<const PeerTable> peers;
  // Who may write what (authorization.h). Null: every write is allowed (an
  // in-process server of a test; the server always sets one).
  std::shared_ptr<const AuthorizationPolicy> authorization;
  // Told of every write call's outcome (write_observer.h); may be empty.
  WriteObserver observer;
};

class GpuService final : public GpuServiceBase {
 public:
  // `metrics` may be null; it must outlive the service.
  GpuService(std::shared_ptr<GpuRegistry> registry, ServerMetrics* metrics, GpuServiceOptions options = {});

  using Reactor = grpc::ServerUnaryReactor;
  using Ctx = grpc::CallbackServerContext;
  using Bytes = grpc::ByteBuffer;
  Reactor* GetGpu(Ctx* ctx, const Bytes* req, Bytes* resp) override;
  Reactor* ListGpus(Ctx* ctx, const Bytes* req, Bytes* resp) override;
  Reactor* CreateGpu(Ctx* ctx, const Bytes* req, Bytes* resp) override;
  Reactor* UpdateGpu(Ctx* ctx, const Bytes* req, Bytes* resp) override;
  Reactor* UpdateGpuStatus(Ctx* ctx, const Bytes* req, Bytes* resp) override;
  Reactor* DeleteGpu(Ctx* ctx, const Bytes* req, Bytes* resp) override;
  Reactor* PatchGpu(Ctx* ctx, const Bytes* req, Bytes* resp) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchGpus(Ctx* ctx, const Bytes* req) override;

  // Shutdown: from now on unary calls are refused with UNAVAILABLE "server
  // is shutting down"; the ones in flight finish normally.
  void StartDraining();
  // Blocks until no unary call is in flight or `deadline`; true if drained.
  bool WaitIdle(absl::Time deadline);

 private:
  class UnaryCall;
  class WriteCall;
  // Runs `handler` unless draining, finishing the call with its status.
  template <typename Handler>
  grpc::ServerUnaryReactor* Unary(Handler&& handler);
  // A write (refused on a read-only endpoint): parses the request onto an
  // arena the call owns and runs `start(const Req&, WriteDone)`; the call
  // finishes when the registry answers, on whichever thread that is (a
  // durable store answers once the change is synced, so no gRPC thread
  // waits for a sync). `resp` gets the object, or Empty when `empty_response`.
  // Authorization comes first: the peer must be a writer
  // (AuthorizeWriter) and `start` gets the StatusCheck of its condition
  // ownership (empty when nothing is claimed or the peer is an operator).
  // Every outcome goes to Report().
  template <typename Req, typename Start>
  grpc::ServerUnaryReactor* Write(Ctx* ctx, std::string_view verb, const Bytes* raw, Bytes* resp,
                                  bool empty_response, Start&& start);
  // Counts a call in flight; false when draining (the call is refused).
  bool BeginCall();
  static grpc::Status Draining();
  void CallDone();

  // A write's status for the wire: serializes the object (or Empty) into
  // `resp` and records the metric.
  grpc::Status FinishWrite(std::string_view verb, const storage::WriteResult& r, Bytes* resp,
                           bool empty_response);
  // Counts a denial (metrics) and tells the observer.
  void Report(const WriteEvent& event);

  std::shared_ptr<GpuRegistry> registry_;
  ServerMetrics* metrics_;
  const GpuServiceOptions options_;

  absl::Mutex mu_;
  int inflight_ ABSL_GUARDED_BY(mu_) = 0;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace deviceapi::apiserver

#endif  // DEVICEAPI_APISERVER_GPU_SERVICE_H_
