#include "apiserver/metrics.h"

#include <utility>
#include <vector>

#include "apiserver/grpc_metrics.h"
#include "common/version.h"
#include "observability/exposition.h"
#include "prometheus/gauge.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace deviceapi::apiserver {

// Builds the store gauges from the provider at Collect() time.
class ServerMetrics::StoreCollector : public prometheus::Collectable {
 public:
  void SetProvider(std::function<StoreGauges()> provider) {
    absl::MutexLock lock(&mu_);
    provider_ = std::move(provider);
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    StoreGauges g;
    {
      // Held while the provider runs: that is what lets SetProvider() promise the old provider
      // is done when it returns.
      absl::MutexLock lock(&mu_);
      if (!provider_) return {};
      g = provider_();
    }
    std::vector<prometheus::MetricFamily> out;
    auto gauge = [&out](std::string name, std::string help) -> prometheus::MetricFamily& {
      prometheus::MetricFamily& f = out.emplace_back();
      f.name = std::move(name);
      f.help = std::move(help);
      f.type = prometheus::MetricType::Gauge;
      return f;
    };
    auto point = [](prometheus::MetricFamily& f, double v,
                    std::vector<prometheus::ClientMetric::Label> labels = {}) {
      prometheus::ClientMetric& m = f.metric.emplace_back();
      m.label = std::move(labels);
      m.gauge.value = v;
    };
    point(gauge("device_api_server_resource_version", "Current resource version of the store."),
          static_cast<double>(g.resource_version));
    point(gauge("device_api_server_objects", "Number of objects in the store."),
          static_cast<double>(g.objects));
    prometheus::MetricFamily& gpus = gauge("device_api_server_gpus", "Number of GPUs by health.");
    point(gpus, static_cast<double>(g.gpus_healthy), {{"health", "healthy"}});
    point(gpus, static_cast<double>(g.gpus_unhealthy), {{"health", "unhealthy"}});
    point(gpus, static_cast<double>(g.gpus_unknown), {{"health", "unknown"}});
    point(gauge("device_api_server_watch_streams_active", "Number of open watch streams."),
          static_cast<double>(g.watch_streams_active));
    point(gauge("device_api_server_watch_history_events", "Number of events kept in the watch history."),
          static_cast<double>(g.history_events));
    point(gauge("device_api_server_watch_history_oldest_resource_version",
                "Resource version of the oldest event in the watch history (0 when empty)."),
          static_cast<double>(g.history_oldest_rv));
    return out;
  }

 private:
  mutable absl::Mutex mu_;
  std::function<StoreGauges()> provider_ ABSL_GUARDED_BY(mu_);
};

ServerMetrics::ServerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      writes_(prometheus::BuildCounter()
                  .Name("device_api_server_writes_total")
                  .Help("Total number of write requests by verb and gRPC code.")
                  .Register(*registry_)),
      writes_denied_(
          prometheus::BuildCounter()
              .Name("device_api_server_writes_denied_total")
              .Help("Total number of writes refused by authorization, by the caller's uid (\"unknown\" "
                    "when the server has no credentials for the connection) and reason: "
                    "not_writer (--writer-uids/--writer-gids), not_owner (a provider's "
                    "condition), read_only (the read-only socket).")
              .Register(*registry_)),
      audit_records_(prometheus::BuildCounter()
                         .Name("device_api_server_audit_records_total")
                         .Help("Total number of audit records (--audit-log) by result: written, or dropped "
                               "because writing the file failed.")
                         .Register(*registry_)),
      audit_written_(&audit_records_.Add({{"result", "written"}})),
      audit_dropped_(&audit_records_.Add({{"result", "dropped"}})),
      events_sent_(prometheus::BuildCounter()
                       .Name("device_api_server_watch_events_sent_total")
                       .Help("Total number of watch events sent to clients, by event type.")
                       .Register(*registry_)),
      watchers_evicted_(prometheus::BuildCounter()
                            .Name("device_api_server_watchers_evicted_total")
                            .Help("Total number of watchers closed because they fell behind.")
                            .Register(*registry_)
                            .Add({})),
      heartbeat_timeouts_(prometheus::BuildCounter()
                              .Name("device_api_server_condition_heartbeat_timeouts_total")
                              .Help("Total number of conditions marked Unknown because their provider "
                                    "stopped refreshing lastHeartbeatTime.")
                              .Register(*registry_)
                              .Add({})),
      store_collector_(std::make_unique<StoreCollector>()) {
  const common::BuildInfo& info = common::GetBuildInfo();
  prometheus::BuildGauge()
      .Name("device_api_server_info")
      .Help("Build information of the running device-api-server; always 1.")
      .Register(*registry_)
      .Add({{"version", info.version},
            {"git_commit", info.git_commit},
            {"build_date", info.build_date},
            {"compiler", info.compiler},
            {"platform", info.platform}})
      .Set(1);
  for (size_t i = 0; i < kEventTypes.size(); ++i) {
    known_event_counters_[i] = &events_sent_.Add({{"type", std::string(kEventTypes[i])}});
  }
}

ServerMetrics::~ServerMetrics() = default;

void ServerMetrics::RecordWrite(std::string_view verb, grpc::StatusCode code) {
  std::string key(verb);
  key.push_back('\0');
  key += std::to_string(static_cast<int>(code));
  prometheus::Counter* counter;
  {
    absl::MutexLock lock(&mu_);
    prometheus::Counter*& slot = write_counters_[key];
    if (slot == nullptr) {
      slot = &writes_.Add({{"verb", std::string(verb)}, {"code", GrpcCodeName(code)}});
    }
    counter = slot;
  }
  counter->Increment();
}

void ServerMetrics::RecordWriteDenied(std::optional<uint32_t> uid, std::string_view reason) {
  // Rare (a misconfigured or hostile client): prometheus-cpp's own lookup is enough.
  writes_denied_
      .Add({{"uid", uid ? std::to_string(*uid) : std::string("unknown")}, {"reason", std::string(reason)}})
      .Increment();
}

void ServerMetrics::RecordAudit(bool written) { (written ? audit_written_ : audit_dropped_)->Increment(); }

void ServerMetrics::RecordWatchEventSent(std::string_view type) {
  for (size_t i = 0; i < kEventTypes.size(); ++i) {
    if (kEventTypes[i] == type) {
      known_event_counters_[i]->Increment();
      return;
    }
  }
  prometheus::Counter* counter;
  {
    absl::MutexLock lock(&mu_);
    prometheus::Counter*& slot = other_event_counters_[std::string(type)];
    if (slot == nullptr) slot = &events_sent_.Add({{"type", std::string(type)}});
    counter = slot;
  }
  counter->Increment();
}

void ServerMetrics::RecordWatcherEvicted() { watchers_evicted_.Increment(); }

void ServerMetrics::RecordHeartbeatTimeout() { heartbeat_timeouts_.Increment(); }

void ServerMetrics::SetStoreGaugesProvider(std::function<StoreGauges()> provider) {
  store_collector_->SetProvider(std::move(provider));
}

std::string ServerMetrics::Serialize() const {
  return observability::ExpositionText({registry_.get(), store_collector_.get()});
}

}  // namespace deviceapi::apiserver
