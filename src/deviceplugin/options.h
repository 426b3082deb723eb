// Command line and environment of gpu-device-plugin. A flag given on the command line wins over
// its environment variable, which wins over the config file (NVIDIA's precedence).
#ifndef DEVICEAPI_DEVICEPLUGIN_OPTIONS_H_
#define DEVICEAPI_DEVICEPLUGIN_OPTIONS_H_

#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "deviceplugin/config.h"

namespace deviceapi::deviceplugin {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;  // run-time failure (e.g. the metrics port is taken)
inline constexpr int kExitUsage = 2;  // bad flags or config

// What a GPU whose health is Unknown (no condition False, one Unknown or none at all) counts as.
enum class UnknownHealth { kHealthy, kUnhealthy };

struct PluginOptions {
  std::string server_address;  // --server-address, env NVIDIA_DEVICE_API_TARGET
  std::string namespace_;      // --namespace ("" = default)
  std::string config_file;     // --config-file, env CONFIG_FILE ("" = defaults)
  std::string device_plugin_path = "/var/lib/kubelet/device-plugins/";  // --device-plugin-path
  // --kubelet-socket: the kubelet's registration socket; a bare file name is taken inside
  // --device-plugin-path. Given as "", the plugin serves but never registers (tests, debugging).
  std::string kubelet_socket = "kubelet.sock";
  bool register_with_kubelet = true;
  absl::Duration api_unavailable_grace = absl::Seconds(60);  // --api-unavailable-grace
  absl::Duration api_timeout = absl::Seconds(5);             // --api-timeout
  absl::Duration kubelet_timeout = absl::Seconds(15);        // --kubelet-timeout (Register's deadline)
  UnknownHealth unknown_health = UnknownHealth::kHealthy;    // --unknown-health
  std::string metrics_host;                                  // --metrics-bind-address host ("" = all)
  int metrics_port = 2112;                                   // --metrics-bind-address port (0 = any)
  bool metrics = true;                                       // --metrics-bind-address "0" turns it off
  ConfigOverrides overrides;        // --device-list-strategy, --device-id-strategy, --pass-device-specs,
                                    // --shared-devices-allocation-policy, --cdi-annotation-prefix,
                                    // --nvidia-dev-root (flags only; env is read with the config)
  int verbosity = 0;                // -v
  std::string log_format = "text";  // --log-format text|json

  // Absolute path of the kubelet socket.
  std::string KubeletSocketPath() const;
};

struct ParseResult {
  enum Action { kRun, kExit } action = kRun;
  PluginOptions options;
};

// Parses flags with environment fallbacks. --help and --version print to `out` and return kExit.
// Errors are INVALID_ARGUMENT naming the flag.
absl::StatusOr<ParseResult> ParsePluginOptions(int argc, const char* const* argv, std::ostream& out);

// The effective config: the file (if any), then NVIDIA's environment variables, then the flags.
absl::StatusOr<PluginConfig> LoadEffectiveConfig(const PluginOptions& options, const Getenv& getenv = {});

}  // namespace deviceapi::deviceplugin

#endif  // DEVICEAPI_DEVICEPLUGIN_OPTIONS_H_
