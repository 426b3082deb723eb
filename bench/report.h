// The results of a devapi-bench run and the report made of them: one Measure per (row, target),
// the progress line printed as each is recorded, and the markdown tables (goals with ratios and
// verdicts, then every measurement).
#ifndef DEVICEAPI_BENCH_REPORT_H_
#define DEVICEAPI_BENCH_REPORT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "suite.h"
#include "util.h"

namespace devapi_bench {

// One cell: latency percentiles and a rate, or (footprint rows) a single value.
struct Measure {
  bool has_lat = false;
  double p50 = 0, p99 = 0, p999 = 0, max = 0;
  double rate = 0;   // per second
  std::string unit;  // of rate
  std::string note;
  int64_t value = -1;  // footprint rows: bytes or ns
};

// The percentiles of `l` (sorted here) and `rate` per second of `unit`.
Measure FromLatencies(Latencies& l, double rate, const std::string& unit);
// A footprint value: `unit` "bytes" or "ns".
Measure ValueMeasure(int64_t v, const std::string& unit);

struct Results {
  std::vector<std::string> order;                           // row keys in order
  std::map<std::string, std::map<std::string, Measure>> m;  // row -> target -> measure
  // Sets the cell; a new row goes after the existing ones.
  void Put(const std::string& row, const std::string& target, Measure x);
  // The cell, or null.
  const Measure* Get(const std::string& row, const std::string& target) const;
};

// Prints the progress line of the cell to stderr and puts it into `res`.
void Record(Results* res, const std::string& row, const std::string& target, Measure m);

// Row names: the scenarios record under them, the report looks its goals up by them.
std::string GetRow(int clients);                // "get: 1 client", "get: 16 clients"
std::string ListRow(int gpus, int conditions);  // "list: 1024 GPUs x 32 conditions"
std::string UpdateRow(int clients);             // "update: 16 clients, 0 watchers"
std::string FanoutRow(int watchers, int rate);  // rate 0: "...x saturated"
std::string SlowWatcherRow(int healthy, int rate, bool stalled);
inline constexpr const char* kStartRow = "footprint: start to first answer";
inline constexpr const char* kRssIdleRow = "footprint: RSS idle";
std::string RssRow(int gpus);  // "footprint: RSS with 1024 GPUs"
std::string RssWithWatchersRow(int gpus, int watchers);

// The markdown report: the goals table (each figure next to floor and etcd, ratios, verdicts),
// the table of all measurements (a sqlite column when any sqlite figure exists) and the notes.
// A goal without figures is left out.
std::string Report(const Options& o, const Results& res);

}  // namespace devapi_bench

#endif  // DEVICEAPI_BENCH_REPORT_H_
