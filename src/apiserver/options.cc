#include "apiserver/options.h"
#include "common/command_line.h"
#include "common/strings.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/duration.h"
#include "common/version.h"
#include "fmt/format.h"
#include "storage/open_store.h"
#include "storage/rv_mark.h"

namespace deviceapi::apiserver {
namespace {

using ::deviceapi::common::Cat;

using common::FormatGoDuration;
using common::ParseGoDuration;

constexpr int kMinMsgSize = 1024;
constexpr int kMaxRecvMsgSize = 16 * 1024 * 1024;
constexpr size_t kMaxUnixPathLen = 107;  // sizeof(sockaddr_un::sun_path) - 1
constexpr size_t kMaxSubdomainLen = 253;

// pflag's wording, so operators recognise it.
std::string InvalidFlag(std::string_view flag, std::string_view value, std::string_view why) {
  return Cat("invalid argument \"", value, "\" for \"--", flag, "\" flag: ", why);
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// One problem per line.
std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) {
    if (!out.empty()) out += '\n';
    out += line;
  }
  return out;
}

bool IsDns1123Label(std::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(label.front()) || !alnum(label.back())) return false;
  for (char c : label) {
    if (!alnum(c) && c != '-') return false;
  }
  return true;
}

bool IsDns1123Subdomain(std::string_view name) {
  if (name.empty() || name.size() > kMaxSubdomainLen) return false;
  while (true) {
    size_t dot = name.find('.');
    if (!IsDns1123Label(name.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    name.remove_prefix(dot + 1);
  }
}

std::string DefaultHostname() {
  char buf[256] = {};
  std::string name;
  if (gethostname(buf, sizeof(buf) - 1) == 0) name = buf;
  if (name.empty()) {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): read once while parsing flags; nothing calls setenv
    const char* node = std::getenv("NODE_NAME");
    if (node != nullptr) name = node;
  }
  if (name.empty()) name = "localhost";
  return ToLower(name);
}

void CheckRange(std::vector<std::string>& errors, std::string_view flag, int64_t value, int64_t min,
                int64_t max) {
  if (value < min || value > max) {
    errors.push_back(Cat("--", flag, " must be between ", min, " and ", max, ", got ", value));
  }
}

void CheckAtLeast(std::vector<std::string>& errors, std::string_view flag, int64_t value, int64_t min) {
  if (value < min) errors.push_back(Cat("--", flag, " must be >= ", min, ", got ", value));
}

void CheckDurationRange(std::vector<std::string>& errors, std::string_view flag, absl::Duration d,
                        absl::Duration min, absl::Duration max) {
  if (d < min || d > max) {
    errors.push_back(Cat("--", flag, " must be between ", FormatGoDuration(min), " and ",
                         FormatGoDuration(max), ", got ", FormatGoDuration(d)));
  }
}

void CheckPositiveDuration(std::vector<std::string>& errors, std::string_view flag, absl::Duration d) {
  if (d <= absl::ZeroDuration()) {
    errors.push_back(Cat("--", flag, " must be > 0, got ", FormatGoDuration(d)));
  }
}

// Flag text that needs converting after CLI11 has parsed it.
struct RawFlags {
  bool version = false;
  std::string shutdown_grace_period;
  std::string shutdown_delay;
  std::string hostname_override;
  std::string socket_mode;
  std::string watch_history_age;
  std::string watch_bookmark_interval;
  std::string condition_heartbeat_timeout;
  // The authorization flags: every occurrence, joined with ',' after parsing.
  std::vector<std::string> writer_uids;
  std::vector<std::string> writer_gids;
  std::vector<std::string> provider_uids;
  std::vector<std::string> provider_conditions;
  std::vector<std::string> operator_uids;
};

std::string JoinCommas(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out += ',';
    out += p;
  }
  return out;
}

// Splits on any of `seps`, trimming blanks and skipping empty items.
std::vector<std::string_view> SplitItems(std::string_view text, std::string_view seps) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const size_t end = text.find_first_of(seps);
    std::string_view item = text.substr(0, end);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) item.remove_prefix(1);
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back()))) item.remove_suffix(1);
    if (!item.empty()) out.push_back(item);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return out;
}

// A provider id or condition type: no separator characters, no blanks.
bool IsPlainName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c == '=' || c == ':' || c == ',' || std::isspace(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

std::string EnvVarName(std::string_view flag) {
  while (!flag.empty() && flag.front() == '-') flag.remove_prefix(1);
  std::string name(kEnvVarPrefix);
  for (char c : flag) {
    name.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return name;
}

absl::StatusOr<std::string> ParseUnixBindAddress(std::string_view address) {
  constexpr std::string_view kScheme = "unix://";
  if (!address.starts_with(kScheme)) {
    return absl::InvalidArgumentError(Cat("bind address \"", address, "\" must start with unix://"));
  }
  std::string_view path = address.substr(kScheme.size());
  if (path.empty() || path.front() != '/') {
    return absl::InvalidArgumentError(
        Cat("bind address \"", address, "\" must be unix:// followed by an absolute path"));
  }
  if (path.size() > 1 && path.back() == '/') {
    return absl::InvalidArgumentError(Cat("bind address \"", address, "\" must not end with '/'"));
  }
  if (path == "/") {
    return absl::InvalidArgumentError(Cat("bind address \"", address, "\" must name a socket file, not /"));
  }
  if (path.size() > kMaxUnixPathLen) {
    return absl::InvalidArgumentError(Cat("bind address \"", address, "\": socket path is ", path.size(),
                                          " bytes, at most ", kMaxUnixPathLen, " allowed"));
  }
  return std::string(path);
}

absl::StatusOr<uint32_t> ParseSocketMode(std::string_view text) {
  std::string_view digits = text;
  if (digits.starts_with("0o") || digits.starts_with("0O")) digits.remove_prefix(2);
  if (digits.empty() || digits.size() > 4) {
    return absl::InvalidArgumentError(Cat("socket mode \"", text, "\" must be an octal number such as 0660"));
  }
  uint32_t mode = 0;
  for (char c : digits) {
    if (c < '0' || c > '7') {
      return absl::InvalidArgumentError(
          Cat("socket mode \"", text, "\" must be an octal number such as 0660"));
    }
    mode = mode * 8 + static_cast<uint32_t>(c - '0');
  }
  if (mode > 0777) {
    return absl::InvalidArgumentError(Cat("socket mode \"", text, "\" must be at most 0777"));
  }
  return mode;
}

absl::StatusOr<std::vector<uint32_t>> ParseIdList(std::string_view text) {
  std::vector<uint32_t> ids;
  if (SplitItems(text, ", \t") == std::vector<std::string_view>{"none"}) return ids;
  for (std::string_view item : SplitItems(text, ", \t")) {
    uint32_t id = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
    // (uid_t)-1 means "no change" to the kernel and is never a process's id.
    if (ec != std::errc() || end != item.data() + item.size() || id == UINT32_MAX) {
      return absl::InvalidArgumentError(
          Cat("\"", item, "\" is not a numeric id (0..4294967294; names are not looked up)"));
    }
    ids.push_back(id);
  }
  return ids;
}

absl::StatusOr<std::map<std::string, std::vector<std::string>>> ParseProviderMap(std::string_view text) {
  std::map<std::string, std::vector<std::string>> out;
  for (std::string_view item : SplitItems(text, ", \t")) {
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return absl::InvalidArgumentError(Cat("\"", item, "\" must be PROVIDER=VALUE[:VALUE...]"));
    }
    const std::string_view id = item.substr(0, eq);
    if (!IsPlainName(id)) {
      return absl::InvalidArgumentError(
          Cat("\"", item, "\": the provider id must be non-empty, without '=', ':' or ','"));
    }
    std::vector<std::string>& values = out[std::string(id)];
    const std::vector<std::string_view> parts = SplitItems(item.substr(eq + 1), ":");
    if (parts.empty()) return absl::InvalidArgumentError(Cat("\"", item, "\": no value after '='"));
    for (std::string_view v : parts) {
      if (!IsPlainName(v))
        return absl::InvalidArgumentError(Cat("\"", item, "\": \"", v, "\" is not a valid value"));
      if (std::find(values.begin(), values.end(), v) == values.end()) values.emplace_back(v);
    }
  }
  return out;
}

ServerOptions DefaultServerOptions() {
  ServerOptions options;
  options.hostname = DefaultHostname();
  return options;
}

absl::Status ValidateServerOptions(const ServerOptions& o) {
  std::vector<std::string> errors;

  if (o.socket_path.empty() || o.socket_path.front() != '/') {
    errors.push_back(Cat("socket path \"", o.socket_path, "\" must be absolute"));
  } else if (o.socket_path.size() > 1 && o.socket_path.back() == '/') {
    errors.push_back(Cat("socket path \"", o.socket_path, "\" must not end with '/'"));
  } else if (o.socket_path.size() > kMaxUnixPathLen) {
    errors.push_back(Cat("socket path \"", o.socket_path, "\" is longer than ", kMaxUnixPathLen, " bytes"));
  }
  CheckRange(errors, "health-probe-bind-address port", o.health_port, 0, 65535);
  CheckRange(errors, "metrics-bind-address port", o.metrics_port, 0, 65535);
  if (!o.read_only_socket_path.empty() && o.read_only_socket_path == o.socket_path) {
    errors.push_back(
        Cat("--read-only-bind-address must differ from --bind-address, both are ", o.socket_path));
  }
  if (o.health_port != 0 && o.health_port == o.metrics_port) {
    errors.push_back(
        Cat("--health-probe-bind-address and --metrics-bind-address must use different ports, both "
            "use ",
            o.health_port));
  }

  CheckDurationRange(errors, "shutdown-grace-period", o.shutdown_grace_period, absl::ZeroDuration(),
                     absl::Minutes(10));
  CheckDurationRange(errors, "shutdown-delay", o.shutdown_delay, absl::ZeroDuration(), absl::Minutes(10));

  if (!IsDns1123Subdomain(o.hostname)) {
    errors.push_back(Cat("hostname \"", o.hostname,
                         "\" (--hostname-override) must be a lower-case DNS-1123 subdomain: at most 253 "
                         "characters of a-z, 0-9, '-' and '.', starting and ending with an alphanumeric"));
  }

  // One parser for the flag and for opening the store (storage/open_store.h).
  if (auto endpoint = storage::ParseDatastoreEndpoint(o.datastore_endpoint); !endpoint.ok()) {
    errors.emplace_back(endpoint.status().message());
  }

  CheckRange(errors, "max-recv-msg-size", o.max_recv_msg_size, kMinMsgSize, kMaxRecvMsgSize);
  CheckAtLeast(errors, "max-send-msg-size", o.max_send_msg_size, kMinMsgSize);
  CheckRange(errors, "max-streams-per-connection", o.max_streams_per_connection, 1, 10000);
  if (o.socket_mode > 0777) {
    char octal[16];
    std::snprintf(octal, sizeof(octal), "%04o", o.socket_mode);
    errors.push_back(Cat("--socket-mode must be at most 0777, got ", octal));
  }
  CheckAtLeast(errors, "watch-history-size", o.watch_history_size, 1);
  CheckPositiveDuration(errors, "watch-history-age", o.watch_history_age);
  CheckAtLeast(errors, "watch-queue-size", o.watch_queue_size, 1);
  CheckPositiveDuration(errors, "watch-bookmark-interval", o.watch_bookmark_interval);
  CheckDurationRange(errors, "condition-heartbeat-timeout", o.condition_heartbeat_timeout,
                     absl::ZeroDuration(), absl::Hours(24));
  CheckAtLeast(errors, "max-objects", o.max_objects, 1);
  CheckAtLeast(errors, "max-conditions", o.max_conditions, 1);
  CheckAtLeast(errors, "audit-log-max-size", o.audit_log_max_size, 4096);
  if (o.audit_log_max_backups < 0 || o.audit_log_max_backups > 100) {
    errors.push_back(Cat("--audit-log-max-backups must be in 0..100, got ", o.audit_log_max_backups));
  }
  if (!o.audit_log_path.empty() && o.audit_log_path.front() != '/') {
    errors.push_back(Cat("--audit-log must be an absolute path, got \"", o.audit_log_path, "\""));
  }
  for (const auto& [provider, uids] : o.provider_uids) {
    if (!o.provider_conditions.contains(provider)) {
      errors.push_back(Cat("--provider-uids names provider \"", provider,
                           "\" but --provider-conditions does not: give every provider both its uids and its "
                           "condition types"));
    }
    if (uids.empty()) errors.push_back(Cat("--provider-uids gives provider \"", provider, "\" no uid"));
  }
  {
    std::map<std::string, std::string> owner;  // type -> provider
    for (const auto& [provider, types] : o.provider_conditions) {
      if (!o.provider_uids.contains(provider)) {
        errors.push_back(Cat("--provider-conditions names provider \"", provider,
                             "\" but --provider-uids does not: give every provider both its uids and its "
                             "condition types"));
      }
      if (types.empty()) {
        errors.push_back(Cat("--provider-conditions gives provider \"", provider, "\" no condition type"));
      }
      for (const std::string& type : types) {
        auto [it, inserted] = owner.emplace(type, provider);
        if (!inserted && it->second != provider) {
          errors.push_back(Cat("--provider-conditions: condition type \"", type, "\" is claimed by both \"",
                               it->second, "\" and \"", provider, "\"; a type has one owner"));
        }
      }
    }
  }
  CheckAtLeast(errors, "v", o.verbosity, 0);
  if (o.log_format != "text" && o.log_format != "json") {
    errors.push_back(Cat("--log-format must be \"text\" or \"json\", got \"", o.log_format, "\""));
  }

  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(Join(errors));
}

absl::StatusOr<ParseResult> ParseServerOptions(int argc, char** argv, std::ostream& out) {
  ParseResult result;
  ServerOptions& o = result.options;
  const ServerOptions defaults;
  RawFlags raw;
  raw.shutdown_grace_period = FormatGoDuration(defaults.shutdown_grace_period);
  raw.shutdown_delay = FormatGoDuration(defaults.shutdown_delay);
  raw.socket_mode = "0660";
  raw.watch_history_age = FormatGoDuration(defaults.watch_history_age);
  raw.watch_bookmark_interval = FormatGoDuration(defaults.watch_bookmark_interval);
  raw.condition_heartbeat_timeout = FormatGoDuration(defaults.condition_heartbeat_timeout);

  std::string program = argc > 0 ? argv[0] : "device-api-server";
  if (size_t slash = program.rfind('/'); slash != std::string::npos) program.erase(0, slash + 1);
  CLI::App app{"Node-local Kubernetes-style Device API server for GPUs over gRPC.", program};
  app.option_defaults()->always_capture_default();
  app.get_formatter()->column_width(44);

  auto add = [&](std::string_view name, auto& target, std::string_view help) {
    return app.add_option(Cat("--", name), target, std::string(help))->envname(EnvVarName(name));
  };
  add("bind-address", o.bind_address, "gRPC API socket: unix:// followed by an absolute path");
  add("read-only-bind-address", o.read_only_bind_address,
      "optional second socket (unix:// + absolute path) serving the API read-only: writes are "
      "PERMISSION_DENIED");
  add("health-probe-bind-address", o.health_probe_bind_address, "host:port for gRPC health and reflection");
  add("metrics-bind-address", o.metrics_bind_address,
      "host:port for HTTP /metrics, /healthz, /readyz, /livez and /version");
  add("shutdown-grace-period", raw.shutdown_grace_period,
      "time to let in-flight RPCs finish on shutdown (0..10m)");
  add("shutdown-delay", raw.shutdown_delay, "time to report not-ready before shutting down (0..10m)");
  add("hostname-override", raw.hostname_override,
      "node name to use instead of the host name (default: gethostname(), else $NODE_NAME)");
  add("datastore-endpoint", o.datastore_endpoint,
      "storage backend: memory://, sqlite:///abs/path/state.db or "
      "etcd://HOST:PORT[,HOST:PORT][?prefix=/device-api/]");
  add("max-recv-msg-size", o.max_recv_msg_size, "largest request message in bytes (1 KiB..16 MiB)");
  add("max-send-msg-size", o.max_send_msg_size, "largest response message in bytes");
  add("max-streams-per-connection", o.max_streams_per_connection,
      "concurrent HTTP/2 streams per connection (1..10000)");
  add("socket-mode", raw.socket_mode, "file mode of the API socket, octal");
  add("watch-history-size", o.watch_history_size, "events kept for watch resumption (>= 1)");
  add("watch-history-age", raw.watch_history_age, "age of the oldest event kept (> 0)");
  add("watch-queue-size", o.watch_queue_size, "events queued per watcher before eviction (>= 1)");
  add("watch-bookmark-interval", raw.watch_bookmark_interval, "interval of BOOKMARK events (> 0)");
  add("condition-heartbeat-timeout", raw.condition_heartbeat_timeout,
      "mark a condition Unknown when its lastHeartbeatTime is older than this (0 disables)");
  add("max-objects", o.max_objects, "maximum number of stored objects (>= 1)");
  add("max-conditions", o.max_conditions, "maximum conditions per object (>= 1)");
  // The authorization flags take lists: comma-separated, and the flag may be repeated.
  auto add_list = [&](std::string_view name, std::vector<std::string>& target, std::string_view help,
                      std::string_view default_text) {
    // One value per occurrence (a vector option would otherwise take the following arguments).
    return add(name, target, help)->allow_extra_args(false)->default_str(std::string(default_text));
  };
  CLI::Option* writer_uids_flag = add_list("writer-uids", raw.writer_uids,
                                           "uids that may write (create, update, patch, delete); numeric, "
                                           "comma-separated; \"none\": no uid. Reads are "
                                           "open to anyone who can open a socket",
                                           "0 and the server's own uid");
  add_list("writer-gids", raw.writer_gids,
           "gids that may write: a peer whose gid or supplementary gid is listed; giving the socket's group "
           "lets everyone who can open the socket write",
           "none");
  add_list("provider-uids", raw.provider_uids,
           "the uids each provider writes as: ID=UID[:UID...][,ID=...], e.g. nvml-provider=0", "none");
  add_list(
      "provider-conditions", raw.provider_conditions,
      "the condition types each provider owns: ID=TYPE[:TYPE...][,ID=...], e.g. nvml-provider=NVMLReady; "
      "only the provider's uids and --operator-uids may set, change or clear them",
      "none");
  add_list("operator-uids", raw.operator_uids,
           "uids that may set, change and clear every provider's conditions (they must be writers too)", "0");
  add("audit-log", o.audit_log_path,
      "append every write attempt (peer uid/gid/pid, verb, object, resourceVersion, result) to this file "
      "as JSON lines; empty: no audit log");
  add("audit-log-max-size", o.audit_log_max_size,
      "rotate the audit log before it passes this many bytes (>= 4096)");
  add("audit-log-max-backups", o.audit_log_max_backups,
      "rotated audit logs kept as <file>.1 .. <file>.N (0..100; 0: the file is truncated instead)");
  add("rv-mark-file", o.rv_mark_file,
      "memory:// only: file that keeps the highest resource version handed out, so resource versions never "
      "go back across a restart even if the clock does; empty: beside the API socket (<socket>.rv); none: "
      "off");
  app.add_option("-v,--v", o.verbosity, "log verbosity (klog -v)")->envname(EnvVarName("v"));
  add("log-format", o.log_format, "log format: text or json");
  app.add_flag("--version", raw.version, "print version information as JSON and exit");

  absl::StatusOr<bool> help = common::ParseCommandLine(app, argc, argv, "device-api-server", out);
  if (!help.ok()) return help.status();
  if (*help) {
    result.action = ParseResult::kExit;
    return result;
  }
  if (raw.version) {
    out << common::VersionJson() << "\n";
    result.action = ParseResult::kExit;
    return result;
  }

  std::vector<std::string> errors;
  auto duration = [&](std::string_view flag, const std::string& text, absl::Duration& target) {
    absl::StatusOr<absl::Duration> d = ParseGoDuration(text);
    if (d.ok()) {
      target = *d;
    } else {
      errors.push_back(InvalidFlag(flag, text, std::string(d.status().message())));
    }
  };
  duration("shutdown-grace-period", raw.shutdown_grace_period, o.shutdown_grace_period);
  duration("shutdown-delay", raw.shutdown_delay, o.shutdown_delay);
  duration("watch-history-age", raw.watch_history_age, o.watch_history_age);
  duration("watch-bookmark-interval", raw.watch_bookmark_interval, o.watch_bookmark_interval);
  duration("condition-heartbeat-timeout", raw.condition_heartbeat_timeout, o.condition_heartbeat_timeout);

  if (absl::StatusOr<std::string> path = ParseUnixBindAddress(o.bind_address); path.ok()) {
    o.socket_path = *path;
  } else {
    errors.push_back(InvalidFlag("bind-address", o.bind_address, std::string(path.status().message())));
  }
  if (!o.read_only_bind_address.empty()) {
    if (absl::StatusOr<std::string> path = ParseUnixBindAddress(o.read_only_bind_address); path.ok()) {
      o.read_only_socket_path = *path;
    } else {
      errors.push_back(InvalidFlag("read-only-bind-address", o.read_only_bind_address,
                                   std::string(path.status().message())));
    }
  }
  if (auto hp = ParseHostPort(o.health_probe_bind_address); hp.ok()) {
    std::tie(o.health_host, o.health_port) = *hp;
  } else {
    errors.push_back(InvalidFlag("health-probe-bind-address", o.health_probe_bind_address,
                                 std::string(hp.status().message())));
  }
  if (auto hp = ParseHostPort(o.metrics_bind_address); hp.ok()) {
    std::tie(o.metrics_host, o.metrics_port) = *hp;
  } else {
    errors.push_back(
        InvalidFlag("metrics-bind-address", o.metrics_bind_address, std::string(hp.status().message())));
  }
  if (auto mode = ParseSocketMode(raw.socket_mode); mode.ok()) {
    o.socket_mode = *mode;
  } else {
    errors.push_back(InvalidFlag("socket-mode", raw.socket_mode, std::string(mode.status().message())));
  }
  auto ids = [&](std::string_view flag, const std::vector<std::string>& text, std::vector<uint32_t>& target) {
    const std::string joined = JoinCommas(text);
    if (absl::StatusOr<std::vector<uint32_t>> parsed = ParseIdList(joined); parsed.ok()) {
      target = *std::move(parsed);
    } else {
      errors.push_back(InvalidFlag(flag, joined, std::string(parsed.status().message())));
    }
  };
  if (writer_uids_flag->count() > 0) {
    o.writer_uids.emplace();
    ids("writer-uids", raw.writer_uids, *o.writer_uids);
  }
  ids("writer-gids", raw.writer_gids, o.writer_gids);
  if (!raw.operator_uids.empty()) ids("operator-uids", raw.operator_uids, o.operator_uids);
  if (auto m = ParseProviderMap(JoinCommas(raw.provider_uids)); m.ok()) {
    for (const auto& [provider, values] : *m) {
      std::vector<uint32_t>& uids = o.provider_uids[provider];
      for (const std::string& v : values) {
        if (auto one = ParseIdList(v); one.ok()) {
          uids.insert(uids.end(), one->begin(), one->end());
        } else {
          errors.push_back(
              InvalidFlag("provider-uids", JoinCommas(raw.provider_uids),
                          Cat("provider \"", provider, "\": ", std::string(one.status().message()))));
        }
      }
    }
  } else {
    errors.push_back(
        InvalidFlag("provider-uids", JoinCommas(raw.provider_uids), std::string(m.status().message())));
  }
  if (auto m = ParseProviderMap(JoinCommas(raw.provider_conditions)); m.ok()) {
    o.provider_conditions = *std::move(m);
  } else {
    errors.push_back(InvalidFlag("provider-conditions", JoinCommas(raw.provider_conditions),
                                 std::string(m.status().message())));
  }
  o.hostname = raw.hostname_override.empty() ? DefaultHostname() : ToLower(raw.hostname_override);
  {
    std::string_view endpoint = o.datastore_endpoint;
    size_t sep = endpoint.find("://");
    o.datastore_scheme = sep == std::string_view::npos ? "" : std::string(endpoint.substr(0, sep));
  }
  if (o.datastore_scheme != "memory") {
    if (!o.rv_mark_file.empty() && o.rv_mark_file != "none") {
      errors.push_back(Cat("--rv-mark-file \"", o.rv_mark_file, "\": only memory:// uses it (",
                           o.datastore_scheme,
                           ":// keeps its resource versions in the datastore); leave it unset"));
    }
  } else if (o.rv_mark_file == "none") {
    o.rv_mark_path.clear();
  } else if (o.rv_mark_file.empty()) {
    if (!o.socket_path.empty()) o.rv_mark_path = storage::DefaultRvMarkPath(o.socket_path);
  } else if (o.rv_mark_file.front() != '/') {
    errors.push_back(Cat("--rv-mark-file must be an absolute path or none, got \"", o.rv_mark_file, "\""));
  } else {
    o.rv_mark_path = o.rv_mark_file;
  }
  // Report conversion and range problems together; a field that failed to convert still holds
  // its (valid) default, so it adds no second line.
  if (absl::Status s = ValidateServerOptions(o); !s.ok()) errors.emplace_back(s.message());
  if (!errors.empty()) return absl::InvalidArgumentError(Join(errors));
  return result;
}

}  // namespace deviceapi::apiserver
