// Command line of npd-gpu-monitor: `serve` (the npd-ext external monitor) and `check` (a stock NPD
// custom plugin). A flag given on the command line wins over its environment variable.
#ifndef DEVICEAPI_NPD_OPTIONS_H_
#define DEVICEAPI_NPD_OPTIONS_H_

#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace deviceapi::npd {

inline constexpr int kExitOk = 0;       // check: condition False (no problem); serve: clean stop
inline constexpr int kExitProblem = 1;  // check: condition True; serve: run-time failure
inline constexpr int kExitUnknown = 2;  // check: Unknown (also bad flags, as NPD reads any other code)

struct MonitorOptions {
  enum class Mode { kServe, kCheck };
  Mode mode = Mode::kServe;
  std::string server_address;  // --server-address, env NVIDIA_DEVICE_API_TARGET
  std::string namespace_;      // --namespace
  int expected_gpus = 0;       // --expected-gpus (0: no expectation)
  int verbosity = 0;           // -v
  std::string log_format = "text";

  // serve
  std::string socket = "/var/run/npd/npd-gpu-monitor.sock";  // --socket
  uint32_t socket_mode = 0660;                               // --socket-mode
  bool exit_on_stop = false;                                 // --exit-on-stop
  absl::Duration api_unavailable_grace = absl::Seconds(5);   // --api-unavailable-grace
  std::string metrics_host;                                  // --metrics-bind-address (":2113")
  int metrics_port = 2113;
  bool metrics = true;

  // check
  std::string condition;  // --condition GPUUnhealthy|GPUHealthUnknown|GPUCountMismatch|GPUXID
  absl::Duration timeout = absl::Seconds(2);  // --timeout: the List call's deadline
  size_t max_output = 80;                     // --max-output (NPD's max_output_length)
  std::string state_file = "/var/run/npd/npd-gpu-monitor-xid.state";  // --state-file (GPUXID only)
};

struct ParseResult {
  enum Action { kRun, kExit } action = kRun;
  MonitorOptions options;
};

// Errors are INVALID_ARGUMENT naming the flag. --help and --version print to `out` and return kExit.
absl::StatusOr<ParseResult> ParseMonitorOptions(int argc, const char* const* argv, std::ostream& out);

}  // namespace deviceapi::npd

#endif  // DEVICEAPI_NPD_OPTIONS_H_
