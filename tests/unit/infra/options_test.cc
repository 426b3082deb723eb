#include "apiserver/options.h"

#include <cstdlib>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "storage/open_store.h"

namespace deviceapi::apiserver {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Runs ParseServerOptions on "device-api-server <args...>" with a fixed hostname unless given.
absl::StatusOr<ParseResult> Parse(std::vector<std::string> args, std::ostream* out = nullptr) {
  std::vector<std::string> all = {"device-api-server"};
  bool has_hostname = false;
  for (const std::string& a : args) has_hostname |= a.rfind("--hostname-override", 0) == 0;
  if (!has_hostname) all.push_back("--hostname-override=node-1");
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::ostringstream sink;
  return ParseServerOptions(static_cast<int>(all.size()), argv.data(), out ? *out : sink);
}

// Error text of a parse that must fail.
std::string ParseError(std::vector<std::string> args) {
  absl::StatusOr<ParseResult> r = Parse(std::move(args));
  EXPECT_FALSE(r.ok());
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

// Sets an environment variable for the life of the object.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) {
    setenv(name_.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() { unsetenv(name_.c_str()); }

 private:
  std::string name_;
};

// With no flags the documented defaults apply.
TEST(ParseServerOptionsTest, Defaults) {
  absl::StatusOr<ParseResult> r = Parse({});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->action, ParseResult::kRun);
  const ServerOptions& o = r->options;
  EXPECT_EQ(o.bind_address, "unix:///var/run/nvidia-device-api/device-api.sock");
  EXPECT_EQ(o.socket_path, "/var/run/nvidia-device-api/device-api.sock");
  EXPECT_EQ(o.health_host, "");
  EXPECT_EQ(o.health_port, 50051);
  EXPECT_EQ(o.metrics_host, "");
  EXPECT_EQ(o.metrics_port, 9090);
  EXPECT_EQ(o.shutdown_grace_period, absl::Seconds(25));
  EXPECT_EQ(o.shutdown_delay, absl::ZeroDuration());
  EXPECT_EQ(o.hostname, "node-1");
  EXPECT_EQ(o.datastore_endpoint, "memory://");
  EXPECT_EQ(o.datastore_scheme, "memory");
  EXPECT_EQ(o.max_recv_msg_size, 4194304);
  EXPECT_EQ(o.max_send_msg_size, 16777216);
  EXPECT_EQ(o.max_streams_per_connection, 100);
  EXPECT_EQ(o.socket_mode, 0660u);
  EXPECT_EQ(o.watch_history_size, 10000);
  EXPECT_EQ(o.watch_history_age, absl::Minutes(10));
  EXPECT_EQ(o.watch_queue_size, 1000);
  EXPECT_EQ(o.watch_bookmark_interval, absl::Seconds(10));
  EXPECT_EQ(o.max_objects, 4096);
  EXPECT_EQ(o.max_conditions, 64);
  EXPECT_EQ(o.verbosity, 0);
  EXPECT_EQ(o.log_format, "text");
}

// DefaultServerOptions() is valid as is, with a resolved hostname.
TEST(ParseServerOptionsTest, DefaultServerOptionsAreValid) {
  ServerOptions o = DefaultServerOptions();
  EXPECT_FALSE(o.hostname.empty());
  EXPECT_TRUE(ValidateServerOptions(o).ok()) << ValidateServerOptions(o);
}

// Every flag is read and converted to its typed field.
TEST(ParseServerOptionsTest, ParsesEveryFlag) {
  absl::StatusOr<ParseResult> r =
      Parse({"--bind-address=unix:///tmp/x/api.sock", "--health-probe-bind-address=127.0.0.1:0",
             "--metrics-bind-address", "[::1]:0", "--shutdown-grace-period=1m30s", "--shutdown-delay=500ms",
             "--hostname-override=Node-A.Example", "--max-recv-msg-size=1024", "--max-send-msg-size=2048",
             "--max-streams-per-connection=7", "--socket-mode=0600", "--watch-history-size=5",
             "--watch-history-age=1h", "--watch-queue-size=3", "--watch-bookmark-interval=250ms",
             "--max-objects=9", "--max-conditions=2", "-v=4", "--log-format=json"});
  ASSERT_TRUE(r.ok()) << r.status();
  const ServerOptions& o = r->options;
  EXPECT_EQ(o.socket_path, "/tmp/x/api.sock");
  EXPECT_EQ(o.health_host, "127.0.0.1");
  EXPECT_EQ(o.health_port, 0);
  EXPECT_EQ(o.metrics_host, "::1");
  EXPECT_EQ(o.metrics_port, 0);
  EXPECT_EQ(o.shutdown_grace_period, absl::Seconds(90));
  EXPECT_EQ(o.shutdown_delay, absl::Milliseconds(500));
  EXPECT_EQ(o.hostname, "node-a.example");
  EXPECT_EQ(o.max_recv_msg_size, 1024);
  EXPECT_EQ(o.max_send_msg_size, 2048);
  EXPECT_EQ(o.max_streams_per_connection, 7);
  EXPECT_EQ(o.socket_mode, 0600u);
  EXPECT_EQ(o.watch_history_size, 5);
  EXPECT_EQ(o.watch_history_age, absl::Hours(1));
  EXPECT_EQ(o.watch_queue_size, 3);
  EXPECT_EQ(o.watch_bookmark_interval, absl::Milliseconds(250));
  EXPECT_EQ(o.max_objects, 9);
  EXPECT_EQ(o.max_conditions, 2);
  EXPECT_EQ(o.verbosity, 4);
  EXPECT_EQ(o.log_format, "json");
}

// The -v flag accepts every klog spelling.
TEST(ParseServerOptionsTest, VerbositySpellings) {
  for (std::vector<std::string> args : std::initializer_list<std::vector<std::string>>{
           {"-v", "3"}, {"-v3"}, {"-v=3"}, {"--v=3"}, {"--v", "3"}}) {
    absl::StatusOr<ParseResult> r = Parse(args);
    ASSERT_TRUE(r.ok()) << args[0] << ": " << r.status();
    EXPECT_EQ(r->options.verbosity, 3) << args[0];
  }
}

// EnvVarName maps flag names to DEVICE_API_SERVER_<UPPER_SNAKE>.
TEST(EnvVarNameTest, UpperSnakeWithPrefix) {
  EXPECT_EQ(EnvVarName("bind-address"), "DEVICE_API_SERVER_BIND_ADDRESS");
  EXPECT_EQ(EnvVarName("--watch-history-age"), "DEVICE_API_SERVER_WATCH_HISTORY_AGE");
  EXPECT_EQ(EnvVarName("v"), "DEVICE_API_SERVER_V");
}

// Environment variables set flags; the command line wins over them.
TEST(ParseServerOptionsTest, EnvironmentAndPrecedence) {
  ScopedEnv bind("DEVICE_API_SERVER_BIND_ADDRESS", "unix:///tmp/env.sock");
  ScopedEnv v("DEVICE_API_SERVER_V", "5");
  ScopedEnv grace("DEVICE_API_SERVER_SHUTDOWN_GRACE_PERIOD", "3s");
  ScopedEnv host("DEVICE_API_SERVER_HOSTNAME_OVERRIDE", "from-env");
  absl::StatusOr<ParseResult> r = Parse({"--hostname-override=from-flag"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->options.socket_path, "/tmp/env.sock");
  EXPECT_EQ(r->options.verbosity, 5);
  EXPECT_EQ(r->options.shutdown_grace_period, absl::Seconds(3));
  EXPECT_EQ(r->options.hostname, "from-flag");

  r = Parse({"--bind-address=unix:///tmp/flag.sock", "-v", "1", "--shutdown-grace-period=4s"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->options.socket_path, "/tmp/flag.sock");
  EXPECT_EQ(r->options.verbosity, 1);
  EXPECT_EQ(r->options.shutdown_grace_period, absl::Seconds(4));
}

// A bad value in the environment is reported like a bad flag.
TEST(ParseServerOptionsTest, BadEnvironmentValue) {
  ScopedEnv delay("DEVICE_API_SERVER_SHUTDOWN_DELAY", "soon");
  EXPECT_THAT(ParseError({}), HasSubstr("--shutdown-delay"));
}

// --version prints the build info JSON and asks to exit 0.
TEST(ParseServerOptionsTest, VersionPrintsJson) {
  std::ostringstream out;
  absl::StatusOr<ParseResult> r = Parse({"--version"}, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->action, ParseResult::kExit);
  EXPECT_EQ(r->exit_code, 0);
  nlohmann::json j = nlohmann::json::parse(out.str());
  for (const char* key : {"version", "gitCommit", "buildDate", "compiler", "platform"}) {
    EXPECT_TRUE(j.contains(key)) << key;
    EXPECT_TRUE(j[key].is_string()) << key;
  }
  EXPECT_EQ(j.size(), 5u);
  EXPECT_THAT(out.str(), HasSubstr("\n  \"version\": "));
}

// --help prints usage naming the flags and their environment variables, and asks to exit 0.
TEST(ParseServerOptionsTest, HelpPrintsUsage) {
  std::ostringstream out;
  absl::StatusOr<ParseResult> r = Parse({"--help"}, &out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->action, ParseResult::kExit);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_THAT(out.str(), HasSubstr("--bind-address"));
  EXPECT_THAT(out.str(), HasSubstr("DEVICE_API_SERVER_BIND_ADDRESS"));
  EXPECT_THAT(out.str(), HasSubstr("--watch-bookmark-interval"));
}

// Malformed durations name the flag and quote Go's reason.
TEST(ParseServerOptionsTest, BadDurations) {
  EXPECT_THAT(ParseError({"--shutdown-grace-period=abc"}),
              HasSubstr("invalid argument \"abc\" for \"--shutdown-grace-period\" flag: time: "
                        "invalid duration \"abc\""));
  EXPECT_THAT(ParseError({"--watch-history-age=10"}), HasSubstr("time: missing unit in duration \"10\""));
  EXPECT_THAT(ParseError({"--watch-bookmark-interval=1d"}), HasSubstr("unknown unit \"d\""));
}

// Each invalid value produces one clear line naming the problem.
TEST(ParseServerOptionsTest, ValidationMessages) {
  struct Case {
    std::vector<std::string> args;
    std::string want;
  } cases[] = {
      {{"--bind-address=tcp://0.0.0.0:1"}, "must start with unix://"},
      {{"--bind-address=unix://relative.sock"}, "must be unix:// followed by an absolute path"},
      {{"--bind-address=unix:///tmp/dir/"}, "must not end with '/'"},
      {{"--bind-address=unix:///" + std::string(200, 'a')}, "at most 107 allowed"},
      {{"--health-probe-bind-address=50051"}, "missing port in address"},
      {{"--health-probe-bind-address=example.com:1"}, "host must be empty, \"localhost\" or an IP"},
      {{"--metrics-bind-address=:70000"}, "port must be a number in 0..65535"},
      {{"--metrics-bind-address=:50051"},
       "--health-probe-bind-address and --metrics-bind-address must use different ports, both "
       "use 50051"},
      {{"--shutdown-grace-period=11m"}, "--shutdown-grace-period must be between 0s and 10m0s, got 11m0s"},
      {{"--shutdown-delay=-1s"}, "--shutdown-delay must be between 0s and 10m0s, got -1s"},
      {{"--hostname-override=bad_name"}, "must be a lower-case DNS-1123 subdomain"},
      {{"--hostname-override=-x"}, "DNS-1123"},
      {{"--datastore-endpoint=sqlite://var/lib/x.db"}, "sqlite needs an absolute file path"},
      {{"--datastore-endpoint=sqlite://"}, "sqlite needs an absolute file path"},
      {{"--datastore-endpoint=sqlite:///var/lib/"}, "sqlite needs an absolute file path"},
      {{"--datastore-endpoint=sqlite:///var/lib/x.db?cache=shared"}, "unknown setting \"cache\""},
      {{"--datastore-endpoint=etcd://"},
       "datastore endpoint \"etcd://\": no etcd address; want etcd://HOST:PORT"},
      {{"--datastore-endpoint=etcd://127.0.0.1"}, "address \"127.0.0.1\" has no port; want etcd://HOST:PORT"},
      {{"--datastore-endpoint=etcd://h:1?prefix=x"}, "prefix \"x\" must start with '/'"},
      {{"--datastore-endpoint=redis://x"}, "unsupported datastore endpoint \"redis://x\": want memory://"},
      {{"--datastore-endpoint=memory"}, "unsupported datastore endpoint \"memory\""},
      {{"--datastore-endpoint=memory://x"}, "datastore endpoint \"memory://x\": memory:// takes no path"},
      {{"--max-recv-msg-size=1023"}, "--max-recv-msg-size must be between 1024 and 16777216, got 1023"},
      {{"--max-recv-msg-size=16777217"}, "--max-recv-msg-size must be between"},
      {{"--max-send-msg-size=10"}, "--max-send-msg-size must be >= 1024, got 10"},
      {{"--max-streams-per-connection=0"}, "--max-streams-per-connection must be between 1 and 10000"},
      {{"--max-streams-per-connection=10001"}, "--max-streams-per-connection must be between"},
      {{"--socket-mode=0888"}, "must be an octal number such as 0660"},
      {{"--socket-mode=1777"}, "must be at most 0777"},
      {{"--watch-history-size=0"}, "--watch-history-size must be >= 1, got 0"},
      {{"--watch-history-age=0s"}, "--watch-history-age must be > 0, got 0s"},
      {{"--watch-queue-size=0"}, "--watch-queue-size must be >= 1, got 0"},
      {{"--watch-bookmark-interval=0"}, "--watch-bookmark-interval must be > 0, got 0s"},
      {{"--max-objects=0"}, "--max-objects must be >= 1"},
      {{"--max-conditions=0"}, "--max-conditions must be >= 1"},
      {{"-v=-1"}, "--v must be >= 0, got -1"},
      {{"--log-format=xml"}, "--log-format must be \"text\" or \"json\", got \"xml\""},
      {{"--max-objects=many"}, "--max-objects"},
      {{"--no-such-flag"}, "--no-such-flag"},
  };
  for (const Case& c : cases) {
    std::string message = ParseError(c.args);
    EXPECT_THAT(message, HasSubstr(c.want)) << c.args[0];
    EXPECT_THAT(message, Not(HasSubstr("\n"))) << c.args[0];
  }
}

// Several problems are reported together, one per line.
TEST(ParseServerOptionsTest, ReportsEveryProblem) {
  std::string message = ParseError({"--watch-queue-size=0", "--max-objects=0"});
  EXPECT_THAT(message, HasSubstr("--watch-queue-size must be >= 1, got 0\n--max-objects"));
}

// The flag is checked by the parser OpenStore uses (storage::ParseDatastoreEndpoint):
// the same endpoints pass, and a bad one gets the same message at start-up as
// when the store opens.
TEST(ParseServerOptionsTest, DatastoreEndpointCheckedLikeOpenStore) {
  for (const std::string endpoint : {"memory://", "sqlite:///var/lib/state.db?synchronous=normal",
                                     "etcd://127.0.0.1:2379", "etcd://a:1,[::1]:2?prefix=/p"}) {
    absl::StatusOr<ParseResult> r = Parse({"--datastore-endpoint=" + endpoint});
    EXPECT_TRUE(r.ok()) << endpoint << ": " << r.status();
    EXPECT_TRUE(storage::ParseDatastoreEndpoint(endpoint).ok()) << endpoint;
  }
  for (const std::string endpoint : {"etcd://h:0", "sqlite://rel.db", "file:///x", "memory://?x=1"}) {
    absl::StatusOr<storage::DatastoreEndpoint> parsed = storage::ParseDatastoreEndpoint(endpoint);
    ASSERT_FALSE(parsed.ok()) << endpoint;
    EXPECT_EQ(ParseError({"--datastore-endpoint=" + endpoint}), parsed.status().message()) << endpoint;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("\"" + endpoint + "\"")) << endpoint;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("want ")) << endpoint;
  }
}

// sqlite:// with an absolute file path is a valid datastore.
TEST(ParseServerOptionsTest, AcceptsSqliteEndpoint) {
  absl::StatusOr<ParseResult> r = Parse({"--datastore-endpoint=sqlite:///var/lib/device-api/state.db"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->options.datastore_endpoint, "sqlite:///var/lib/device-api/state.db");
  EXPECT_EQ(r->options.datastore_scheme, "sqlite");
}

// --rv-mark-file: beside the API socket by default, for memory:// only.
TEST(ParseServerOptionsTest, RvMarkFile) {
  absl::StatusOr<ParseResult> r = Parse({"--bind-address=unix:///run/x/device-api.sock"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->options.rv_mark_path, "/run/x/device-api.rv");
  r = Parse({"--rv-mark-file=none"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->options.rv_mark_path, "");
  r = Parse({"--rv-mark-file=/var/lib/x/rv"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->options.rv_mark_path, "/var/lib/x/rv");
  r = Parse({"--datastore-endpoint=sqlite:///var/lib/device-api/state.db"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->options.rv_mark_path, "") << "sqlite:// keeps its RVs in the database";
  EXPECT_THAT(ParseError({"--rv-mark-file=rv"}),
              HasSubstr("--rv-mark-file must be an absolute path or none"));
  EXPECT_THAT(ParseError({"--datastore-endpoint=sqlite:///var/lib/d/state.db", "--rv-mark-file=/x/rv"}),
              HasSubstr("--rv-mark-file \"/x/rv\": only memory:// uses it"));
  EXPECT_EQ(DefaultServerOptions().rv_mark_path, "") << "in-process servers write no mark file unless asked";
}

// Port 0 may be shared by both listeners (tests pick free ports).
TEST(ParseServerOptionsTest, PortZeroNeedNotDiffer) {
  absl::StatusOr<ParseResult> r =
      Parse({"--health-probe-bind-address=:0", "--metrics-bind-address=localhost:0"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->options.metrics_host, "localhost");
}

// Without --hostname-override the host name is gethostname(), lower-cased.
TEST(ParseServerOptionsTest, HostnameDefaultsToGethostname) {
  std::vector<std::string> all = {"device-api-server"};
  std::vector<char*> argv = {all[0].data(), nullptr};
  std::ostringstream out;
  absl::StatusOr<ParseResult> r = ParseServerOptions(1, argv.data(), out);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->options.hostname, DefaultServerOptions().hostname);
}

// ParseHostPort splits like Go's net.SplitHostPort.
TEST(ParseHostPortTest, Forms) {
  using HP = std::pair<std::string, int>;
  EXPECT_EQ(*ParseHostPort(":9090"), HP("", 9090));
  EXPECT_EQ(*ParseHostPort("localhost:1"), HP("localhost", 1));
  EXPECT_EQ(*ParseHostPort("10.0.0.1:0"), HP("10.0.0.1", 0));
  EXPECT_EQ(*ParseHostPort("[::]:80"), HP("::", 80));
  EXPECT_FALSE(ParseHostPort("::1:80").ok());
  EXPECT_FALSE(ParseHostPort(":").ok());
  EXPECT_FALSE(ParseHostPort(":-1").ok());
  EXPECT_FALSE(ParseHostPort("[::1]").ok());
}

}  // namespace
}  // namespace deviceapi::apiserver

namespace deviceapi::apiserver {
namespace {

// Authorization flags: unset --writer-uids stays unset (root and the server's uid), the rest
// default to no gids, no providers and operator root.
TEST(AuthorizationFlagsTest, Defaults) {
  absl::StatusOr<ParseResult> r = Parse({});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->options.writer_uids.has_value());
  EXPECT_TRUE(r->options.writer_gids.empty());
  EXPECT_TRUE(r->options.provider_uids.empty());
  EXPECT_TRUE(r->options.provider_conditions.empty());
  EXPECT_EQ(r->options.operator_uids, std::vector<uint32_t>{0});
}

// Lists are comma-separated and the flags may be repeated; providers map ID=V:V.
TEST(AuthorizationFlagsTest, ParsesLists) {
  absl::StatusOr<ParseResult> r = Parse({"--writer-uids=0,65534", "--writer-uids", "1000", "--writer-gids=44",
                                         "--provider-uids=nvml-provider=0:65534,dcgm=1000",
                                         "--provider-conditions", "nvml-provider=NVMLReady:XidFree",
                                         "--provider-conditions=dcgm=DCGMHealthy", "--operator-uids=0,7"});
  ASSERT_TRUE(r.ok()) << r.status();
  const ServerOptions& o = r->options;
  EXPECT_EQ(o.writer_uids, (std::vector<uint32_t>{0, 65534, 1000}));
  EXPECT_EQ(o.writer_gids, std::vector<uint32_t>{44});
  EXPECT_EQ(o.provider_uids.at("nvml-provider"), (std::vector<uint32_t>{0, 65534}));
  EXPECT_EQ(o.provider_uids.at("dcgm"), std::vector<uint32_t>{1000});
  EXPECT_EQ(o.provider_conditions.at("nvml-provider"), (std::vector<std::string>{"NVMLReady", "XidFree"}));
  EXPECT_EQ(o.provider_conditions.at("dcgm"), std::vector<std::string>{"DCGMHealthy"});
  EXPECT_EQ(o.operator_uids, (std::vector<uint32_t>{0, 7}));
}

// --writer-uids=none means no uid writes (only --writer-gids).
TEST(AuthorizationFlagsTest, NoWriterUids) {
  absl::StatusOr<ParseResult> r = Parse({"--writer-uids=none", "--writer-gids=44"});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->options.writer_uids.has_value());
  EXPECT_TRUE(r->options.writer_uids->empty());
}

// The environment sets them like every flag.
TEST(AuthorizationFlagsTest, Environment) {
  ScopedEnv uids("DEVICE_API_SERVER_WRITER_UIDS", "5,6");
  ScopedEnv pu("DEVICE_API_SERVER_PROVIDER_UIDS", "a=5,b=6");
  ScopedEnv pc("DEVICE_API_SERVER_PROVIDER_CONDITIONS", "a=AReady,b=BReady");
  absl::StatusOr<ParseResult> r = Parse({});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->options.writer_uids, (std::vector<uint32_t>{5, 6}));
  EXPECT_EQ(r->options.provider_uids.size(), 2u);
  EXPECT_EQ(r->options.provider_conditions.at("b"), std::vector<std::string>{"BReady"});
}

// Bad values name the flag.
TEST(AuthorizationFlagsTest, BadValues) {
  EXPECT_THAT(
      ParseError({"--writer-uids=root"}),
      HasSubstr("invalid argument \"root\" for \"--writer-uids\" flag: \"root\" is not a numeric id"));
  EXPECT_THAT(ParseError({"--writer-gids=-1"}), HasSubstr("--writer-gids"));
  EXPECT_THAT(ParseError({"--operator-uids=4294967295"}), HasSubstr("--operator-uids"));
  EXPECT_THAT(ParseError({"--provider-uids=nvml", "--provider-conditions=nvml=X"}),
              HasSubstr("\"nvml\" must be PROVIDER=VALUE"));
  EXPECT_THAT(ParseError({"--provider-uids=nvml=x", "--provider-conditions=nvml=X"}),
              HasSubstr("--provider-uids"));
  EXPECT_THAT(ParseError({"--provider-uids==0", "--provider-conditions=nvml=X"}), HasSubstr("provider id"));
}

// A provider needs both its uids and its types; a type has one owner.
TEST(AuthorizationFlagsTest, ProvidersMustBeConsistent) {
  EXPECT_THAT(ParseError({"--provider-uids=nvml=0"}),
              HasSubstr("--provider-uids names provider \"nvml\" but --provider-conditions does not"));
  EXPECT_THAT(ParseError({"--provider-conditions=nvml=NVMLReady"}),
              HasSubstr("--provider-conditions names provider \"nvml\" but --provider-uids does not"));
  EXPECT_THAT(ParseError({"--provider-uids=a=1,b=2", "--provider-conditions=a=Ready,b=Ready"}),
              HasSubstr("condition type \"Ready\" is claimed by both \"a\" and \"b\""));
}

// --help lists the new flags with their defaults.
TEST(AuthorizationFlagsTest, Help) {
  std::ostringstream out;
  ASSERT_TRUE(Parse({"--help"}, &out).ok());
  for (const char* flag :
       {"--writer-uids", "--writer-gids", "--provider-uids", "--provider-conditions", "--operator-uids",
        "DEVICE_API_SERVER_WRITER_UIDS", "0 and the server's own uid"}) {
    EXPECT_THAT(out.str(), HasSubstr(flag));
  }
}

}  // namespace
}  // namespace deviceapi::apiserver
