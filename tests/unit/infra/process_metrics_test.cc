#include "observability/process_metrics.h"

#include <ctime>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "observability/exposition.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace deviceapi::observability {
namespace {

// Every standard process metric is present, typed as client_golang does, with a sane value.
TEST(ProcessCollectorTest, ReportsPlausibleValues) {
  // Burn a little CPU so that process_cpu_seconds_total is clearly above 0.
  for (std::clock_t start = std::clock(); std::clock() - start < CLOCKS_PER_SEC / 20;) {
  }

  ProcessCollector collector;
  std::map<std::string, prometheus::MetricFamily> by_name;
  for (prometheus::MetricFamily& f : collector.Collect()) by_name[f.name] = f;
  auto value = [&](const std::string& name) {
    auto it = by_name.find(name);
    if (it == by_name.end() || it->second.metric.size() != 1) {
      ADD_FAILURE() << "missing " << name;
      return -1.0;
    }
    const prometheus::ClientMetric& m = it->second.metric[0];
    return it->second.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
  };
  EXPECT_GT(value("process_resident_memory_bytes"), 1024 * 1024);
  EXPECT_GT(value("process_virtual_memory_bytes"), value("process_resident_memory_bytes"));
  EXPECT_GT(value("process_cpu_seconds_total"), 0);
  EXPECT_GE(value("process_open_fds"), 3);  // stdin, stdout, stderr
  EXPECT_GE(value("process_max_fds"), value("process_open_fds"));
  EXPECT_GE(value("process_threads"), 1);
  double start = value("process_start_time_seconds");
  double now = static_cast<double>(std::time(nullptr));
  EXPECT_GT(start, now - 3600);
  EXPECT_LE(start, now + 1);
  EXPECT_EQ(by_name["process_cpu_seconds_total"].type, prometheus::MetricType::Counter);
  EXPECT_EQ(by_name["process_open_fds"].help, "Number of open file descriptors.");
}

// /metrics of any binary: its own families in order, then the process_* ones,
// each family once, in the text format.
TEST(ExpositionTextTest, OwnMetricsThenProcessMetrics) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter().Name("demo_events_total").Help("Demo.").Register(*registry).Add({}).Increment(3);
  const std::string text = ExpositionText({registry.get(), nullptr});
  const size_t own = text.find("# TYPE demo_events_total counter\ndemo_events_total 3");
  const size_t process = text.find("# TYPE process_cpu_seconds_total counter");
  ASSERT_NE(own, std::string::npos) << text;
  ASSERT_NE(process, std::string::npos) << text;
  EXPECT_LT(own, process);
  EXPECT_EQ(text.find("# TYPE process_cpu_seconds_total", process + 1), std::string::npos);
}

}  // namespace
}  // namespace deviceapi::observability
