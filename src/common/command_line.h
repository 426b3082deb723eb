// CLI11 parsing shared by the binaries' flag parsers.
#ifndef DEVICEAPI_COMMON_COMMAND_LINE_H_
#define DEVICEAPI_COMMON_COMMAND_LINE_H_

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/status/statusor.h"
#include "common/klog_args.h"

namespace deviceapi::common {

// Parses argv with `app`, accepting klog's "-v=N". Returns true when --help
// was asked for: the usage is written to `out` and the caller exits 0.
// A parse error is INVALID_ARGUMENT with CLI11's one-line message.
inline absl::StatusOr<bool> ParseCommandLine(CLI::App& app, int argc, const char* const* argv,
                                             std::string_view program, std::ostream& out) {
  const std::vector<std::string> args = KlogArgs(argc, argv, program);
  const std::vector<const char*> cargs = CArgs(args);
  try {
    app.parse(static_cast<int>(cargs.size()), cargs.data());
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return true;
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(e.what());
  }
  return false;
}

}  // namespace deviceapi::common

#endif  // DEVICEAPI_COMMON_COMMAND_LINE_H_
