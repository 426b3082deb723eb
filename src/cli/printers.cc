#include "cli/printers.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/humanize.h"
#include "cli/manifest.h"
#include "cli/tabwriter.h"
#include "deviceapi/conditions.h"

namespace deviceapi::cli {
namespace {

std::string OrNone(const std::string& s) { return s.empty() ? "<none>" : s; }

class TablePrinter final : public Printer {
 public:
  explicit TablePrinter(const PrintOptions& options) : options_(options), tw_(TabWriter::ForTable()) {}

  absl::Status PrintObject(const v1::Gpu& gpu, std::ostream& out) override {
    return PrintWatchBatch({gpu}, out);
  }

  absl::Status PrintList(const v1::GpuList& list, std::ostream& out) override {
    return PrintWatchBatch({list.items().begin(), list.items().end()}, out);
  }

  absl::Status PrintWatchBatch(const std::vector<v1::Gpu>& gpus, std::ostream& out) override {
    if (gpus.empty()) return absl::OkStatus();
    tw_.set_remember_widths(true);
    if (!header_printed_) {
      tw_.Write(Row(Header()));
      header_printed_ = true;
    }
    const absl::Time now = options_.now();
    for (const v1::Gpu& gpu : gpus) tw_.Write(Row(Cells(gpu, now)));
    out << tw_.Flush() << std::flush;
    return absl::OkStatus();
  }

 private:
  std::vector<std::string> Header() const {
    std::vector<std::string> h;
    if (options_.with_namespace) h.push_back("NAMESPACE");
    for (const char* c : {"NAME", "HEALTH", "PRODUCT", "AGE"}) h.push_back(c);
    if (options_.format == OutputFormat::kWide) {
      for (const char* c : {"UUID", "MEMORY", "PCI-BUS", "DRIVER"}) h.push_back(c);
    }
    if (options_.show_labels) h.push_back("LABELS");
    return h;
  }

  std::vector<std::string> Cells(const v1::Gpu& gpu, absl::Time now) const {
    std::vector<std::string> c;
    const v1::ObjectMeta& m = gpu.metadata();
    if (options_.with_namespace) c.push_back(m.namespace_());
    c.push_back(m.name());
    c.push_back(std::string(HealthName(GpuHealth(gpu))));
    c.push_back(OrNone(gpu.spec().product_name()));
    c.push_back(Age(m.creation_timestamp(), m.has_creation_timestamp(), now));
    if (options_.format == OutputFormat::kWide) {
      c.push_back(OrNone(gpu.spec().uuid()));
      c.push_back(MemoryQuantity(gpu.spec().memory_bytes()));
      c.push_back(OrNone(gpu.spec().pci_bus_id()));
      c.push_back(OrNone(gpu.spec().driver_version()));
    }
    if (options_.show_labels) {
      const std::map<std::string, std::string> labels(m.labels().begin(), m.labels().end());
      c.push_back(labels.empty() ? std::string("<none>")
                                 : absl::StrJoin(labels, ",", absl::PairFormatter("=")));
    }
    return c;
  }

  static std::string Row(const std::vector<std::string>& cells) {
    return absl::StrCat(absl::StrJoin(cells, "\t"), "\n");
  }

  PrintOptions options_;
  TabWriter tw_;
  bool header_printed_ = false;
};

class JsonPrinter final : public Printer {
 public:
  absl::Status PrintObject(const v1::Gpu& gpu, std::ostream& out) override {
    absl::StatusOr<Json> doc = GpuToDocument(gpu);
    if (!doc.ok()) return doc.status();
    out << doc->dump(4) << "\n";
    return absl::OkStatus();
  }
  absl::Status PrintList(const v1::GpuList& list, std::ostream& out) override {
    absl::StatusOr<Json> doc = GpuListToDocument(list);
    if (!doc.ok()) return doc.status();
    out << doc->dump(4) << "\n";
    return absl::OkStatus();
  }
  absl::Status PrintWatchBatch(const std::vector<v1::Gpu>& gpus, std::ostream& out) override {
    for (const v1::Gpu& gpu : gpus) {
      if (absl::Status s = PrintObject(gpu, out); !s.ok()) return s;
    }
    out << std::flush;
    return absl::OkStatus();
  }
};

class YamlPrinter final : public Printer {
 public:
  absl::Status PrintObject(const v1::Gpu& gpu, std::ostream& out) override {
    absl::StatusOr<Json> doc = GpuToDocument(gpu);
    if (!doc.ok()) return doc.status();
    out << ToYaml(*doc);
    return absl::OkStatus();
  }
  absl::Status PrintList(const v1::GpuList& list, std::ostream& out) override {
    absl::StatusOr<Json> doc = GpuListToDocument(list);
    if (!doc.ok()) return doc.status();
    out << ToYaml(*doc);
    return absl::OkStatus();
  }
  absl::Status PrintWatchBatch(const std::vector<v1::Gpu>& gpus, std::ostream& out) override {
    for (const v1::Gpu& gpu : gpus) {
      if (printed_any_) out << "---\n";
      if (absl::Status s = PrintObject(gpu, out); !s.ok()) return s;
      printed_any_ = true;
    }
    out << std::flush;
    return absl::OkStatus();
  }

 private:
  bool printed_any_ = false;
};

class NamePrinter final : public Printer {
 public:
  absl::Status PrintObject(const v1::Gpu& gpu, std::ostream& out) override {
    out << ObjectRef(gpu) << "\n";
    return absl::OkStatus();
  }
  absl::Status PrintList(const v1::GpuList& list, std::ostream& out) override {
    for (const v1::Gpu& gpu : list.items()) out << ObjectRef(gpu) << "\n";
    return absl::OkStatus();
  }
  absl::Status PrintWatchBatch(const std::vector<v1::Gpu>& gpus, std::ostream& out) override {
    for (const v1::Gpu& gpu : gpus) out << ObjectRef(gpu) << "\n";
    out << std::flush;
    return absl::OkStatus();
  }
};

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(std::string_view text) {
  if (text.empty()) return OutputFormat::kTable;
  if (text == "wide") return OutputFormat::kWide;
  if (text == "json") return OutputFormat::kJson;
  if (text == "yaml") return OutputFormat::kYaml;
  if (text == "name") return OutputFormat::kName;
  return absl::InvalidArgumentError(
      absl::StrCat("unable to match a printer suitable for the output format \"", std::string(text),
                   "\", allowed formats are: json,name,wide,yaml"));
}

std::unique_ptr<Printer> NewPrinter(const PrintOptions& options) {
  switch (options.format) {
    case OutputFormat::kJson:
      return std::make_unique<JsonPrinter>();
    case OutputFormat::kYaml:
      return std::make_unique<YamlPrinter>();
    case OutputFormat::kName:
      return std::make_unique<NamePrinter>();
    case OutputFormat::kTable:
    case OutputFormat::kWide:
      break;
  }
  return std::make_unique<TablePrinter>(options);
}

std::string ObjectRef(const v1::Gpu& gpu) { return ObjectRef(gpu.metadata().name()); }
std::string ObjectRef(std::string_view name) { return absl::StrCat("gpu/", std::string(name)); }

}  // namespace deviceapi::cli
