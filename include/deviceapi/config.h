// How a client reaches the Device API server (docs/API.md; upstream pkg/grpc/client Config).
//
// The server listens on a node-local Unix socket and serves plaintext: a Config therefore accepts
// only local targets, and the channel always uses insecure credentials. Anything else (dns:,
// ipv4:, host:port, ...) is rejected by Validate() / NewForConfig() with INVALID_ARGUMENT.
#ifndef DEVICEAPI_CONFIG_H_
#define DEVICEAPI_CONFIG_H_

#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace deviceapi {

inline constexpr std::string_view kDefaultTarget = "unix:///var/run/nvidia-device-api/device-api.sock";
// Our variable: a full target ("unix:///run/x.sock") or an absolute socket path.
inline constexpr std::string_view kTargetEnvVar = "NVIDIA_DEVICE_API_TARGET";
// Upstream's variable (V3 client), honoured for compatibility; same accepted forms.
inline constexpr std::string_view kSockEnvVar = "NVIDIA_DEVICE_API_SOCK";

// Transparent retries of calls that fail with UNAVAILABLE before reaching the application (a
// restarting server, "too large resource version"), done by gRPC from the channel's service
// config with exponential backoff. Watches are not retried this way: their owner re-watches
// (see WatchResult). max_attempts <= 1 disables retries; gRPC caps it at 5.
struct RetryPolicy {
  int max_attempts = 5;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(10);
  double backoff_multiplier = 2.0;
};

struct Config {
  // unix:///abs/path, unix:/abs/path, unix:rel/path, unix-abstract:name, or an absolute path
  // (taken as unix://<path>).
  std::string target = std::string(kDefaultTarget);
  // Sent as the gRPC user agent prefix.
  std::string user_agent;  // empty: DefaultUserAgent()
  // Deadline of unary calls whose options leave call_timeout at zero. InfiniteDuration: none.
  absl::Duration timeout = absl::Seconds(30);
  // HTTP/2 keepalive pings while calls are in flight (the server permits one per 10 s).
  absl::Duration keepalive_time = absl::Seconds(50);
  absl::Duration keepalive_timeout = absl::Seconds(10);
  bool keepalive_without_calls = false;
  // Calls wait for the socket to come up (until their deadline) instead of failing at once.
  bool wait_for_ready = true;
  RetryPolicy retry;
  int max_receive_message_bytes = 16 * 1024 * 1024;
  int max_send_message_bytes = 4 * 1024 * 1024;

  // The defaults above; reads no environment.
  static Config Default() { return Config{}; }

  // Reads one environment variable; returns nullptr when unset. Tests inject their own.
  using EnvLookup = std::function<const char*(const char*)>;
  // Default() with the target taken from the environment: NVIDIA_DEVICE_API_TARGET if set and
  // non-empty, else NVIDIA_DEVICE_API_SOCK, else kDefaultTarget. A value set explicitly later
  // (e.g. from a --server flag) wins over both. Not thread-safe with setenv() (reads environ).
  static Config FromEnvironment();
  static Config FromEnvironment(const EnvLookup& lookup);

  // OK when the target is a local socket target (see NormalizeTarget) and the numbers are sane.
  absl::Status Validate() const;
};

// The canonical gRPC target for `target`: "unix:<path>" / "unix:///<path>" kept as is, an absolute
// path becomes "unix://<path>", "unix-abstract:<name>" kept. INVALID_ARGUMENT for anything that is
// not a local Unix socket, naming the target and saying why.
absl::StatusOr<std::string> NormalizeTarget(std::string_view target);

}  // namespace deviceapi

#endif  // DEVICEAPI_CONFIG_H_
