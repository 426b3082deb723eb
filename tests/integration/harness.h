// Helpers for the integration tests: the real device-api-server binary as a child process in a
// private temp directory, free TCP ports, a raw HTTP/1.0 client, gRPC health checks with a typed
// stub, and running third-party commands (grpcurl, promtool) with a deadline.
//
// Nothing here sleeps to synchronize: every wait polls a condition until a generous deadline,
// because the tests run in parallel on a busy 2-core machine.
#ifndef DEVICEAPI_TESTS_INTEGRATION_HARNESS_H_
#define DEVICEAPI_TESTS_INTEGRATION_HARNESS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"

namespace deviceapi::itest {

// How long a server gets to come up and to go down before a test gives up.
inline constexpr absl::Duration kStartDeadline = absl::Seconds(20);
inline constexpr absl::Duration kExitDeadline = absl::Seconds(30);

inline constexpr char kGpuService[] = "nvidia.nvsentinel.v1alpha1.GpuService";

// A private directory under /tmp with a short name (Unix socket paths must be < 108 bytes),
// removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read back, closed). Another
// process may take it before the server binds it; StartServer() retries on that.
int PickFreePort();

std::string ReadFile(const std::string& path);

// Exit state of a child process.
struct ExitInfo {
  bool exited = false;  // false: still running when the deadline passed
  int exit_code = -1;   // valid when exited normally
  int term_signal = 0;  // non-zero when killed by a signal
  std::string ToString() const;
};

// A child process started with posix_spawn: stdin from `stdin_path` (or /dev/null), stdout and
// stderr to the given files (the same file is fine). The environment is ours minus every
// DEVICE_API_SERVER_* variable, plus `env`. Killed (SIGKILL) and reaped on destruction if
// still running.
class ChildProcess {
 public:
  struct Spec {
    std::vector<std::string> argv;  // argv[0] is the executable path
    std::map<std::string, std::string> env;
    std::string stdin_path;  // empty: /dev/null
    std::string stdout_path;
    std::string stderr_path;  // empty: same file as stdout
  };
  // Fails the current test (ADD_FAILURE) and returns nullptr if the spawn fails.
  static std::unique_ptr<ChildProcess> Spawn(const Spec& spec);
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // Returns immediately if the child has already been reaped.
  ExitInfo WaitFor(absl::Duration timeout);
  // Non-blocking: whether the child has exited (reaps it if so).
  bool Exited();
  void Signal(int sig);

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  std::optional<ExitInfo> exit_;
};

// Output of a command run to completion.
struct CommandResult {
  ExitInfo exit;
  std::string out;               // stdout
  std::string err;               // stderr
  std::string Describe() const;  // for failure messages
};

// Runs `argv` with stdin from `stdin_data` (written to a file in `dir`), stdout and stderr captured
// in files under `dir`. Kills the command if it runs past `timeout`.
CommandResult RunCommand(const TempDir& dir, const std::vector<std::string>& argv,
                         const std::string& stdin_data = "", absl::Duration timeout = absl::Seconds(60),
                         const std::map<std::string, std::string>& env = {});

// A gRPC channel that fails fast and reconnects quickly (100 ms backoff), with a subchannel pool
// of its own so that one test's channels never share a connection.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target);

// grpc.health.v1.Health/Check over `channel`. `rpc` is the call's status; `serving_status` the
// HealthCheckResponse.status (1 SERVING, 2 NOT_SERVING) when rpc is OK.
struct HealthResult {
  grpc::Status rpc;
  int serving_status = 0;
  bool serving() const { return rpc.ok() && serving_status == 1; }
  bool not_serving() const { return rpc.ok() && serving_status == 2; }
  std::string ToString() const;
};
HealthResult CheckHealth(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
                         absl::Duration timeout = absl::Seconds(2));

// A raw HTTP/1.0 response.
struct HttpResponse {
  int status = 0;                              // 0: no response (error holds why)
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  std::string error;
};
HttpResponse HttpGet(int port, const std::string& path, absl::Duration timeout = absl::Seconds(10));

// The value of the sample whose "name{labels}" part is exactly `series` in a Prometheus text
// exposition, if present.
std::optional<double> SampleValue(const std::string& exposition, const std::string& series);

// The environment that preloads `library` (LD_PRELOAD) into a child. Under AddressSanitizer the
// runtime insists on coming first in the library list and aborts otherwise; the preloaded libraries
// here (libfaketime, the ENOSPC shim) only wrap libc calls, so ASAN_OPTIONS (kept as the test has
// it) gains verify_asan_link_order=0.
std::map<std::string, std::string> PreloadEnv(const std::string& library);

// The real device-api-server binary (DEVICE_API_SERVER_BIN) running in a child process with its
// socket at <dir>/api.sock, its health port and metrics port on 127.0.0.1 and its log in
// <dir>/server-<n>.log.
class ServerProcess {
 public:
  struct Config {
    std::string socket_path;  // empty: <dir>/api.sock
    std::vector<std::string> extra_args;
    std::map<std::string, std::string> env;
  };

  // Starts the server and waits until Health/Check("") on the socket says SERVING. Fails the
  // current test (with the server log) and returns nullptr otherwise. Retries with new ports when
  // the picked ones were taken by someone else in the meantime.
  static std::unique_ptr<ServerProcess> Start(const TempDir& dir, Config config = {});
  // Starts the server without waiting for anything (for tests of start-up failures).
  static std::unique_ptr<ServerProcess> Spawn(const TempDir& dir, const Config& config, int health_port,
                                              int metrics_port);
  ~ServerProcess();

  ChildProcess& process() { return *child_; }
  const std::string& socket_path() const { return socket_path_; }
  std::string target() const { return "unix://" + socket_path_; }
  std::string health_target() const { return "127.0.0.1:" + std::to_string(health_port_); }
  int health_port() const { return health_port_; }
  int metrics_port() const { return metrics_port_; }
  const std::string& log_path() const { return log_path_; }
  std::string Log() const { return ReadFile(log_path_); }

  // Polls Health/Check("") on the socket until SERVING or the child exits or the deadline passes.
  bool WaitServing(absl::Duration deadline = kStartDeadline);

 private:
  ServerProcess() = default;
  std::unique_ptr<ChildProcess> child_;
  std::string socket_path_;
  std::string log_path_;
  int health_port_ = 0;
  int metrics_port_ = 0;
};

// Polls `condition` every `interval` until it holds or `deadline` passes; returns the last result.
template <typename F>
bool PollUntil(F condition, absl::Duration deadline, absl::Duration interval = absl::Milliseconds(20)) {
  const absl::Time end = absl::Now() + deadline;
  while (true) {
    if (condition()) return true;
    if (absl::Now() >= end) return false;
    absl::SleepFor(interval);
  }
}

}  // namespace deviceapi::itest

#endif  // DEVICEAPI_TESTS_INTEGRATION_HARNESS_H_
