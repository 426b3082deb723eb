#include "nvml/options.h"
#include "common/command_line.h"

#include <cstdlib>
#include <vector>

#include <CLI/CLI.hpp>

#include "apimachinery/name_rules.h"
#include "common/duration.h"
#include "common/flag_errors.h"
#include "common/strings.h"
#include "common/version.h"
#include "deviceapi/config.h"

namespace deviceapi::nvml {

using common::Cat;

namespace {

std::set<uint64_t> ParseStrictList(const std::string& flag, const std::string& text,
                                   common::FlagErrors& errors) {
  XidList l = ParseXidList(text);
  if (l.all)
    errors.Add(
        Cat("--", flag, ": \"all\" is only accepted by --disable-healthchecks and --enable-healthchecks"));
  return l.xids;
}

}  // namespace

absl::StatusOr<ParseResult> ParseProviderOptions(int argc, const char* const* argv, std::ostream& out) {
  ParseResult result;
  ProviderOptions& o = result.options;
  std::string reconcile = "30s", heartbeat = "10s", wait = "200ms", api_timeout = "5s";
  std::string nvml_missing = "exit", xid_policy = "catalog";
  std::string ignored, warning, critical, disable, enable;
  bool version = false;

  CLI::App app{
      "NVML health provider for the node-local Device API server: registers the node's GPUs and keeps "
      "their NVMLReady condition current from NVML XID and ECC events.",
      "nvml-provider"};
  app.option_defaults()->always_capture_default();
  app.get_formatter()->column_width(40);
  app.add_option("--server-address", o.server_address,
                 "Device API server target (unix:///path.sock); default from NVIDIA_DEVICE_API_TARGET, "
                 "then NVIDIA_DEVICE_API_SOCK, then the standard socket")
      ->envname(std::string(kTargetEnvVar));
  app.add_option("--provider-id", o.provider_id, "this provider's identity: label value on its GPUs")
      ->envname("PROVIDER_ID");
  app.add_option("--driver-root", o.driver_root,
                 "where the NVIDIA driver is installed (libnvidia-ml.so.1 search root)")
      ->envname("NVIDIA_DRIVER_ROOT");
  app.add_option("--sysfs-root", o.sysfs_root, "sysfs mount (NUMA node fallback)");
  app.add_option("--namespace", o.namespace_, "namespace of the GPU objects (empty: default)");
  // A flag, as in Go: "--health-check" alone is true, "--health-check=false" turns it off.
  app.add_flag("--health-check{true}", o.health_check,
               "serve /healthz, /readyz, /livez and /metrics over HTTP (--health-check=false: off)");
  app.add_option("--health-host", o.health_host, "HTTP listen address (empty: all interfaces)");
  app.add_option("--health-port", o.health_port, "HTTP port (0: any free port)");
  app.add_option("--reconcile-interval", reconcile, "period of the full re-list and reconcile");
  app.add_option("--heartbeat-interval", heartbeat,
                 "period of lastHeartbeatTime refreshes on this provider's conditions");
  app.add_option("--event-wait-timeout", wait, "NVML event wait timeout (bounds shutdown latency)");
  app.add_option("--api-timeout", api_timeout, "deadline of each API call");
  app.add_option(
      "--nvml-missing", nvml_missing,
      "when NVML cannot be loaded: exit (code 3) or unknown (keep running, GPUs NVMLReady=Unknown, retry)");
  app.add_option("--xid-policy", xid_policy,
                 "XID classification: catalog (NVIDIA XID catalog) or device-plugin (legacy)");
  app.add_option("--ignored-xids", ignored, "comma-separated XIDs to ignore");
  app.add_option("--warning-xids", warning, "comma-separated XIDs to treat as warnings");
  app.add_option("--critical-xids", critical, "comma-separated XIDs to treat as critical");
  app.add_option("--disable-healthchecks", disable, "device plugin semantics: 'all'/'xids' or XIDs to ignore")
      ->envname("DP_DISABLE_HEALTHCHECKS");
  app.add_option("--enable-healthchecks", enable,
                 "device plugin semantics: XIDs that are always critical (wins over everything)")
      ->envname("DP_ENABLE_HEALTHCHECKS");
  app.add_option("-v,--v", o.verbosity, "log verbosity");
  app.add_option("--log-format", o.log_format, "log format: text or json");
  app.add_flag("--version", version, "print version information as JSON and exit");

  absl::StatusOr<bool> help = common::ParseCommandLine(app, argc, argv, "nvml-provider", out);
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
  errors.Duration("reconcile-interval", reconcile, o.reconcile_interval, absl::Milliseconds(100));
  errors.Duration("heartbeat-interval", heartbeat, o.heartbeat_interval, absl::Milliseconds(100));
  errors.Duration("event-wait-timeout", wait, o.event_wait_timeout, absl::Milliseconds(10));
  errors.Duration("api-timeout", api_timeout, o.api_timeout, absl::Milliseconds(100));
  if (o.event_wait_timeout > absl::Seconds(1)) errors.Add("--event-wait-timeout must be at most 1s");

  if (nvml_missing == "exit") {
    o.nvml_missing = NvmlMissingMode::kExit;
  } else if (nvml_missing == "unknown") {
    o.nvml_missing = NvmlMissingMode::kUnknown;
  } else {
    errors.Add(Cat("--nvml-missing must be \"exit\" or \"unknown\", got \"", nvml_missing, "\""));
  }
  if (auto mode = ParseXidPolicyMode(xid_policy); mode.ok()) {
    o.xid_policy = *mode;
  } else {
    errors.Add(Cat("--xid-policy: ", common::ToStd(mode.status().message())));
  }
  o.xid_overrides.ignored = ParseStrictList("ignored-xids", ignored, errors);
  o.xid_overrides.warning = ParseStrictList("warning-xids", warning, errors);
  o.xid_overrides.critical = ParseStrictList("critical-xids", critical, errors);
  o.xid_overrides.disable = ParseXidList(disable);
  o.xid_overrides.enable = ParseXidList(enable);

  if (o.server_address.empty()) o.server_address = Config::FromEnvironment().target;
  if (auto t = NormalizeTarget(o.server_address); !t.ok()) {
    errors.Add(Cat("--server-address: ", common::ToStd(t.status().message())));
  }
  if (o.provider_id.empty() || !apimachinery::IsValidLabelValue(o.provider_id).empty()) {
    errors.Add(Cat("--provider-id must be a non-empty label value, got \"", o.provider_id, "\""));
  }
  if (o.health_port < 0 || o.health_port > 65535) errors.Add("--health-port must be 0..65535");
  errors.Logging(o.verbosity, o.log_format);
  if (absl::Status s = errors.ToStatus(); !s.ok()) return s;
  return result;
}

}  // namespace deviceapi::nvml
