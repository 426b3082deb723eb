#include "npd/check.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "common/secure_path.h"
#include "common/strings.h"
#include "deviceapi/clientset.h"
#include "deviceapi/config.h"
#include "npd/report.h"

namespace deviceapi::npd {

using common::Cat;

namespace {

int ExitFor(ProblemStatus s) {
  switch (s) {
    case ProblemStatus::kFalse:
      return kExitOk;
    case ProblemStatus::kTrue:
      return kExitProblem;
    case ProblemStatus::kUnknown:
      return kExitUnknown;
  }
  return kExitUnknown;
}

CheckResult Xids(const MonitorOptions& o, const v1::GpuList& list) {
  XidTracker tracker;
  bool first = false;
  // Never through a link, never in a directory everyone can write (common/secure_path.h).
  absl::StatusOr<std::string> text = common::ReadStateFile(o.state_file);
  if (!text.ok() && text.status().code() == absl::StatusCode::kFailedPrecondition) {
    spdlog::error("state file: {}", common::ToStd(text.status().message()));
    return {kExitUnknown,
            Truncate(Cat("state file: ", common::ToStd(text.status().message())), o.max_output)};
  }
  if (!text.ok()) {
    first = true;  // nothing reported yet: what is there now is the baseline, not news
  } else {
    absl::StatusOr<XidTracker> parsed = XidTracker::Parse(*text);
    if (parsed.ok()) {
      tracker = *std::move(parsed);
    } else {
      first = true;  // a damaged file starts a new baseline rather than repeating every XID
    }
  }
  std::vector<XidEvent> events;
  std::vector<std::string> names;
  for (const v1::Gpu& g : list.items()) {
    names.push_back(g.metadata().name());
    for (XidEvent& e : tracker.Observe(g, first)) events.push_back(std::move(e));
  }
  tracker.Retain(names);
  if (absl::Status s = common::WriteStateFile(o.state_file, tracker.Serialize()); !s.ok()) {
    // Without the state every later check would report the same XIDs again.
    spdlog::error("state file: {}", common::ToStd(s.message()));
    return {kExitUnknown, Truncate(Cat("state file: ", common::ToStd(s.message())), o.max_output)};
  }
  if (events.empty()) return {kExitOk, first ? "No new GPU XIDs (first check)" : "No new GPU XIDs"};
  std::string line;
  for (const XidEvent& e : events)
    line += Cat(line.empty() ? "" : "; ", "XID", e.xid, " on ", ShortName(e.gpu));
  return {kExitProblem, Truncate(std::move(line), o.max_output)};
}

}  // namespace

CheckResult RunCheck(const MonitorOptions& o) {
  Config config = Config::Default();
  config.target = o.server_address;
  config.timeout = o.timeout;
  config.wait_for_ready = false;  // a missing socket is an answer (Unknown), not a wait
  config.retry.max_attempts = 1;
  config.user_agent = "npd-gpu-monitor";
  absl::StatusOr<std::string> target = NormalizeTarget(config.target);
  if (!target.ok()) return {kExitUnknown, Truncate(std::string(target.status().message()), o.max_output)};
  grpc::ChannelArguments args;
  args.SetUserAgentPrefix(config.user_agent);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  auto clientset = Clientset::NewForConfigAndChannel(
      config, grpc::CreateCustomChannel(*target, grpc::InsecureChannelCredentials(), args));
  GpuInterfacePtr gpus(clientset->DeviceV1alpha1().Gpus(o.namespace_));
  absl::StatusOr<v1::GpuList> list = gpus->List(ListOptions{});
  ReportOptions ro;
  ro.expected_gpus = o.expected_gpus;
  ro.max_message = o.max_output;
  if (!list.ok()) {
    const ProblemCondition c = UnreachableConditions(common::ToStd(list.status().message()), ro).front();
    return {kExitUnknown, c.message};
  }
  if (o.condition == kGpuXid) return Xids(o, *list);
  std::vector<GpuSummary> summaries;
  summaries.reserve(static_cast<size_t>(list->items_size()));
  for (const v1::Gpu& g : list->items()) summaries.push_back(Summarize(g));
  for (const ProblemCondition& c : Conditions(summaries, ro)) {
    if (c.type == o.condition) return {ExitFor(c.status), c.message};
  }
  return {kExitUnknown, Truncate(Cat("unknown condition ", o.condition), o.max_output)};
}

}  // namespace deviceapi::npd
