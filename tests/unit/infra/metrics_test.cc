#include "apiserver/metrics.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace deviceapi::apiserver {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The build info, process metrics and fixed families appear from the start.
TEST(ServerMetricsTest, ExportsFixedFamilies) {
  ServerMetrics metrics;
  std::string text = metrics.Serialize();
  EXPECT_THAT(text, HasSubstr("# TYPE device_api_server_info gauge"));
  EXPECT_THAT(text, HasSubstr("device_api_server_info{build_date=\""));
  EXPECT_THAT(text, HasSubstr("device_api_server_watchers_evicted_total 0"));
  EXPECT_THAT(text, HasSubstr("device_api_server_watch_events_sent_total{type=\"ADDED\"} 0"));
  EXPECT_THAT(text, HasSubstr("process_resident_memory_bytes "));
  // No provider yet: the store gauges are left out.
  EXPECT_THAT(text, Not(HasSubstr("device_api_server_resource_version")));
}

// Recorded events show up with their labels.
TEST(ServerMetricsTest, RecordsWritesEventsAndEvictions) {
  ServerMetrics metrics;
  metrics.RecordWrite("create", grpc::StatusCode::OK);
  metrics.RecordWrite("create", grpc::StatusCode::OK);
  metrics.RecordWrite("update", grpc::StatusCode::ABORTED);
  metrics.RecordWatchEventSent("MODIFIED");
  metrics.RecordWatchEventSent("CUSTOM");
  metrics.RecordWatcherEvicted();
  std::string text = metrics.Serialize();
  EXPECT_THAT(text, HasSubstr("device_api_server_writes_total{code=\"OK\",verb=\"create\"} 2"));
  EXPECT_THAT(text, HasSubstr("device_api_server_writes_total{code=\"Aborted\",verb=\"update\"} 1"));
  EXPECT_THAT(text, HasSubstr("device_api_server_watch_events_sent_total{type=\"MODIFIED\"} 1"));
  EXPECT_THAT(text, HasSubstr("device_api_server_watch_events_sent_total{type=\"CUSTOM\"} 1"));
  EXPECT_THAT(text, HasSubstr("device_api_server_watchers_evicted_total 1"));
}

// The store gauges come from the provider at scrape time and vanish when it is removed.
TEST(ServerMetricsTest, StoreGaugesFromProvider) {
  ServerMetrics metrics;
  StoreGauges g;
  g.resource_version = 42;
  g.objects = 8;
  g.gpus_healthy = 6;
  g.gpus_unhealthy = 1;
  g.gpus_unknown = 1;
  g.watch_streams_active = 3;
  g.history_events = 17;
  g.history_oldest_rv = 25;
  metrics.SetStoreGaugesProvider([&g] { return g; });
  std::string text = metrics.Serialize();
  EXPECT_THAT(text, HasSubstr("device_api_server_resource_version 42"));
  EXPECT_THAT(text, HasSubstr("device_api_server_objects 8"));
  EXPECT_THAT(text, HasSubstr("device_api_server_gpus{health=\"healthy\"} 6"));
  EXPECT_THAT(text, HasSubstr("device_api_server_gpus{health=\"unhealthy\"} 1"));
  EXPECT_THAT(text, HasSubstr("device_api_server_gpus{health=\"unknown\"} 1"));
  EXPECT_THAT(text, HasSubstr("device_api_server_watch_streams_active 3"));
  EXPECT_THAT(text, HasSubstr("device_api_server_watch_history_events 17"));
  EXPECT_THAT(text, HasSubstr("device_api_server_watch_history_oldest_resource_version 25"));

  g.resource_version = 43;
  EXPECT_THAT(metrics.Serialize(), HasSubstr("device_api_server_resource_version 43"));

  metrics.SetStoreGaugesProvider(nullptr);
  EXPECT_THAT(metrics.Serialize(), Not(HasSubstr("device_api_server_resource_version")));
}

}  // namespace
}  // namespace deviceapi::apiserver
