// npd-gpu-monitor: flags, signals and wiring only; see src/npd/ and docs/npd-monitor.md.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <iostream>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "common/logging.h"
#include "common/signals.h"
#include "common/version.h"
#include "deviceapi/clientset.h"
#include "deviceapi/config.h"
#include "npd/check.h"
#include "npd/monitor.h"
#include "npd/options.h"
#include "observability/http_server.h"

namespace {

using namespace deviceapi;       // NOLINT: wiring only
using namespace deviceapi::npd;  // NOLINT

int Check(const MonitorOptions& opts) {
  const CheckResult r = RunCheck(opts);
  std::cout << r.line << "\n" << std::flush;
  return r.exit_code;
}

int Serve(const MonitorOptions& opts) {
  // Block the shutdown signals before any thread starts, then wait for them here.
  const common::ShutdownSignals signals;
  Config config = Config::Default();
  config.target = opts.server_address;
  config.user_agent = "npd-gpu-monitor";
  auto target = NormalizeTarget(config.target);
  if (!target.ok()) {
    std::cerr << "npd-gpu-monitor: " << target.status().message() << std::endl;
    return kExitUnknown;
  }
  grpc::ChannelArguments args;
  args.SetUserAgentPrefix(config.user_agent);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  auto channel = grpc::CreateCustomChannel(*target, grpc::InsecureChannelCredentials(), args);
  auto clientset = Clientset::NewForConfigAndChannel(config, channel);
  GpuInterfacePtr gpus(clientset->DeviceV1alpha1().Gpus(opts.namespace_));
  auto monitor =
      std::make_unique<Monitor>(opts, std::move(gpus), channel, [] { ::kill(::getpid(), SIGTERM); });

  std::unique_ptr<observability::HttpServer> http;
  if (opts.metrics) {
    Monitor* m = monitor.get();
    observability::HttpServer::Handlers handlers;
    handlers.metrics = [m] { return m->MetricsText(); };
    handlers.ready = [m] { return m->Ready(); };
    handlers.live = [m] { return m->Live(); };
    handlers.version_json = [] { return common::VersionJson(); };
    auto started =
        observability::HttpServer::Start(opts.metrics_host, opts.metrics_port, std::move(handlers));
    if (!started.ok()) {
      std::cerr << "npd-gpu-monitor: " << started.status().message() << std::endl;
      return kExitProblem;
    }
    http = std::move(*started);
    spdlog::info("metrics and probes on port {}", http->port());
  }
  if (absl::Status s = monitor->Start(); !s.ok()) {
    std::cerr << "npd-gpu-monitor: " << s.message() << std::endl;
    if (http) http->Stop();
    return kExitProblem;
  }
  spdlog::info("npd-gpu-monitor {} serving: Device API {}, socket {}", common::GetBuildInfo().version,
               opts.server_address, opts.socket);
  spdlog::info("received {}, shutting down", common::ShutdownSignals::Name(signals.Wait()));
  auto done = std::async(std::launch::async, [&] {
    if (http) http->Stop();
    monitor->Shutdown();
  });
  if (done.wait_for(std::chrono::milliseconds(900)) != std::future_status::ready) {
    spdlog::warn("shutdown still waiting; exiting now");
    spdlog::default_logger()->flush();
    std::_Exit(0);
  }
  done.get();
  monitor.reset();
  spdlog::info("stopped");
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = ParseMonitorOptions(argc, argv, std::cout);
  if (!parsed.ok()) {
    // NPD reads any exit code but 0 and 1 as Unknown, and stdout as the message.
    std::cout << "npd-gpu-monitor: " << parsed.status().message() << std::endl;
    std::cerr << "npd-gpu-monitor: " << parsed.status().message() << std::endl;
    return kExitUnknown;
  }
  if (parsed->action == ParseResult::kExit) return kExitOk;
  const MonitorOptions& opts = parsed->options;
  common::InitLogging(opts.verbosity, opts.log_format);
  return opts.mode == MonitorOptions::Mode::kCheck ? Check(opts) : Serve(opts);
}
