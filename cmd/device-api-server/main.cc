// device-api-server: flags, signals and wiring only; see src/apiserver/server.h.
#include <csignal>
#include <iostream>

#include <pthread.h>
#include <spdlog/spdlog.h>

#include "absl/synchronization/mutex.h"
#include "apiserver/options.h"
#include "apiserver/server.h"
#include "common/logging.h"
#include "common/signals.h"

int main(int argc, char** argv) {
  using namespace deviceapi;
  auto parsed = apiserver::ParseServerOptions(argc, argv, std::cout);
  if (!parsed.ok()) {
    std::cerr << "device-api-server: " << parsed.status().message() << std::endl;
    return 1;
  }
  if (parsed->action == apiserver::ParseResult::kExit) return parsed->exit_code;
  const apiserver::ServerOptions& opts = parsed->options;
  common::InitLogging(opts.verbosity, opts.log_format);
  // Debian's abseil keeps absl::Mutex deadlock detection on (a cycle graph
  // updated on every lock): measurable on the hot paths. The lock order is
  // documented (docs/design.md) and the test binaries keep detection on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Block the shutdown signals before any thread starts, then wait for them here.
  const common::ShutdownSignals signals;

  auto server = apiserver::DeviceApiServer::Start(opts);
  if (!server.ok()) {
    spdlog::critical("{}", server.status().ToString());
    std::cerr << "device-api-server: " << server.status().message() << std::endl;
    return 1;
  }
  spdlog::info("received {}", common::ShutdownSignals::Name(signals.Wait()));
  (*server)->Shutdown();
  return 0;
}
