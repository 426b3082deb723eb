// gpu-device-plugin: flags, signals and wiring only; see src/deviceplugin/manager.h and
// docs/device-plugin.md.
#include <chrono>
#include <csignal>
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
#include "deviceplugin/manager.h"
#include "deviceplugin/options.h"
#include "observability/http_server.h"

int main(int argc, char** argv) {
  using namespace deviceapi;
  using namespace deviceapi::deviceplugin;
  auto parsed = ParsePluginOptions(argc, argv, std::cout);
  if (!parsed.ok()) {
    std::cerr << "gpu-device-plugin: " << parsed.status().message() << std::endl;
    return kExitUsage;
  }
  if (parsed->action == ParseResult::kExit) return kExitOk;
  const PluginOptions& opts = parsed->options;
  common::InitLogging(opts.verbosity, opts.log_format);

  absl::StatusOr<PluginConfig> config = LoadEffectiveConfig(opts);
  if (!config.ok()) {
    std::cerr << "gpu-device-plugin: " << config.status().message() << std::endl;
    return kExitUsage;
  }

  // Block the signals before any thread starts, then wait for them here. SIGHUP reloads the config.
  const common::ShutdownSignals signals(/*with_hangup=*/true);

  Config client_config = Config::Default();
  client_config.target = opts.server_address;
  client_config.timeout = opts.api_timeout;
  client_config.user_agent = "gpu-device-plugin";
  auto target = NormalizeTarget(client_config.target);
  if (!target.ok()) {
    std::cerr << "gpu-device-plugin: " << target.status().message() << std::endl;
    return kExitUsage;
  }
  grpc::ChannelArguments args;
  args.SetUserAgentPrefix(client_config.user_agent);
  // A restarted server is found within about a second.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  auto channel = grpc::CreateCustomChannel(*target, grpc::InsecureChannelCredentials(), args);
  auto clientset = Clientset::NewForConfigAndChannel(client_config, channel);
  GpuInterfacePtr gpus(clientset->DeviceV1alpha1().Gpus(opts.namespace_));

  auto plugin = std::make_unique<Plugin>(opts, *config, std::move(gpus), channel);

  std::unique_ptr<observability::HttpServer> http;
  if (opts.metrics) {
    Plugin* p = plugin.get();
    observability::HttpServer::Handlers handlers;
    handlers.metrics = [p] { return p->MetricsText(); };
    handlers.ready = [p] { return p->Ready(); };
    handlers.live = [p] { return p->Live(); };
    handlers.version_json = [] { return common::VersionJson(); };
    auto started =
        observability::HttpServer::Start(opts.metrics_host, opts.metrics_port, std::move(handlers));
    if (!started.ok()) {
      std::cerr << "gpu-device-plugin: " << started.status().message() << std::endl;
      return kExitError;
    }
    http = std::move(*started);
    spdlog::info("metrics and probes on port {}", http->port());
  }

  if (absl::Status s = plugin->Start(); !s.ok()) {
    std::cerr << "gpu-device-plugin: " << s.message() << std::endl;
    if (http) http->Stop();
    return kExitError;
  }
  spdlog::info("gpu-device-plugin {} started: Device API {}, device plugin directory {}, kubelet {}",
               common::GetBuildInfo().version, opts.server_address, opts.device_plugin_path,
               opts.register_with_kubelet ? opts.KubeletSocketPath() : "(not registering)");

  while (true) {
    const int sig = signals.Wait();
    if (sig != SIGHUP) {
      spdlog::info("received {}, shutting down", common::ShutdownSignals::Name(sig));
      break;
    }
    absl::StatusOr<PluginConfig> reloaded = LoadEffectiveConfig(opts);
    if (!reloaded.ok()) {
      spdlog::error("SIGHUP: keeping the current config: {}", std::string(reloaded.status().message()));
      plugin->RecordConfigReload(false);
      continue;
    }
    spdlog::info("SIGHUP: config reloaded from {}",
                 opts.config_file.empty() ? "(defaults)" : opts.config_file);
    plugin->RecordConfigReload(true);
    plugin->Reload(*std::move(reloaded));
  }
  // End within a second: a Register call in flight may hold the control thread for up to
  // --kubelet-timeout, and nothing it would still do matters once we are going away.
  auto done = std::async(std::launch::async, [&] {
    if (http) http->Stop();
    plugin->Shutdown();
  });
  if (done.wait_for(std::chrono::milliseconds(900)) != std::future_status::ready) {
    spdlog::warn("shutdown still waiting; exiting now");
    spdlog::default_logger()->flush();
    std::_Exit(0);
  }
  done.get();
  plugin.reset();
  spdlog::info("stopped");
  return 0;
}
