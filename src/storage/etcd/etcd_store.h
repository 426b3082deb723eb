// The etcd:// backend: objects live in etcd (v3 API over gRPC), under a key
// prefix, as protobuf bytes; etcd's revision is the resource version.
//
// The serving half is a ServingStore in mirror mode, kept current by one etcd
// Watch on the prefix: Get, List, continue tokens, history, selectors,
// bookmarks and watch fan-out are the memory backend's. Writes are etcd Txns
// that compare the key's create_revision (create) or mod_revision (update,
// delete) with what the mirror holds, so two servers on one prefix never
// overwrite each other; a write returns only once the mirror has applied its
// revision (read-your-writes). The *Async writes run on the store's writer
// threads, never on the caller's. See docs/design.md, "The etcd backend".
//
// Keys: <prefix>gpus/<namespace>/<name> (the serialized v1alpha1.Gpu with
// resource_version empty: the key's mod_revision is its RV), and
// <prefix>meta/started (written at each start, see Open()).
//
// The parts: etcd_endpoint.h (parsing etcd://...), etcd_client.h (the
// failover gRPC client), etcd_codec.h (keys and values), etcd_store.cc (open,
// load, reads), etcd_watch.cc (the watch feeding the mirror), etcd_writes.cc
// (the optimistic write loop and the writer threads).
#ifndef DEVICEAPI_STORAGE_ETCD_ETCD_STORE_H_
#define DEVICEAPI_STORAGE_ETCD_ETCD_STORE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/etcd/etcd_endpoint.h"
#include "storage/serving/serving_store.h"
#include "storage/store.h"

namespace grpc {
class ClientContext;
}

namespace deviceapi::storage {

class EtcdClient;

struct EtcdOptions {
  // Deadline of every unary etcd call (and of reaching etcd at start).
  absl::Duration request_timeout = absl::Seconds(5);
  // How long a committed write waits for the watch to deliver its revision.
  absl::Duration apply_timeout = absl::Seconds(10);
  // How long one address gets to accept a connection before the next is
  // tried (the watch loop waits this long per attempt while etcd is away).
  absl::Duration connect_timeout = absl::Seconds(1);
  // Reconnect backoff of the watch after etcd went away.
  absl::Duration min_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(1);
  // Threads running the *Async writes (each blocks on etcd for its Txn and on
  // the watch for its revision); more writes wait in a queue, in order.
  int writer_threads = 4;
};

class EtcdStore : public Store {
 public:
  // Connects, records the start in <prefix>meta/started (its revision is the
  // store's first RV, so an RV issued before this start is below the history
  // window, as with the other backends), loads every object at that revision
  // and waits until the watch runs. Fails with UNAVAILABLE naming the
  // addresses when etcd cannot be reached within request_timeout.
  static absl::StatusOr<std::shared_ptr<EtcdStore>> Open(const EtcdEndpoint& endpoint,
                                                         const StoreConfig& config,
                                                         const EtcdOptions& options = {});
  ~EtcdStore() override;

  absl::StatusOr<StoredPtr> Get(const ObjectKey& key, std::string_view rv) override;
  absl::StatusOr<ListResult> List(const ListOptions& opts) override;
  absl::StatusOr<StoredPtr> Create(v1::Gpu gpu) override;
  absl::StatusOr<StoredPtr> Update(const ObjectKey& key, const UpdateFn& fn) override;
  absl::StatusOr<StoredPtr> UpdateStored(const ObjectKey& key, const StoredUpdateFn& fn);
  absl::StatusOr<StoredPtr> Delete(const ObjectKey& key, const DeletePreconditions& pre) override;
  // The same writes on a writer thread (EtcdOptions::writer_threads): they
  // return at once and `done` runs there, exactly once. A write still queued
  // when the store is destroyed is answered UNAVAILABLE without running.
  void CreateAsync(v1::Gpu gpu, WriteDone done) override;
  void UpdateAsync(const ObjectKey& key, UpdateFn fn, WriteDone done) override;
  void UpdateStoredAsync(const ObjectKey& key, StoredUpdateFn fn, WriteDone done) override;
  void DeleteAsync(const ObjectKey& key, const DeletePreconditions& pre, WriteDone done) override;
  absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(WatchOptions opts, WatchConsumer* consumer) override;
  uint64_t CurrentResourceVersion() override;
  StoreStats Stats() override;
  // UNAVAILABLE while the etcd watch is down (etcd unreachable), with why.
  absl::Status Ready() override;
  // Ends the watches; writes keep working (the watch and the writer threads
  // run until destruction) so in-flight calls drain.
  void Shutdown() override;

  const EtcdEndpoint& endpoint() const { return endpoint_; }

 private:
  // The threads that run the *Async writes, and their queue (etcd_writes.cc).
  class WriterPool {
   public:
    // Told OK to run, or the error that refuses it (the pool is closed).
    using Task = std::function<void(absl::Status go)>;
    explicit WriterPool(int threads);
    ~WriterPool();  // Close()
    // Queues `task`; refuses it at once (on this thread) once closed.
    void Submit(Task task);
    // Refuses the queued tasks with UNAVAILABLE (on this thread) and every
    // later one, then waits for the running ones. On a writer thread (a
    // write's `done` dropped the last reference to the store) that thread is
    // left to finish on its own.
    void Close();

   private:
    struct Shared;  // the queue, shared with the threads
    std::shared_ptr<Shared> shared_;
    std::vector<std::thread> threads_;
  };

  // What a write does with the key's current version (etcd_writes.cc).
  struct WriteStep;
  using WritePlan = std::function<WriteStep(const StoredPtr& current)>;

  EtcdStore(EtcdEndpoint endpoint, const StoreConfig& config, const EtcdOptions& options);
  absl::Status Load();
  // Waits (request_timeout) until the watch has started; UNAVAILABLE saying why not.
  absl::Status AwaitWatchStarted();
  void WatchLoop();
  // One watch stream from the mirror's RV + 1, until it breaks (the error)
  // or a relist after a compaction (OK: watch again at once).
  absl::Status RunWatch();
  // The watch's start revision was compacted: reload everything and hand
  // the differences to the mirror as events.
  absl::Status Relist();
  // etcd's revision is below what this server served: ends every watch and
  // stops the store (Up() fails from then on). Returns that error.
  absl::Status RevisionWentBack(uint64_t etcd_rev);
  // OK while the watch runs, else UNAVAILABLE saying why.
  absl::Status Up();
  void SetUp(bool up, absl::Status why);
  // OUT_OF_RANGE (and the mirror's floor raised) when etcd compacted `rv`.
  void CheckCompacted(uint64_t rv);
  // Waits for the mirror to apply `rv` (a committed write's revision).
  absl::Status AwaitApplied(uint64_t rv);
  // Every write: `plan` looks at the mirror's version of `mirror_key` (null:
  // none) and answers at once or names the change; a Txn commits it only
  // while etcd's key is still at that version (else the mirror catches up
  // with the change that won and `plan` runs again). `name` is for errors.
  WriteResult WriteKey(const std::string& mirror_key, std::string_view name, const WritePlan& plan);

  const EtcdEndpoint endpoint_;
  const StoreConfig config_;
  const EtcdOptions options_;
  const std::string gpus_prefix_;  // <prefix>gpus/
  std::unique_ptr<EtcdClient> client_;
  std::shared_ptr<ServingStore> mirror_;

  absl::Mutex mu_;
  bool up_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> serving_{false};  // up_ && fatal_.ok(), for Up()'s fast path
  absl::Status down_reason_ ABSL_GUARDED_BY(mu_);
  absl::Status fatal_ ABSL_GUARDED_BY(mu_);  // set once etcd's revision went back
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* stream_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::atomic<bool> shut_down_{false};
  std::thread watch_thread_;
  WriterPool writers_;  // closed first in ~EtcdStore: its writes need the watch
};

absl::StatusOr<StorePtr> OpenEtcdStore(std::string_view endpoint, const StoreConfig& config,
                                       const EtcdOptions& options = {});

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_ETCD_ETCD_STORE_H_
