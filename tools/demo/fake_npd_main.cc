// devapi-fake-npd: Node Problem Detector's end of the npd-ext external monitor protocol
// (api/proto/npd/external/v1/external_monitor.proto) for `make demo` (scripts/demo.sh). It does what
// NPD built from npd-ext does with an `external` plugin: dials the monitor's Unix socket, calls
// GetMetadata once, then CheckHealth every --interval-ms with a growing sequence number. It prints
// the metadata, every condition whose status, reason or message changed (what NPD would write to
// the Node), and every event (what NPD would record as a Kubernetes Event):
//
//   npd: monitor npd-gpu-monitor 0.1.0 (GPUUnhealthy, GPUHealthUnknown, GPUCountMismatch)
//   npd: condition GPUUnhealthy=True reason=GPUUnhealthy "1/2 GPUs unhealthy: gpu-11111111 (XID79)"
//   npd: event Warning GPUXID79 "XID79 on gpu-11111111 (NVMLReady: ...)"
//
// Runs until SIGTERM or SIGINT; exit 0 then, 1 when GetMetadata never answered, 2 on bad flags.
#include <csignal>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <tuple>

#include <google/protobuf/empty.pb.h>
#include <grpcpp/grpcpp.h>
#include <CLI/CLI.hpp>

#include "demo_tool.h"

#include "npd/external/v1/external_monitor.grpc.pb.h"

namespace {

namespace ext = npd::external::v1;

const char* StatusName(ext::ConditionStatus s) {
  switch (s) {
    case ext::CONDITION_STATUS_TRUE:
      return "True";
    case ext::CONDITION_STATUS_FALSE:
      return "False";
    case ext::CONDITION_STATUS_UNKNOWN:
      return "Unknown";
    default:
      return "Unspecified";
  }
}

const char* SeverityName(ext::Severity s) {
  switch (s) {
    case ext::SEVERITY_INFO:
      return "Normal";
    case ext::SEVERITY_WARN:
      return "Warning";
    default:
      return "Unspecified";
  }
}

// Sleeps up to `ms`, returning early on a signal.
void Sleep(int ms) {
  for (int left = ms; left > 0 && !deviceapi::demo::StopRequested(); left -= 50) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(left, 50)));
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"A fake NPD for the demo: calls the external monitor's CheckHealth and prints what changes."};
  std::string socket;
  int interval_ms = 1000;
  int connect_timeout_s = 60;
  app.add_option("--socket", socket, "the monitor's Unix socket (npd-gpu-monitor serve --socket)")
      ->required();
  app.add_option("--interval-ms", interval_ms, "CheckHealth period (NPD's invoke_interval)")
      ->check(CLI::Range(10, 600000));
  app.add_option("--connect-timeout", connect_timeout_s, "seconds to wait for the monitor's first answer")
      ->check(CLI::Range(1, 3600));
  if (auto code = deviceapi::demo::ParseAndHandleSignals(app, argc, argv)) return *code;

  auto stub = ext::ExternalMonitor::NewStub(
      grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));

  // GetMetadata first, as NPD does; the monitor may still be starting (wait for its socket).
  ext::MonitorMetadata meta;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(connect_timeout_s);;) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    ctx.set_wait_for_ready(true);
    google::protobuf::Empty empty;
    grpc::Status s = stub->GetMetadata(&ctx, empty, &meta);
    if (s.ok()) break;
    if (deviceapi::demo::StopRequested()) return 0;
    if (std::chrono::steady_clock::now() >= deadline) {
      std::cout << "npd: GetMetadata on " << socket << " failed: " << s.error_message() << std::endl;
      return 1;
    }
  }
  std::string conditions;
  for (const auto& c : meta.supported_conditions()) conditions += (conditions.empty() ? "" : ", ") + c;
  std::cout << "npd: monitor " << meta.name() << " " << meta.version() << " (" << conditions << ")"
            << std::endl;

  std::map<std::string, std::tuple<int, std::string, std::string>> last;  // type -> status, reason, message
  std::string last_error;
  for (int64_t seq = 1; !deviceapi::demo::StopRequested(); ++seq) {
    ext::HealthCheckRequest req;
    req.set_sequence(seq);
    ext::Status status;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::Status s = stub->CheckHealth(&ctx, req, &status);
    if (!s.ok()) {
      if (s.error_message() != last_error)
        std::cout << "npd: CheckHealth failed: " << s.error_message() << std::endl;
      last_error = s.error_message();
    } else {
      last_error.clear();
      for (const auto& c : status.conditions()) {
        auto now = std::make_tuple(static_cast<int>(c.status()), c.reason(), c.message());
        auto it = last.find(c.type());
        if (it != last.end() && it->second == now) continue;
        last[c.type()] = now;
        std::cout << "npd: condition " << c.type() << "=" << StatusName(c.status())
                  << " reason=" << c.reason() << " \"" << c.message() << "\"" << std::endl;
      }
      for (const auto& e : status.events()) {
        std::cout << "npd: event " << SeverityName(e.severity()) << " " << e.reason() << " \"" << e.message()
                  << "\"" << std::endl;
      }
    }
    Sleep(interval_ms);
  }
  std::cout << "npd: stopped" << std::endl;
  return 0;
}
