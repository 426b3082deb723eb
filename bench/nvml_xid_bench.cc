// devapi-nvml-bench: how fast nvml-provider turns NVML facts into API state a watcher sees
// (issue 6: "XID 79 on one GPU makes it NVMLReady=False with reason XID79 in under 100 ms").
//
// Everything is the real thing except the GPUs: the device-api-server binary (in-memory, on a
// socket in a private temp dir), the nvml-provider binary, and the fake libnvidia-ml.so.1 of
// tests/fakes, which the provider finds through its normal --driver-root search
// (<root>/usr/lib64/libnvidia-ml.so.1). XIDs are written to the fake's events FIFO. Measured:
//
//   1. provider start -> all N GPUs ADDED on a watch that was open before the provider started;
//   2. per sample: a critical XID written to the FIFO on a random GPU -> the watch (open before
//      the write) delivers that GPU with NVMLReady=False, reason XID<n>. Between samples the GPU
//      is put back through the provider's documented operator path (NVMLReady=True set through
//      the API, docs/nvml-provider.md "Recovery rule"), and the next sample waits until the
//      provider has adopted it (its nvml_provider_gpus{health="healthy"} gauge reads N again), so
//      that every sample starts from N healthy GPUs and a provider that agrees;
//   3. per restart: the server is SIGKILLed and started again (in-memory, so empty) -> the new
//      server answers, and -> all N GPUs are back (polled every 2 ms);
//   4. SIGTERM -> provider exit.
//
// With --device-plugin, between 2 and 3 (issue 14): the gpu-device-plugin binary is started with a
// time-slicing config (--replicas per GPU), --kubelet-socket "" (it serves, never registers) and
// its socket in the temp dir; the bench opens ListAndWatch on that socket itself, a reader thread
// stamping each list as it arrives. Measured: plugin start -> first full list (N x replicas
// Healthy); per sample, a critical XID written to the FIFO on a random GPU -> a list with all that
// GPU's replicas Unhealthy (the GPU is put back as in 2, and the next sample waits for a list with
// every device Healthy); the plugin's VmRSS after the first list and after the samples; its CPU
// (utime+stime) over --idle-seconds with nothing injected (the provider keeps heartbeating).
//
// With --npd, after that (issue 15): `npd-gpu-monitor serve` (--expected-gpus N, its socket in the
// temp dir, metrics off) is started and the bench calls its npd.external.v1.ExternalMonitor itself,
// playing Node Problem Detector. Measured: spawn -> first CheckHealth with all three conditions
// False; max(--samples, 1000) sequential CheckHealth calls on one channel (round trip each); then
// --npd-checks runs of `npd-gpu-monitor check --condition GPUUnhealthy` (posix_spawn -> exit seen
// on a pidfd; peak RSS as ru_maxrss under /usr/bin/time; every exit code must be 0); then per
// sample, with a thread polling CheckHealth every 0.5 ms, a critical XID written to the FIFO on a
// random GPU ->
// (a) the bench's own API watch sees NVMLReady=False for it (the XID has reached the server) and
// (b) the first CheckHealth answer with GPUUnhealthy True naming that GPU; between samples the GPU
// is put back as in 2 and CheckHealth polled until GPUUnhealthy is False again.
//
// Prints the raw figures, then a markdown table. Exits non-zero when a phase fails or a sample
// times out (the smoke test relies on that); there are no timing assertions.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "deviceapi/deviceapi.h"
#include "deviceplugin/v1beta1/api.grpc.pb.h"
#include "npd/external/v1/external_monitor.grpc.pb.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using namespace deviceapi;  // NOLINT: the client library is this tool's whole vocabulary
namespace v1 = ::nvidia::nvsentinel::v1alpha1;
namespace ext = ::npd::external::v1;
using Clock = std::chrono::steady_clock;

constexpr char kProviderLabel[] = "device.nvidia.com/provider";
constexpr char kProviderId[] = "nvml-bench";

// A watch of this bench's provider's GPUs from the current revision (no initial events), or
// null when the list or the watch fails (a failed watch is reported on stderr).
WatchPtr WatchProviderGpus(GpuInterface& gpus) {
  ListOptions lo;
  lo.label_selector = std::string(kProviderLabel) + "=" + kProviderId;
  auto list = gpus.List(lo);
  if (!list.ok()) return nullptr;
  lo.resource_version = list->metadata().resource_version();
  auto watch = gpus.Watch(lo);
  if (!watch.ok()) {
    std::cerr << "watch: " << watch.status() << "\n";
    return nullptr;
  }
  return std::move(*watch);
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Flags {
  int gpus = 8;
  int samples = 200;
  int restarts = 5;
  std::string xids = "79";
  std::string reconcile_interval = "30s";
  std::string heartbeat_interval = "10s";
  double timeout_s = 10;
  uint64_t seed = 1;
  std::string server_bin = NVML_BENCH_SERVER_BIN;
  std::string provider_bin = NVML_BENCH_PROVIDER_BIN;
  std::string fake_nvml = NVML_BENCH_FAKE_NVML;
  std::string plugin_bin = NVML_BENCH_PLUGIN_BIN;
  std::string out;
  bool keep = false;
  int provider_v = 0;
  bool device_plugin = false;
  int replicas = 10;
  double idle_seconds = 60;
  int plugin_v = 0;
  bool npd = false;
  std::string npd_bin = NVML_BENCH_NPD_BIN;
  int npd_checks = 50;
  int npd_v = 0;
};

// Latency samples (ms), percentiles by nearest rank over the sorted samples.
struct Stats {
  std::vector<double> ms;
  void Add(double v) { ms.push_back(v); }
  double P(double p) {
    if (ms.empty()) return 0;
    std::sort(ms.begin(), ms.end());
    size_t rank = static_cast<size_t>(p * static_cast<double>(ms.size()) + 0.999999);
    rank = std::clamp<size_t>(rank, 1, ms.size());
    return ms[rank - 1];
  }
  double Max() { return ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end()); }
};

std::string Fmt(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f ms", ms);
  return buf;
}

// argv and environment for posix_spawn: our environment, less what would point a child at another
// server or change the device plugin's health checks, plus `env`. Built once, spawned any number of
// times (the check-mode runs are timed from just before posix_spawn).
class SpawnArgs {
 public:
  SpawnArgs(std::vector<std::string> argv, const std::map<std::string, std::string>& env)
      : argv_(std::move(argv)) {
    for (char** e = environ; *e != nullptr; ++e) {
      std::string kv = *e;
      const std::string key = kv.substr(0, kv.find('='));
      if (env.contains(key) || key.rfind("DEVICE_API_SERVER_", 0) == 0 || key == "NVIDIA_DEVICE_API_TARGET" ||
          key == "DP_DISABLE_HEALTHCHECKS" || key == "DP_ENABLE_HEALTHCHECKS") {
        continue;
      }
      env_.push_back(std::move(kv));
    }
    for (const auto& [k, v] : env) env_.push_back(k + "=" + v);
    for (const std::string& a : argv_) cargv_.push_back(const_cast<char*>(a.c_str()));
    cargv_.push_back(nullptr);
    for (const std::string& e : env_) cenv_.push_back(const_cast<char*>(e.c_str()));
    cenv_.push_back(nullptr);
  }
  SpawnArgs(const SpawnArgs&) = delete;
  SpawnArgs& operator=(const SpawnArgs&) = delete;

  // stdin /dev/null, stdout+stderr appended to `log`; the pid, or -1 (said on stderr).
  pid_t Spawn(const std::string& log) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, cargv_[0], &fa, nullptr, cargv_.data(), cenv_.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      std::cerr << "spawn " << argv_[0] << ": " << std::strerror(rc) << "\n";
      return -1;
    }
    return pid;
  }

 private:
  std::vector<std::string> argv_, env_;
  std::vector<char*> cargv_, cenv_;
};

// A child process (posix_spawn), stdout+stderr to `log`, our environment plus `env`.
class Child {
 public:
  static std::unique_ptr<Child> Spawn(const std::vector<std::string>& argv,
                                      const std::map<std::string, std::string>& env, const std::string& log) {
    SpawnArgs args(argv, env);
    const pid_t pid = args.Spawn(log);
    if (pid < 0) return nullptr;
    return std::unique_ptr<Child>(new Child(pid));
  }
  ~Child() {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      Wait(std::chrono::seconds(10));
    }
  }
  void Signal(int sig) {
    if (!reaped_) ::kill(pid_, sig);
  }
  pid_t pid() const { return pid_; }
  // True when the child exited within `timeout`; its wait status in `status`.
  bool Wait(Clock::duration timeout, int* status = nullptr) {
    const auto deadline = Clock::now() + timeout;
    while (!reaped_) {
      int st = 0;
      const pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_ || (r < 0 && errno == ECHILD)) {
        reaped_ = true;
        status_ = st;
        break;
      }
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (status != nullptr) *status = status_;
    return true;
  }

 private:
  explicit Child(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  bool reaped_ = false;
  int status_ = 0;
};

// One run of a short-lived child to its end.
struct TimedExit {
  double wall_ms = 0;     // just before posix_spawn -> its exit seen on a pidfd
  int code = -1;          // exit code, or 128 + signal
  int64_t maxrss_kb = 0;  // peak resident set (wait4's rusage ru_maxrss, KiB)
};

// Spawns `args` and waits for its exit by poll()ing a pidfd (no sleep loop, so the wall time has no
// polling granularity), then reaps it with wait4. SIGKILLed after `timeout`; nullopt when it could
// not be spawned.
std::optional<TimedExit> RunTimed(SpawnArgs& args, const std::string& log, Clock::duration timeout) {
  const auto t0 = Clock::now();
  const pid_t pid = args.Spawn(log);
  if (pid < 0) return std::nullopt;
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  Clock::time_point t1;
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    const int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
    int n;
    do {
      n = ::poll(&p, 1, ms);
    } while (n < 0 && errno == EINTR);
    t1 = Clock::now();
    if (n == 0) {
      std::cerr << "still running after " << Ms(timeout) << " ms; killed\n";
      ::kill(pid, SIGKILL);
    }
    ::close(pidfd);
  }
  int st = 0;
  rusage ru{};
  pid_t r;
  do {
    r = ::wait4(pid, &st, 0, &ru);
  } while (r < 0 && errno == EINTR);
  if (pidfd < 0) t1 = Clock::now();  // no pidfd (kernel < 5.3): the blocking wait4 is the clock
  TimedExit out;
  out.wall_ms = Ms(t1 - t0);
  out.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  out.maxrss_kb = ru.ru_maxrss;
  return out;
}

// True when something accepts connections on the Unix socket `path` (the socket file exists from
// bind(), a moment before listen()).
bool UnixSocketAccepts(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

int PickFreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

// GET http://127.0.0.1:<port><path>; the body, or nullopt.
std::optional<std::string> HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string resp;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[8192];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof(buf))) > 0) resp.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  const size_t body = resp.find("\r\n\r\n");
  if (resp.rfind("HTTP/1.", 0) != 0 || body == std::string::npos) return std::nullopt;
  return resp.substr(body + 4);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<nlohmann::json> Devices(int n) {
  std::vector<nlohmann::json> out;
  for (int i = 0; i < n; ++i) {
    char uuid[64], bus[32], serial[32];
    std::snprintf(uuid, sizeof(uuid), "GPU-%08X-BE0C-4A11-9000-%012d", 0xB0000000u + static_cast<unsigned>(i),
                  i);
    std::snprintf(bus, sizeof(bus), "0000:%02x:00.0", (0x18 + i * 0x10) & 0xff);
    std::snprintf(serial, sizeof(serial), "165232200%04d", i);
    out.push_back({{"uuid", uuid},
                   {"name", "NVIDIA H100 80GB HBM3"},
                   {"memory_bytes", 85520809984ULL},
                   {"pci_bus_id", bus},
                   {"minor", i},
                   {"numa_node", i / 4},
                   {"architecture", "Hopper"},
                   {"compute_capability", "9.0"},
                   {"serial", serial}});
  }
  return out;
}

// A /proc/<pid>/status field in kB (VmRSS, VmHWM), or nullopt.
std::optional<int64_t> ProcStatusKb(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::atoll(line.c_str() + field.size() + 1);
  }
  return std::nullopt;
}

// utime + stime of `pid` in seconds (/proc/<pid>/stat fields 14 and 15), or nullopt.
std::optional<double> ProcCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');  // the command name may hold spaces and parentheses
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(paren + 1));
  std::vector<std::string> f;
  for (std::string tok; fields >> tok;) f.push_back(tok);
  if (f.size() < 13) return std::nullopt;  // f[0] is field 3 (state)
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return static_cast<double>(std::stoull(f[11]) + std::stoull(f[12])) / ticks;
}

std::string Mib(int64_t kb) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(kb) / 1024.0);
  return buf;
}

// "VmRSS x MiB (RssAnon y, RssFile z, RssShmem w), VmHWM v" of `pid`.
std::string Footprint(pid_t pid) {
  std::string out;
  for (const char* field : {"VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"}) {
    auto kb = ProcStatusKb(pid, field);
    const std::string f = field;
    out += (f == "VmRSS"     ? ""
            : f == "RssAnon" ? " ("
            : f == "VmHWM"   ? "), "
                             : ", ") +
           f + " " + (kb ? Mib(*kb) : "?");
  }
  return out;
}

// The kubelet's end of one ListAndWatch stream: a reader thread queues every list with the time
// Read() returned it; WaitList() takes lists off the queue in order.
class ListWatcher {
 public:
  struct Received {
    Clock::time_point at;
    v1beta1::ListAndWatchResponse list;
  };

  ~ListWatcher() { Stop(); }

  bool Open(const std::string& socket_path) {
    stub_ = v1beta1::DevicePlugin::NewStub(
        grpc::CreateChannel("unix://" + socket_path, grpc::InsecureChannelCredentials()));
    reader_ = stub_->ListAndWatch(&ctx_, v1beta1::Empty());
    thread_ = std::thread([this] { Read(); });
    return true;
  }

  // The first queued list (oldest first, each taken off the queue) that satisfies `want`, or
  // nullopt when none did by `deadline` or the stream ended.
  std::optional<Received> WaitList(const std::function<bool(const v1beta1::ListAndWatchResponse&)>& want,
                                   Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    while (true) {
      while (!queue_.empty()) {
        Received r = std::move(queue_.front());
        queue_.pop_front();
        if (want(r.list)) return r;
      }
      if (ended_) return std::nullopt;
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && queue_.empty()) return std::nullopt;
    }
  }

  // Drops the queued lists; returns how many there were.
  size_t Drain() {
    std::lock_guard lock(mu_);
    const size_t n = queue_.size();
    queue_.clear();
    return n;
  }
  uint64_t received() const {
    std::lock_guard lock(mu_);
    return received_;
  }
  std::optional<v1beta1::ListAndWatchResponse> latest() const {
    std::lock_guard lock(mu_);
    return latest_;
  }
  bool ended() const {
    std::lock_guard lock(mu_);
    return ended_;
  }

  void Stop() {
    if (!thread_.joinable()) return;
    ctx_.TryCancel();
    thread_.join();
    reader_->Finish().IgnoreError();
  }

 private:
  void Read() {
    v1beta1::ListAndWatchResponse msg;
    while (reader_->Read(&msg)) {
      const auto at = Clock::now();
      std::lock_guard lock(mu_);
      ++received_;
      latest_ = msg;
      queue_.push_back({at, std::move(msg)});
      msg = v1beta1::ListAndWatchResponse();
      cv_.notify_all();
    }
    std::lock_guard lock(mu_);
    ended_ = true;
    cv_.notify_all();
  }

  std::unique_ptr<v1beta1::DevicePlugin::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1beta1::ListAndWatchResponse>> reader_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Received> queue_;
  std::optional<v1beta1::ListAndWatchResponse> latest_;
  uint64_t received_ = 0;
  bool ended_ = false;
};

// Devices of `list` whose ID is `<uuid>::<i>` (uuid compared case-insensitively) with `health`.
int CountReplicas(const v1beta1::ListAndWatchResponse& list, const std::string& uuid,
                  const std::string& health) {
  const std::string prefix = Lower(uuid) + "::";
  int n = 0;
  for (const auto& d : list.devices()) {
    if (Lower(d.id()).rfind(prefix, 0) == 0 && d.health() == health) ++n;
  }
  return n;
}

int CountHealth(const v1beta1::ListAndWatchResponse& list, const std::string& health) {
  return static_cast<int>(std::count_if(list.devices().begin(), list.devices().end(),
                                        [&](const v1beta1::Device& d) { return d.health() == health; }));
}

// The condition `type` of a CheckHealth answer, or null.
const ext::Condition* FindNpdCondition(const ext::Status& s, const std::string& type) {
  for (const ext::Condition& c : s.conditions()) {
    if (c.type() == type) return &c;
  }
  return nullptr;
}

// How npd-gpu-monitor's messages name a GPU: its first 12 characters (npd::ShortName in
// src/npd/report.h); the bench's GPU names differ there ("gpu-b0000003").
std::string NpdShortName(const std::string& name) { return name.substr(0, 12); }

// GPUUnhealthy True, its message naming `gpu` (a metadata.name).
bool NpdNamesUnhealthy(const ext::Status& s, const std::string& gpu) {
  const ext::Condition* c = FindNpdCondition(s, "GPUUnhealthy");
  return c != nullptr && c->status() == ext::CONDITION_STATUS_TRUE &&
         c->message().find(NpdShortName(gpu)) != std::string::npos;
}

bool NpdAllFalse(const ext::Status& s) {
  return s.conditions_size() == 3 &&
         std::all_of(s.conditions().begin(), s.conditions().end(),
                     [](const ext::Condition& c) { return c.status() == ext::CONDITION_STATUS_FALSE; });
}

// Events of `s` with reason GPUXID<xid> naming `gpu`.
int CountXidEvents(const ext::Status& s, const std::string& gpu, uint64_t xid) {
  const std::string reason = "GPUXID" + std::to_string(xid);
  return static_cast<int>(std::count_if(s.events().begin(), s.events().end(), [&](const ext::Event& e) {
    return e.reason() == reason && e.message().find(NpdShortName(gpu)) != std::string::npos;
  }));
}

class Bench {
 public:
  explicit Bench(Flags f) : f_(std::move(f)), rng_(f_.seed) {}
  ~Bench() {
    plugin_watch_.reset();
    plugin_.reset();
    npd_.reset();
    provider_.reset();
    server_.reset();
    if (fifo_fd_ >= 0) ::close(fifo_fd_);
    std::error_code ec;
    if (!dir_.empty() && !f_.keep) fs::remove_all(dir_, ec);
  }

  int Run();

 private:
  bool Setup();
  bool StartServer();
  std::unique_ptr<Clientset> Connect(absl::Duration timeout);
  bool OpenFifoWriter(Clock::time_point deadline);
  bool MeasureRegistration();
  bool MeasureXids();
  bool ClearAndWaitAdopted(const std::string& name);
  int HealthyGauge();
  bool MeasureDevicePlugin();
  bool StartPlugin();
  bool PluginXidSamples();
  void MeasurePluginIdle();
  void StopPlugin();
  bool MeasureNpd();
  bool StartNpd();
  struct NpdAnswer {
    Clock::time_point at;  // when the answer arrived
    ext::Status status;
  };
  std::optional<NpdAnswer> CheckHealth();
  std::optional<NpdAnswer> PollCheckHealth(const std::function<bool(const ext::Status&)>& want,
                                           Clock::time_point deadline, const std::string& gpu = "",
                                           uint64_t xid = 0, const std::atomic<bool>* stop = nullptr);
  bool NpdCheckHealthLatency();
  bool NpdCheckMode();
  bool NpdXidSamples();
  void StopNpd();
  bool MeasureRestarts();
  void MeasureShutdown();
  void Report();
  std::string Tail(const std::string& log) const;

  Flags f_;
  std::mt19937_64 rng_;
  std::string dir_, sock_, root_, fifo_, config_;
  std::vector<nlohmann::json> devices_;
  std::vector<uint64_t> xids_;
  int health_port_ = 0;
  int fifo_fd_ = -1;
  int server_starts_ = 0;
  std::unique_ptr<Child> server_, provider_, plugin_, npd_;
  std::unique_ptr<Clientset> cs_;
  std::string plugin_log_, plugin_socket_;
  std::unique_ptr<ListWatcher> plugin_watch_;
  std::string npd_log_, npd_socket_;
  std::unique_ptr<ext::ExternalMonitor::Stub> npd_stub_;
  int64_t npd_sequence_ = 0;
  int npd_xid_events_ = 0;  // GPUXID<n> events naming the sample's GPU, over all samples

  // Results.
  std::optional<double> registration_ms_;
  Stats xid_;
  int xid_timeouts_ = 0;
  Stats restart_ready_, restart_back_;
  int restart_failures_ = 0;
  std::optional<double> shutdown_ms_;
  std::optional<int> shutdown_code_;
  std::optional<double> plugin_first_list_ms_;
  Stats plugin_xid_, plugin_recover_;
  int plugin_timeouts_ = 0;
  std::optional<int64_t> plugin_rss_start_kb_, plugin_rss_after_kb_, plugin_hwm_after_kb_;
  std::optional<double> plugin_idle_cpu_s_, plugin_idle_wall_s_;
  uint64_t plugin_idle_lists_ = 0;
  std::optional<double> npd_ready_ms_;
  Stats npd_check_health_;
  int npd_rpc_errors_ = 0;
  Stats npd_exec_wall_, npd_exec_rss_kb_;  // check mode
  std::map<int, int> npd_exec_codes_;      // exit code -> runs
  std::string npd_exec_line_;
  Stats npd_xid_api_, npd_xid_fifo_, npd_recover_;
  int npd_timeouts_ = 0;
  std::optional<int64_t> npd_rss_kb_;
  std::optional<double> npd_exit_ms_;
  std::optional<int> npd_exit_code_;
};

std::string Bench::Tail(const std::string& log) const {
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 3000 ? s.substr(s.size() - 3000) : s;
}

bool Bench::Setup() {
  char tmpl[] = "/tmp/nvbXXXXXX";  // short: Unix socket paths must stay under 108 bytes
  if (::mkdtemp(tmpl) == nullptr) {
    std::cerr << "mkdtemp: " << std::strerror(errno) << "\n";
    return false;
  }
  dir_ = tmpl;
  sock_ = dir_ + "/api.sock";
  root_ = dir_ + "/driver";
  fifo_ = dir_ + "/events";
  config_ = dir_ + "/fake-nvml.json";
  fs::create_directories(root_ + "/usr/lib64");
  fs::create_symlink(fs::absolute(f_.fake_nvml), root_ + "/usr/lib64/libnvidia-ml.so.1");
  if (::mkfifo(fifo_.c_str(), 0600) != 0) {
    std::cerr << "mkfifo " << fifo_ << ": " << std::strerror(errno) << "\n";
    return false;
  }
  devices_ = Devices(f_.gpus);
  nlohmann::json j;
  j["driver_version"] = "550.54.15";
  j["events"] = fifo_;
  j["devices"] = devices_;
  std::ofstream(config_) << j.dump(2);
  std::stringstream ss(f_.xids);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) xids_.push_back(std::stoull(item));
  }
  if (xids_.empty()) {
    std::cerr << "--xids: no XID given\n";
    return false;
  }
  return true;
}

std::unique_ptr<Clientset> Bench::Connect(absl::Duration timeout) {
  Config c = Config::Default();
  c.target = "unix://" + sock_;
  c.timeout = timeout;
  c.wait_for_ready = false;
  c.retry.max_attempts = 1;
  c.user_agent = "devapi-nvml-bench";
  auto cs = Clientset::NewForConfig(c);
  if (!cs.ok()) return nullptr;
  return std::move(*cs);
}

bool Bench::StartServer() {
  const std::string log = dir_ + "/server-" + std::to_string(++server_starts_) + ".log";
  server_ = Child::Spawn(
      {f_.server_bin, "--bind-address", "unix://" + sock_, "--health-probe-bind-address", "127.0.0.1:0",
       "--metrics-bind-address", "127.0.0.1:0", "--datastore-endpoint", "memory://"},
      {}, log);
  if (server_ == nullptr) return false;
  const auto deadline = Clock::now() + std::chrono::seconds(static_cast<int>(f_.timeout_s) + 10);
  while (Clock::now() < deadline) {
    if (struct stat st; ::stat(sock_.c_str(), &st) == 0) {
      cs_ = Connect(absl::Seconds(2));
      if (cs_ != nullptr && cs_->DeviceV1alpha1().Gpus()->List().ok()) return true;
    }
    if (server_->Wait(std::chrono::milliseconds(0))) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::cerr << "server did not come up; log:\n" << Tail(log) << "\n";
  return false;
}

// The fake opens the FIFO for reading when the provider creates its event set; until then an
// O_NONBLOCK open for writing fails with ENXIO. Keeping our end open from then on also keeps the
// fake's poll() blocking (a FIFO without writers polls as POLLHUP at once).
bool Bench::OpenFifoWriter(Clock::time_point deadline) {
  while (Clock::now() < deadline) {
    fifo_fd_ = ::open(fifo_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fifo_fd_ >= 0) return true;
    if (errno != ENXIO) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::cerr << "the provider never opened the events FIFO " << fifo_ << ": " << std::strerror(errno) << "\n";
  return false;
}

bool Bench::MeasureRegistration() {
  GpuInterfacePtr gpus = cs_->DeviceV1alpha1().Gpus();
  WatchPtr watch = WatchProviderGpus(*gpus);
  if (watch == nullptr) return false;
  health_port_ = PickFreePort();
  const std::string log = dir_ + "/provider.log";
  const auto t0 = Clock::now();
  provider_ = Child::Spawn(
      {f_.provider_bin, "--server-address", "unix://" + sock_, "--driver-root", root_, "--provider-id",
       kProviderId, "--health-host", "127.0.0.1", "--health-port", std::to_string(health_port_),
       "--sysfs-root", root_ + "/sys", "--reconcile-interval", f_.reconcile_interval, "--heartbeat-interval",
       f_.heartbeat_interval, "-v", std::to_string(f_.provider_v)},
      {{"FAKE_NVML_CONFIG", config_}}, log);
  if (provider_ == nullptr) return false;
  std::set<std::string> seen;
  const auto deadline = t0 + std::chrono::milliseconds(static_cast<int64_t>(f_.timeout_s * 1000));
  while (seen.size() < devices_.size()) {
    auto ev = watch->NextUntil(absl::Now() + absl::FromChrono(deadline - Clock::now()));
    if (!ev.has_value()) {
      std::cerr << "registration: " << seen.size() << " of " << devices_.size() << " GPUs after "
                << f_.timeout_s << "s; provider log:\n"
                << Tail(log) << "\n";
      return false;
    }
    if (ev->type == EventType::kAdded) seen.insert(ev->object.metadata().name());
  }
  registration_ms_ = Ms(Clock::now() - t0);
  std::cout << "registration: " << devices_.size() << " GPUs ADDED " << Fmt(*registration_ms_)
            << " after the provider was spawned\n";
  watch->Stop();
  return OpenFifoWriter(Clock::now() + std::chrono::seconds(10));
}

// nvml_provider_gpus{health="healthy"} of the provider, or -1.
int Bench::HealthyGauge() {
  auto body = HttpGet(health_port_, "/metrics");
  if (!body.has_value()) return -1;
  const std::string key = "nvml_provider_gpus{health=\"healthy\"} ";
  const size_t at = body->find(key);
  if (at == std::string::npos) return -1;
  return std::atoi(body->c_str() + at + key.size());
}

bool Bench::ClearAndWaitAdopted(const std::string& name) {
  GpuInterfacePtr gpus = cs_->DeviceV1alpha1().Gpus();
  absl::Status s = RetryOnConflict(kDefaultRetry, [&]() -> absl::Status {
    auto g = gpus->Get(name);
    if (!g.ok()) return g.status();
    SetCondition(g->mutable_status(), MakeCondition("NVMLReady", kConditionTrue, "OperatorCleared",
                                                    "cleared by devapi-nvml-bench"));
    return gpus->UpdateStatus(*g).status();
  });
  if (!s.ok()) {
    std::cerr << "clearing " << name << ": " << s << "\n";
    return false;
  }
  const auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(f_.timeout_s * 1000));
  while (Clock::now() < deadline) {
    if (HealthyGauge() == f_.gpus) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::cerr << "the provider did not adopt the clear of " << name << "\n";
  return false;
}

bool Bench::MeasureXids() {
  GpuInterfacePtr gpus = cs_->DeviceV1alpha1().Gpus();
  std::uniform_int_distribution<size_t> pick_gpu(0, devices_.size() - 1);
  std::uniform_int_distribution<size_t> pick_xid(0, xids_.size() - 1);
  // Every sample starts from N healthy GPUs as the provider sees them.
  const auto ready_deadline = Clock::now() + std::chrono::seconds(static_cast<int>(f_.timeout_s));
  while (HealthyGauge() != f_.gpus && Clock::now() < ready_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (int i = 0; i < f_.samples; ++i) {
    const nlohmann::json& dev = devices_[pick_gpu(rng_)];
    const std::string uuid = dev["uuid"];
    const std::string name = Lower(uuid);
    const uint64_t xid = xids_[pick_xid(rng_)];
    const std::string want_reason = "XID" + std::to_string(xid);

    WatchPtr watch = WatchProviderGpus(*gpus);
    if (watch == nullptr) return false;
    const std::string line = uuid + " " + std::to_string(xid) + "\n";
    const auto t0 = Clock::now();
    if (::write(fifo_fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      std::cerr << "write to the events FIFO: " << std::strerror(errno) << "\n";
      return false;
    }
    const absl::Time deadline = absl::Now() + absl::Milliseconds(static_cast<int64_t>(f_.timeout_s * 1000));
    bool got = false;
    while (!got) {
      auto ev = watch->NextUntil(deadline);
      if (!ev.has_value()) break;
      if (ev->object.metadata().name() != name) continue;
      const v1::Condition* c = FindCondition(ev->object.status(), "NVMLReady");
      got = c != nullptr && c->status() == kConditionFalse && c->reason() == want_reason;
    }
    const auto t1 = Clock::now();
    watch->Stop();
    if (!got) {
      ++xid_timeouts_;
      std::cerr << "sample " << i << ": no NVMLReady=False " << want_reason << " for " << name << " within "
                << f_.timeout_s << "s\n";
    } else {
      xid_.Add(Ms(t1 - t0));
    }
    if (!ClearAndWaitAdopted(name)) return false;
  }
  std::cout << "xid: " << xid_.ms.size() << " samples, p50 " << Fmt(xid_.P(0.5)) << ", p99 "
            << Fmt(xid_.P(0.99)) << ", max " << Fmt(xid_.Max()) << ", timeouts " << xid_timeouts_ << "\n";
  return xid_timeouts_ == 0;
}

bool Bench::StartPlugin() {
  const std::string dp_dir = dir_ + "/dp";
  const std::string config = dir_ + "/dp-config.yaml";
  fs::create_directories(dp_dir);
  std::ofstream(config)
      << "version: v1\nsharing:\n  timeSlicing:\n    resources:\n    - name: nvidia.com/gpu\n"
      << "      replicas: " << f_.replicas << "\n";
  plugin_socket_ = dp_dir + "/nvidia-gpu.sock";
  plugin_log_ = dir_ + "/plugin.log";
  const int metrics_port = PickFreePort();
  const auto t0 = Clock::now();
  plugin_ = Child::Spawn({f_.plugin_bin, "--server-address", "unix://" + sock_, "--device-plugin-path",
                          dp_dir, "--kubelet-socket", "", "--config-file", config, "--metrics-bind-address",
                          "127.0.0.1:" + std::to_string(metrics_port), "-v", std::to_string(f_.plugin_v)},
                         {}, plugin_log_);
  if (plugin_ == nullptr) return false;
  const auto deadline = t0 + std::chrono::milliseconds(static_cast<int64_t>(f_.timeout_s * 1000));
  // The socket appears once the first list of GPUs has arrived and the server is started.
  while (true) {
    if (struct stat st; ::stat(plugin_socket_.c_str(), &st) == 0) break;
    if (plugin_->Wait(std::chrono::milliseconds(0)) || Clock::now() >= deadline) {
      std::cerr << "device plugin: no socket " << plugin_socket_ << "; plugin log:\n"
                << Tail(plugin_log_) << "\n";
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const int want = f_.gpus * f_.replicas;
  std::optional<ListWatcher::Received> first;
  int opens = 0;
  do {
    // The socket file exists from bind(), a moment before the server accepts: a stream refused
    // then ends at once with nothing received, and is opened again.
    if (opens++ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    plugin_watch_ = std::make_unique<ListWatcher>();
    plugin_watch_->Open(plugin_socket_);
    first = plugin_watch_->WaitList(
        [&](const v1beta1::ListAndWatchResponse& l) {
          return l.devices_size() == want && CountHealth(l, "Healthy") == want;
        },
        deadline);
  } while (!first.has_value() && plugin_watch_->ended() && plugin_watch_->received() == 0 &&
           Clock::now() < deadline);
  if (opens > 1)
    std::cout << "device plugin: ListAndWatch opened " << opens << " times before it was served\n";
  if (!first.has_value()) {
    auto latest = plugin_watch_->latest();
    std::cerr << "device plugin: no list with " << want << " Healthy devices within " << f_.timeout_s
              << "s (latest has " << (latest ? latest->devices_size() : 0) << " devices, "
              << (latest ? CountHealth(*latest, "Healthy") : 0) << " Healthy); plugin log:\n"
              << Tail(plugin_log_) << "\n";
    return false;
  }
  plugin_first_list_ms_ = Ms(first->at - t0);
  plugin_rss_start_kb_ = ProcStatusKb(plugin_->pid(), "VmRSS");
  std::cout << "device plugin: first full list (" << want << " devices Healthy, " << f_.gpus << " GPUs x "
            << f_.replicas << " replicas) " << Fmt(*plugin_first_list_ms_)
            << " after the plugin was spawned; " << Footprint(plugin_->pid()) << " (goal <= 16 MiB)\n";
  return true;
}

bool Bench::PluginXidSamples() {
  std::uniform_int_distribution<size_t> pick_gpu(0, devices_.size() - 1);
  std::uniform_int_distribution<size_t> pick_xid(0, xids_.size() - 1);
  const int all = f_.gpus * f_.replicas;
  const auto all_healthy = [&](const v1beta1::ListAndWatchResponse& l) {
    return l.devices_size() == all && CountHealth(l, "Healthy") == all;
  };
  for (int i = 0; i < f_.samples; ++i) {
    const std::string uuid = devices_[pick_gpu(rng_)]["uuid"];
    const uint64_t xid = xids_[pick_xid(rng_)];
    // Every list before this point showed all devices Healthy (the previous sample waited for one).
    plugin_watch_->Drain();
    const std::string line = uuid + " " + std::to_string(xid) + "\n";
    const auto t0 = Clock::now();
    if (::write(fifo_fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      std::cerr << "write to the events FIFO: " << std::strerror(errno) << "\n";
      return false;
    }
    const auto deadline = t0 + std::chrono::milliseconds(static_cast<int64_t>(f_.timeout_s * 1000));
    auto got = plugin_watch_->WaitList(
        [&](const v1beta1::ListAndWatchResponse& l) {
          return CountReplicas(l, uuid, "Unhealthy") == f_.replicas;
        },
        deadline);
    if (!got.has_value()) {
      ++plugin_timeouts_;
      std::cerr << "device plugin sample " << i << ": no list with all " << f_.replicas << " replicas of "
                << uuid << " Unhealthy within " << f_.timeout_s << "s after XID " << xid << "\n";
      if (plugin_watch_->ended()) {
        std::cerr << "the ListAndWatch stream ended; plugin log:\n" << Tail(plugin_log_) << "\n";
        return false;
      }
    } else {
      plugin_xid_.Add(Ms(got->at - t0));
    }
    const auto t_clear = Clock::now();
    if (!ClearAndWaitAdopted(Lower(uuid))) return false;
    auto healthy = plugin_watch_->WaitList(
        all_healthy, Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(f_.timeout_s * 1000)));
    if (!healthy.has_value()) {
      std::cerr << "device plugin sample " << i << ": the plugin did not show all " << all
                << " devices Healthy again after " << uuid << " was cleared; plugin log:\n"
                << Tail(plugin_log_) << "\n";
      return false;
    }
    plugin_recover_.Add(Ms(healthy->at - t_clear));
  }
  std::cout << "device plugin xid: " << plugin_xid_.ms.size() << " samples, p50 " << Fmt(plugin_xid_.P(0.5))
            << ", p99 " << Fmt(plugin_xid_.P(0.99)) << " (goal <= 50 ms), max " << Fmt(plugin_xid_.Max())
            << ", timeouts " << plugin_timeouts_ << "\n";
  std::cout << "device plugin recovery (operator clear -> all Healthy): p50 " << Fmt(plugin_recover_.P(0.5))
            << ", p99 " << Fmt(plugin_recover_.P(0.99)) << ", max " << Fmt(plugin_recover_.Max()) << "\n";
  plugin_rss_after_kb_ = ProcStatusKb(plugin_->pid(), "VmRSS");
  plugin_hwm_after_kb_ = ProcStatusKb(plugin_->pid(), "VmHWM");
  std::cout << "device plugin: after the samples " << Footprint(plugin_->pid()) << " (goal <= 16 MiB)\n";
  return plugin_timeouts_ == 0;
}

void Bench::MeasurePluginIdle() {
  plugin_watch_->Drain();
  const uint64_t lists0 = plugin_watch_->received();
  const auto cpu0 = ProcCpuSeconds(plugin_->pid());
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(f_.idle_seconds * 1000)));
  const auto cpu1 = ProcCpuSeconds(plugin_->pid());
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  plugin_idle_lists_ = plugin_watch_->received() - lists0;
  if (!cpu0.has_value() || !cpu1.has_value()) {
    std::cerr << "device plugin idle: cannot read /proc/" << plugin_->pid() << "/stat\n";
    return;
  }
  plugin_idle_cpu_s_ = *cpu1 - *cpu0;
  plugin_idle_wall_s_ = wall;
  char buf[160];
  std::snprintf(buf, sizeof(buf), "%.2f CPU-s over %.1f s = %.3f %% of one core", *plugin_idle_cpu_s_, wall,
                100.0 * *plugin_idle_cpu_s_ / wall);
  std::cout << "device plugin idle: " << buf << " (provider heartbeat every " << f_.heartbeat_interval
            << ", reconcile every " << f_.reconcile_interval << "); " << plugin_idle_lists_
            << " lists sent meanwhile\n";
}

void Bench::StopPlugin() {
  plugin_watch_.reset();
  if (plugin_ == nullptr) return;
  const auto t0 = Clock::now();
  plugin_->Signal(SIGTERM);
  int status = 0;
  if (plugin_->Wait(std::chrono::seconds(10), &status)) {
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::cout << "device plugin: exited " << Fmt(Ms(Clock::now() - t0)) << " after SIGTERM, code " << code
              << "\n";
  } else {
    std::cerr << "device plugin: still running 10s after SIGTERM\n";
  }
  plugin_.reset();
}

// Between the XID phase and the restarts: the plugin is stopped before the server is killed, so
// the restart figures are the same with and without --device-plugin.
bool Bench::MeasureDevicePlugin() {
  bool ok = StartPlugin() && PluginXidSamples();
  if (ok) MeasurePluginIdle();
  StopPlugin();
  return ok;
}

bool Bench::StartNpd() {
  npd_socket_ = dir_ + "/npd/monitor.sock";
  npd_log_ = dir_ + "/npd.log";
  const auto t0 = Clock::now();
  npd_ = Child::Spawn({f_.npd_bin, "serve", "--server-address", "unix://" + sock_, "--socket", npd_socket_,
                       "--metrics-bind-address", "0", "--expected-gpus", std::to_string(f_.gpus), "-v",
                       std::to_string(f_.npd_v)},
                      {}, npd_log_);
  if (npd_ == nullptr) return false;
  const auto deadline = t0 + std::chrono::milliseconds(static_cast<int64_t>(f_.timeout_s * 1000));
  // Dial only once the socket accepts: a refused first connection would put the channel into
  // reconnect backoff.
  while (!UnixSocketAccepts(npd_socket_)) {
    if (npd_->Wait(std::chrono::milliseconds(0)) || Clock::now() >= deadline) {
      std::cerr << "npd-gpu-monitor: nothing accepts on " << npd_socket_ << "; its log:\n"
                << Tail(npd_log_) << "\n";
      return false;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 10);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 10);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 100);
  npd_stub_ = ext::ExternalMonitor::NewStub(
      grpc::CreateCustomChannel("unix://" + npd_socket_, grpc::InsecureChannelCredentials(), args));
  auto ready = PollCheckHealth(NpdAllFalse, deadline);
  npd_rpc_errors_ = 0;  // refusals while it starts are not the steady state measured below
  if (!ready.has_value()) {
    std::cerr << "npd-gpu-monitor: no CheckHealth with all conditions False within " << f_.timeout_s
              << "s; its log:\n"
              << Tail(npd_log_) << "\n";
    return false;
  }
  npd_ready_ms_ = Ms(ready->at - t0);
  std::cout << "npd: serve spawned -> first CheckHealth with GPUUnhealthy, GPUHealthUnknown and "
               "GPUCountMismatch False ("
            << f_.gpus << " GPUs expected) " << Fmt(*npd_ready_ms_) << "; " << Footprint(npd_->pid()) << "\n";
  return true;
}

// One CheckHealth on the bench's channel, as NPD calls it (1 s deadline); nullopt on an RPC error.
std::optional<Bench::NpdAnswer> Bench::CheckHealth() {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  ext::HealthCheckRequest req;
  req.set_sequence(++npd_sequence_);
  NpdAnswer a;
  const grpc::Status s = npd_stub_->CheckHealth(&ctx, req, &a.status);
  a.at = Clock::now();
  if (!s.ok()) {
    ++npd_rpc_errors_;
    return std::nullopt;
  }
  return a;
}

// CheckHealth every 0.5 ms (between the end of one call and the start of the next) until an answer
// satisfies `want`; nullopt at `deadline` or once `stop` is set. Counts the GPUXID<xid> events naming
// `gpu` on the way (each is handed over once).
std::optional<Bench::NpdAnswer> Bench::PollCheckHealth(const std::function<bool(const ext::Status&)>& want,
                                                       Clock::time_point deadline, const std::string& gpu,
                                                       uint64_t xid, const std::atomic<bool>* stop) {
  while (Clock::now() < deadline && (stop == nullptr || !stop->load())) {
    auto a = CheckHealth();
    if (a.has_value()) {
      if (!gpu.empty()) npd_xid_events_ += CountXidEvents(a->status, gpu, xid);
      if (want(a->status)) return a;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  return std::nullopt;
}

bool Bench::NpdCheckHealthLatency() {
  const int calls = std::max(f_.samples, 1000);
  int not_false = 0;
  for (int i = 0; i < calls; ++i) {
    const auto t0 = Clock::now();
    auto a = CheckHealth();
    if (!a.has_value()) continue;
    npd_check_health_.Add(Ms(a->at - t0));
    if (!NpdAllFalse(a->status)) ++not_false;
  }
  std::cout << "npd CheckHealth: " << npd_check_health_.ms.size() << " calls, sequential on one channel, p50 "
            << Fmt(npd_check_health_.P(0.5)) << ", p99 " << Fmt(npd_check_health_.P(0.99))
            << " (goal <= 1 ms), max " << Fmt(npd_check_health_.Max()) << ", RPC errors " << npd_rpc_errors_
            << ", answers not all False " << not_false << "\n";
  return npd_rpc_errors_ == 0;
}

// Each of --npd-checks rounds runs the check twice. Wall time: spawned straight from the bench, as
// NPD spawns it. Peak RSS: ru_maxrss as GNU time's wait4 gets it (`/usr/bin/time -f %M`), because
// ru_maxrss keeps the high-water mark of every image an exec replaced, and posix_spawn's child runs on
// the bench's own until its exec (vfork), so the bench's wait4 would report the bench's VmHWM; time's
// child is forked from time's small image (/bin/true measures about 1 MiB that way).
bool Bench::NpdCheckMode() {
  const std::vector<std::string> argv = {f_.npd_bin,    "check",        "--server-address", "unix://" + sock_,
                                         "--condition", "GPUUnhealthy", "--timeout",        "2s"};
  const std::string time_bin = "/usr/bin/time", rss_file = dir_ + "/npd-check.maxrss";
  const bool have_time = ::access(time_bin.c_str(), X_OK) == 0;
  std::vector<std::string> time_argv = {time_bin, "-f", "%M", "-o", rss_file};
  time_argv.insert(time_argv.end(), argv.begin(), argv.end());
  SpawnArgs direct(argv, {}), timed(time_argv, {});
  const std::string log = dir_ + "/npd-check.log";
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(f_.timeout_s * 1000));
  Stats direct_rss_kb;
  for (int i = 0; i < f_.npd_checks; ++i) {
    auto r = RunTimed(direct, log, timeout);
    if (!r.has_value()) return false;
    npd_exec_wall_.Add(r->wall_ms);
    direct_rss_kb.Add(static_cast<double>(r->maxrss_kb));
    ++npd_exec_codes_[r->code];
    if (!have_time) continue;
    auto m = RunTimed(timed, log, timeout);
    if (!m.has_value()) return false;
    ++npd_exec_codes_[m->code];
    std::ifstream in(rss_file);
    int64_t kb = 0;
    if (in >> kb && kb > 0) npd_exec_rss_kb_.Add(static_cast<double>(kb));
  }
  std::ifstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) npd_exec_line_ = line;
  }
  std::string codes;
  for (const auto& [code, n] : npd_exec_codes_) {
    codes += (codes.empty() ? "" : ", ") + std::to_string(n) + " x " + std::to_string(code);
  }
  std::cout << "npd check mode (--condition GPUUnhealthy): " << npd_exec_wall_.ms.size()
            << " runs spawned directly, spawn -> exit p50 " << Fmt(npd_exec_wall_.P(0.5)) << ", p99 "
            << Fmt(npd_exec_wall_.P(0.99)) << ", max " << Fmt(npd_exec_wall_.Max()) << " (goal <= 20 ms); "
            << npd_exec_rss_kb_.ms.size() << " runs under " << time_bin << " -f %M, peak RSS (ru_maxrss) p50 "
            << Mib(static_cast<int64_t>(npd_exec_rss_kb_.P(0.5))) << ", max "
            << Mib(static_cast<int64_t>(npd_exec_rss_kb_.Max())) << " (goal <= 10 MiB); exit codes " << codes
            << "; last line \"" << npd_exec_line_ << "\"\n";
  const auto self_hwm = ProcStatusKb(::getpid(), "VmHWM");
  std::cout << "npd check mode: ru_maxrss of the direct spawns max "
            << Mib(static_cast<int64_t>(direct_rss_kb.Max()))
            << " (not the check's own: the bench's VmHWM is " << (self_hwm ? Mib(*self_hwm) : "?") << ")\n";
  if (!have_time) std::cerr << "npd check mode: no " << time_bin << ", no RSS figure\n";
  const bool all_ok = npd_exec_codes_.size() == 1 && npd_exec_codes_.begin()->first == 0;
  if (!all_ok && f_.npd_checks > 0) {
    std::cerr << "npd check mode: not every run exited 0; output:\n" << Tail(log) << "\n";
    return false;
  }
  return true;
}

bool Bench::NpdXidSamples() {
  GpuInterfacePtr gpus = cs_->DeviceV1alpha1().Gpus();
  std::uniform_int_distribution<size_t> pick_gpu(0, devices_.size() - 1);
  std::uniform_int_distribution<size_t> pick_xid(0, xids_.size() - 1);
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(f_.timeout_s * 1000));
  const auto unhealthy_false = [](const ext::Status& s) {
    const ext::Condition* c = FindNpdCondition(s, "GPUUnhealthy");
    return c != nullptr && c->status() == ext::CONDITION_STATUS_FALSE;
  };
  npd_rpc_errors_ = 0;
  for (int i = 0; i < f_.samples; ++i) {
    const std::string uuid = devices_[pick_gpu(rng_)]["uuid"];
    const std::string name = Lower(uuid);
    const uint64_t xid = xids_[pick_xid(rng_)];
    const std::string want_reason = "XID" + std::to_string(xid);

    WatchPtr watch = WatchProviderGpus(*gpus);
    if (watch == nullptr) return false;
    // GPUUnhealthy is False here (the previous sample, or the startup, waited for it).
    const auto deadline = Clock::now() + timeout;
    std::atomic<bool> stop{false};
    std::optional<NpdAnswer> health;
    std::thread poller([&] {
      health = PollCheckHealth([&](const ext::Status& s) { return NpdNamesUnhealthy(s, name); }, deadline,
                               name, xid, &stop);
    });
    const std::string line = uuid + " " + std::to_string(xid) + "\n";
    const auto t0 = Clock::now();
    if (::write(fifo_fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      std::cerr << "write to the events FIFO: " << std::strerror(errno) << "\n";
      stop = true;
      poller.join();
      return false;
    }
    bool got = false;
    while (!got) {
      auto ev = watch->NextUntil(absl::Now() + absl::FromChrono(deadline - Clock::now()));
      if (!ev.has_value()) break;
      if (ev->object.metadata().name() != name) continue;
      const v1::Condition* c = FindCondition(ev->object.status(), "NVMLReady");
      got = c != nullptr && c->status() == kConditionFalse && c->reason() == want_reason;
    }
    const auto t_api = Clock::now();
    watch->Stop();
    if (!got) stop = true;
    poller.join();
    if (!got || !health.has_value()) {
      ++npd_timeouts_;
      std::cerr << "npd sample " << i << ": "
                << (got ? "no CheckHealth with GPUUnhealthy True naming " + name
                        : "no NVMLReady=False " + want_reason + " for " + name + " on the API watch")
                << " within " << f_.timeout_s << "s\n";
    } else {
      npd_xid_api_.Add(Ms(health->at - t_api));
      npd_xid_fifo_.Add(Ms(health->at - t0));
    }
    // Put the GPU back while a second poller waits for GPUUnhealthy False.
    std::optional<NpdAnswer> cleared;
    const auto t_clear = Clock::now();
    std::thread recover([&] { cleared = PollCheckHealth(unhealthy_false, t_clear + timeout, name, xid); });
    const bool adopted = ClearAndWaitAdopted(name);
    recover.join();
    if (!adopted) return false;
    if (!cleared.has_value()) {
      std::cerr << "npd sample " << i << ": GPUUnhealthy not False within " << f_.timeout_s << "s after "
                << name << " was cleared; npd-gpu-monitor log:\n"
                << Tail(npd_log_) << "\n";
      return false;
    }
    if (health.has_value()) npd_recover_.Add(Ms(cleared->at - t_clear));
  }
  std::cout
      << "npd xid: " << npd_xid_api_.ms.size()
      << " samples; API watch sees NVMLReady=False -> CheckHealth GPUUnhealthy True naming the GPU: min "
      << Fmt(npd_xid_api_.P(0))
      << " (negative: the monitor answered before the bench's watch got the event), p50 "
      << Fmt(npd_xid_api_.P(0.5)) << ", p99 " << Fmt(npd_xid_api_.P(0.99)) << " (goal <= 50 ms), max "
      << Fmt(npd_xid_api_.Max()) << "; XID written to the FIFO -> that answer: p50 "
      << Fmt(npd_xid_fifo_.P(0.5)) << ", p99 " << Fmt(npd_xid_fifo_.P(0.99)) << ", max "
      << Fmt(npd_xid_fifo_.Max()) << "; timeouts " << npd_timeouts_ << ", RPC errors " << npd_rpc_errors_
      << ", GPUXID events naming the GPU " << npd_xid_events_ << "\n";
  std::cout << "npd recovery (operator clear -> CheckHealth GPUUnhealthy False): p50 "
            << Fmt(npd_recover_.P(0.5)) << ", p99 " << Fmt(npd_recover_.P(0.99)) << ", max "
            << Fmt(npd_recover_.Max()) << "\n";
  return npd_timeouts_ == 0;
}

void Bench::StopNpd() {
  npd_stub_.reset();
  if (npd_ == nullptr) return;
  npd_rss_kb_ = ProcStatusKb(npd_->pid(), "VmRSS");
  std::cout << "npd: serve after the samples " << Footprint(npd_->pid()) << "\n";
  const auto t0 = Clock::now();
  npd_->Signal(SIGTERM);
  int status = 0;
  if (npd_->Wait(std::chrono::seconds(10), &status)) {
    npd_exit_ms_ = Ms(Clock::now() - t0);
    npd_exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::cout << "npd: serve exited " << Fmt(*npd_exit_ms_) << " after SIGTERM, code " << *npd_exit_code_
              << "\n";
  } else {
    std::cerr << "npd: serve still running 10s after SIGTERM\n";
  }
  npd_.reset();
}

// After the device plugin, before the restarts (the monitor is stopped first, so the restart
// figures are the same with and without --npd).
bool Bench::MeasureNpd() {
  bool ok = StartNpd();
  if (ok) {
    ok = NpdCheckHealthLatency();
    ok = NpdCheckMode() && ok;
    ok = NpdXidSamples() && ok;
  }
  StopNpd();
  return ok && npd_exit_code_ == 0;
}

bool Bench::MeasureRestarts() {
  ListOptions lo;
  lo.label_selector = std::string(kProviderLabel) + "=" + kProviderId;
  for (int r = 0; r < f_.restarts; ++r) {
    server_->Signal(SIGKILL);
    server_->Wait(std::chrono::seconds(10));
    cs_.reset();
    const auto t0 = Clock::now();
    if (!StartServer()) return false;
    const auto t_ready = Clock::now();
    GpuInterfacePtr gpus = cs_->DeviceV1alpha1().Gpus();
    const auto deadline = t0 + std::chrono::seconds(static_cast<int>(f_.timeout_s) + 60);
    bool back = false;
    while (Clock::now() < deadline) {
      auto list = gpus->List(lo);
      if (list.ok() && list->items_size() == f_.gpus) {
        back = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (!back) {
      ++restart_failures_;
      std::cerr << "restart " << r << ": GPUs not back; provider log:\n"
                << Tail(dir_ + "/provider.log") << "\n";
      return false;
    }
    const auto t_back = Clock::now();
    restart_ready_.Add(Ms(t_ready - t0));
    restart_back_.Add(Ms(t_back - t0));
    std::cout << "restart " << r << ": server answering " << Fmt(Ms(t_ready - t0)) << ", all " << f_.gpus
              << " GPUs back " << Fmt(Ms(t_back - t0)) << " after the new server was spawned\n";
  }
  return true;
}

void Bench::MeasureShutdown() {
  const auto t0 = Clock::now();
  provider_->Signal(SIGTERM);
  int status = 0;
  if (provider_->Wait(std::chrono::seconds(10), &status)) {
    shutdown_ms_ = Ms(Clock::now() - t0);
    shutdown_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::cout << "shutdown: provider exited " << Fmt(*shutdown_ms_) << " after SIGTERM, code "
              << *shutdown_code_ << "\n";
  } else {
    std::cerr << "shutdown: the provider was still running 10s after SIGTERM\n";
  }
}

void Bench::Report() {
  std::ostringstream md;
  md << "| devapi-nvml-bench (" << f_.gpus << " fake GPUs, XIDs " << f_.xids
     << ") | samples | p50 | p99 | max |\n"
     << "|---|---|---|---|---|\n";
  if (registration_ms_.has_value()) {
    md << "| provider start → all " << f_.gpus << " GPUs ADDED on a watch | 1 | " << Fmt(*registration_ms_)
       << " | | |\n";
  }
  md << "| critical XID written to the FIFO → watch delivers NVMLReady=False XID<n> | " << xid_.ms.size()
     << " | " << Fmt(xid_.P(0.5)) << " | " << Fmt(xid_.P(0.99)) << " | " << Fmt(xid_.Max()) << " |\n";
  if (f_.device_plugin) {
    const std::string dp = "gpu-device-plugin (" + std::to_string(f_.replicas) + " replicas per GPU)";
    if (plugin_first_list_ms_.has_value()) {
      md << "| " << dp << ": start → first full list (" << f_.gpus * f_.replicas
         << " Healthy) on ListAndWatch | 1 | " << Fmt(*plugin_first_list_ms_) << " | | |\n";
    }
    md << "| " << dp << ": critical XID written to the FIFO → ListAndWatch shows all " << f_.replicas
       << " replicas Unhealthy (goal p99 ≤ 50 ms) | " << plugin_xid_.ms.size() << " | "
       << Fmt(plugin_xid_.P(0.5)) << " | " << Fmt(plugin_xid_.P(0.99)) << " | " << Fmt(plugin_xid_.Max())
       << " |\n";
    if (!plugin_recover_.ms.empty()) {
      md << "| " << dp << ": operator clear (API) → ListAndWatch shows all devices Healthy | "
         << plugin_recover_.ms.size() << " | " << Fmt(plugin_recover_.P(0.5)) << " | "
         << Fmt(plugin_recover_.P(0.99)) << " | " << Fmt(plugin_recover_.Max()) << " |\n";
    }
    if (plugin_rss_start_kb_.has_value()) {
      md << "| " << dp << ": VmRSS after the first full list (goal ≤ 16 MiB) | 1 | "
         << Mib(*plugin_rss_start_kb_) << " | | |\n";
    }
    if (plugin_rss_after_kb_.has_value()) {
      md << "| " << dp << ": VmRSS after the XID samples (goal ≤ 16 MiB) | 1 | " << Mib(*plugin_rss_after_kb_)
         << " | | |\n";
    }
    if (plugin_idle_cpu_s_.has_value()) {
      char buf[96];
      std::snprintf(buf, sizeof(buf), "%.2f CPU-s (%.3f %% of one core)", *plugin_idle_cpu_s_,
                    100.0 * *plugin_idle_cpu_s_ / *plugin_idle_wall_s_);
      md << "| " << dp << ": idle CPU over " << f_.idle_seconds << " s, provider heartbeating every "
         << f_.heartbeat_interval << " | 1 | " << buf << " | | |\n";
    }
  }
  if (f_.npd) {
    const std::string npd = "npd-gpu-monitor";
    if (npd_ready_ms_.has_value()) {
      md << "| " << npd << " serve: spawn → first CheckHealth with all 3 conditions False | 1 | "
         << Fmt(*npd_ready_ms_) << " | | |\n";
    }
    md << "| " << npd << ": CheckHealth round trip, sequential on one channel (goal p99 ≤ 1 ms) | "
       << npd_check_health_.ms.size() << " | " << Fmt(npd_check_health_.P(0.5)) << " | "
       << Fmt(npd_check_health_.P(0.99)) << " | " << Fmt(npd_check_health_.Max()) << " |\n";
    md << "| " << npd << " check --condition GPUUnhealthy: spawn → exit, wall (goal ≤ 20 ms) | "
       << npd_exec_wall_.ms.size() << " | " << Fmt(npd_exec_wall_.P(0.5)) << " | "
       << Fmt(npd_exec_wall_.P(0.99)) << " | " << Fmt(npd_exec_wall_.Max()) << " |\n";
    md << "| " << npd << " check: peak RSS, ru_maxrss under /usr/bin/time (goal ≤ 10 MiB) | "
       << npd_exec_rss_kb_.ms.size() << " | " << Mib(static_cast<int64_t>(npd_exec_rss_kb_.P(0.5))) << " | "
       << Mib(static_cast<int64_t>(npd_exec_rss_kb_.P(0.99))) << " | "
       << Mib(static_cast<int64_t>(npd_exec_rss_kb_.Max())) << " |\n";
    md << "| " << npd
       << ": API watch sees NVMLReady=False XID<n> → CheckHealth GPUUnhealthy True naming the GPU (polled "
          "every 0.5 ms; goal ≤ 50 ms) | "
       << npd_xid_api_.ms.size() << " | " << Fmt(npd_xid_api_.P(0.5)) << " | " << Fmt(npd_xid_api_.P(0.99))
       << " | " << Fmt(npd_xid_api_.Max()) << " |\n";
    md << "| " << npd
       << ": critical XID written to the FIFO → CheckHealth GPUUnhealthy True naming the GPU | "
       << npd_xid_fifo_.ms.size() << " | " << Fmt(npd_xid_fifo_.P(0.5)) << " | " << Fmt(npd_xid_fifo_.P(0.99))
       << " | " << Fmt(npd_xid_fifo_.Max()) << " |\n";
    if (!npd_recover_.ms.empty()) {
      md << "| " << npd << ": operator clear (API) → CheckHealth GPUUnhealthy False | "
         << npd_recover_.ms.size() << " | " << Fmt(npd_recover_.P(0.5)) << " | " << Fmt(npd_recover_.P(0.99))
         << " | " << Fmt(npd_recover_.Max()) << " |\n";
    }
    if (npd_rss_kb_.has_value()) {
      md << "| " << npd << " serve: VmRSS after the samples | 1 | " << Mib(*npd_rss_kb_) << " | | |\n";
    }
    if (npd_exit_ms_.has_value()) {
      md << "| " << npd << " serve: SIGTERM → exit (code " << *npd_exit_code_ << ") | 1 | "
         << Fmt(*npd_exit_ms_) << " | | |\n";
    }
  }
  if (!restart_back_.ms.empty()) {
    md << "| server SIGKILL + restart (in-memory) → new server answers | " << restart_ready_.ms.size()
       << " | " << Fmt(restart_ready_.P(0.5)) << " | " << Fmt(restart_ready_.P(0.99)) << " | "
       << Fmt(restart_ready_.Max()) << " |\n";
    md << "| server SIGKILL + restart (in-memory) → all " << f_.gpus << " GPUs back | "
       << restart_back_.ms.size() << " | " << Fmt(restart_back_.P(0.5)) << " | " << Fmt(restart_back_.P(0.99))
       << " | " << Fmt(restart_back_.Max()) << " |\n";
  }
  if (shutdown_ms_.has_value()) {
    md << "| SIGTERM → provider exit (code " << *shutdown_code_ << ") | 1 | " << Fmt(*shutdown_ms_)
       << " | | |\n";
  }
  std::cout << "\n" << md.str();
  if (!f_.out.empty()) std::ofstream(f_.out) << md.str();
}

int Bench::Run() {
  if (!Setup()) return 1;
  if (!StartServer()) return 1;
  bool ok = MeasureRegistration() && MeasureXids() && (!f_.device_plugin || MeasureDevicePlugin()) &&
            (!f_.npd || MeasureNpd()) && MeasureRestarts();
  if (provider_ != nullptr) MeasureShutdown();
  ok = ok && shutdown_ms_.has_value() && shutdown_code_ == 0;
  Report();
  if (f_.keep) std::cout << "logs kept in " << dir_ << "\n";
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  CLI::App app{
      "XID-to-watch latency of nvml-provider with the fake NVML (docs/nvml-provider.md, \"Measured\")",
      "devapi-nvml-bench"};
  app.option_defaults()->always_capture_default();
  app.add_option("--gpus", f.gpus, "fake GPUs")->check(CLI::Range(1, 256));
  app.add_option("--samples", f.samples, "XID samples")->check(CLI::Range(0, 1000000));
  app.add_option("--restarts", f.restarts, "server restarts")->check(CLI::Range(0, 1000));
  app.add_option("--xids", f.xids, "comma-separated critical XIDs, one picked at random per sample");
  app.add_option("--reconcile-interval", f.reconcile_interval, "provider --reconcile-interval");
  app.add_option("--heartbeat-interval", f.heartbeat_interval, "provider --heartbeat-interval");
  app.add_option("--timeout", f.timeout_s, "seconds to wait for one sample or phase")
      ->check(CLI::Range(0.1, 600.0));
  app.add_option("--seed", f.seed, "random seed (GPU and XID choice)");
  app.add_option("--server-bin", f.server_bin, "device-api-server binary");
  app.add_option("--provider-bin", f.provider_bin, "nvml-provider binary");
  app.add_option("--fake-nvml", f.fake_nvml, "the fake libnvidia-ml.so.1");
  app.add_option("--out", f.out, "also write the markdown table to this file");
  app.add_flag("--keep", f.keep, "keep the temp dir (logs)");
  app.add_option("--provider-v", f.provider_v, "provider log verbosity (-v)");
  app.add_flag("--device-plugin", f.device_plugin,
               "also measure gpu-device-plugin: XID -> replicas Unhealthy on ListAndWatch, RSS, idle CPU");
  app.add_option("--replicas", f.replicas, "time-slicing replicas per GPU for --device-plugin")
      ->check(CLI::Range(2, 1000));
  app.add_option("--idle-seconds", f.idle_seconds,
                 "seconds of plugin idle CPU measurement for --device-plugin")
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--plugin-bin", f.plugin_bin, "gpu-device-plugin binary");
  app.add_option("--plugin-v", f.plugin_v, "device plugin log verbosity (-v)");
  app.add_flag("--npd", f.npd,
               "also measure npd-gpu-monitor: CheckHealth latency, check-mode runs (wall, RSS), XID -> "
               "CheckHealth GPUUnhealthy True");
  app.add_option("--npd-checks", f.npd_checks, "check-mode runs for --npd")->check(CLI::Range(0, 100000));
  app.add_option("--npd-bin", f.npd_bin, "npd-gpu-monitor binary");
  app.add_option("--npd-v", f.npd_v, "npd-gpu-monitor serve log verbosity (-v)");
  CLI11_PARSE(app, argc, argv);
  ::signal(SIGPIPE, SIG_IGN);
  Bench bench(f);
  return bench.Run();
}
