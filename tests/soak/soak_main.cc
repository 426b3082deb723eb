// The soak (make soak MINUTES=N; ctest soak_short): the real device-api-server on sqlite:// in a
// temp dir, under load and churn for a while, with everything it serves checked.
//
//   writers      status updates (conditions) on --gpus GPUs through the client library, each GPU
//                owned by one writer; every call is recorded in a WriteHistory (watch_validator.h)
//   watchers     --watchers client-library watches (some with label or field selectors), each
//                recorded segment by segment and validated against the history; each is stopped
//                at random and resumed from its last RV (relisted on OUT_OF_RANGE)
//   informers    --informers SharedInformerFactory informers with handlers, torn down and rebuilt
//                at random; at the end their caches must equal the server's List
//   consumers    nvml-provider on the fake NVML (tests/fakes), gpu-device-plugin with the fake
//                kubelet, npd-gpu-monitor with the fake NPD; plugin, monitor and provider are
//                restarted at random (SIGTERM, sometimes SIGKILL)
//   server       restarted at random during the first 40% of the run (SIGTERM, 1 in 3 SIGKILL);
//                after each restart every acknowledged write must still be there
//   sampler      the server's RSS and fd count from /proc every --sample-ms
//
// The last 60% of the run is one server incarnation: its RSS and fd windows (after a warm-up)
// decide the leak criteria. At the end: writers stop, every GPU gets a final known state (all
// healthy but soak-gpu-00), and the plugin (via the fake kubelet) and the monitor (via the fake
// NPD) must report exactly that. Prints a summary and PASS/FAIL; exit code 0 only on PASS.
//
// Flags (after the gtest flags): --seconds N (300), --watchers N (100), --writers N (4),
// --gpus N (16), --write-qps N (40), --informers N (3), --seed S (from the clock), --no-consumers,
// --keep (copy the temp dir's logs out), --bin-dir D (the build directory with the consumers and
// fakes; the server is the one the harness was built with, DEVICE_API_SERVER_BIN).
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "deviceapi/clientset.h"
#include "deviceapi/informer.h"
#include "deviceapi/informer_factory.h"
#include "harness.h"
#include "testutil/watch_validator.h"

namespace deviceapi::soak {
namespace {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;
using itest::ChildProcess;
using itest::PollUntil;
using itest::ServerProcess;
using itest::TempDir;
using testing::RecordedEvent;
using testing::WatchChecker;
using testing::WatchFilter;
using testing::WatchSegment;
using testing::WriteHistory;
using testing::WriteKind;

struct Knobs {
  int seconds = 300;
  int watchers = 100;
  int writers = 4;
  int gpus = 16;
  int write_qps = 40;
  int informers = 3;
  uint64_t seed = 0;
  bool consumers = true;
  bool keep = false;
  std::string bin_dir = DEVICEAPI_BUILD_DIR_STR;  // where the binaries and fakes are
};
Knobs g_knobs;

constexpr int kFakeNvmlGpus = 4;
constexpr char kNs[] = "default";

std::string GpuName(int i) { return absl::StrFormat("soak-gpu-%02d", i); }
uint64_t Rv(const std::string& rv) { return std::strtoull(rv.c_str(), nullptr, 10); }
uint64_t Rv(const v1::Gpu& gpu) { return Rv(gpu.metadata().resource_version()); }

v1::Gpu MakeGpu(const std::string& name, const std::map<std::string, std::string>& labels) {
  v1::Gpu g;
  g.mutable_metadata()->set_name(name);
  g.mutable_metadata()->set_namespace_(kNs);
  for (const auto& [k, v] : labels) (*g.mutable_metadata()->mutable_labels())[k] = v;
  return g;
}

std::string GpuUuid(int i) { return absl::StrFormat("GPU-50a50000-0000-4000-8000-%012d", i); }

// Thread-safe random numbers.
class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  int Uniform(int lo, int hi) {
    std::lock_guard<std::mutex> l(mu_);
    return std::uniform_int_distribution<int>(lo, hi)(gen_);
  }
  absl::Duration Between(absl::Duration lo, absl::Duration hi) {
    const int64_t a = absl::ToInt64Milliseconds(lo), b = absl::ToInt64Milliseconds(hi);
    std::lock_guard<std::mutex> l(mu_);
    return absl::Milliseconds(std::uniform_int_distribution<int64_t>(a, std::max(a, b))(gen_));
  }

 private:
  std::mutex mu_;
  std::mt19937_64 gen_;
};

// Sleeps until `d` passed or `stop` is set.
void SleepUnless(const std::atomic<bool>& stop, absl::Duration d) {
  const absl::Time end = absl::Now() + d;
  while (!stop.load() && absl::Now() < end)
    absl::SleepFor(std::min(absl::Milliseconds(50), end - absl::Now()));
}

std::unique_ptr<Clientset> NewClient(const std::string& target) {
  Config cfg;
  cfg.target = target;
  cfg.timeout = absl::Seconds(20);
  cfg.user_agent = "soak";
  auto cs = Clientset::NewForConfig(cfg);
  if (!cs.ok()) {
    ADD_FAILURE() << cs.status();
    return nullptr;
  }
  return std::move(*cs);
}

// ---------------------------------------------------------------------------------------------
// The server process, restartable; its pid for the sampler.

class Server {
 public:
  explicit Server(const TempDir& dir) : dir_(dir) {}

  bool Start() {
    ServerProcess::Config cfg;
    cfg.extra_args = {"--datastore-endpoint=sqlite://" + dir_.File("state.db")};
    std::unique_ptr<ServerProcess> s;
    for (int attempt = 0; attempt < 3 && !s; ++attempt) {
      s = ServerProcess::Spawn(dir_, cfg, 0, 0);
      if (s && !s->WaitServing(absl::Seconds(60))) {
        std::fprintf(stderr, "soak: server did not become SERVING:\n%s\n", s->Log().c_str());
        s.reset();
      }
    }
    if (!s) return false;
    absl::MutexLock l(&mu_);
    proc_ = std::move(s);
    pid_ = proc_->process().pid();
    ++incarnation_;
    return true;
  }
  // Stops with `sig`; for SIGTERM checks a clean exit (0).
  bool Stop(int sig) {
    std::unique_ptr<ServerProcess> s;
    {
      absl::MutexLock l(&mu_);
      s = std::move(proc_);
      pid_ = 0;
    }
    if (!s) return true;
    s->process().Signal(sig);
    const auto exit = s->process().WaitFor(absl::Seconds(60));
    if (sig == SIGTERM && !(exit.exited && exit.exit_code == 0)) {
      ADD_FAILURE() << "device-api-server did not exit cleanly on SIGTERM: " << exit.ToString() << "\n"
                    << s->Log();
      return false;
    }
    if (!exit.exited) s->process().Signal(SIGKILL);
    return true;
  }
  pid_t pid() const {
    absl::MutexLock l(&mu_);
    return pid_;
  }
  int incarnation() const {
    absl::MutexLock l(&mu_);
    return incarnation_;
  }
  std::string target() const { return "unix://" + dir_.File("api.sock"); }

 private:
  const TempDir& dir_;
  mutable absl::Mutex mu_;
  std::unique_ptr<ServerProcess> proc_ ABSL_GUARDED_BY(mu_);
  pid_t pid_ ABSL_GUARDED_BY(mu_) = 0;
  int incarnation_ ABSL_GUARDED_BY(mu_) = 0;
};

// ---------------------------------------------------------------------------------------------
// RSS and fd samples.

struct Sample {
  double t;  // seconds since the start
  int incarnation;
  int64_t rss_kib;
  int fds;
};

std::optional<Sample> ReadSample(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  int64_t rss = -1;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) rss = std::strtoll(line.c_str() + 6, nullptr, 10);
  }
  if (rss < 0) return std::nullopt;
  DIR* d = opendir(absl::StrCat("/proc/", pid, "/fd").c_str());
  if (!d) return std::nullopt;
  int fds = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++fds;
  }
  closedir(d);
  return Sample{0, 0, rss, fds};
}

// ---------------------------------------------------------------------------------------------
// Validation queue: ended segments are validated once every write that may be in them is
// recorded (WriteHistory::Settled), in the order they ended (so each watch's in order).

class Validator {
 public:
  explicit Validator(WriteHistory& history) : history_(history) {}

  void Push(WatchChecker* checker, WatchSegment seg) {
    absl::MutexLock l(&mu_);
    queue_.push_back(Item{checker, std::move(seg), history_.LastTicket()});
  }
  // Validates every settled segment at the head of the queue; returns how many are left.
  size_t Drain() {
    while (true) {
      Item item;
      {
        absl::MutexLock l(&mu_);
        if (queue_.empty() || !history_.Settled(queue_.front().ticket)) return queue_.size();
        item = std::move(queue_.front());
        queue_.pop_front();
      }
      std::vector<testing::Violation> v;
      item.checker->CheckSegment(history_, item.seg, &v);
      absl::MutexLock l(&mu_);
      events_ += item.seg.events.size();
      for (auto& x : v) {
        if (violations_.size() < 50) std::fprintf(stderr, "soak: VIOLATION %s\n", x.ToString().c_str());
        violations_.push_back(std::move(x));
      }
    }
  }
  // The lowest RV a queued segment starts from (UINT64_MAX: none).
  uint64_t MinQueuedStart() {
    absl::MutexLock l(&mu_);
    uint64_t m = UINT64_MAX;
    for (const auto& i : queue_) m = std::min(m, i.seg.start_rv);
    return m;
  }
  std::vector<testing::Violation> violations() {
    absl::MutexLock l(&mu_);
    return violations_;
  }
  uint64_t events() {
    absl::MutexLock l(&mu_);
    return events_;
  }

 private:
  struct Item {
    WatchChecker* checker = nullptr;
    WatchSegment seg;
    uint64_t ticket = 0;
  };
  WriteHistory& history_;
  absl::Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<testing::Violation> violations_ ABSL_GUARDED_BY(mu_);
  uint64_t events_ ABSL_GUARDED_BY(mu_) = 0;
};

// ---------------------------------------------------------------------------------------------
// The soak.

class Soak {
 public:
  Soak() : rng_(g_knobs.seed), history_(), validator_(history_), server_(dir_) {}

  void Run();

 private:
  // Setup.
  void CreateGpus();
  void StartConsumers();
  // Loops.
  void Writer(int w);
  void Watcher(int i);
  void Informers();
  void Chaos();
  void Sampler();
  void Pruner();
  // Checks.
  void CheckDurability(const std::map<std::string, testing::RecordedWrite>& before);
  void FinalState();
  bool InformersConverged(std::string* why);
  void CheckConsumers();
  void RestartServer(int sig);
  void Summary();

  v1::Gpu StatusFor(int gpu, bool healthy, const std::string& message) const;

  TempDir dir_;
  Rng rng_;
  WriteHistory history_;
  Validator validator_;
  Server server_;
  absl::Time start_;
  std::atomic<bool> stop_writers_{false};
  std::atomic<bool> stop_watchers_{false};
  std::atomic<bool> stop_chaos_{false};
  std::atomic<bool> stop_sampler_{false};
  std::atomic<bool> steady_{false};  // the last server incarnation has begun
  int steady_incarnation_ = 0;
  double steady_since_ = 0;

  std::vector<std::unique_ptr<WatchChecker>> checkers_;
  std::vector<std::atomic<uint64_t>> watcher_start_;  // current segment's start RV (0: none)

  absl::Mutex sample_mu_;
  std::vector<Sample> samples_ ABSL_GUARDED_BY(sample_mu_);

  // Counters.
  std::atomic<uint64_t> writes_ok_{0}, writes_failed_{0}, watch_resumes_{0}, watch_cancels_{0},
      watch_relists_{0}, watch_errors_{0}, server_sigterm_{0}, server_sigkill_{0}, durability_checks_{0},
      informer_restarts_{0}, informer_notifications_{0};
  std::map<std::string, int> consumer_restarts_;  // by name (Chaos thread only, then read at the end)
  std::vector<std::string> failures_;             // criteria that failed (main thread)

  // Consumers.
  struct Consumer {
    std::string name;
    ChildProcess::Spec spec;
    std::unique_ptr<ChildProcess> proc;
  };
  std::map<std::string, Consumer> consumers_;
  std::mutex consumers_mu_;
  void SpawnConsumer(const std::string& name);

  // Informers (owned by the Informers thread; the final check reads them after it joined).
  std::vector<std::unique_ptr<Clientset>> informer_clients_;
  std::vector<std::unique_ptr<SharedInformerFactory>> factories_;
  std::vector<EventHandlerRegistrationPtr> registrations_;
  void BuildInformer(size_t i);
};

v1::Gpu Soak::StatusFor(int gpu, bool healthy, const std::string& message) const {
  v1::Gpu g = MakeGpu(GpuName(gpu), {});
  auto* ready = g.mutable_status()->add_conditions();
  ready->set_type("Ready");
  ready->set_status(healthy ? "True" : "False");
  ready->set_reason(healthy ? "SoakHealthy" : "SoakUnhealthy");
  ready->set_message(message);
  auto* probe = g.mutable_status()->add_conditions();
  probe->set_type("SoakProbe");
  probe->set_status("True");
  probe->set_reason("Written");
  probe->set_message(message);
  return g;
}

void Soak::CreateGpus() {
  auto cs = NewClient(server_.target());
  ASSERT_TRUE(cs);
  auto gpus = cs->DeviceV1alpha1().Gpus(kNs);
  for (int i = 0; i < g_knobs.gpus; ++i) {
    v1::Gpu g = MakeGpu(GpuName(i), {{"pool", i % 2 ? "b" : "a"}, {"soak", "true"}});
    g.mutable_spec()->set_uuid(GpuUuid(i));
    g.mutable_spec()->set_product_name("Soak GPU");
    const uint64_t t = history_.BeginWrite();
    auto created = gpus->Create(g);
    ASSERT_TRUE(created.ok()) << created.status();
    history_.RecordAck(t, WriteKind::kCreate, *created);
    // A first status (healthy), so that the consumers see known health from the start.
    v1::Gpu st = StatusFor(i, true, "initial");
    const uint64_t t2 = history_.BeginWrite();
    auto updated = gpus->UpdateStatus(st);
    ASSERT_TRUE(updated.ok()) << updated.status();
    history_.RecordAck(t2, WriteKind::kUpdate, *updated);
  }
}

void Soak::Writer(int w) {
  auto cs = NewClient(server_.target());
  if (!cs) return;
  auto gpus = cs->DeviceV1alpha1().Gpus(kNs);
  std::vector<int> mine;
  for (int i = w; i < g_knobs.gpus; i += g_knobs.writers) mine.push_back(i);
  if (mine.empty()) return;
  const absl::Duration period = absl::Seconds(1) * g_knobs.writers / std::max(1, g_knobs.write_qps);
  uint64_t seq = 0;
  absl::Time next = absl::Now();
  while (!stop_writers_.load()) {
    const int gpu = mine[rng_.Uniform(0, static_cast<int>(mine.size()) - 1)];
    // Mostly healthy; now and then unhealthy, so that the consumers see changes.
    const bool healthy = rng_.Uniform(0, 9) != 0;
    v1::Gpu st = StatusFor(gpu, healthy, absl::StrCat("w", w, " seq ", ++seq));
    UpdateOptions opts;
    opts.call_timeout = absl::Seconds(20);
    const uint64_t t = history_.BeginWrite();
    auto r = gpus->UpdateStatus(st, opts);
    if (r.ok()) {
      history_.RecordAck(t, WriteKind::kUpdate, *r);
      ++writes_ok_;
    } else {
      // UNAVAILABLE or DEADLINE_EXCEEDED around a restart: it may or may not have been applied.
      history_.RecordAttempt(t, WriteKind::kUpdate, st);
      ++writes_failed_;
      SleepUnless(stop_writers_, absl::Milliseconds(200));
    }
    next += period;
    const absl::Time now = absl::Now();
    if (next < now) next = now;
    SleepUnless(stop_writers_, next - now);
  }
}

void Soak::Watcher(int i) {
  auto cs = NewClient(server_.target());
  if (!cs) return;
  auto gpus = cs->DeviceV1alpha1().Gpus("");
  WatchFilter filter;
  if (i % 4 == 1) filter.label_selector = "pool=a";
  if (i % 8 == 3) filter.field_selector = "metadata.name=" + GpuName(i % std::max(1, g_knobs.gpus));
  auto checker = std::make_unique<WatchChecker>(absl::StrCat("w", i), filter);
  WatchChecker* ck = checker.get();
  {
    static std::mutex mu;
    std::lock_guard<std::mutex> l(mu);
    checkers_[i] = std::move(checker);
  }
  ListOptions lopts;
  lopts.label_selector = filter.label_selector;
  lopts.field_selector = filter.field_selector;

  // Lists until it works; returns the list's RV (0: stopped).
  auto relist = [&]() -> uint64_t {
    while (!stop_watchers_.load()) {
      ListOptions o = lopts;
      o.call_timeout = absl::Seconds(20);
      auto l = gpus->List(o);
      if (l.ok()) return Rv(l->metadata().resource_version());
      SleepUnless(stop_watchers_, absl::Milliseconds(300));
    }
    return 0;
  };

  WatchSegment seg;
  seg.start_rv = relist();
  seg.resumed = false;
  watcher_start_[i] = seg.start_rv;
  while (!stop_watchers_.load() && seg.start_rv != 0) {
    ListOptions o = lopts;
    o.resource_version = std::to_string(seg.start_rv);
    o.allow_watch_bookmarks = true;
    if (rng_.Uniform(0, 3) == 0) o.timeout_seconds = rng_.Uniform(1, 10);  // the server ends it
    auto watch = gpus->Watch(o);
    const absl::Time cancel_at = absl::Now() + rng_.Between(absl::Seconds(1), absl::Seconds(15));
    bool cancelled = false;
    std::optional<WatchResult> result;
    if (watch.ok()) {
      while (true) {
        if (stop_watchers_.load() || absl::Now() >= cancel_at) {
          (*watch)->Stop();
          cancelled = true;
          break;
        }
        auto ev = (*watch)->NextUntil(std::min(cancel_at, absl::Now() + absl::Milliseconds(200)));
        if (ev) {
          seg.events.push_back(RecordedEvent{ev->type, Rv(ev->resource_version()), ev->object});
          continue;
        }
        if ((*watch)->Done()) {
          result = (*watch)->Result();
          break;
        }
      }
      watch->reset();
    } else {
      ++watch_errors_;
      SleepUnless(stop_watchers_, absl::Milliseconds(500));
    }
    const uint64_t last = std::max(seg.start_rv, seg.LastSeen());
    const bool relist_needed = result && result->action == WatchEndAction::kRelist;
    if (result && result->action == WatchEndAction::kFail) {
      ADD_FAILURE() << "watcher " << i << ": watch failed: " << result->status;
      ++watch_errors_;
    }
    validator_.Push(ck, std::move(seg));
    seg = WatchSegment{};
    if (cancelled) {
      ++watch_cancels_;
    } else if (result && !result->status.ok()) {
      SleepUnless(stop_watchers_, rng_.Between(absl::Milliseconds(100), absl::Milliseconds(1000)));
    }
    if (stop_watchers_.load()) break;
    if (relist_needed) {
      ++watch_relists_;
      seg.start_rv = relist();
      seg.resumed = false;
    } else {
      ++watch_resumes_;
      seg.start_rv = last;
      seg.resumed = true;
    }
    watcher_start_[i] = seg.start_rv;
  }
  watcher_start_[i] = UINT64_MAX;
}

void Soak::BuildInformer(size_t i) {
  registrations_[i].reset();
  factories_[i].reset();
  informer_clients_[i] = NewClient(server_.target());
  if (!informer_clients_[i]) return;
  SharedInformerFactoryOptions fo;
  fo.tweak = [](InformerOptions& o) {
    o.reflector.initial_backoff = absl::Milliseconds(200);
    o.reflector.max_backoff = absl::Seconds(2);
    o.reflector.min_watch_timeout = absl::Seconds(20);
    o.reflector.max_watch_timeout = absl::Seconds(40);
  };
  factories_[i] = std::make_unique<SharedInformerFactory>(*informer_clients_[i], fo);
  ResourceEventHandlerFuncs h;
  h.on_add = [this](const v1::Gpu&, bool) { ++informer_notifications_; };
  h.on_update = [this](const v1::Gpu&, const v1::Gpu&) { ++informer_notifications_; };
  h.on_delete = [this](const v1::Gpu&, bool) { ++informer_notifications_; };
  registrations_[i] = factories_[i]->Gpus().AddEventHandler(h);
  factories_[i]->Start();
}

void Soak::Informers() {
  while (!stop_chaos_.load()) {
    SleepUnless(stop_chaos_, rng_.Between(absl::Seconds(10), absl::Seconds(30)));
    if (stop_chaos_.load() || factories_.empty()) break;
    BuildInformer(rng_.Uniform(0, static_cast<int>(factories_.size()) - 1));
    ++informer_restarts_;
  }
}

void Soak::SpawnConsumer(const std::string& name) {
  std::lock_guard<std::mutex> l(consumers_mu_);
  Consumer& c = consumers_[name];
  c.proc = ChildProcess::Spawn(c.spec);
}

void Soak::StartConsumers() {
  const std::string target = server_.target();
  const std::string bin = g_knobs.bin_dir;
  // The fake NVML behind the provider's real --driver-root search.
  const std::string driver = dir_.File("driver");
  ASSERT_EQ(system(absl::StrCat("mkdir -p ", driver, "/usr/lib64 ", driver, "/sys ", dir_.File("kubelet"),
                                " ", dir_.File("npd"))
                       .c_str()),
            0);
  ASSERT_EQ(symlink((bin + "/tests/fakes/libnvidia-ml.so.1").c_str(),
                    (driver + "/usr/lib64/libnvidia-ml.so.1").c_str()),
            0);
  {
    std::ofstream(dir_.File("nvml-events")).flush();
    std::string devices;
    for (int i = 0; i < kFakeNvmlGpus; ++i) {
      absl::StrAppendFormat(
          &devices,
          "%s{\"uuid\": \"GPU-6f1b2c%02x-5e1f-4d3a-9c2b-%012d\", \"name\": \"NVIDIA H100 80GB HBM3\", "
          "\"memory_bytes\": 85520809984, \"pci_bus_id\": \"0000:%02x:00.0\", \"minor\": %d, "
          "\"numa_node\": 0, \"architecture\": \"Hopper\", \"compute_capability\": \"9.0\", "
          "\"serial\": \"16500000%04d\", \"reset_required\": false}",
          i ? ", " : "", i, i, 0x18 + i * 0x10, i, i);
    }
    std::ofstream(dir_.File("fake-nvml.json"))
        << "{\"driver_version\": \"550.54.15\", \"events\": \"" << dir_.File("nvml-events")
        << "\", \"devices\": [" << devices << "]}\n";
  }
  const int total = g_knobs.gpus + kFakeNvmlGpus;
  auto add = [&](const std::string& name, std::vector<std::string> argv,
                 std::map<std::string, std::string> env = {}) {
    Consumer c;
    c.name = name;
    c.spec.argv = std::move(argv);
    c.spec.env = std::move(env);
    c.spec.stdout_path = dir_.File(name + ".out");
    c.spec.stderr_path = dir_.File(name + ".log");
    consumers_[name] = std::move(c);
    SpawnConsumer(name);
  };
  add("provider",
      {bin + "/cmd/nvml-provider/nvml-provider", "--server-address", target, "--driver-root", driver,
       "--sysfs-root", driver + "/sys", "--health-host", "127.0.0.1", "--health-port", "0",
       "--reconcile-interval", "1s", "--heartbeat-interval", "5s"},
      {{"FAKE_NVML_CONFIG", dir_.File("fake-nvml.json")}});
  add("kubelet", {bin + "/tools/demo/devapi-fake-kubelet", "--dir", dir_.File("kubelet")});
  ASSERT_TRUE(PollUntil([&] { return access(dir_.File("kubelet/kubelet.sock").c_str(), F_OK) == 0; },
                        absl::Seconds(60)))
      << "the fake kubelet did not create its socket";
  add("plugin", {bin + "/cmd/gpu-device-plugin/gpu-device-plugin", "--server-address", target,
                 "--device-plugin-path", dir_.File("kubelet") + "/", "--metrics-bind-address", "0"});
  add("monitor", {bin + "/cmd/npd-gpu-monitor/npd-gpu-monitor", "serve", "--server-address", target,
                  "--socket", dir_.File("npd/monitor.sock"), "--expected-gpus", std::to_string(total),
                  "--metrics-bind-address", "0"});
  add("npd", {bin + "/tools/demo/devapi-fake-npd", "--socket", dir_.File("npd/monitor.sock"), "--interval-ms",
              "500", "--connect-timeout", "600"});
}

void Soak::RestartServer(int sig) {
  server_.Stop(sig);
  ++(sig == SIGKILL ? server_sigkill_ : server_sigterm_);
  // While it is down no write can be acknowledged: everything recorded as acknowledged by now
  // must survive (an answer still on its way is recorded later and just not checked here).
  const auto before = history_.LastAcks();
  if (!server_.Start()) {
    ADD_FAILURE() << "device-api-server did not restart";
    return;
  }
  CheckDurability(before);
}

void Soak::CheckDurability(const std::map<std::string, testing::RecordedWrite>& before) {
  auto cs = NewClient(server_.target());
  if (!cs) return;
  ListOptions o;
  o.call_timeout = absl::Seconds(30);
  auto list = cs->DeviceV1alpha1().Gpus("")->List(o);
  if (!list.ok()) {
    ADD_FAILURE() << "list after restart: " << list.status();
    return;
  }
  std::map<std::string, v1::Gpu> now;
  for (const auto& g : list->items()) now[testing::ObjectKey(g)] = g;
  for (const auto& [key, w] : before) {
    ++durability_checks_;
    auto it = now.find(key);
    if (it == now.end()) {
      ADD_FAILURE() << "LOST: " << key << " (acknowledged at RV " << w.rv << ") is gone after the restart";
      continue;
    }
    const uint64_t rv = Rv(it->second);
    if (rv < w.rv) {
      ADD_FAILURE() << "LOST: " << key << " is at RV " << rv
                    << " after the restart, below its acknowledged RV " << w.rv;
    } else if (rv == w.rv) {
      std::string diff;
      google::protobuf::util::MessageDifferencer d;
      d.ReportDifferencesToString(&diff);
      if (!d.Compare(w.object, it->second)) {
        ADD_FAILURE() << "CHANGED: " << key << " at RV " << rv
                      << " differs from what was acknowledged: " << diff;
      }
    }
    // Above: written since (the writers go on during the restart); the watch validators check it.
  }
}

void Soak::Chaos() {
  const double total = g_knobs.seconds;
  const absl::Time steady_at = start_ + absl::Seconds(total * 0.4);
  absl::Time next_server = start_ + rng_.Between(absl::Seconds(total * 0.05), absl::Seconds(total * 0.15));
  absl::Time next_consumer = start_ + rng_.Between(absl::Seconds(5), absl::Seconds(15));
  int server_restarts = 0;
  while (!stop_chaos_.load()) {
    const absl::Time now = absl::Now();
    if (!steady_.load() && now >= steady_at) {
      steady_incarnation_ = server_.incarnation();
      steady_since_ = absl::ToDoubleSeconds(now - start_);
      steady_ = true;
    }
    if (!steady_.load() && now >= next_server) {
      // At least one SIGKILL per run (the second restart), else 1 in 3.
      const bool kill = server_restarts == 1 || rng_.Uniform(0, 2) == 0;
      RestartServer(kill ? SIGKILL : SIGTERM);
      ++server_restarts;
      next_server = absl::Now() + rng_.Between(absl::Seconds(std::max(5.0, total * 0.05)),
                                               absl::Seconds(std::max(8.0, total * 0.12)));
      if (absl::Now() >= steady_at || next_server >= steady_at) {
        steady_incarnation_ = server_.incarnation();
        steady_since_ = absl::ToDoubleSeconds(absl::Now() - start_);
        steady_ = true;
      }
    }
    if (g_knobs.consumers && now >= next_consumer) {
      static const char* kNames[] = {"plugin", "monitor", "provider"};
      const std::string name = kNames[rng_.Uniform(0, 2)];
      const bool kill = rng_.Uniform(0, 3) == 0;
      {
        std::lock_guard<std::mutex> l(consumers_mu_);
        auto& c = consumers_[name];
        if (c.proc) {
          c.proc->Signal(kill ? SIGKILL : SIGTERM);
          auto exit = c.proc->WaitFor(absl::Seconds(30));
          if (!exit.exited) {
            ADD_FAILURE() << name << " did not exit within 30 s of SIGTERM";
            c.proc->Signal(SIGKILL);
            c.proc->WaitFor(absl::Seconds(10));
          }
        }
      }
      SpawnConsumer(name);
      ++consumer_restarts_[absl::StrCat(name, kill ? " (SIGKILL)" : " (SIGTERM)")];
      next_consumer = absl::Now() + rng_.Between(absl::Seconds(5), absl::Seconds(20));
    }
    SleepUnless(stop_chaos_, absl::Milliseconds(200));
  }
}

void Soak::Sampler() {
  while (!stop_sampler_.load()) {
    const pid_t pid = server_.pid();
    const int inc = server_.incarnation();
    if (auto s = ReadSample(pid)) {
      s->t = absl::ToDoubleSeconds(absl::Now() - start_);
      s->incarnation = inc;
      absl::MutexLock l(&sample_mu_);
      samples_.push_back(*s);
    }
    SleepUnless(stop_sampler_, absl::Seconds(g_knobs.seconds >= 600 ? 5 : 1));
  }
}

void Soak::Pruner() {
  while (!stop_watchers_.load()) {
    SleepUnless(stop_watchers_, absl::Seconds(2));
    validator_.Drain();
    // The watchers' current starts first: a segment that ends meanwhile is then in the queue.
    uint64_t low = UINT64_MAX;
    for (const auto& s : watcher_start_) low = std::min(low, s.load());
    low = std::min(low, validator_.MinQueuedStart());
    if (low != UINT64_MAX) history_.PruneBelow(low);
  }
}

void Soak::FinalState() {
  // Every GPU healthy except soak-gpu-00; the provider's GPUs are healthy on the fake NVML.
  auto cs = NewClient(server_.target());
  ASSERT_TRUE(cs);
  auto gpus = cs->DeviceV1alpha1().Gpus(kNs);
  for (int i = 0; i < g_knobs.gpus; ++i) {
    v1::Gpu st = StatusFor(i, i != 0, "final");
    const uint64_t t = history_.BeginWrite();
    UpdateOptions o;
    o.call_timeout = absl::Seconds(30);
    auto r = gpus->UpdateStatus(st, o);
    if (!r.ok()) {
      history_.RecordAttempt(t, WriteKind::kUpdate, st);
      ADD_FAILURE() << "final status of " << GpuName(i) << ": " << r.status();
      continue;
    }
    history_.RecordAck(t, WriteKind::kUpdate, *r);
  }
}

bool Soak::InformersConverged(std::string* why) {
  auto cs = NewClient(server_.target());
  if (!cs) return false;
  auto list = cs->DeviceV1alpha1().Gpus("")->List();
  if (!list.ok()) {
    *why = list.status().ToString();
    return false;
  }
  std::map<std::string, std::string> want;
  for (const auto& g : list->items()) want[testing::ObjectKey(g)] = g.metadata().resource_version();
  for (size_t i = 0; i < factories_.size(); ++i) {
    if (!factories_[i]) continue;
    std::map<std::string, std::string> have;
    for (const auto& g : factories_[i]->Gpus().GetIndexer()->List()) {
      have[testing::ObjectKey(*g)] = g->metadata().resource_version();
    }
    if (have != want) {
      *why = absl::StrCat("informer ", i, " has ", have.size(), " objects, the server ", want.size(),
                          " (or RVs differ); cache RV ", factories_[i]->Gpus().LastSyncResourceVersion(),
                          ", list RV ", list->metadata().resource_version());
      return false;
    }
  }
  return true;
}

// The last line of `file` that matches `prefix`.
std::string LastLine(const std::string& file, const std::string& prefix) {
  std::ifstream in(file);
  std::string line, last;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) last = line;
  }
  return last;
}

void Soak::CheckConsumers() {
  const int total = g_knobs.gpus + kFakeNvmlGpus;
  const std::string want_kubelet =
      absl::StrCat("kubelet: nvidia.com/gpu ", total, " devices: ", total - 1, " healthy, 1 unhealthy");
  std::string kubelet, unhealthy, mismatch;
  const bool ok = PollUntil(
      [&] {
        kubelet = LastLine(dir_.File("kubelet.out"), "kubelet: nvidia.com/gpu");
        unhealthy = LastLine(dir_.File("npd.out"), "npd: condition GPUUnhealthy=");
        mismatch = LastLine(dir_.File("npd.out"), "npd: condition GPUCountMismatch=");
        return kubelet.rfind(want_kubelet, 0) == 0 && kubelet.find(GpuUuid(0)) != std::string::npos &&
               unhealthy.find("GPUUnhealthy=True") != std::string::npos &&
               unhealthy.find(absl::StrCat("1/", total, " GPUs unhealthy")) != std::string::npos &&
               mismatch.find("GPUCountMismatch=False") != std::string::npos;
      },
      absl::Seconds(90), absl::Milliseconds(250));
  std::printf("soak: consumers: %s\nsoak: consumers: %s\nsoak: consumers: %s\n", kubelet.c_str(),
              unhealthy.c_str(), mismatch.c_str());
  if (!ok) {
    failures_.push_back("plugin/monitor health: expected \"" + want_kubelet + " (" + GpuUuid(0) +
                        " Unhealthy)\", GPUUnhealthy=True (1/" + std::to_string(total) +
                        ") and GPUCountMismatch=False");
  }
  std::lock_guard<std::mutex> l(consumers_mu_);
  for (auto& [name, c] : consumers_) {
    if (c.proc && c.proc->Exited()) {
      failures_.push_back(name + " exited by itself: " + c.proc->WaitFor(absl::ZeroDuration()).ToString());
    }
  }
}

void Soak::Run() {
  std::printf(
      "soak: %d s, %d watchers, %d writers on %d GPUs at %d writes/s, %d informers, consumers %s, seed "
      "%" PRIu64 ", dir %s\n",
      g_knobs.seconds, g_knobs.watchers, g_knobs.writers, g_knobs.gpus, g_knobs.write_qps, g_knobs.informers,
      g_knobs.consumers ? "on" : "off", g_knobs.seed, dir_.path().c_str());
  std::fflush(stdout);
  start_ = absl::Now();
  ASSERT_TRUE(server_.Start());
  std::thread sampler([this] { Sampler(); });
  CreateGpus();
  if (g_knobs.consumers) StartConsumers();
  if (::testing::Test::HasFatalFailure()) {
    stop_sampler_ = true;
    sampler.join();
    return;
  }

  checkers_.resize(g_knobs.watchers);
  watcher_start_ = std::vector<std::atomic<uint64_t>>(g_knobs.watchers);
  for (auto& s : watcher_start_) s = 0;
  informer_clients_.resize(g_knobs.informers);
  factories_.resize(g_knobs.informers);
  registrations_.resize(g_knobs.informers);
  for (int i = 0; i < g_knobs.informers; ++i) BuildInformer(i);

  std::vector<std::thread> writers, watchers;
  for (int w = 0; w < g_knobs.writers; ++w) writers.emplace_back([this, w] { Writer(w); });
  for (int i = 0; i < g_knobs.watchers; ++i) watchers.emplace_back([this, i] { Watcher(i); });
  std::thread pruner([this] { Pruner(); });
  std::thread chaos([this] { Chaos(); });
  std::thread informers([this] { Informers(); });

  // Progress every ~10% of the run.
  const absl::Time end = start_ + absl::Seconds(g_knobs.seconds);
  while (absl::Now() < end) {
    absl::SleepFor(std::min(absl::Seconds(std::max(10, g_knobs.seconds / 10)), end - absl::Now()));
    Sample last{};
    {
      absl::MutexLock l(&sample_mu_);
      if (!samples_.empty()) last = samples_.back();
    }
    std::printf("soak: [%4.0fs] writes acked %" PRIu64 ", failed %" PRIu64 ", events validated %" PRIu64
                ", violations %zu, server restarts %" PRIu64 ", rss %" PRId64 " KiB, fds %d\n",
                absl::ToDoubleSeconds(absl::Now() - start_), writes_ok_.load(), writes_failed_.load(),
                validator_.events(), validator_.violations().size(), server_sigterm_ + server_sigkill_,
                last.rss_kib, last.fds);
    std::fflush(stdout);
  }

  // Wind down: no more churn, then no more writes, then the final state and the checks.
  stop_chaos_ = true;
  chaos.join();
  informers.join();
  stop_writers_ = true;
  for (auto& t : writers) t.join();
  FinalState();
  // Let the watchers see the final writes before they stop.
  absl::SleepFor(absl::Seconds(3));
  stop_watchers_ = true;
  for (auto& t : watchers) t.join();
  pruner.join();
  if (!PollUntil([&] { return validator_.Drain() == 0; }, absl::Seconds(120))) {
    failures_.push_back("validation queue did not drain (a write never settled)");
  }
  std::string why;
  if (!PollUntil([&] { return InformersConverged(&why); }, absl::Seconds(90), absl::Milliseconds(500))) {
    failures_.push_back("informer caches did not converge to the server's List: " + why);
  }
  if (g_knobs.consumers) CheckConsumers();
  // The final durability check: a SIGTERM restart keeps everything.
  RestartServer(SIGTERM);
  // A quiet second in the last incarnation, then stop sampling.
  absl::SleepFor(absl::Seconds(2));
  stop_sampler_ = true;
  sampler.join();
  for (auto& [name, c] : consumers_) {
    if (c.proc && !c.proc->Exited()) {
      c.proc->Signal(SIGTERM);
      c.proc->WaitFor(absl::Seconds(20));
    }
  }
  for (auto& f : factories_) f.reset();
  Summary();
  server_.Stop(SIGTERM);
  if (::testing::Test::HasFailure() || !failures_.empty() || g_knobs.keep) {
    // The temp dir goes with this object: copy the logs out.
    char kept[] = "/tmp/devapi-soak-logs.XXXXXX";
    if (mkdtemp(kept) &&
        system(absl::StrCat("cp -r ", dir_.path(), "/. ", kept, " 2>/dev/null").c_str()) == 0) {
      std::printf("soak: logs kept in %s\n", kept);
    }
  }
}

void Soak::Summary() {
  std::vector<Sample> steady;
  int64_t rss_first = 0, rss_peak = 0;
  {
    absl::MutexLock l(&sample_mu_);
    if (!samples_.empty()) rss_first = samples_.front().rss_kib;
    for (const auto& s : samples_) {
      rss_peak = std::max(rss_peak, s.rss_kib);
      // The steady incarnation, after a warm-up: 60 s (20% of the run if that is shorter), or a
      // quarter of the steady phase if that is longer (a fresh server fills its watch history,
      // 10,000 events, in ~4 minutes at 40 writes/s: the first window must not be before that).
      const double warmup =
          std::max(std::min(60.0, g_knobs.seconds * 0.2), (g_knobs.seconds - steady_since_) * 0.25);
      if (s.incarnation == steady_incarnation_ && s.t >= steady_since_ + warmup && s.t <= g_knobs.seconds) {
        steady.push_back(s);
      }
    }
  }
  const size_t n = steady.size();
  const size_t w = std::max<size_t>(1, n / 10);
  double rss_a = 0, rss_b = 0;
  int fd_a_max = 0, fd_b_min = INT32_MAX;
  if (n >= 4) {
    for (size_t i = 0; i < w; ++i) {
      rss_a += steady[i].rss_kib;
      fd_a_max = std::max(fd_a_max, steady[i].fds);
    }
    for (size_t i = n - w; i < n; ++i) {
      rss_b += steady[i].rss_kib;
      fd_b_min = std::min(fd_b_min, steady[i].fds);
    }
    rss_a /= w;
    rss_b /= w;
    // Bounded growth: the last window's mean at most 20% + 16 MiB above the first window's.
    const double limit = rss_a * 1.2 + 16 * 1024;
    if (rss_b > limit) {
      failures_.push_back(
          absl::StrFormat("RSS grew: %.0f KiB -> %.0f KiB (limit %.0f KiB)", rss_a, rss_b, limit));
    }
    // No fd leak: the lowest count of the last window at most 8 above the highest of the first.
    if (fd_b_min > fd_a_max + 8) {
      failures_.push_back(absl::StrFormat("fds grew: %d -> %d", fd_a_max, fd_b_min));
    }
  } else {
    failures_.push_back(absl::StrCat("too few steady-state samples (", n, ") to judge RSS and fds"));
  }
  const auto violations = validator_.violations();
  if (!violations.empty())
    failures_.push_back(absl::StrCat(violations.size(), " watch validator violations"));
  testing::WatchCheckStats total;
  for (const auto& c : checkers_) {
    if (!c) continue;
    const auto& s = c->stats();
    total.segments += s.segments;
    total.events += s.events;
    total.bookmarks += s.bookmarks;
    total.covered_events += s.covered_events;
    total.foreign_events += s.foreign_events;
    total.unacked_matched += s.unacked_matched;
    total.gap_checked += s.gap_checked;
  }
  if (total.covered_events == 0) failures_.push_back("no event was validated");
  const bool pass = failures_.empty() && !::testing::Test::HasFailure();

  std::printf("\n===== soak summary (%d s, seed %" PRIu64 ") =====\n", g_knobs.seconds, g_knobs.seed);
  std::printf("writes acked          %" PRIu64 " (failed/unknown outcome %" PRIu64 ", recorded acks %" PRIu64
              ")\n",
              writes_ok_.load(), writes_failed_.load(), history_.acked());
  std::printf("events validated      %" PRIu64 " in %" PRIu64 " segments (%" PRIu64
              " checked against the history, %" PRIu64 " of other writers, %" PRIu64 " bookmarks, %" PRIu64
              " unacked writes seen, %" PRIu64 " acked writes required)\n",
              total.events, total.segments, total.covered_events, total.foreign_events, total.bookmarks,
              total.unacked_matched, total.gap_checked);
  std::printf("watchers              %d: %" PRIu64 " cancelled+resumed, %" PRIu64 " resumed in all, %" PRIu64
              " relists, %" PRIu64 " errors\n",
              g_knobs.watchers, watch_cancels_.load(), watch_resumes_.load(), watch_relists_.load(),
              watch_errors_.load());
  std::printf("informers             %d: %" PRIu64 " rebuilt, %" PRIu64 " notifications\n", g_knobs.informers,
              informer_restarts_.load(), informer_notifications_.load());
  std::printf("server restarts       %" PRIu64 " SIGTERM, %" PRIu64
              " SIGKILL (incl. the final SIGTERM); %" PRIu64 " durability checks\n",
              server_sigterm_.load(), server_sigkill_.load(), durability_checks_.load());
  std::string restarts;
  for (const auto& [name, count] : consumer_restarts_) absl::StrAppend(&restarts, name, " ", count, "; ");
  std::printf("consumer restarts     %s\n", restarts.empty() ? "none" : restarts.c_str());
  std::printf(
      "server RSS            start %" PRId64 " KiB, peak %" PRId64
      " KiB; steady state (incarnation %d from %.0fs, %zu samples): first 10%% %.0f KiB, last 10%% %.0f "
      "KiB\n",
      rss_first, rss_peak, steady_incarnation_, steady_since_, n, rss_a, rss_b);
  std::printf("server fds            steady state: first 10%% max %d, last 10%% min %d\n", fd_a_max,
              fd_b_min == INT32_MAX ? 0 : fd_b_min);
  std::printf("validator violations  %zu\n", violations.size());
  for (size_t i = 0; i < violations.size() && i < 20; ++i)
    std::printf("  %s\n", violations[i].ToString().c_str());
  for (const auto& f : failures_) std::printf("FAILED: %s\n", f.c_str());
  std::printf("soak: %s\n", pass ? "PASS" : "FAIL");
  std::fflush(stdout);
  if (!failures_.empty()) ADD_FAILURE() << failures_.size() << " soak criteria failed (see the summary)";
}

TEST(Soak, Run) { Soak().Run(); }

}  // namespace
}  // namespace deviceapi::soak

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  using deviceapi::soak::g_knobs;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--seconds") {
      g_knobs.seconds = std::stoi(value());
    } else if (a == "--watchers") {
      g_knobs.watchers = std::stoi(value());
    } else if (a == "--writers") {
      g_knobs.writers = std::stoi(value());
    } else if (a == "--gpus") {
      g_knobs.gpus = std::stoi(value());
    } else if (a == "--write-qps") {
      g_knobs.write_qps = std::stoi(value());
    } else if (a == "--informers") {
      g_knobs.informers = std::stoi(value());
    } else if (a == "--seed") {
      g_knobs.seed = std::stoull(value());
    } else if (a == "--no-consumers") {
      g_knobs.consumers = false;
    } else if (a == "--bin-dir") {
      g_knobs.bin_dir = value();
    } else if (a == "--keep") {
      g_knobs.keep = true;
    } else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  if (g_knobs.seed == 0) g_knobs.seed = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  return RUN_ALL_TESTS();
}
