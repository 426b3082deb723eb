#include "npd/options.h"

#include <vector>

#include <CLI/CLI.hpp>

#include "common/command_line.h"
#include "common/duration.h"
#include "common/flag_errors.h"
#include "common/host_port.h"
#include "common/strings.h"
#include "common/version.h"
#include "deviceapi/config.h"
#include "npd/report.h"

namespace deviceapi::npd {

using common::Cat;

absl::StatusOr<ParseResult> ParseMonitorOptions(int argc, const char* const* argv, std::ostream& out) {
  ParseResult result;
  MonitorOptions& o = result.options;
  std::string grace = "5s", timeout = "2s", metrics_address = ":2113", mode = "0660";
  bool version = false;

  CLI::App app{
      "GPU health from the node-local Device API for Node Problem Detector: `serve` is an npd-ext "
      "external monitor (gRPC), `check` a stock NPD custom plugin (exit 0 OK, 1 problem, 2 unknown).",
      "npd-gpu-monitor"};
  app.option_defaults()->always_capture_default();
  app.get_formatter()->column_width(40);
  app.require_subcommand(0, 1);
  auto common_flags = [&](CLI::App* sub) {
    sub->add_option("--server-address", o.server_address,
                    "Device API server target (unix:///path.sock); default from NVIDIA_DEVICE_API_TARGET, "
                    "then NVIDIA_DEVICE_API_SOCK, then the standard socket")
        ->envname(std::string(kTargetEnvVar));
    sub->add_option("--namespace", o.namespace_, "namespace of the GPU objects (empty: default)");
    sub->add_option("--expected-gpus", o.expected_gpus,
                    "GPUs the node should have (GPUCountMismatch when fewer; 0: no expectation)")
        ->envname("EXPECTED_GPUS");
    sub->add_option("-v,--v", o.verbosity, "log verbosity (logs go to stderr)");
    sub->add_option("--log-format", o.log_format, "log format: text or json");
  };
  CLI::App* serve = app.add_subcommand("serve", "serve the npd-ext ExternalMonitor gRPC API on --socket");
  common_flags(serve);
  serve->add_option("--socket", o.socket, "Unix socket NPD dials (socketAddress in its config)");
  serve->add_option("--socket-mode", mode, "file mode of the socket (octal)");
  serve->add_flag("--exit-on-stop", o.exit_on_stop, "exit when NPD calls Stop (default: keep serving)");
  serve->add_option("--api-unavailable-grace", grace,
                    "how long the Device API may be unreachable before every condition is Unknown");
  serve
      ->add_option("--metrics-bind-address", metrics_address,
                   "HTTP address of /metrics and probes (\"0\": off)")
      ->envname("METRICS_BIND_ADDRESS");
  CLI::App* check =
      app.add_subcommand("check", "one NPD custom-plugin check; exit 0 OK, 1 problem, 2 unknown");
  common_flags(check);
  check->add_option("--condition", o.condition, "GPUUnhealthy, GPUHealthUnknown, GPUCountMismatch or GPUXID")
      ->required();
  check->add_option("--timeout", timeout, "deadline of the Device API call");
  check->add_option("--max-output", o.max_output, "longest stdout line in bytes (NPD's max_output_length)");
  check->add_option("--state-file", o.state_file, "where GPUXID remembers the XIDs it has reported");
  app.add_flag("--version", version, "print version information as JSON and exit");

  absl::StatusOr<bool> help = common::ParseCommandLine(app, argc, argv, "npd-gpu-monitor", out);
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
  if (!serve->parsed() && !check->parsed()) {
    return absl::InvalidArgumentError("a mode is required: npd-gpu-monitor serve|check (see --help)");
  }
  o.mode = check->parsed() ? MonitorOptions::Mode::kCheck : MonitorOptions::Mode::kServe;

  common::FlagErrors errors;
  if (o.mode == MonitorOptions::Mode::kServe) {
    errors.Duration("api-unavailable-grace", grace, o.api_unavailable_grace, absl::ZeroDuration());
    if (o.socket.empty() || o.socket.front() != '/') {
      errors.Add(Cat("--socket must be an absolute path, got \"", o.socket, "\""));
    } else if (o.socket.size() > 107) {
      errors.Add(Cat("--socket ", o.socket, " is longer than a Unix socket path may be (107 bytes)"));
    }
    unsigned long m = 0;
    const std::string digits = mode.starts_with("0o") ? mode.substr(2) : mode;
    size_t used = 0;
    try {
      m = std::stoul(digits, &used, 8);
    } catch (const std::exception&) {
      used = 0;
    }
    if (digits.empty() || used != digits.size() || m > 0777) {
      errors.Add(Cat("--socket-mode must be an octal file mode such as 0660, got \"", mode, "\""));
    } else {
      o.socket_mode = static_cast<uint32_t>(m);
    }
    if (metrics_address == "0") {
      o.metrics = false;
    } else if (auto hp = common::ParseHostPort(metrics_address); hp.ok()) {
      o.metrics_host = hp->first;
      o.metrics_port = hp->second;
    } else {
      errors.Add(Cat("--metrics-bind-address: ", common::ToStd(hp.status().message())));
    }
  } else {
    errors.Duration("timeout", timeout, o.timeout, absl::Milliseconds(1));
    if (o.condition != kGpuUnhealthy && o.condition != kGpuHealthUnknown &&
        o.condition != kGpuCountMismatch && o.condition != kGpuXid) {
      errors.Add(Cat("--condition must be GPUUnhealthy, GPUHealthUnknown, GPUCountMismatch or GPUXID, got \"",
                     o.condition, "\""));
    }
    if (o.max_output < 16 || o.max_output > 4096) errors.Add("--max-output must be 16..4096");
    if (o.condition == kGpuXid && o.state_file.empty()) errors.Add("--state-file is required for GPUXID");
  }
  if (o.expected_gpus < 0) errors.Add("--expected-gpus must be >= 0");
  if (o.server_address.empty()) o.server_address = Config::FromEnvironment().target;
  if (auto t = NormalizeTarget(o.server_address); !t.ok()) {
    errors.Add(Cat("--server-address: ", common::ToStd(t.status().message())));
  }
  errors.Logging(o.verbosity, o.log_format);
  if (absl::Status s = errors.ToStatus(); !s.ok()) return s;
  return result;
}

}  // namespace deviceapi::npd
