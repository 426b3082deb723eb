// The flag checks every binary's option parser shares: Go-style durations with a minimum, -v and
// --log-format, and one INVALID_ARGUMENT that lists every problem ("; "-separated, each naming its
// flag).
#ifndef DEVICEAPI_COMMON_FLAG_ERRORS_H_
#define DEVICEAPI_COMMON_FLAG_ERRORS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/duration.h"
#include "common/strings.h"

namespace deviceapi::common {

class FlagErrors {
 public:
  void Add(std::string error) { errors_.push_back(std::move(error)); }

  // Parses `text` (Go syntax, "30s") for --`flag` into `target` when valid and at least `min`.
  void Duration(std::string_view flag, const std::string& text, absl::Duration& target, absl::Duration min) {
    absl::StatusOr<absl::Duration> d = ParseGoDuration(text);
    if (!d.ok()) {
      Add(Cat("--", flag, ": ", ToStd(d.status().message())));
    } else if (*d < min) {
      Add(Cat("--", flag, " must be at least ", FormatGoDuration(min), ", got ", text));
    } else {
      target = *d;
    }
  }

  // -v and --log-format, as every binary takes them.
  void Logging(int verbosity, const std::string& log_format) {
    if (verbosity < 0) Add("-v must be >= 0");
    if (log_format != "text" && log_format != "json") {
      Add(Cat("--log-format must be \"text\" or \"json\", got \"", log_format, "\""));
    }
  }

  // OK, or one INVALID_ARGUMENT listing every error in the order found.
  absl::Status ToStatus() const {
    if (errors_.empty()) return absl::OkStatus();
    std::string msg;
    for (const std::string& e : errors_) msg += Cat(msg.empty() ? "" : "; ", e);
    return absl::InvalidArgumentError(ToAbsl(msg));
  }

 private:
  std::vector<std::string> errors_;
};

}  // namespace deviceapi::common

#endif  // DEVICEAPI_COMMON_FLAG_ERRORS_H_
