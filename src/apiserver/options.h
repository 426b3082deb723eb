// Command-line and environment configuration of device-api-server.
//
// Every flag --foo-bar can also be set through the environment variable named by
// EnvVarName("foo-bar") (DEVICE_API_SERVER_FOO_BAR); a flag given on the command line wins over
// the environment. Durations use Go syntax ("25s", "1m30s", "500ms", "0").
#ifndef DEVICEAPI_APISERVER_OPTIONS_H_
#define DEVICEAPI_APISERVER_OPTIONS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/host_port.h"

namespace deviceapi::apiserver {

// Prefix of every environment variable that sets a flag.
inline constexpr std::string_view kEnvVarPrefix = "DEVICE_API_SERVER_";

// Server configuration, typed. The *_address / *_endpoint strings keep the flag text as given
// (for logs); the server reads the derived fields next to them (socket_path, health_host/port,
// metrics_host/port, datastore_scheme). Tests that build a server in-process start from
// DefaultServerOptions() and set the derived fields directly (port 0 = pick a free port).
struct ServerOptions {
  // --bind-address: "unix://" + absolute path of the API socket.
  std::string bind_address = "unix:///var/run/nvidia-device-api/device-api.sock";
  std::string socket_path = "/var/run/nvidia-device-api/device-api.sock";  // derived

  // --read-only-bind-address: optional second socket serving GpuService
  // read-only (writes are PERMISSION_DENIED), for consumers that must never
  // write. Empty: none.
  std::string read_only_bind_address;
  std::string read_only_socket_path;  // derived

  // --health-probe-bind-address: gRPC health + reflection, TCP host:port.
  std::string health_probe_bind_address = ":50051";
  std::string health_host;  // derived: "" (all interfaces), "localhost" or an IP literal
  int health_port = 50051;  // derived: 0..65535, 0 = any free port

  // --metrics-bind-address: HTTP /metrics, /healthz, /readyz, /livez, /version.
  std::string metrics_bind_address = ":9090";
  std::string metrics_host;  // derived, as health_host
  int metrics_port = 9090;   // derived, as health_port

  absl::Duration shutdown_grace_period = absl::Seconds(25);  // --shutdown-grace-period, 0..10m
  absl::Duration shutdown_delay = absl::ZeroDuration();      // --shutdown-delay, 0..10m

  // --hostname-override; when empty, gethostname(), else $NODE_NAME. Always lower-cased and a
  // DNS-1123 subdomain after parsing.
  std::string hostname;

  std::string datastore_endpoint = "memory://";  // --datastore-endpoint
  std::string datastore_scheme = "memory";       // derived: "memory", "sqlite", "etcd"

  int max_recv_msg_size = 4 * 1024 * 1024;   // --max-recv-msg-size, 1 KiB..16 MiB
  int max_send_msg_size = 16 * 1024 * 1024;  // --max-send-msg-size, 1 KiB..2 GiB-1
  int max_streams_per_connection = 100;      // --max-streams-per-connection, 1..10000
  uint32_t socket_mode = 0660;               // --socket-mode, octal text, <= 0777

  int64_t watch_history_size = 10000;                          // --watch-history-size, >= 1
  absl::Duration watch_history_age = absl::Minutes(10);        // --watch-history-age, > 0
  int64_t watch_queue_size = 1000;                             // --watch-queue-size, >= 1
  absl::Duration watch_bookmark_interval = absl::Seconds(10);  // --watch-bookmark-interval, > 0
  // --condition-heartbeat-timeout: a condition whose lastHeartbeatTime is older than this is
  // marked Unknown (reason ProviderHeartbeatTimeout). 0 disables.
  absl::Duration condition_heartbeat_timeout = absl::Seconds(40);

  int64_t max_objects = 4096;  // --max-objects, >= 1
  int max_conditions = 64;     // --max-conditions, >= 1

  // Who may write (see authorization.h). Reads are open to anyone who can open a socket.
  // --writer-uids: peers whose uid is listed may write. nullopt: root and the server's own euid;
  // "none": no uid (only --writer-gids).
  std::optional<std::vector<uint32_t>> writer_uids;
  // --writer-gids: peers whose gid or a supplementary gid is listed may write.
  std::vector<uint32_t> writer_gids;
  // --provider-uids (ID=UID[:UID...],...) and --provider-conditions (ID=TYPE[:TYPE...],...):
  // the condition types each provider owns and the uids it writes as. Every provider named in one
  // must be named in the other; a type has at most one owner.
  std::map<std::string, std::vector<uint32_t>> provider_uids;
  std::map<std::string, std::vector<std::string>> provider_conditions;
  // --operator-uids: may add, change and remove every provider's conditions.
  std::vector<uint32_t> operator_uids = {0};

  // --audit-log: every write attempt as a JSON line (audit_log.h); empty: off.
  std::string audit_log_path;
  int64_t audit_log_max_size = 10 * 1024 * 1024;  // --audit-log-max-size, bytes, >= 4096
  int audit_log_max_backups = 3;                  // --audit-log-max-backups, 0..100

  // --rv-mark-file (memory:// only): the resource-version high-water mark file that keeps
  // memory:// RVs growing across restarts when the wall clock goes back (storage/rv_mark.h). Flag
  // text: "" = beside the API socket (storage::DefaultRvMarkPath), "none" = no file.
  std::string rv_mark_file;
  std::string rv_mark_path;  // derived: the file; "" for none and for sqlite:// and etcd://

  int verbosity = 0;                // -v / --v, >= 0
  std::string log_format = "text";  // --log-format: "text" or "json"
};

// What main() should do after parsing.
struct ParseResult {
  enum Action { kRun, kExit };
  Action action = kRun;
  int exit_code = 0;      // meaningful for kExit
  ServerOptions options;  // parsed and validated; meaningful for kRun
};

// The defaults above with `hostname` resolved (gethostname(), else $NODE_NAME, else "localhost"),
// lower-cased. Reads no DEVICE_API_SERVER_* variable.
ServerOptions DefaultServerOptions();

// Parses argv (argv[0] is the program name) plus DEVICE_API_SERVER_* environment variables,
// derives the typed fields and validates them with ValidateServerOptions().
// --help / -h writes the usage to `out` and --version writes VersionJson() plus a newline to
// `out`; both return {kExit, 0}. Also accepts klog's "-v=N" spelling.
// Errors are INVALID_ARGUMENT, one line per problem, naming the flag, e.g.
//   --shutdown-grace-period "abc": time: invalid duration "abc"
// Not thread-safe (reads the environment and the host name).
absl::StatusOr<ParseResult> ParseServerOptions(int argc, char** argv, std::ostream& out);

// Checks ranges and consistency of the typed/derived fields (the *_address and datastore
// strings are checked by re-parsing them only where no derived field exists: datastore, with
// storage::ParseDatastoreEndpoint, the parser OpenStore uses).
// Returns INVALID_ARGUMENT listing every problem, one per line, e.g.
//   --watch-queue-size must be >= 1, got 0
//   unsupported datastore endpoint "redis://x": want memory://, sqlite:///ABSOLUTE/PATH or etcd://...
//   --health-probe-bind-address and --metrics-bind-address must use different ports, both use 9090
absl::Status ValidateServerOptions(const ServerOptions& options);

// The environment variable that sets flag `flag`: kEnvVarPrefix + the flag name without leading
// dashes, upper-cased, '-' replaced by '_'. "bind-address" -> "DEVICE_API_SERVER_BIND_ADDRESS",
// "--v" -> "DEVICE_API_SERVER_V".
std::string EnvVarName(std::string_view flag);

using common::ParseHostPort;  // common/host_port.h

// Parses "unix://<absolute path>" into the path. INVALID_ARGUMENT unless the path is absolute,
// has no trailing '/', and fits in sockaddr_un (at most 107 bytes).
absl::StatusOr<std::string> ParseUnixBindAddress(std::string_view address);

// Parses a list of numeric ids: "0,65534" (also space-separated; empty items are skipped);
// "none" is the empty list.
absl::StatusOr<std::vector<uint32_t>> ParseIdList(std::string_view text);

// Parses "ID=V[:V...][,ID=V...]" into a map; an ID given twice gets the union of its values.
absl::StatusOr<std::map<std::string, std::vector<std::string>>> ParseProviderMap(std::string_view text);

// Parses an octal file mode ("0660", "660", "0o660"), at most 0777.
absl::StatusOr<uint32_t> ParseSocketMode(std::string_view text);

}  // namespace deviceapi::apiserver

#endif  // DEVICEAPI_APISERVER_OPTIONS_H_
