// The etcd:// backend: objects live in etcd (v3 API over gRPC), under a key
// prefix, as protobuf bytes; etcd's revision is the resource version.
//
// The serving half is a ServingStore in mirror mode, kept current by one etcd
// Watch on the prefix: Get, List, continue tokens, history, selectors,
// bookmarks and watch fan-out are the memory backend's. Writes are etcd Txns
// that compare the key's create_revision (create) or mod_revision (update,
// delete) with what the mirror holds, so two servers on one prefix never
// overwrite each other; a write returns only once the mirror has applied its
// revision (read-your-writes). See docs/design.md, "The etcd backend".
//
// Keys: <prefix>gpus/<namespace>/<name> (the serialized v1alpha1.Gpu with
// resource_version empty: the key's mod_revision is its RV), and
// <prefix>meta/started (written at each start, see Open()).
#ifndef DEVICEAPI_STORAGE_ETCD_ETCD_STORE_H_
#define DEVICEAPI_STORAGE_ETCD_ETCD_STORE_H_

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/serving/serving_store.h"
#include "storage/store.h"

namespace grpc {
class ClientContext;
}

namespace deviceapi::storage {

inline constexpr std::string_view kDefaultEtcdPrefix = "/device-api/";

// A parsed etcd://host:port[,host:port...][?prefix=/p/] endpoint.
struct EtcdEndpoint {
  std::vector<std::string> addresses;                    // host:port, in the order given
  std::string prefix = std::string(kDefaultEtcdPrefix);  // starts and ends with '/'
};

// INVALID_ARGUMENT naming the endpoint and what is wanted when it is not of
// that form: no address, an empty host, a port that is not 1-65535, an
// unknown query parameter, a prefix that does not start with '/'. A prefix
// without a trailing '/' gets one.
absl::StatusOr<EtcdEndpoint> ParseEtcdEndpoint(std::string_view endpoint);

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
  void UpdateStoredAsync(const ObjectKey& key, StoredUpdateFn fn, WriteDone done) override {
    done(UpdateStored(key, fn));
  }
  absl::StatusOr<StoredPtr> UpdateStored(const ObjectKey& key, const StoredUpdateFn& fn);
  absl::StatusOr<StoredPtr> Delete(const ObjectKey& key, const DeletePreconditions& pre) override;
  absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(WatchOptions opts, WatchConsumer* consumer) override;
  uint64_t CurrentResourceVersion() override;
  StoreStats Stats() override;
  // UNAVAILABLE while the etcd watch is down (etcd unreachable), with why.
  absl::Status Ready() override;
  void Shutdown() override;

  const EtcdEndpoint& endpoint() const { return endpoint_; }

  class Client;  // the etcd gRPC calls (etcd_store.cc)

 private:
  EtcdStore(EtcdEndpoint endpoint, const StoreConfig& config, const EtcdOptions& options);
  absl::Status Load();
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
  std::string EtcdKey(const std::string& mirror_key) const;

  const EtcdEndpoint endpoint_;
  const StoreConfig config_;
  const EtcdOptions options_;
  const std::string gpus_prefix_;  // <prefix>gpus/
  std::unique_ptr<Client> client_;
  std::shared_ptr<ServingStore> mirror_;

  absl::Mutex mu_;
  bool up_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> serving_{false};  // up_ && fatal_.ok(), for Up()'s fast path
  absl::Status down_reason_ ABSL_GUARDED_BY(mu_);
  absl::Status fatal_ ABSL_GUARDED_BY(mu_);  // set once etcd's revision went back
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* stream_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::atomic<bool> shut_{false};
  std::thread watch_thread_;
};

absl::StatusOr<StorePtr> OpenEtcdStore(std::string_view endpoint, const StoreConfig& config,
                                       const EtcdOptions& options = {});

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_ETCD_ETCD_STORE_H_
