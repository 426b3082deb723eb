#include "deviceplugin/options.h"

#include <vector>

#include <CLI/CLI.hpp>

#include "common/command_line.h"
#include "common/duration.h"
#include "common/flag_errors.h"
#include "common/host_port.h"
#include "common/strings.h"
#include "common/version.h"
#include "deviceapi/config.h"

namespace deviceapi::deviceplugin {

using common::Cat;

std::string PluginOptions::KubeletSocketPath() const {
  if (kubelet_socket.empty() || kubelet_socket.front() == '/') return kubelet_socket;
  std::string dir = device_plugin_path;
  if (!dir.empty() && dir.back() != '/') dir += '/';
  return dir + kubelet_socket;
}

absl::StatusOr<ParseResult> ParsePluginOptions(int argc, const char* const* argv, std::ostream& out) {
  ParseResult result;
  PluginOptions& o = result.options;
  std::string grace = "60s", api_timeout = "5s", kubelet_timeout = "15s", unknown = "healthy";
  std::string metrics_address = ":2112";
  std::string list_strategy, id_strategy, policy, pass_specs, cdi_prefix, dev_root;
  bool version = false;

  CLI::App app{
      "Kubelet device plugin for NVIDIA GPUs (nvidia.com/gpu) with CUDA time slicing; GPU health comes "
      "from the node-local Device API.",
      "gpu-device-plugin"};
  app.option_defaults()->always_capture_default();
  app.get_formatter()->column_width(44);
  app.add_option("--server-address", o.server_address,
                 "Device API server target (unix:///path.sock); default from NVIDIA_DEVICE_API_TARGET, "
                 "then NVIDIA_DEVICE_API_SOCK, then the standard socket")
      ->envname(std::string(kTargetEnvVar));
  app.add_option("--namespace", o.namespace_, "namespace of the GPU objects (empty: default)");
  app.add_option("--config-file", o.config_file, "NVIDIA device plugin config file (YAML or JSON)")
      ->envname("CONFIG_FILE");
  app.add_option("--device-plugin-path", o.device_plugin_path,
                 "the kubelet's device plugin directory (the plugin's sockets go here)")
      ->envname("DEVICE_PLUGIN_PATH");
  CLI::Option* kubelet = app.add_option(
      "--kubelet-socket", o.kubelet_socket,
      "the kubelet's registration socket (a file name is taken inside --device-plugin-path; \"\": do not "
      "register)");
  app.add_option("--api-unavailable-grace", grace,
                 "how long the last known health is kept while the Device API is unreachable; then every "
                 "device is Unhealthy until it is back")
      ->envname("API_UNAVAILABLE_GRACE");
  app.add_option("--api-timeout", api_timeout, "deadline of each Device API list");
  app.add_option("--kubelet-timeout", kubelet_timeout, "deadline of each Register call to the kubelet");
  app.add_option("--unknown-health", unknown,
                 "what a GPU with Unknown health (no condition False, one Unknown or none) is reported "
                 "as: healthy or unhealthy")
      ->envname("UNKNOWN_HEALTH");
  app.add_option("--metrics-bind-address", metrics_address,
                 "HTTP address of /metrics and the probes (host:port; \"0\": off)")
      ->envname("METRICS_BIND_ADDRESS");
  app.add_option("--device-list-strategy", list_strategy,
                 "envvar, volume-mounts, cdi-annotations, cdi-cri (comma-separated); over env and config");
  app.add_option("--device-id-strategy", id_strategy, "uuid or index; over env and config");
  app.add_option("--pass-device-specs", pass_specs, "true/false: pass /dev/nvidia* device specs");
  app.add_option("--shared-devices-allocation-policy", policy, "distributed or packed");
  app.add_option("--cdi-annotation-prefix", cdi_prefix, "prefix of the CDI annotation key");
  app.add_option("--nvidia-dev-root", dev_root, "host root of /dev/nvidia* for device specs");
  // NVIDIA's flags that mean nothing here, accepted so its DaemonSet args work unchanged.
  std::string mig_strategy = "none", ignored_text;
  bool ignored_bool = false;
  app.add_option("--mig-strategy", mig_strategy, "NVIDIA compatibility: only \"none\" (MIG is not supported)")
      ->envname("MIG_STRATEGY");
  app.add_flag("--fail-on-init-error{true}", ignored_bool, "NVIDIA compatibility: ignored (no NVML here)")
      ->envname("FAIL_ON_INIT_ERROR");
  for (const char* flag : {"--nvidia-driver-root", "--mps-root", "--nvidia-ctk-path",
                           "--container-driver-root", "--device-discovery-strategy"}) {
    app.add_option(flag, ignored_text, "NVIDIA compatibility: ignored (the Device API supplies the GPUs)");
  }
  app.add_option("-v,--v", o.verbosity, "log verbosity");
  app.add_option("--log-format", o.log_format, "log format: text or json");
  app.add_flag("--version", version, "print version information as JSON and exit");

  absl::StatusOr<bool> help = common::ParseCommandLine(app, argc, argv, "gpu-device-plugin", out);
  if (!help.ok()) return help.status();
  if (*help) {
    result.action = ParseResult::kExit;
    return result;
  }
  if (version) {
    out << common::VersionJson() << "\n";
    result.action = ParseResult::kExit;
    return result;
  }

  common::FlagErrors errors;
  errors.Duration("api-unavailable-grace", grace, o.api_unavailable_grace, absl::ZeroDuration());
  errors.Duration("api-timeout", api_timeout, o.api_timeout, absl::Milliseconds(100));
  errors.Duration("kubelet-timeout", kubelet_timeout, o.kubelet_timeout, absl::Seconds(1));

  if (kubelet->count() > 0 && o.kubelet_socket.empty()) o.register_with_kubelet = false;
  if (mig_strategy != "none") {
    errors.Add(Cat("--mig-strategy: MIG is not supported, only \"none\", got \"", mig_strategy, "\""));
  }
  if (o.device_plugin_path.empty() || o.device_plugin_path.front() != '/') {
    errors.Add(Cat("--device-plugin-path must be an absolute directory, got \"", o.device_plugin_path, "\""));
  }
  if (unknown == "healthy") {
    o.unknown_health = UnknownHealth::kHealthy;
  } else if (unknown == "unhealthy") {
    o.unknown_health = UnknownHealth::kUnhealthy;
  } else {
    errors.Add(Cat("--unknown-health must be \"healthy\" or \"unhealthy\", got \"", unknown, "\""));
  }
  if (metrics_address == "0") {
    o.metrics = false;
  } else if (auto hp = common::ParseHostPort(metrics_address); hp.ok()) {
    o.metrics_host = hp->first;
    o.metrics_port = hp->second;
  } else {
    errors.Add(Cat("--metrics-bind-address: ", common::ToStd(hp.status().message())));
  }

  auto collect = [&](const absl::Status& s) { errors.Add(std::string(common::ToStd(s.message()))); };
  if (!list_strategy.empty()) {
    if (auto v = ParseDeviceListStrategies(list_strategy, "--device-list-strategy"); v.ok()) {
      o.overrides.device_list_strategies = *v;
    } else {
      collect(v.status());
    }
  }
  if (!id_strategy.empty()) {
    if (auto v = ParseDeviceIdStrategy(id_strategy, "--device-id-strategy"); v.ok()) {
      o.overrides.device_id_strategy = *v;
    } else {
      collect(v.status());
    }
  }
  if (!policy.empty()) {
    if (auto v = ParseSharedAllocationPolicy(policy, "--shared-devices-allocation-policy"); v.ok()) {
      o.overrides.shared_allocation_policy = *v;
    } else {
      collect(v.status());
    }
  }
  if (!pass_specs.empty()) {
    if (pass_specs == "true" || pass_specs == "1") {
      o.overrides.pass_device_specs = true;
    } else if (pass_specs == "false" || pass_specs == "0") {
      o.overrides.pass_device_specs = false;
    } else {
      errors.Add(Cat("--pass-device-specs must be true or false, got \"", pass_specs, "\""));
    }
  }
  if (!cdi_prefix.empty()) o.overrides.cdi_annotation_prefix = cdi_prefix;
  if (!dev_root.empty()) o.overrides.nvidia_dev_root = dev_root;

  if (o.server_address.empty()) o.server_address = Config::FromEnvironment().target;
  if (auto t = NormalizeTarget(o.server_address); !t.ok()) {
    errors.Add(Cat("--server-address: ", common::ToStd(t.status().message())));
  }
  errors.Logging(o.verbosity, o.log_format);
  if (absl::Status s = errors.ToStatus(); !s.ok()) return s;
  return result;
}

absl::StatusOr<PluginConfig> LoadEffectiveConfig(const PluginOptions& options, const Getenv& getenv) {
  PluginConfig config;
  if (!options.config_file.empty()) {
    absl::StatusOr<PluginConfig> file = LoadConfigFile(options.config_file);
    if (!file.ok()) return file.status();
    config = *std::move(file);
  }
  absl::StatusOr<ConfigOverrides> env = OverridesFromEnvironment(getenv);
  if (!env.ok()) return env.status();
  ApplyOverrides(*env, config);
  ApplyOverrides(options.overrides, config);
  return config;
}

}  // namespace deviceapi::deviceplugin
