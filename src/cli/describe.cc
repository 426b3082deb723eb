#include <map>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/context.h"
#include "cli/humanize.h"
#include "cli/tabwriter.h"
#include "deviceapi/conditions.h"

namespace deviceapi::cli {
namespace {

std::string OrNone(const std::string& s) { return s.empty() ? "<none>" : s; }

// kubectl's printLabelsMultiline: one key=value per line, sorted, "<none>" when empty.
void WriteMap(TabWriter& tw, std::string_view title,
              const google::protobuf::Map<std::string, std::string>& m) {
  std::map<std::string, std::string> sorted(m.begin(), m.end());
  if (sorted.empty()) {
    tw.Write(absl::StrCat(std::string(title), ":\t<none>\n"));
    return;
  }
  bool first = true;
  for (const auto& [k, v] : sorted) {
    tw.Write(absl::StrCat(first ? absl::StrCat(std::string(title), ":") : "", "\t", k, "=", v, "\n"));
    first = false;
  }
}

std::string TimeOrNone(const google::protobuf::Timestamp& ts, bool has) {
  return has ? cli::FormatTime(FromTimestamp(ts)) : "<unset>";
}

}  // namespace

std::string DescribeGpu(const v1::Gpu& gpu, absl::Time now) {
  TabWriter tw = TabWriter::ForDescribe();
  const v1::ObjectMeta& m = gpu.metadata();
  tw.Write(absl::StrCat("Name:\t", m.name(), "\n"));
  tw.Write(absl::StrCat("Namespace:\t", m.namespace_(), "\n"));
  WriteMap(tw, "Labels", m.labels());
  WriteMap(tw, "Annotations", m.annotations());
  tw.Write(absl::StrCat("UID:\t", m.uid(), "\n"));
  tw.Write(absl::StrCat("Resource Version:\t", m.resource_version(), "\n"));
  tw.Write(absl::StrCat("Generation:\t", m.generation(), "\n"));
  tw.Write(absl::StrCat("Creation Timestamp:\t",
                        TimeOrNone(m.creation_timestamp(), m.has_creation_timestamp()), "\n"));

  const v1::GpuSpec& s = gpu.spec();
  tw.Write("Spec:\n");
  tw.Write(absl::StrCat("  UUID:\t", OrNone(s.uuid()), "\n"));
  tw.Write(absl::StrCat("  Product Name:\t", OrNone(s.product_name()), "\n"));
  tw.Write(absl::StrCat("  Memory:\t",
                        s.memory_bytes() == 0 ? std::string("<none>")
                                              : absl::StrCat(MemoryQuantity(s.memory_bytes()), " (",
                                                             s.memory_bytes(), " bytes)"),
                        "\n"));
  tw.Write(absl::StrCat("  PCI Bus ID:\t", OrNone(s.pci_bus_id()), "\n"));
  tw.Write(absl::StrCat("  Minor Number:\t", s.minor_number(), "\n"));
  tw.Write(absl::StrCat("  NUMA Node:\t",
                        s.numa_node() < 0 ? std::string("<unknown>") : absl::StrCat(s.numa_node()), "\n"));
  tw.Write(absl::StrCat("  Architecture:\t", OrNone(s.architecture()), "\n"));
  tw.Write(absl::StrCat("  Compute Capability:\t", OrNone(s.compute_capability()), "\n"));
  tw.Write(absl::StrCat("  Driver Version:\t", OrNone(s.driver_version()), "\n"));
  tw.Write(absl::StrCat("  Serial:\t", OrNone(s.serial()), "\n"));

  const v1::GpuStatus& st = gpu.status();
  tw.Write("Status:\n");
  tw.Write(absl::StrCat("  Health:\t", std::string(HealthName(GpuHealth(gpu))), "\n"));
  tw.Write(absl::StrCat("  Recommended Action:\t", OrNone(st.recommended_action()), "\n"));
  if (st.conditions().empty()) {
    tw.Write("  Conditions:\t<none>\n");
  } else {
    tw.Write("  Conditions:\n");
    tw.Write("    Type\tStatus\tReason\tAge\tMessage\n");
    tw.Write("    ----\t------\t------\t---\t-------\n");
    for (const v1::Condition& c : st.conditions()) {
      tw.Write(absl::StrCat("    ", c.type(), "\t", c.status(), "\t", OrNone(c.reason()), "\t",
                            Age(c.last_transition_time(), c.has_last_transition_time(), now), "\t",
                            OneLine(c.message()), "\n"));
    }
  }
  return tw.Flush();
}

}  // namespace deviceapi::cli
