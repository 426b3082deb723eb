#include "deviceapi/config.h"

#include <cstdlib>
#include <string>

namespace deviceapi {
namespace {

absl::Status NotLocal(std::string_view target, std::string_view why) {
  std::string msg = "deviceapi: target \"" + std::string(target) + "\" " + std::string(why) +
                    ": only local Unix socket targets (unix:///path, unix:path, unix-abstract:name, or an "
                    "absolute path) with insecure credentials are supported";
  return absl::InvalidArgumentError(msg);
}

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace

absl::StatusOr<std::string> NormalizeTarget(std::string_view target) {
  if (target.empty()) return NotLocal(target, "is empty");
  if (target.find_first_of(std::string_view("\0\n", 2)) != std::string_view::npos) {
    return NotLocal(target, "contains control characters");
  }
  if (target.front() == '/') return "unix://" + std::string(target);
  if (StartsWith(target, "unix-abstract:")) {
    if (target.size() == std::string_view("unix-abstract:").size())
      return NotLocal(target, "has no socket name");
    return std::string(target);
  }
  if (StartsWith(target, "unix://")) {
    std::string_view path = target.substr(7);
    if (path.empty()) return NotLocal(target, "has no socket path");
    if (path.front() != '/')
      return NotLocal(target, "names a host (unix:// needs an absolute path, unix:///path)");
    return std::string(target);
  }
  if (StartsWith(target, "unix:")) {
    if (target.size() == 5) return NotLocal(target, "has no socket path");
    return std::string(target);
  }
  return NotLocal(target, "is not a local socket");
}

Config Config::FromEnvironment() {
  // glibc's getenv is safe against other readers; only a concurrent setenv (which this library
  // never calls) could race it.
  return FromEnvironment([](const char* name) -> const char* {
    return std::getenv(name);  // NOLINT(concurrency-mt-unsafe): see above
  });
}

Config Config::FromEnvironment(const EnvLookup& lookup) {
  Config c;
  auto get = [&](std::string_view name) -> std::string {
    const char* v = lookup(std::string(name).c_str());
    return v == nullptr ? std::string() : std::string(v);
  };
  if (std::string t = get(kTargetEnvVar); !t.empty()) {
    c.target = t;
  } else if (std::string s = get(kSockEnvVar); !s.empty()) {
    c.target = s;
  }
  return c;
}

absl::Status Config::Validate() const {
  if (auto t = NormalizeTarget(target); !t.ok()) return t.status();
  if (timeout <= absl::ZeroDuration()) return absl::InvalidArgumentError("deviceapi: timeout must be > 0");
  if (keepalive_time <= absl::ZeroDuration() || keepalive_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("deviceapi: keepalive_time and keepalive_timeout must be > 0");
  }
  if (retry.max_attempts > 1 &&
      (retry.initial_backoff <= absl::ZeroDuration() || retry.max_backoff < retry.initial_backoff ||
       retry.backoff_multiplier < 1.0)) {
    return absl::InvalidArgumentError(
        "deviceapi: retry needs initial_backoff > 0, max_backoff >= initial_backoff and backoff_multiplier "
        ">= 1");
  }
  if (max_receive_message_bytes <= 0 || max_send_message_bytes <= 0) {
    return absl::InvalidArgumentError("deviceapi: message size limits must be > 0");
  }
  return absl::OkStatus();
}

}  // namespace deviceapi
