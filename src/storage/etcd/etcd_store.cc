// The core of the etcd:// backend: opening (the start marker, the initial
// load into the mirror, waiting for the watch), the reads (served by the
// mirror, with etcd asked only whether a resumed revision was compacted),
// readiness and shutdown. See etcd_store.h for the parts.
#include "storage/etcd/etcd_store.h"

#include <unistd.h>

#include <algorithm>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "apimachinery/errors.h"
#include "common/strings.h"
#include "etcd/etcdserverpb/rpc.pb.h"
#include "storage/continue_token.h"
#include "storage/etcd/etcd_client.h"
#include "storage/etcd/etcd_codec.h"
#include "storage/snapshot.h"

namespace deviceapi::storage {

namespace am = ::deviceapi::apimachinery;
namespace pb = ::etcdserverpb;
using ::deviceapi::common::Cat;
using ::deviceapi::common::ToStd;

EtcdStore::EtcdStore(EtcdEndpoint endpoint, const StoreConfig& config, const EtcdOptions& options)
    : endpoint_(std::move(endpoint)),
      config_(config),
      options_(options),
      gpus_prefix_(endpoint_.prefix + "gpus/"),
      client_(std::make_unique<EtcdClient>(endpoint_.addresses, options.request_timeout)),
      writers_(options.writer_threads) {}

absl::StatusOr<std::shared_ptr<EtcdStore>> EtcdStore::Open(const EtcdEndpoint& endpoint,
                                                           const StoreConfig& config,
                                                           const EtcdOptions& options) {
  std::shared_ptr<EtcdStore> s(new EtcdStore(endpoint, config, options));
  if (auto st = s->Load(); !st.ok()) return st;
  s->watch_thread_ = std::thread([p = s.get()] { p->WatchLoop(); });
  // Ready only once the watch runs: a write must be able to see its revision applied.
  if (auto st = s->AwaitWatchStarted(); !st.ok()) return st;
  return s;
}

absl::Status EtcdStore::AwaitWatchStarted() {
  absl::MutexLock l(&mu_);
  auto up = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return up_; };
  if (!mu_.AwaitWithTimeout(absl::Condition(&up), options_.request_timeout)) {
    return absl::UnavailableError(Cat("etcd ", client_->addresses(), ": the watch on ", gpus_prefix_,
                                      " did not start: ", ToStd(down_reason_.message())));
  }
  return absl::OkStatus();
}

absl::Status EtcdStore::Load() {
  // The start marker: its revision is above every RV handed out before this
  // start, and it proves etcd takes writes (quorum, permissions). etcd may be
  // still starting: retry, moving through the addresses, until the deadline.
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  pb::PutRequest put;
  put.set_key(endpoint_.prefix + "meta/started");
  put.set_value(Cat("{\"host\":\"", host, "\",\"pid\":", ::getpid(), ",\"time\":\"",
                    ToStd(absl::FormatTime(absl::Now())), "\"}"));
  const absl::Time deadline = absl::Now() + options_.request_timeout;
  absl::StatusOr<pb::PutResponse> started;
  for (;;) {
    const size_t conn = client_->current();
    if (!client_->WaitConnected(conn, std::min(options_.connect_timeout, deadline - absl::Now()))) {
      client_->Failed(conn);
    }
    started = client_->Put(put);
    if (started.ok() || started.status().code() != absl::StatusCode::kUnavailable || absl::Now() >= deadline)
      break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  if (!started.ok()) {
    return absl::UnavailableError(Cat("cannot reach etcd at ", client_->addresses(), " (datastore prefix ",
                                      endpoint_.prefix, "): ", ToStd(started.status().message())));
  }
  const uint64_t start_rv = static_cast<uint64_t>(started->header().revision());

  pb::RangeRequest range;
  range.set_key(gpus_prefix_);
  range.set_range_end(PrefixEnd(gpus_prefix_));
  range.set_revision(static_cast<int64_t>(start_rv));
  auto listed = client_->Range(range);
  if (!listed.ok()) return listed.status();
  SnapshotPtr snap = Snapshot::Empty(start_rv);
  for (const mvccpb::KeyValue& kv : listed->kvs()) {
    std::string key;
    if (auto gpu = Decode(gpus_prefix_, kv, &key))
      snap = snap->With(key, StoredObject::Make(std::move(gpu)), start_rv);
  }
  spdlog::info("etcd {}: {} objects under {} at revision {}", client_->addresses(), snap->size(),
               gpus_prefix_, start_rv);
  mirror_ = std::make_shared<ServingStore>(config_, start_rv, std::move(snap), nullptr);
  return absl::OkStatus();
}

EtcdStore::~EtcdStore() {
  Shutdown();
  // First the writes: the running ones need the watch to see them applied.
  writers_.Close();
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    if (stream_ctx_ != nullptr) stream_ctx_->TryCancel();
  }
  if (watch_thread_.joinable()) watch_thread_.join();
}

void EtcdStore::Shutdown() {
  // The watch and the writer threads keep running until destruction: writes
  // still draining need their revisions applied.
  shut_down_ = true;
  if (mirror_) mirror_->Shutdown();
}

absl::StatusOr<StoredPtr> EtcdStore::Get(const ObjectKey& key, std::string_view rv) {
  // "" is a consistent read: not from a mirror that may be behind.
  if (rv.empty()) {
    if (auto s = Up(); !s.ok()) return s;
  }
  return mirror_->Get(key, rv);
}

absl::StatusOr<ListResult> EtcdStore::List(const ListOptions& opts) {
  if (!opts.continue_token.empty()) {
    if (auto tok = DecodeContinueToken(opts.continue_token); tok.ok()) CheckCompacted(tok->rv);
  } else if (opts.resource_version.empty()) {
    if (auto s = Up(); !s.ok()) return s;
  } else if (opts.match == am::ResourceVersionMatch::kExact) {
    if (auto n = am::ParseResourceVersion(opts.resource_version); n.ok()) CheckCompacted(*n);
  }
  return mirror_->List(opts);
}

absl::StatusOr<std::unique_ptr<WatchHandle>> EtcdStore::Watch(WatchOptions opts, WatchConsumer* consumer) {
  if (opts.resume_rv) CheckCompacted(*opts.resume_rv);
  return mirror_->Watch(std::move(opts), consumer);
}

uint64_t EtcdStore::CurrentResourceVersion() { return mirror_->CurrentResourceVersion(); }

StoreStats EtcdStore::Stats() { return mirror_->Stats(); }

absl::Status EtcdStore::Ready() {
  if (shut_down_) return am::ShuttingDownError();
  if (auto s = Up(); !s.ok()) return s;
  return mirror_->Ready();
}

absl::StatusOr<StorePtr> OpenEtcdStore(std::string_view endpoint, const StoreConfig& config,
                                       const EtcdOptions& options) {
  auto ep = ParseEtcdEndpoint(endpoint);
  if (!ep.ok()) return ep.status();
  auto s = EtcdStore::Open(*ep, config, options);
  if (!s.ok()) return s.status();
  return StorePtr(std::move(*s));
}

}  // namespace deviceapi::storage
