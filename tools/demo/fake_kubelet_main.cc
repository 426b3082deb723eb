// devapi-fake-kubelet: the kubelet's end of the device plugin API for `make demo` (scripts/demo.sh).
// Serves the Registration service on <dir>/kubelet.sock with the tests' fake kubelet
// (tests/deviceplugin/fake_kubelet.h: version and resource checks, dial-back, GetDevicePluginOptions,
// ListAndWatch), and prints one line per registration and per device list received:
//
//   kubelet: registered nvidia.com/gpu (endpoint nvidia-gpu.sock, API v1beta1)
//   kubelet: nvidia.com/gpu 2 devices: 1 healthy, 1 unhealthy (GPU-1111... Unhealthy)
//
// Runs until SIGTERM or SIGINT; exit 0 then, 2 on bad flags.
#include <csignal>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>

#include "demo_tool.h"

#include "fake_kubelet.h"

namespace {

std::string Describe(const std::string& resource, const v1beta1::ListAndWatchResponse& list) {
  const int healthy = deviceapi::dptest::FakeKubelet::Healthy(list);
  const int unhealthy = list.devices_size() - healthy;
  std::string line = "kubelet: " + resource + " " + std::to_string(list.devices_size()) +
                     " devices: " + std::to_string(healthy) + " healthy, " + std::to_string(unhealthy) +
                     " unhealthy";
  if (unhealthy > 0) {
    std::string sep = " (";
    for (const auto& d : list.devices()) {
      if (d.health() == "Healthy") continue;
      line += sep + d.id() + " " + d.health();
      sep = ", ";
    }
    line += ")";
  }
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "A fake kubelet for the demo: serves <dir>/kubelet.sock and prints every ListAndWatch update."};
  std::string dir;
  int poll_ms = 50;
  app.add_option("--dir", dir, "the device plugin directory (the plugin's --device-plugin-path)")->required();
  app.add_option("--poll-ms", poll_ms, "how often new lists are looked for")->check(CLI::Range(1, 10000));
  if (auto code = deviceapi::demo::ParseAndHandleSignals(app, argc, argv)) return *code;

  deviceapi::dptest::FakeKubelet kubelet(dir);
  kubelet.Start();
  std::cout << "kubelet: serving " << kubelet.socket_path() << std::endl;

  size_t registrations_seen = 0;
  size_t violations_seen = 0;
  std::set<std::string> resources;
  std::map<std::string, size_t> lists_seen;  // per resource, of its current endpoint
  while (!deviceapi::demo::StopRequested()) {
    const auto regs = kubelet.registrations();
    for (; registrations_seen < regs.size(); ++registrations_seen) {
      const auto& r = regs[registrations_seen];
      std::cout << "kubelet: registered " << r.resource_name() << " (endpoint " << r.endpoint() << ", API "
                << r.version() << ")" << std::endl;
      resources.insert(r.resource_name());
      lists_seen[r.resource_name()] = 0;  // a new endpoint: its history starts over
    }
    for (const std::string& resource : resources) {
      const auto history = kubelet.History(resource);
      size_t& seen = lists_seen[resource];
      for (; seen < history.size(); ++seen)
        std::cout << Describe(resource, history[seen].second) << std::endl;
    }
    const auto violations = kubelet.violations();
    for (; violations_seen < violations.size(); ++violations_seen) {
      std::cout << "kubelet: VIOLATION " << violations[violations_seen] << std::endl;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
  kubelet.Stop();
  std::cout << "kubelet: stopped" << std::endl;
  return 0;
}
