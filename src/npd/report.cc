#include "npd/report.h"

#include <charconv>

#include "common/strings.h"

namespace deviceapi::npd {

using common::Cat;

std::string_view ProblemStatusName(ProblemStatus s) {
  switch (s) {
    case ProblemStatus::kFalse:
      return "False";
    case ProblemStatus::kTrue:
      return "True";
    case ProblemStatus::kUnknown:
      return "Unknown";
  }
  return "Unknown";
}

GpuSummary Summarize(const v1::Gpu& gpu) {
  GpuSummary s;
  s.name = gpu.metadata().name();
  s.health = GpuHealth(gpu);
  for (const v1::Condition& c : gpu.status().conditions()) {
    if (s.health == Health::kUnhealthy && c.status() == kConditionFalse) {
      s.reason = c.reason().empty() ? c.type() : c.reason();
      break;
    }
    if (s.health == Health::kUnknown && c.status() != kConditionTrue) {
      s.reason = c.reason().empty() ? c.type() : c.reason();
      break;
    }
  }
  if (s.health == Health::kUnknown && s.reason.empty()) s.reason = "NoConditions";
  return s;
}

std::string ShortName(std::string_view name) { return std::string(name.substr(0, 12)); }

std::string Truncate(std::string text, size_t max) {
  if (text.size() <= max) return text;
  if (max < 3) return text.substr(0, max);
  size_t cut = max - 3;
  // Do not end inside a UTF-8 sequence: back up over continuation bytes.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text + "...";
}

namespace {

// "n/m GPUs <what>: a (r1), b (r2), ..." cut to `max`.
std::string ListMessage(const std::vector<const GpuSummary*>& hit, size_t total, std::string_view what,
                        size_t max) {
  std::string out = Cat(hit.size(), "/", total, " GPUs ", what, ": ");
  for (size_t i = 0; i < hit.size(); ++i) {
    if (i > 0) out += ", ";
    out += Cat(ShortName(hit[i]->name), " (", hit[i]->reason, ")");
  }
  return Truncate(std::move(out), max);
}

}  // namespace

std::vector<ProblemCondition> Conditions(const std::vector<GpuSummary>& gpus, const ReportOptions& options) {
  std::vector<const GpuSummary*> unhealthy, unknown;
  for (const GpuSummary& g : gpus) {
    if (g.health == Health::kUnhealthy) unhealthy.push_back(&g);
    if (g.health == Health::kUnknown) unknown.push_back(&g);
  }
  std::vector<ProblemCondition> out;
  if (!unhealthy.empty()) {
    out.push_back({std::string(kGpuUnhealthy), ProblemStatus::kTrue, std::string(kGpuUnhealthy),
                   ListMessage(unhealthy, gpus.size(), "unhealthy", options.max_message)});
  } else {
    out.push_back({std::string(kGpuUnhealthy), ProblemStatus::kFalse, std::string(kGpusHealthy),
                   Truncate("All GPUs are healthy", options.max_message)});
  }
  if (!unknown.empty() && unhealthy.empty()) {
    out.push_back({std::string(kGpuHealthUnknown), ProblemStatus::kTrue, std::string(kGpuHealthUnknown),
                   ListMessage(unknown, gpus.size(), "with unknown health", options.max_message)});
  } else {
    out.push_back({std::string(kGpuHealthUnknown), ProblemStatus::kFalse, std::string(kGpuHealthKnown),
                   Truncate("The health of every GPU is known", options.max_message)});
  }
  const size_t expected = options.expected_gpus > 0 ? static_cast<size_t>(options.expected_gpus) : 0;
  if (expected > 0 && gpus.size() < expected) {
    out.push_back({std::string(kGpuCountMismatch), ProblemStatus::kTrue, std::string(kGpuCountMismatch),
                   Truncate(Cat(gpus.size(), "/", expected, " GPUs present"), options.max_message)});
  } else {
    out.push_back({std::string(kGpuCountMismatch), ProblemStatus::kFalse, std::string(kGpuCountMatches),
                   Truncate("The expected number of GPUs is present", options.max_message)});
  }
  return out;
}

std::vector<ProblemCondition> UnreachableConditions(std::string_view why, const ReportOptions& options) {
  std::vector<ProblemCondition> out;
  for (std::string_view type : {kGpuUnhealthy, kGpuHealthUnknown, kGpuCountMismatch}) {
    out.push_back({std::string(type), ProblemStatus::kUnknown, std::string(kDeviceApiUnavailable),
                   Truncate(Cat("Device API unreachable: ", why), options.max_message)});
  }
  return out;
}

std::optional<uint64_t> XidOfReason(std::string_view reason) {
  if (!reason.starts_with("XID") || reason.size() == 3 || reason.size() > 12) return std::nullopt;
  uint64_t xid = 0;
  const std::string_view digits = reason.substr(3);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), xid);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return xid;
}

std::string XidEvent::reason() const { return Cat(kGpuXid, xid); }

std::string XidEvent::message() const {
  std::string m = Cat("XID", xid, " on ", ShortName(gpu));
  if (!detail.empty()) m += Cat(" (", condition, ": ", detail, ")");
  return m;
}

std::vector<XidEvent> XidTracker::Observe(const v1::Gpu& gpu, bool seed) {
  std::vector<XidEvent> events;
  const std::string& name = gpu.metadata().name();
  for (const v1::Condition& c : gpu.status().conditions()) {
    const auto key = std::make_pair(name, c.type());
    const std::optional<uint64_t> xid =
        c.status() == kConditionFalse ? XidOfReason(c.reason()) : std::nullopt;
    if (!xid) {
      seen_.erase(key);
      continue;
    }
    const absl::Time at = FromTimestamp(c.last_transition_time());
    const std::string value =
        Cat(c.reason(), "@", absl::FormatTime(absl::RFC3339_full, at, absl::UTCTimeZone()));
    auto it = seen_.find(key);
    if (it != seen_.end() && it->second == value) continue;
    seen_[key] = value;
    if (!seed) events.push_back(XidEvent{name, *xid, at, c.type(), c.message()});
  }
  return events;
}

void XidTracker::Retain(const std::vector<std::string>& names) {
  for (auto it = seen_.begin(); it != seen_.end();) {
    bool keep = false;
    for (const std::string& n : names) keep = keep || n == it->first.first;
    it = keep ? std::next(it) : seen_.erase(it);
  }
}

void XidTracker::Forget(const std::string& name) {
  for (auto it = seen_.begin(); it != seen_.end();)
    it = it->first.first == name ? seen_.erase(it) : std::next(it);
}

std::string XidTracker::Serialize() const {
  std::string out;
  for (const auto& [key, value] : seen_) out += Cat(key.first, "\t", key.second, "\t", value, "\n");
  return out;
}

absl::StatusOr<XidTracker> XidTracker::Parse(std::string_view text) {
  XidTracker t;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty()) continue;
    const size_t a = line.find('\t');
    const size_t b = a == std::string_view::npos ? a : line.find('\t', a + 1);
    if (b == std::string_view::npos) {
      return absl::InvalidArgumentError(
          common::ToAbsl(Cat("line ", line_no, ": want <gpu>\\t<condition>\\t<xid>")));
    }
    t.seen_[{std::string(line.substr(0, a)), std::string(line.substr(a + 1, b - a - 1))}] =
        std::string(line.substr(b + 1));
  }
  return t;
}

}  // namespace deviceapi::npd
