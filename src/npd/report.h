// What npd-gpu-monitor tells Node Problem Detector, derived purely from the Device API's GPUs: three
// Node conditions of problem polarity (True = problem) and events for new critical XIDs. No gRPC,
// no clock, no locks: both modes (serve and check) and the unit tests use it.
//
// Messages are stable (they change only when the set of affected GPUs or their reasons change), so
// NPD, which compares conditions by type/status/reason/message, does not churn the Kubernetes API.
#ifndef DEVICEAPI_NPD_REPORT_H_
#define DEVICEAPI_NPD_REPORT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "deviceapi/conditions.h"

namespace deviceapi::npd {

// Condition types (UpperCamelCase, named after the problem) and their healthy (False) reasons.
inline constexpr std::string_view kGpuUnhealthy = "GPUUnhealthy";
inline constexpr std::string_view kGpuHealthUnknown = "GPUHealthUnknown";
inline constexpr std::string_view kGpuCountMismatch = "GPUCountMismatch";
inline constexpr std::string_view kGpusHealthy = "GPUsHealthy";
inline constexpr std::string_view kGpuHealthKnown = "GPUHealthKnown";
inline constexpr std::string_view kGpuCountMatches = "GPUCountMatches";
// The reason of every condition while the Device API cannot be reached (status Unknown).
inline constexpr std::string_view kDeviceApiUnavailable = "DeviceAPIUnavailable";
// Check mode's pseudo-condition for NPD's temporary XID rule, and the event reason prefix.
inline constexpr std::string_view kGpuXid = "GPUXID";

enum class ProblemStatus { kFalse, kTrue, kUnknown };
std::string_view ProblemStatusName(ProblemStatus s);  // "False", "True", "Unknown"

struct ProblemCondition {
  std::string type;
  ProblemStatus status = ProblemStatus::kUnknown;
  std::string reason;
  std::string message;
  bool operator==(const ProblemCondition&) const = default;
};

// One GPU as the report needs it.
struct GpuSummary {
  std::string name;  // metadata.name
  Health health = Health::kUnknown;
  std::string reason;  // of its first False condition (unhealthy) or first non-True one (unknown)
};
GpuSummary Summarize(const v1::Gpu& gpu);

// A GPU's name as messages show it: at most 12 characters ("gpu-1a2b3c4d").
std::string ShortName(std::string_view name);

// `text` cut to at most `max` bytes (ending in "..." when cut, never inside a UTF-8 sequence).
std::string Truncate(std::string text, size_t max);

struct ReportOptions {
  int expected_gpus = 0;      // 0: no expectation (GPUCountMismatch stays False)
  size_t max_message = 1024;  // bytes per message (NPD's check mode cuts at max_output_length)
};

// The three conditions, always in this order: GPUUnhealthy, GPUHealthUnknown, GPUCountMismatch.
//   GPUUnhealthy      True when some GPU is unhealthy: "2/8 GPUs unhealthy: gpu-1a2b (XID79), ..."
//   GPUHealthUnknown  True when some GPU's health is unknown and none is unhealthy
//   GPUCountMismatch  True when fewer GPUs than expected: "7/8 GPUs present"
std::vector<ProblemCondition> Conditions(const std::vector<GpuSummary>& gpus, const ReportOptions& options);

// Every condition Unknown (never False) because the Device API cannot be reached; `why` is cut to fit.
std::vector<ProblemCondition> UnreachableConditions(std::string_view why, const ReportOptions& options);

// One new critical XID on a GPU: a condition False with reason "XID<n>" whose transition was not
// seen before.
struct XidEvent {
  std::string gpu;  // metadata.name
  uint64_t xid = 0;
  absl::Time at;                // the condition's last_transition_time
  std::string reason() const;   // "GPUXID<n>"
  std::string message() const;  // "XID79 on gpu-1a2b3c4d (NVMLReady: <condition message>)"
  std::string condition;        // the condition type that carries it, e.g. "NVMLReady"
  std::string detail;           // that condition's message
};

// Remembers, per GPU and condition type, the last XID transition seen, so every XID is reported
// once. Thread-compatible. Its state serializes to one line per entry (check mode keeps it in a file).
class XidTracker {
 public:
  // New XIDs on `gpu` since the last observation (none the first time a GPU is seen with `seed`).
  std::vector<XidEvent> Observe(const v1::Gpu& gpu, bool seed = false);
  // Forgets GPUs not in `names` (deleted ones), or one GPU.
  void Retain(const std::vector<std::string>& names);
  void Forget(const std::string& name);

  std::string Serialize() const;
  static absl::StatusOr<XidTracker> Parse(std::string_view text);
  size_t size() const { return seen_.size(); }

 private:
  // (gpu name, condition type) -> "XID<n>@<transition RFC3339>" of the last XID seen there.
  std::map<std::pair<std::string, std::string>, std::string> seen_;
};

// The XID number of a reason "XID<n>", if it is one.
std::optional<uint64_t> XidOfReason(std::string_view reason);

}  // namespace deviceapi::npd

#endif  // DEVICEAPI_NPD_REPORT_H_
