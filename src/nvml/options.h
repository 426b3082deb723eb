// Command-line and environment configuration of nvml-provider. A flag given on the command line
// wins over its environment variable. Durations use Go syntax ("30s", "500ms").
#ifndef DEVICEAPI_NVML_OPTIONS_H_
#define DEVICEAPI_NVML_OPTIONS_H_

#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nvml/xid_policy.h"

namespace deviceapi::nvml {

// Exit codes of nvml-provider.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;        // run-time failure (e.g. the health port is taken)
inline constexpr int kExitUsage = 2;        // bad flags
inline constexpr int kExitNvmlMissing = 3;  // NVML not found or not initializable (--nvml-missing=exit)

enum class NvmlMissingMode {
  kExit,     // exit with kExitNvmlMissing (default)
  kUnknown,  // keep running: report this provider's GPUs NVMLReady=Unknown, retry loading NVML
};

struct ProviderOptions {
  std::string server_address;                 // --server-address, env NVIDIA_DEVICE_API_TARGET (then _SOCK)
  std::string provider_id = "nvml-provider";  // --provider-id, env PROVIDER_ID; a label value
  std::string driver_root = "/run/nvidia/driver";               // --driver-root, env NVIDIA_DRIVER_ROOT
  std::string sysfs_root = "/sys";                              // --sysfs-root (NUMA fallback; tests)
  std::string namespace_;                                       // --namespace ("" = default)
  bool health_check = true;                                     // --health-check: serve the HTTP endpoint
  std::string health_host;                                      // --health-host ("" = all interfaces)
  int health_port = 8082;                                       // --health-port (0 = any free port)
  absl::Duration reconcile_interval = absl::Seconds(30);        // --reconcile-interval
  absl::Duration heartbeat_interval = absl::Seconds(10);        // --heartbeat-interval
  absl::Duration event_wait_timeout = absl::Milliseconds(200);  // --event-wait-timeout
  absl::Duration api_timeout = absl::Seconds(5);                // --api-timeout (per call)
  NvmlMissingMode nvml_missing = NvmlMissingMode::kExit;        // --nvml-missing=exit|unknown
  XidPolicyMode xid_policy = XidPolicyMode::kCatalog;           // --xid-policy
  XidOverrides xid_overrides;       // --ignored-xids, --warning-xids, --critical-xids,
                                    // --disable-healthchecks (DP_DISABLE_HEALTHCHECKS),
                                    // --enable-healthchecks (DP_ENABLE_HEALTHCHECKS)
  int verbosity = 0;                // -v
  std::string log_format = "text";  // --log-format text|json
};

struct ParseResult {
  enum Action { kRun, kExit } action = kRun;
  int exit_code = 0;
  ProviderOptions options;
};

// Parses flags (argv) with environment fallbacks from `getenv`. --help and --version print to
// `out` and return kExit. Errors (INVALID_ARGUMENT) name the flag.
absl::StatusOr<ParseResult> ParseProviderOptions(int argc, const char* const* argv, std::ostream& out);

}  // namespace deviceapi::nvml

#endif  // DEVICEAPI_NVML_OPTIONS_H_
