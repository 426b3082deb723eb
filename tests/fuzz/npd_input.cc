// Fuzz target: what npd-gpu-monitor takes from outside (npd/report.h): the GPUs the Device API
// returns, turned into Node conditions and XID events, and check mode's XID state file.
//
// Input: one byte choosing the state file (odd) or GPUs (even).
//   State file: the rest is the file. XidTracker::Parse never crashes; what parses serializes
//   to a text that parses to the same serialization.
//   GPUs: a byte of expected GPU count, a byte of max message size, then GPUs as (2-byte length,
//   serialized v1::Gpu) records. Conditions() always gives the three condition types in order,
//   each message within the size limit, GPUUnhealthy True exactly when some GPU is unhealthy;
//   every XID is reported once (observing the same GPU again reports nothing); the tracker's
//   state survives Serialize/Parse.
#include <set>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "npd/report.h"

namespace npd = ::deviceapi::npd;
namespace v1 = ::nvidia::nvsentinel::v1alpha1;
using deviceapi::Health;
using deviceapi::fuzz::FuzzInput;

namespace {

bool HasSeparator(std::string_view s) { return s.find_first_of("\t\n") != std::string_view::npos; }

void CheckStateRoundTrip(const npd::XidTracker& t) {
  const std::string text = t.Serialize();
  auto back = npd::XidTracker::Parse(text);
  FUZZ_CHECK(back.ok(), "Serialize() output does not parse: %s", back.status().ToString().c_str());
  FUZZ_CHECK(back->Serialize() == text, "state file round trip differs:\n%s", text.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  if (in.Byte() % 2 == 1) {
    auto t = npd::XidTracker::Parse(in.Rest());
    if (t.ok()) CheckStateRoundTrip(*t);
    return 0;
  }
  npd::ReportOptions options;
  options.expected_gpus = in.Byte() % 16;
  options.max_message = in.Byte();
  std::vector<v1::Gpu> gpus;
  while (!in.empty() && gpus.size() < 64) {
    size_t n = in.Byte();
    n = n << 8 | in.Byte();
    std::string bytes;
    for (size_t i = 0; i < n && !in.empty(); ++i) bytes.push_back(static_cast<char>(in.Byte()));
    v1::Gpu gpu;
    if (gpu.ParseFromString(bytes)) gpus.push_back(std::move(gpu));
  }

  std::vector<npd::GpuSummary> summaries;
  bool unhealthy = false;
  for (const v1::Gpu& g : gpus) {
    summaries.push_back(npd::Summarize(g));
    unhealthy = unhealthy || summaries.back().health == Health::kUnhealthy;
  }
  const auto conditions = npd::Conditions(summaries, options);
  FUZZ_CHECK(conditions.size() == 3, "%zu conditions", conditions.size());
  FUZZ_CHECK(conditions[0].type == npd::kGpuUnhealthy && conditions[1].type == npd::kGpuHealthUnknown &&
                 conditions[2].type == npd::kGpuCountMismatch,
             "conditions out of order");
  for (const auto& c : conditions) {
    FUZZ_CHECK(c.message.size() <= options.max_message, "%s message of %zu bytes > %zu", c.type.c_str(),
               c.message.size(), options.max_message);
  }
  FUZZ_CHECK((conditions[0].status == npd::ProblemStatus::kTrue) == unhealthy, "GPUUnhealthy is %s",
             std::string(npd::ProblemStatusName(conditions[0].status)).c_str());

  npd::XidTracker tracker;
  bool state_file_safe = true;
  for (const v1::Gpu& g : gpus) {
    tracker.Observe(g);
    // A condition type appearing twice on one GPU (the server refuses that) can flip the state.
    std::set<std::string> types;
    bool unique = true;
    for (const auto& c : g.status().conditions()) {
      unique = types.insert(c.type()).second && unique;
      state_file_safe = state_file_safe && !HasSeparator(c.type());
    }
    state_file_safe = state_file_safe && !HasSeparator(g.metadata().name());
    if (!unique) continue;
    const auto again = tracker.Observe(g);
    FUZZ_CHECK(again.empty(), "XID%llu on %s reported twice", static_cast<unsigned long long>(again[0].xid),
               again[0].gpu.c_str());
  }
  // Names and condition types are validated by the server: no tab or newline reaches the file.
  if (state_file_safe) CheckStateRoundTrip(tracker);
  return 0;
}
