// The -o formats of `devicectl get`: the table (default and wide), json, yaml and name. A printer
// writes one object, a whole list, or, for `get -w`, one batch of rows at a time.
#ifndef DEVICEAPI_CLI_PRINTERS_H_
#define DEVICEAPI_CLI_PRINTERS_H_

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "device/v1alpha1/gpu.pb.h"

namespace deviceapi::cli {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

enum class OutputFormat { kTable, kWide, kJson, kYaml, kName };

// "" (table), "wide", "json", "yaml", "name"; INVALID_ARGUMENT with kubectl's message otherwise.
absl::StatusOr<OutputFormat> ParseOutputFormat(std::string_view text);

struct PrintOptions {
  OutputFormat format = OutputFormat::kTable;
  bool with_namespace = false;                                   // -A: a NAMESPACE column first
  bool show_labels = false;                                      // --show-labels: a LABELS column last
  std::function<absl::Time()> now = [] { return absl::Now(); };  // for AGE, read at each print
};

class Printer {
 public:
  virtual ~Printer() = default;
  // `get gpu NAME`.
  virtual absl::Status PrintObject(const v1::Gpu& gpu, std::ostream& out) = 0;
  // `get gpus`. Tables print nothing for an empty list (the caller reports it).
  virtual absl::Status PrintList(const v1::GpuList& list, std::ostream& out) = 0;
  // `get -w`: the objects of one batch (the initial list, then one per event). Tables print
  // their header with the first batch and keep column widths from batch to batch.
  virtual absl::Status PrintWatchBatch(const std::vector<v1::Gpu>& gpus, std::ostream& out) = 0;
};

std::unique_ptr<Printer> NewPrinter(const PrintOptions& options);

// "gpu/<name>", the -o name form and the prefix of create/apply/patch messages.
std::string ObjectRef(const v1::Gpu& gpu);
std::string ObjectRef(std::string_view name);

}  // namespace deviceapi::cli

#endif  // DEVICEAPI_CLI_PRINTERS_H_
