// One WatchGpus stream: pulls items from its store Watcher and writes the
// shared pre-serialized bytes, one write in flight at a time.
#ifndef DEVICEAPI_APISERVER_WATCH_REACTOR_H_
#define DEVICEAPI_APISERVER_WATCH_REACTOR_H_

#include <memory>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "storage/store.h"

namespace deviceapi::apiserver {

class ServerMetrics;

// Lifetime: created by GpuService::WatchGpus, deletes itself in OnDone().
// Every StartWrite/Finish decision is made under mu_ (at most one write in
// flight, nothing after Finish); the gRPC calls themselves are made outside
// it. OnWatchReady comes from whichever thread made an item available, with
// no store or hub lock held: the thread that committed a write (or, for a
// durable store, the flusher thread that published it), the watch hub's
// thread (bookmarks, timeouts) or the thread that ended the watch.
class WatchReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer>, public storage::WatchConsumer {
 public:
  WatchReactor(ServerMetrics* metrics);
  // Starts streaming, or finishes at once with the error.
  void Start(absl::StatusOr<std::unique_ptr<storage::WatchHandle>> handle);

  void OnWatchReady() override { Pump(); }
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  void Pump();

  ServerMetrics* const metrics_;
  std::unique_ptr<storage::WatchHandle> handle_;

  absl::Mutex mu_;
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ByteBuffer buffer_;  // owned by the write in flight
};

}  // namespace deviceapi::apiserver

#endif  // DEVICEAPI_APISERVER_WATCH_REACTOR_H_
