// nvml-provider: flags, signals and wiring only; see src/nvml/provider.h and docs/nvml-provider.md.
#include <pthread.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <future>
#include <iostream>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "common/logging.h"
#include "common/signals.h"
#include "common/version.h"
#include "deviceapi/clientset.h"
#include "deviceapi/config.h"
#include "nvml/library.h"
#include "nvml/options.h"
#include "nvml/provider.h"
#include "observability/http_server.h"

int main(int argc, char** argv) {
  using namespace deviceapi;
  auto parsed = nvml::ParseProviderOptions(argc, argv, std::cout);
  if (!parsed.ok()) {
    std::cerr << "nvml-provider: " << parsed.status().message() << std::endl;
    return nvml::kExitUsage;
  }
  if (parsed->action == nvml::ParseResult::kExit) return parsed->exit_code;
  const nvml::ProviderOptions& opts = parsed->options;
  common::InitLogging(opts.verbosity, opts.log_format);

  // Block the shutdown signals before any thread starts, then wait for them here.
  const common::ShutdownSignals signals;

  // Fail fast while the server is down (the provider retries with its own backoff) and reconnect
  // quickly when it comes back, so a restarted server is noticed within about a second.
  Config config = Config::Default();
  config.target = opts.server_address;
  config.timeout = opts.api_timeout;
  config.wait_for_ready = false;
  config.retry.max_attempts = 1;
  config.user_agent = "nvml-provider";
  auto target = NormalizeTarget(config.target);
  if (!target.ok()) {
    std::cerr << "nvml-provider: " << target.status().message() << std::endl;
    return nvml::kExitUsage;
  }
  // A new channel per call of the factory: the provider asks for one when the server stays
  // unreachable, so a restarted server is found without waiting out gRPC's reconnect backoff.
  const std::string channel_target = *target;
  const std::string ns = opts.namespace_;
  auto client_factory = [config, channel_target, ns]() -> std::shared_ptr<GpuInterface> {
    grpc::ChannelArguments args;
    args.SetUserAgentPrefix(config.user_agent);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto clientset = Clientset::NewForConfigAndChannel(
        config, grpc::CreateCustomChannel(channel_target, grpc::InsecureChannelCredentials(), args));
    // A typed client keeps its connection alive by itself (clientset.h).
    return std::shared_ptr<GpuInterface>(clientset->DeviceV1alpha1().Gpus(ns));
  };

  const std::string driver_root = opts.driver_root;
  auto provider = std::make_unique<nvml::Provider>(
      opts, client_factory, [driver_root] { return nvml::NvmlLibrary::Load(driver_root); });

  std::unique_ptr<observability::HttpServer> http;
  if (opts.health_check) {
    nvml::Provider* p = provider.get();
    observability::HttpServer::Handlers handlers;
    handlers.metrics = [p] { return p->MetricsText(); };
    handlers.ready = [p] { return p->Ready(); };
    handlers.live = [p] { return p->Live(); };
    handlers.version_json = [] { return common::VersionJson(); };
    auto started = observability::HttpServer::Start(opts.health_host, opts.health_port, std::move(handlers));
    if (!started.ok()) {
      spdlog::critical("{}", started.status().ToString());
      std::cerr << "nvml-provider: " << started.status().message() << std::endl;
      return nvml::kExitError;
    }
    http = std::move(*started);
    spdlog::info("health endpoint on port {}", http->port());
  }

  if (absl::Status s = provider->Start(); !s.ok()) {
    spdlog::critical("NVML unavailable: {}", s.ToString());
    std::cerr << "nvml-provider: " << s.message()
              << " (set --driver-root or NVIDIA_DRIVER_ROOT, or --nvml-missing=unknown to run without NVML)"
              << std::endl;
    if (http) http->Stop();
    return nvml::kExitNvmlMissing;
  }
  spdlog::info("nvml-provider {} started: server {}, driver root {}, XID policy {}", opts.provider_id,
               opts.server_address, opts.driver_root,
               opts.xid_policy == nvml::XidPolicyMode::kCatalog ? "catalog" : "device-plugin");

  spdlog::info("received {}, shutting down", common::ShutdownSignals::Name(signals.Wait()));
  // Shut down within a second: an API call in flight may hold the worker for up to
  // --api-timeout, and nothing it would still write matters once we are going away.
  auto done = std::async(std::launch::async, [&] {
    if (http) http->Stop();
    provider->Shutdown();
  });
  if (done.wait_for(std::chrono::milliseconds(800)) != std::future_status::ready) {
    spdlog::warn("shutdown still waiting for an API call; exiting now");
    spdlog::default_logger()->flush();
    std::_Exit(0);
  }
  done.get();
  provider.reset();
  spdlog::info("stopped");
  return 0;
}
