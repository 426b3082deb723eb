// The metrics the server exports on /metrics.
#ifndef DEVICEAPI_APISERVER_METRICS_H_
#define DEVICEAPI_APISERVER_METRICS_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/support/status.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/registry.h"

namespace deviceapi::apiserver {

// State of the store and the watch machinery, sampled at scrape time.
struct StoreGauges {
  uint64_t resource_version = 0;  // current (latest committed) resource version
  uint64_t objects = 0;           // stored objects
  uint64_t gpus_healthy = 0;      // GPUs by health
  uint64_t gpus_unhealthy = 0;
  uint64_t gpus_unknown = 0;
  uint64_t watch_streams_active = 0;  // open watch streams
  uint64_t history_events = 0;        // events in the watch history ring
  uint64_t history_oldest_rv = 0;     // resource version of the oldest event kept, 0 when empty
};

// Owns the process-wide metrics registry and the device_api_server_* metrics:
//   device_api_server_info{version,git_commit,build_date,compiler,platform} 1
//   device_api_server_writes_total{verb,code}                (counter)
//   device_api_server_writes_denied_total{uid,reason}        (counter)
//   device_api_server_audit_records_total{result}            (counter; with --audit-log)
//   device_api_server_watch_events_sent_total{type}          (counter)
//   device_api_server_watchers_evicted_total                 (counter)
// and, at scrape time from the StoreGauges provider (left out while none is set):
//   device_api_server_resource_version, device_api_server_objects,
//   device_api_server_gpus{health="healthy|unhealthy|unknown"},
//   device_api_server_watch_streams_active, device_api_server_watch_history_events,
//   device_api_server_watch_history_oldest_resource_version                 (gauges)
// plus the process_* metrics (observability::ExpositionText). The gRPC interceptor registers its
// grpc_server_* families in registry(). All methods are thread-safe; Record*() never block on a scrape.
class ServerMetrics {
 public:
  ServerMetrics();
  ~ServerMetrics();
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // The registry every family is registered in; share it with MakeGrpcMetricsInterceptorFactory.
  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  // One write ("create", "update", "update_status", "delete", ...) that finished with `code`
  // (label value as GrpcCodeName(): "OK", "AlreadyExists", ...).
  void RecordWrite(std::string_view verb, grpc::StatusCode code);

  // One write refused by authorization: `uid` of the caller (nullopt: unknown), `reason`
  // "not_writer", "not_owner" or "read_only". The uid label's cardinality is the number of
  // distinct uids that try to write: a node has few.
  void RecordWriteDenied(std::optional<uint32_t> uid, std::string_view reason);

  // One audit record (--audit-log): written, or dropped because the write to the file failed.
  void RecordAudit(bool written);

  // One watch event sent to one stream; `type` is "ADDED", "MODIFIED", "DELETED" or "BOOKMARK"
  // (others work too, a little slower). Lock-free for the four known types.
  void RecordWatchEventSent(std::string_view type);

  // One watcher closed because its queue overflowed.
  void RecordWatcherEvicted();

  // One condition marked Unknown because its provider stopped heartbeating.
  void RecordHeartbeatTimeout();

  // Installs (or with nullptr removes) the function sampled at every scrape. The provider runs on
  // the scraping thread while an internal lock is held; once this call returns, a replaced
  // provider is no longer running and will not be called again, so its captures may be destroyed.
  // The provider must not call back into this object.
  void SetStoreGaugesProvider(std::function<StoreGauges()> provider);

  // All families (registry, store gauges, process metrics) in Prometheus text format 0.0.4.
  std::string Serialize() const;

 private:
  class StoreCollector;

  static constexpr std::array<std::string_view, 4> kEventTypes = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK"};

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& writes_;
  prometheus::Family<prometheus::Counter>& writes_denied_;
  prometheus::Family<prometheus::Counter>& audit_records_;
  prometheus::Counter* audit_written_;
  prometheus::Counter* audit_dropped_;
  prometheus::Family<prometheus::Counter>& events_sent_;
  prometheus::Counter& watchers_evicted_;
  prometheus::Counter& heartbeat_timeouts_;
  std::array<prometheus::Counter*, kEventTypes.size()> known_event_counters_{};
  std::unique_ptr<StoreCollector> store_collector_;

  mutable absl::Mutex mu_;
  // Key: verb + '\0' + code number.
  absl::flat_hash_map<std::string, prometheus::Counter*> write_counters_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, prometheus::Counter*> other_event_counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace deviceapi::apiserver

#endif  // DEVICEAPI_APISERVER_METRICS_H_
