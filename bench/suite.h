// What one devapi-bench run does: the sizes of the standard suite and of the smoke test, the
// targets, the scenarios picked, and where the table goes. main.cc fills it from the flags; the
// scenarios and the report read it.
#ifndef DEVICEAPI_BENCH_SUITE_H_
#define DEVICEAPI_BENCH_SUITE_H_

#include <set>
#include <string>
#include <vector>

#include "targets.h"

namespace devapi_bench {

struct Sizes {
  int gpus, conditions;
  double unary_s;                // per closed-loop measurement
  std::vector<int> get_clients;  // concurrency levels for Get throughput
  std::vector<int> update_clients;
  double list_s;
  struct Fan {
    int watchers, rate;  // rate 0: saturate (closed loop with a window)
  };
  std::vector<Fan> fanout;
  double fanout_s;
  int slow_healthy, slow_rate;
  double slow_s;
  int footprint_watchers;
};

// `make bench`: 1024 GPUs x 32 conditions, a few seconds per measurement.
Sizes Standard();
// The smoke test: every scenario at a size that runs in seconds; its figures mean nothing.
Sizes Tiny();

struct Options {
  std::vector<TargetSpec> targets;
  std::set<std::string> scenarios;
  Sizes sizes = Standard();
  std::string size_name = "standard";
  Settings settings;
  std::string out;
};

// Whether scenario `s` ("get", "list", ...) was picked.
inline bool Want(const Options& o, const std::string& s) { return o.scenarios.count(s) > 0; }

}  // namespace devapi_bench

#endif  // DEVICEAPI_BENCH_SUITE_H_
