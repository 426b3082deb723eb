// What every binary's /metrics serves: its own metrics, then the process_* metrics of the process,
// in the Prometheus text format (version 0.0.4).
#ifndef DEVICEAPI_OBSERVABILITY_EXPOSITION_H_
#define DEVICEAPI_OBSERVABILITY_EXPOSITION_H_

#include <initializer_list>
#include <string>

#include "prometheus/collectable.h"

namespace deviceapi::observability {

// Collects every source in order (nulls skipped), then the process_* metrics (ProcessCollector), and
// serializes them. Thread-safe when the sources' Collect() is.
std::string ExpositionText(std::initializer_list<const prometheus::Collectable*> sources);

}  // namespace deviceapi::observability

#endif  // DEVICEAPI_OBSERVABILITY_EXPOSITION_H_
