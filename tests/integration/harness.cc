#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "grpc/health/v1/health.grpc.pb.h"

extern char** environ;

namespace deviceapi::itest {

namespace {

std::atomic<int> g_file_counter{0};

int NextId() { return g_file_counter.fetch_add(1); }

// Child environment: ours without DEVICE_API_SERVER_*, plus `extra` (which wins).
std::vector<std::string> ChildEnv(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    if (kv.starts_with("DEVICE_API_SERVER_")) continue;
    const std::string name(kv.substr(0, kv.find('=')));
    if (extra.count(name) != 0) continue;
    env.emplace_back(kv);
  }
  for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// TempDir

TempDir::TempDir() {
  char tmpl[] = "/tmp/dai.XXXXXX";
  const char* p = ::mkdtemp(tmpl);
  if (p == nullptr) {
    ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    return;
  }
  path_ = p;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  if (::testing::Test::HasFailure()) {
    // Left behind on purpose: the server logs in it explain the failure.
    std::cerr << "[ integration ] keeping " << path_ << " for diagnostics\n";
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

// ---------------------------------------------------------------------------------------------
// Small helpers

int PickFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string ExitInfo::ToString() const {
  if (!exited) return "still running";
  if (term_signal != 0)
    return absl::StrCat("killed by signal ", term_signal, " (", strsignal(term_signal), ")");
  return absl::StrCat("exit code ", exit_code);
}

std::string CommandResult::Describe() const {
  return absl::StrCat(exit.ToString(), "\n--- stdout ---\n", out, "\n--- stderr ---\n", err);
}

// ---------------------------------------------------------------------------------------------
// ChildProcess

std::unique_ptr<ChildProcess> ChildProcess::Spawn(const Spec& spec) {
  if (spec.argv.empty()) {
    ADD_FAILURE() << "ChildProcess::Spawn: empty argv";
    return nullptr;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const std::string in = spec.stdin_path.empty() ? "/dev/null" : spec.stdin_path;
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, spec.stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  if (spec.stderr_path.empty() || spec.stderr_path == spec.stdout_path) {
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, spec.stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
  }

  // The child starts with no blocked signals and default dispositions, whatever gRPC's threads
  // in this process did to theirs.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty;
  sigemptyset(&empty);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> args = spec.argv;
  std::vector<std::string> env = ChildEnv(spec.env);
  std::vector<char*> cargs = CStrings(args);
  std::vector<char*> cenv = CStrings(env);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, args[0].c_str(), &fa, &attr, cargs.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn " << args[0] << ": " << std::strerror(rc);
    return nullptr;
  }
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid));
}

ChildProcess::~ChildProcess() {
  if (exit_) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

bool ChildProcess::Exited() {
  if (exit_) return true;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r != pid_) return false;
  ExitInfo info;
  info.exited = true;
  if (WIFEXITED(status)) info.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) info.term_signal = WTERMSIG(status);
  exit_ = info;
  return true;
}

ExitInfo ChildProcess::WaitFor(absl::Duration timeout) {
  PollUntil([this] { return Exited(); }, timeout, absl::Milliseconds(5));
  return exit_ ? *exit_ : ExitInfo{};
}

void ChildProcess::Signal(int sig) {
  if (!exit_) ::kill(pid_, sig);
}

CommandResult RunCommand(const TempDir& dir, const std::vector<std::string>& argv,
                         const std::string& stdin_data, absl::Duration timeout,
                         const std::map<std::string, std::string>& env) {
  const std::string base = dir.File(absl::StrCat("cmd-", NextId()));
  ChildProcess::Spec spec;
  spec.argv = argv;
  spec.env = env;
  spec.stdin_path = base + ".in";
  spec.stdout_path = base + ".out";
  spec.stderr_path = base + ".err";
  WriteFile(spec.stdin_path, stdin_data);
  CommandResult result;
  auto child = ChildProcess::Spawn(spec);
  if (!child) return result;
  result.exit = child->WaitFor(timeout);
  if (!result.exit.exited) {
    ADD_FAILURE() << absl::StrJoin(argv, " ") << " still running after " << timeout << "; killing it";
    child->Signal(SIGKILL);
    child->WaitFor(absl::Seconds(10));
  }
  result.out = ReadFile(spec.stdout_path);
  result.err = ReadFile(spec.stderr_path);
  return result;
}

// ---------------------------------------------------------------------------------------------
// gRPC

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

std::string HealthResult::ToString() const {
  if (!rpc.ok()) return absl::StrCat("rpc failed: code ", rpc.error_code(), " \"", rpc.error_message(), "\"");
  return absl::StrCat("status ", serving_status,
                      serving_status == 1   ? " (SERVING)"
                      : serving_status == 2 ? " (NOT_SERVING)"
                                            : "");
}

HealthResult CheckHealth(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
                         absl::Duration timeout) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  HealthResult r;
  r.rpc = stub->Check(&ctx, req, &resp);
  if (r.rpc.ok()) r.serving_status = resp.status();
  return r;
}

// ---------------------------------------------------------------------------------------------
// HTTP

HttpResponse HttpGet(int port, const std::string& path, absl::Duration timeout) {
  HttpResponse r;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    r.error = absl::StrCat("socket: ", std::strerror(errno));
    return r;
  }
  timeval tv = absl::ToTimeval(timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    r.error = absl::StrCat("connect 127.0.0.1:", port, ": ", std::strerror(errno));
    ::close(fd);
    return r;
  }
  const std::string req = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1:", port,
                                       "\r\nUser-Agent: deviceapi-integration-test\r\nAccept: */*\r\n\r\n");
  size_t sent = 0;
  while (sent < req.size()) {
    const ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      r.error = absl::StrCat("send: ", std::strerror(errno));
      ::close(fd);
      return r;
    }
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buf[16384];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      r.error = absl::StrCat("recv: ", std::strerror(errno), " after ", raw.size(), " bytes");
      ::close(fd);
      return r;
    }
    raw.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);

  const size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    r.error = absl::StrCat("no end of headers in response: \"", raw, "\"");
    return r;
  }
  std::istringstream head(raw.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  // "HTTP/1.x NNN Reason"
  if (!line.starts_with("HTTP/1.") || line.size() < 12) {
    r.error = absl::StrCat("bad status line \"", line, "\"");
    return r;
  }
  r.status = std::atoi(line.c_str() + 9);
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = absl::AsciiStrToLower(line.substr(0, colon));
    std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    r.headers[name] = value;
  }
  r.body = raw.substr(head_end + 4);
  return r;
}

std::map<std::string, std::string> PreloadEnv(const std::string& library) {
  const char* asan = std::getenv("ASAN_OPTIONS");  // NOLINT(concurrency-mt-unsafe): read-only
  std::string options = asan != nullptr ? asan : "";
  if (!options.empty()) options += ":";
  options += "verify_asan_link_order=0";
  return {{"LD_PRELOAD", library}, {"ASAN_OPTIONS", options}};
}

std::optional<double> SampleValue(const std::string& exposition, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == absl::string_view::npos || line.substr(0, space) != series) continue;
    return std::stod(std::string(line.substr(space + 1)));
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// ServerProcess

std::unique_ptr<ServerProcess> ServerProcess::Spawn(const TempDir& dir, const Config& config, int health_port,
                                                    int metrics_port) {
  std::unique_ptr<ServerProcess> s(new ServerProcess());
  s->socket_path_ = config.socket_path.empty() ? dir.File("api.sock") : config.socket_path;
  s->log_path_ = dir.File(absl::StrCat("server-", NextId(), ".log"));
  s->health_port_ = health_port;
  s->metrics_port_ = metrics_port;
  ChildProcess::Spec spec;
  spec.argv = {DEVICE_API_SERVER_BIN, "--bind-address=unix://" + s->socket_path_,
               absl::StrCat("--health-probe-bind-address=127.0.0.1:", health_port),
               absl::StrCat("--metrics-bind-address=127.0.0.1:", metrics_port)};
  for (const auto& a : config.extra_args) spec.argv.push_back(a);
  spec.env = config.env;
  spec.stdout_path = s->log_path_;
  s->child_ = ChildProcess::Spawn(spec);
  if (!s->child_) return nullptr;
  return s;
}

std::unique_ptr<ServerProcess> ServerProcess::Start(const TempDir& dir, Config config) {
  constexpr int kAttempts = 3;
  std::string last_log;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    const int health_port = PickFreePort();
    int metrics_port = PickFreePort();
    while (metrics_port == health_port) metrics_port = PickFreePort();
    auto s = Spawn(dir, config, health_port, metrics_port);
    if (!s) return nullptr;
    if (s->WaitServing()) return s;
    last_log = s->Log();
    const bool exited = s->child_->Exited();
    // Someone else took one of the picked ports between PickFreePort() and the server's bind().
    if (exited && absl::StrContains(last_log, "bind address 127.0.0.1:") && attempt < kAttempts) continue;
    ADD_FAILURE() << "device-api-server did not become SERVING within " << kStartDeadline << " ("
                  << (exited ? s->child_->WaitFor(absl::ZeroDuration()).ToString() : "still running")
                  << ")\n--- server log " << s->log_path_ << " ---\n"
                  << last_log;
    return nullptr;
  }
  return nullptr;
}

bool ServerProcess::WaitServing(absl::Duration deadline) {
  bool exited = false;
  const bool ok = PollUntil(
      [&] {
        if (child_->Exited()) {
          exited = true;
          return true;
        }
        // A fresh channel per attempt: a channel that failed to connect before the socket existed
        // sits in reconnect backoff (seconds), whatever the backoff arguments say.
        return CheckHealth(MakeChannel(target()), "", absl::Seconds(1)).serving();
      },
      deadline, absl::Milliseconds(25));
  return ok && !exited;
}

ServerProcess::~ServerProcess() {
  if (::testing::Test::HasFailure()) {
    std::cerr << "--- device-api-server log " << log_path_ << " ---\n" << Log() << "--- end of log ---\n";
  }
  if (!child_ || child_->Exited()) return;
  // Ask nicely first so the socket is cleaned up; the ChildProcess destructor SIGKILLs stragglers.
  child_->Signal(SIGTERM);
  child_->WaitFor(kExitDeadline);
}

}  // namespace deviceapi::itest
