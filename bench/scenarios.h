// The scenarios of devapi-bench against one target: they drive the unary runner and the fan-out
// client and record each figure as a row of the report.
#ifndef DEVICEAPI_BENCH_SCENARIOS_H_
#define DEVICEAPI_BENCH_SCENARIOS_H_

#include "report.h"
#include "suite.h"
#include "targets.h"

namespace devapi_bench {

// Opens the target, loads `sizes.gpus` objects and runs the picked scenarios among get, list,
// update, watch-fanout and slow-watcher, in that order, recording one row per measurement.
// Throws when the target cannot be opened or a watch cannot be set up.
void RunPerfScenarios(const Options& o, const TargetSpec& spec, Results* res);

// The footprint scenario on a target of its own (spawned targets only; nothing for an address):
// spawn to first answer, RSS idle, with the GPUs loaded, and with footprint_watchers watchers.
void RunFootprint(const Options& o, const TargetSpec& spec, Results* res);

}  // namespace devapi_bench

#endif  // DEVICEAPI_BENCH_SCENARIOS_H_
