// devapi-bench: see bench/CMakeLists.txt and docs/performance.md.
//
//   devapi-bench [--targets server,etcd,floor] [--target ADDR]... [--scenarios all|get,list,...]
//                [--size standard|tiny] [--fanout W:R,...] [--server-bin PATH] [--etcd-bin PATH]
//                [--out FILE.md]
//
// Targets: `server`, `etcd` and `floor` are spawned by the bench (temp dir, free ports);
// `--target unix:///abs.sock` is a running device-api-server, `--target etcd://127.0.0.1:2379` a
// running etcd, `--target floor=unix:///abs.sock` a running floor (`devapi-bench --serve-floor`).
// Scenarios: get, list, update, watch-fanout, slow-watcher, footprint (spawned targets only).
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "floor_server.h"
#include "targets.h"
#include "util.h"

namespace devapi_bench {
namespace {

constexpr int64_t kSec = 1000000000;

// ---------------------------------------------------------------------------------------------
// Sizes of the standard suite and of the smoke test.

struct Sizes {
  int gpus, conditions;
  double unary_s;                // per closed-loop measurement
  std::vector<int> get_clients;  // concurrency levels for Get throughput
  std::vector<int> update_clients;
  double list_s;
  struct Fan {
    int watchers, rate;  // rate 0: saturate (closed loop with a window)
  };
  std::vector<Fan> fanout;
  double fanout_s;
  int slow_healthy, slow_rate;
  double slow_s;
  int footprint_watchers;
};

Sizes Standard() {
  return Sizes{1024,
               32,
               2.0,
               {1, 4, 16, 64},
               {1, 16},
               2.0,
               {{1, 1000}, {10, 1000}, {100, 100}, {1000, 10}, {10, 0}, {100, 0}},
               3.0,
               100,
               100,
               4.0,
               100};
}

Sizes Tiny() {
  return Sizes{16, 4, 0.15, {1, 2}, {1, 2}, 0.15, {{1, 200}, {3, 200}, {3, 0}}, 0.2, 3, 200, 0.2, 3};
}

// ---------------------------------------------------------------------------------------------
// Results.

struct Measure {
  bool has_lat = false;
  double p50 = 0, p99 = 0, p999 = 0, max = 0;
  double rate = 0;   // per second
  std::string unit;  // of rate
  std::string note;
  int64_t value = -1;  // footprint rows: bytes or ns
};

Measure FromLatencies(Latencies& l, double rate, const std::string& unit) {
  l.Finalize();
  Measure m;
  m.has_lat = l.count() > 0;
  m.p50 = l.PercentileUs(0.50);
  m.p99 = l.PercentileUs(0.99);
  m.p999 = l.PercentileUs(0.999);
  m.max = l.MaxUs();
  m.rate = rate;
  m.unit = unit;
  return m;
}

struct Results {
  std::vector<std::string> order;                           // row keys in order
  std::map<std::string, std::map<std::string, Measure>> m;  // row -> target -> measure
  void Put(const std::string& row, const std::string& target, Measure x) {
    if (!m.count(row)) order.push_back(row);
    m[row][target] = std::move(x);
  }
  const Measure* Get(const std::string& row, const std::string& target) const {
    auto r = m.find(row);
    if (r == m.end()) return nullptr;
    auto t = r->second.find(target);
    return t == r->second.end() ? nullptr : &t->second;
  }
};

void PrintMeasure(const std::string& row, const std::string& target, const Measure& x) {
  if (x.value >= 0) {
    std::fprintf(stderr, "  %-44s %-18s %s\n", row.c_str(), target.c_str(),
                 x.unit == "bytes" ? FormatBytes(x.value).c_str()
                                   : FormatUs(static_cast<double>(x.value) / 1000).c_str());
    return;
  }
  std::fprintf(stderr, "  %-44s %-18s p50 %-9s p99 %-9s p999 %-9s max %-9s %s %s %s\n", row.c_str(),
               target.c_str(), FormatUs(x.p50).c_str(), FormatUs(x.p99).c_str(), FormatUs(x.p999).c_str(),
               FormatUs(x.max).c_str(), FormatRate(x.rate).c_str(), x.unit.c_str(), x.note.c_str());
}

// ---------------------------------------------------------------------------------------------
// Closed-loop unary load: `clients` connections, one call in flight on each; the first 20% of
// the run warms up and is not counted.

struct UnaryRun {
  Latencies lat;
  double rate = 0;
  uint64_t errors = 0;
  std::string first_error;
};

UnaryRun RunUnary(const Target& t, const std::string& method,
                  const std::function<grpc::ByteBuffer(int, uint64_t)>& req, int clients, double seconds) {
  struct Chain {
    std::shared_ptr<grpc::Channel> ch;
    std::unique_ptr<grpc::GenericStub> stub;
    std::unique_ptr<grpc::ClientContext> ctx;
    grpc::ByteBuffer req, resp;
    int64_t start = 0;
    uint64_t seq = 0, ops = 0, errors = 0;
    std::string first_error;
    Latencies lat;
  };
  std::vector<Chain> chains(clients);
  const int64_t t0 = NowNs();
  const int64_t from = t0 + static_cast<int64_t>(seconds * 0.2 * kSec);
  const int64_t to = from + static_cast<int64_t>(seconds * kSec);
  std::mutex mu;
  std::condition_variable cv;
  int active = clients;
  std::function<void(int)> issue = [&](int i) {
    Chain& c = chains[i];
    c.ctx = std::make_unique<grpc::ClientContext>();
    c.req = req(i, c.seq++);
    c.start = NowNs();
    c.stub->UnaryCall(c.ctx.get(), method, grpc::StubOptions(), &c.req, &c.resp, [&, i](grpc::Status s) {
      Chain& c = chains[i];
      const int64_t now = NowNs();
      if (!s.ok()) {
        if (c.errors++ == 0) c.first_error = s.error_message();
      } else if (c.start >= from && now <= to) {
        c.lat.Add(now - c.start);
        ++c.ops;
      }
      if (now < to) {
        issue(i);
      } else {
        std::lock_guard<std::mutex> l(mu);
        if (--active == 0) cv.notify_all();
      }
    });
  };
  for (int i = 0; i < clients; ++i) {
    chains[i].ch = NewChannel(t.address(), i);
    chains[i].stub = std::make_unique<grpc::GenericStub>(chains[i].ch);
  }
  for (int i = 0; i < clients; ++i) issue(i);
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return active == 0; });
  }
  UnaryRun r;
  uint64_t ops = 0;
  for (auto& c : chains) {
    r.lat.Merge(c.lat);
    ops += c.ops;
    r.errors += c.errors;
    if (r.first_error.empty()) r.first_error = c.first_error;
  }
  r.rate = static_cast<double>(ops) / seconds;
  return r;
}

// ---------------------------------------------------------------------------------------------
// Watch streams: raw bytes, the marker timestamps found by memmem (no parsing), per-stream samples.

class WatchStream final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  WatchStream(const Target& t, grpc::GenericStub* stub, bool stalled, const std::atomic<int64_t>* from,
              const std::atomic<int64_t>* to)
      : stalled_(stalled), event_size_(t.event_size()), from_(from), to_(to) {
    req_ = t.watch_request();
    stub->PrepareBidiStreamingCall(&ctx_, t.watch_method(), grpc::StubOptions(), this);
    if (t.watch_half_close()) {
      StartWriteLast(&req_, grpc::WriteOptions());
    } else {
      StartWrite(&req_);
    }
    StartRead(&resp_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    const int64_t now = NowNs();
    Flatten(resp_, &buf_);
    const int64_t from = from_->load(std::memory_order_relaxed);
    const int64_t to = to_->load(std::memory_order_relaxed);
    for (size_t pos = FindMarker(buf_); pos != std::string::npos; pos = FindMarker(buf_, pos + event_size_)) {
      const int64_t ts = ParseMarker(buf_.data() + pos);
      if (ts < 1000) continue;  // created objects, not benchmark writes
      any_.fetch_add(1, std::memory_order_relaxed);
      if (ts >= from && ts < to) {
        lat_.Add(now - ts);
        count_.fetch_add(1, std::memory_order_release);
      }
    }
    // A stalled watcher stops reading once it has seen its first event (it is then registered).
    if (!stalled_ || any() == 0) StartRead(&resp_);
  }
  void OnDone(const grpc::Status& s) override {
    std::lock_guard<std::mutex> l(mu_);
    status_ = s;
    done_ = true;
    cv_.notify_all();
  }
  void Cancel() { ctx_.TryCancel(); }
  bool WaitDone(int64_t deadline_ns) {
    std::unique_lock<std::mutex> l(mu_);
    while (!done_) {
      if (NowNs() > deadline_ns) return false;
      cv_.wait_for(l, std::chrono::milliseconds(10));
    }
    return true;
  }
  bool done() {
    std::lock_guard<std::mutex> l(mu_);
    return done_;
  }
  grpc::Status status() {
    std::lock_guard<std::mutex> l(mu_);
    return status_;
  }
  uint64_t any() const { return any_.load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_acquire); }
  Latencies& lat() { return lat_; }
  bool stalled() const { return stalled_; }

 private:
  const bool stalled_;
  const size_t event_size_;
  const std::atomic<int64_t>* from_;
  const std::atomic<int64_t>* to_;
  grpc::ClientContext ctx_;
  grpc::ByteBuffer req_, resp_;
  std::string buf_;
  Latencies lat_;
  std::atomic<uint64_t> any_{0}, count_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  grpc::Status status_;
};

// A set of watch streams over ceil(n/50) connections (the server allows 100 streams per one).
class WatchSet {
 public:
  WatchSet(const Target& t, int healthy, int stalled) {
    const int n = healthy + stalled;
    const int nch = std::max(1, (n + 49) / 50);
    for (int c = 0; c < nch; ++c)
      stubs_.push_back(std::make_unique<grpc::GenericStub>(NewChannel(t.address(), 2000 + c)));
    for (int i = 0; i < n; ++i) {
      streams_.push_back(std::make_unique<WatchStream>(t, stubs_[i % nch].get(), i >= healthy, &from_, &to_));
    }
  }
  ~WatchSet() {
    Close();
    for (auto& s : streams_) {
      if (!s->done()) (void)s.release();  // still referenced by gRPC: leak rather than crash
    }
  }

  // Writes one event every 10 ms until every stream has received one (it is then registered).
  void WaitRegistered(const Target& t, grpc::GenericStub* writer) {
    const int64_t deadline = NowNs() + 60 * kSec;
    for (int i = 0;; ++i) {
      bool all = true;
      for (auto& s : streams_) {
        if (s->any() == 0) {
          all = false;
          if (s->done())
            throw std::runtime_error("watch ended during set-up: " + s->status().error_message());
        }
      }
      if (all) return;
      if (NowNs() > deadline) throw std::runtime_error("watchers not registered after 60s");
      grpc::ByteBuffer resp;
      grpc::Status st = SyncUnary(writer, t.write_method(), t.WriteRequest(i, NowNs()), &resp);
      if (!st.ok()) throw std::runtime_error("write failed: " + st.error_message());
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  void Close() {
    for (auto& s : streams_) s->Cancel();
    const int64_t deadline = NowNs() + 20 * kSec;
    for (auto& s : streams_) s->WaitDone(deadline);
  }
  uint64_t MinHealthyCount() const {
    uint64_t m = UINT64_MAX;
    for (auto& s : streams_) {
      if (!s->stalled()) m = std::min(m, s->count());
    }
    return m == UINT64_MAX ? 0 : m;
  }
  uint64_t HealthyCount() const {
    uint64_t n = 0;
    for (auto& s : streams_) {
      if (!s->stalled()) n += s->count();
    }
    return n;
  }
  int healthy() const {
    int n = 0;
    for (auto& s : streams_) n += s->stalled() ? 0 : 1;
    return n;
  }
  std::vector<std::unique_ptr<WatchStream>>& streams() { return streams_; }
  std::atomic<int64_t> from_{INT64_MAX}, to_{INT64_MAX};

 private:
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;
  std::vector<std::unique_ptr<WatchStream>> streams_;
};

struct FanoutRun {
  Latencies lat;
  double delivered_rate = 0;
  uint64_t writes = 0, lost = 0, ended = 0;
};

// W healthy (+ stalled) watchers; writes paced at `rate`/s (open loop: async, never waiting for
// an ack) or, with rate 0, as fast as the slowest healthy watcher keeps up (at most `window`
// events ahead of it, 4 writers). Latency: receive time minus the timestamp the writer put in
// the object just before sending it.
FanoutRun RunFanout(Target& t, int watchers, int stalled, int rate, double seconds) {
  t.RefreshWatchStart();
  WatchSet set(t, watchers, stalled);
  auto wch = NewChannel(t.address(), 3000);
  grpc::GenericStub writer(wch);
  set.WaitRegistered(t, &writer);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));

  const int64_t from = NowNs();
  const int64_t end = from + static_cast<int64_t>(seconds * kSec);
  set.from_.store(from);
  std::atomic<uint64_t> writes{0};
  uint64_t delivered_at_end = 0;
  if (rate > 0) {
    struct Pending {
      grpc::ClientContext ctx;
      grpc::ByteBuffer req, resp;
    };
    std::atomic<int> outstanding{0};
    const int64_t period = kSec / rate;
    for (uint64_t i = 0;; ++i) {
      const int64_t at = from + static_cast<int64_t>(i) * period;
      if (at >= end) break;
      SleepUntilNs(at);
      auto* p = new Pending();
      p->req = t.WriteRequest(static_cast<int>(i), NowNs());
      outstanding.fetch_add(1);
      writes.fetch_add(1);
      writer.UnaryCall(&p->ctx, t.write_method(), grpc::StubOptions(), &p->req, &p->resp,
                       [p, &outstanding](grpc::Status) {
                         delete p;
                         outstanding.fetch_sub(1);
                       });
    }
    set.to_.store(NowNs());
    delivered_at_end = set.HealthyCount();
    const int64_t drain = NowNs() + 5 * kSec;
    const uint64_t want = writes.load() * static_cast<uint64_t>(set.healthy());
    while ((outstanding.load() > 0 || set.HealthyCount() < want) && NowNs() < drain) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    while (outstanding.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  } else {
    const uint64_t window = 64;
    std::vector<std::thread> threads;
    for (int w = 0; w < 4; ++w) {
      threads.emplace_back([&, w] {
        grpc::ByteBuffer resp;
        for (uint64_t i = static_cast<uint64_t>(w);; i += 4) {
          while (writes.load() >= set.MinHealthyCount() + window && NowNs() < end) {
            std::this_thread::sleep_for(std::chrono::microseconds(50));
          }
          if (NowNs() >= end) break;
          writes.fetch_add(1);
          SyncUnary(&writer, t.write_method(), t.WriteRequest(static_cast<int>(i), NowNs()), &resp);
        }
      });
    }
    SleepUntilNs(end);
    set.to_.store(NowNs());
    delivered_at_end = set.HealthyCount();
    for (auto& th : threads) th.join();
    const int64_t drain = NowNs() + 5 * kSec;
    const uint64_t want = writes.load() * static_cast<uint64_t>(set.healthy());
    while (set.HealthyCount() < want && NowNs() < drain)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  FanoutRun r;
  r.writes = writes.load();
  const uint64_t want = r.writes * static_cast<uint64_t>(set.healthy());
  const uint64_t got = set.HealthyCount();
  r.lost = want > got ? want - got : 0;
  r.delivered_rate = static_cast<double>(delivered_at_end) / seconds;
  for (auto& s : set.streams()) {
    if (!s->stalled() && s->done()) ++r.ended;
  }
  set.Close();  // every stream done: its samples are no longer written
  for (auto& s : set.streams()) {
    if (!s->stalled()) r.lat.Merge(s->lat());
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

struct Options {
  std::vector<TargetSpec> targets;
  std::set<std::string> scenarios;
  Sizes sizes = Standard();
  std::string size_name = "standard";
  Settings settings;
  std::string out;
};

bool Want(const Options& o, const std::string& s) { return o.scenarios.count(s) > 0; }

void Record(Results* res, const std::string& row, const std::string& target, Measure m) {
  PrintMeasure(row, target, m);
  res->Put(row, target, std::move(m));
}

void RunPerfScenarios(const Options& o, const TargetSpec& spec, Results* res) {
  const Sizes& z = o.sizes;
  auto t = Target::Open(spec, o.settings);
  const std::string tn = t->name();
  std::fprintf(stderr, "%s at %s: loading %d GPUs x %d conditions\n", tn.c_str(), t->address().c_str(),
               z.gpus, z.conditions);
  t->Load(z.gpus);
  auto note = [](const UnaryRun& r) {
    return r.errors ? "errors " + std::to_string(r.errors) + ": " + r.first_error : std::string();
  };
  if (Want(o, "get")) {
    const grpc::ByteBuffer req = t->get_request();
    for (int c : z.get_clients) {
      UnaryRun r = RunUnary(
          *t, t->get_method(), [&](int, uint64_t) { return req; }, c, z.unary_s);
      Measure m = FromLatencies(r.lat, r.rate, "gets");
      m.note = note(r);
      Record(res, "get: " + std::to_string(c) + (c == 1 ? " client" : " clients"), tn, m);
    }
  }
  if (Want(o, "list")) {
    const grpc::ByteBuffer req = t->list_request();
    UnaryRun r = RunUnary(
        *t, t->list_method(), [&](int, uint64_t) { return req; }, 1, z.list_s);
    Measure m = FromLatencies(r.lat, r.rate, "lists");
    m.note = note(r);
    Record(res, "list: " + std::to_string(z.gpus) + " GPUs x " + std::to_string(z.conditions) + " conditions",
           tn, m);
  }
  if (Want(o, "update")) {
    for (int c : z.update_clients) {
      // Each client writes its own GPUs, so optimistic updates never conflict.
      UnaryRun r = RunUnary(
          *t, t->write_method(),
          [&](int i, uint64_t seq) { return t->WriteRequest(i + c * static_cast<int>(seq % 4), NowNs()); }, c,
          z.unary_s);
      Measure m = FromLatencies(r.lat, r.rate, "updates");
      m.note = note(r);
      Record(res, "update: " + std::to_string(c) + (c == 1 ? " client" : " clients") + ", 0 watchers", tn, m);
    }
  }
  if (Want(o, "watch-fanout")) {
    for (const auto& f : z.fanout) {
      FanoutRun r = RunFanout(*t, f.watchers, 0, f.rate, z.fanout_s);
      Measure m = FromLatencies(r.lat, r.delivered_rate, "events");
      if (r.lost || r.ended) m.note = "lost " + std::to_string(r.lost) + ", ended " + std::to_string(r.ended);
      std::string row = "watch-fanout: " + std::to_string(f.watchers) + " watchers x " +
                        (f.rate ? std::to_string(f.rate) + " updates/s" : std::string("saturated"));
      Record(res, row, tn, m);
    }
  }
  if (Want(o, "slow-watcher")) {
    for (int stalled : {0, 1}) {
      FanoutRun r = RunFanout(*t, z.slow_healthy, stalled, z.slow_rate, z.slow_s);
      Measure m = FromLatencies(r.lat, r.delivered_rate, "events");
      if (r.lost || r.ended) m.note = "lost " + std::to_string(r.lost) + ", ended " + std::to_string(r.ended);
      Record(res,
             "slow-watcher: " + std::to_string(z.slow_healthy) + " healthy x " + std::to_string(z.slow_rate) +
                 "/s, " + (stalled ? "1 stalled" : "none stalled"),
             tn, m);
    }
  }
}

Measure Value(int64_t v, const std::string& unit) {
  Measure m;
  m.value = v;
  m.unit = unit;
  return m;
}

void RunFootprint(const Options& o, const TargetSpec& spec, Results* res) {
  if (!spec.address.empty()) return;  // needs the process: spawned targets only
  const Sizes& z = o.sizes;
  auto t = Target::Open(spec, o.settings);
  const std::string tn = t->name();
  Record(res, "footprint: start to first answer", tn, Value(t->ready_ns(), "ns"));
  if (!t->self_reported_ready().empty()) {
    std::fprintf(stderr, "  (%s reports: ready in %s)\n", tn.c_str(), t->self_reported_ready().c_str());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Record(res, "footprint: RSS idle", tn, Value(RssBytes(t->pid()), "bytes"));
  t->Load(z.gpus);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Record(res, "footprint: RSS with " + std::to_string(z.gpus) + " GPUs", tn,
         Value(RssBytes(t->pid()), "bytes"));
  {
    WatchSet set(*t, z.footprint_watchers, 0);
    auto wch = NewChannel(t->address(), 3000);
    grpc::GenericStub writer(wch);
    set.WaitRegistered(*t, &writer);
    // A short burst of traffic (100 updates at 1000/s) so every stream has carried events.
    for (int i = 0; i < 100; ++i) {
      grpc::ByteBuffer resp;
      SyncUnary(&writer, t->write_method(), t->WriteRequest(i, NowNs()), &resp);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    Record(res,
           "footprint: RSS with " + std::to_string(z.gpus) + " GPUs + " +
               std::to_string(z.footprint_watchers) + " watchers",
           tn, Value(RssBytes(t->pid()), "bytes"));
  }
}

// ---------------------------------------------------------------------------------------------
// Report.

std::string Cell(const Measure* m) {
  if (m == nullptr) return "–";
  if (m->value >= 0) {
    return m->unit == "bytes" ? FormatBytes(m->value) : FormatUs(static_cast<double>(m->value) / 1000);
  }
  return FormatUs(m->p50) + " / " + FormatUs(m->p99) + " / " + FormatUs(m->p999) + " / " + FormatUs(m->max) +
         " / " + FormatRate(m->rate);
}

std::string Ratio(double a, double b) {
  if (a <= 0 || b <= 0) return "–";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f×", a / b);
  return buf;
}

struct Goal {
  std::string what, row;
  enum Field { kP99, kRate, kValue } field;
  std::string target_text;
  // Returns "met"/"missed"/"–" given ours, floor, etcd values (<=0: unknown).
  std::function<std::string(double ours, double floor, double etcd)> judge;
};

double FieldOf(const Measure* m, Goal::Field f) {
  if (m == nullptr) return -1;
  switch (f) {
    case Goal::kP99:
      return m->has_lat ? m->p99 : -1;
    case Goal::kRate:
      return m->rate;
    case Goal::kValue:
      return static_cast<double>(m->value);
  }
  return -1;
}

std::string FormatField(double v, Goal::Field f, const std::string& unit) {
  if (v < 0) return "–";
  switch (f) {
    case Goal::kP99:
      return FormatUs(v);
    case Goal::kRate:
      return FormatRate(v);
    case Goal::kValue:
      return unit == "bytes" ? FormatBytes(static_cast<int64_t>(v)) : FormatUs(v / 1000);
  }
  return "–";
}

std::string Verdict(bool known, bool ok) { return !known ? "–" : ok ? "**met**" : "**missed**"; }

std::string Report(const Options& o, const Results& res) {
  std::ostringstream md;
  const char* S = KindName(Kind::kServer);
  const char* E = KindName(Kind::kEtcd);
  const char* F = KindName(Kind::kFloor);
  const char* Q = KindName(Kind::kServerSqlite);
  md << "#### Targets (each a ratio to a figure of the same run)\n\n";
  md << "| Goal | device-api-server | etcd | floor | ours/floor | ours/etcd | Target | Verdict |\n";
  md << "|---|---|---|---|---|---|---|---|\n";
  auto row = [&](const std::string& what, const std::string& r, Goal::Field f, const std::string& target,
                 const std::function<std::string(double, double, double)>& judge) {
    const Measure* ms = res.Get(r, S);
    const Measure* me = res.Get(r, E);
    const Measure* mf = res.Get(r, F);
    if (!ms && !me && !mf) return;
    const std::string unit = ms ? ms->unit : me ? me->unit : mf->unit;
    const double vs = FieldOf(ms, f), ve = FieldOf(me, f), vf = FieldOf(mf, f);
    md << "| " << what << " | " << FormatField(vs, f, unit) << " | " << FormatField(ve, f, unit) << " | "
       << FormatField(vf, f, unit) << " | " << Ratio(vs, vf) << " | " << Ratio(vs, ve) << " | " << target
       << " | " << judge(vs, vf, ve) << " |\n";
  };
  const Sizes& z = o.sizes;
  const std::string one = "get: 1 client";
  int c16 = z.get_clients.back();
  for (int c : z.get_clients) {
    if (c == 16) c16 = 16;
  }
  const std::string get16 = "get: " + std::to_string(c16) + " clients";
  row("Get p99, 1 client", one, Goal::kP99, "≤ 1.5× floor",
      [](double s, double f, double) { return Verdict(s > 0 && f > 0, s <= 1.5 * f); });
  row("Get throughput, " + std::to_string(c16) + " clients", get16, Goal::kRate, "≥ 0.7× floor",
      [](double s, double f, double) { return Verdict(s > 0 && f > 0, s >= 0.7 * f); });
  for (const auto& fo : z.fanout) {
    const std::string r = "watch-fanout: " + std::to_string(fo.watchers) + " watchers x " +
                          (fo.rate ? std::to_string(fo.rate) + " updates/s" : std::string("saturated"));
    const bool goal = fo.watchers == 10 || fo.watchers == 100 || &fo == &z.fanout.back() ||
                      (o.size_name == "tiny" && fo.watchers > 1);
    if (fo.rate == 0) {
      row("Fan-out " + std::to_string(fo.watchers) + " watchers, saturated: delivered events/s", r,
          Goal::kRate, goal ? "≥ 0.8× floor and ≥ 3× etcd" : "(info)", [goal](double s, double f, double e) {
            if (!goal) return std::string("–");
            return Verdict(s > 0 && f > 0, s >= 0.8 * f && (e <= 0 || s >= 3 * e));
          });
    } else {
      row("Fan-out " + std::to_string(fo.watchers) + " watchers × " + std::to_string(fo.rate) +
              "/s: delivery p99",
          r, Goal::kP99, goal ? "≤ 2× floor" : "(info)", [goal](double s, double f, double) {
            if (!goal) return std::string("–");
            return Verdict(s > 0 && f > 0, s <= 2 * f);
          });
    }
  }
  {
    const std::string base = "slow-watcher: " + std::to_string(z.slow_healthy) + " healthy x " +
                             std::to_string(z.slow_rate) + "/s, ";
    auto ratio = [&](const char* tgt) {
      const Measure* a = res.Get(base + "none stalled", tgt);
      const Measure* b = res.Get(base + "1 stalled", tgt);
      return (a && b && a->p99 > 0) ? b->p99 / a->p99 : -1.0;
    };
    const double rs = ratio(S), re = ratio(E), rf = ratio(F);
    if (rs > 0 || re > 0 || rf > 0) {
      auto fmt = [](double v) {
        if (v <= 0) return std::string("–");
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.2f×", v);
        return std::string(buf);
      };
      md << "| Stalled watcher: healthy p99 with / without | " << fmt(rs) << " | " << fmt(re) << " | "
         << fmt(rf) << " | – | – | < 1.10× | " << Verdict(rs > 0, rs < 1.10) << " |\n";
    }
  }
  const std::string rss = "footprint: RSS with " + std::to_string(z.gpus) + " GPUs + " +
                          std::to_string(z.footprint_watchers) + " watchers";
  row("RSS, " + std::to_string(z.gpus) + " GPUs + " + std::to_string(z.footprint_watchers) + " watchers", rss,
      Goal::kValue, "≤ 32 MiB",
      [](double s, double, double) { return Verdict(s > 0, s <= 32.0 * 1024 * 1024); });
  row("Start to first answer", "footprint: start to first answer", Goal::kValue, "≤ 100 ms",
      [](double s, double, double) { return Verdict(s > 0, s <= 100e6); });

  {
    // The durable backend: SQLite (synchronous=FULL, group commit) against etcd, which also
    // fsyncs every write. Update rows use 16 writers.
    const std::string upd = "update: 16 clients, 0 watchers";
    const Measure* mq = res.Get(upd, Q);
    const Measure* me = res.Get(upd, E);
    if (mq) {
      const double q = mq->rate, e = me ? me->rate : 0;
      md << "| Durable writes/s, 16 clients (SQLite, synchronous=FULL) | " << FormatRate(q) << " (sqlite) | "
         << (me ? FormatRate(e) : std::string("–")) << " | – | – | " << Ratio(q, e)
         << " | ≥ 5,000/s and ≥ 2× etcd | " << Verdict(q > 0, q >= 5000 && (e <= 0 || q >= 2 * e)) << " |\n";
    }
  }

  const bool with_sqlite = std::any_of(res.order.begin(), res.order.end(),
                                       [&](const std::string& r) { return res.Get(r, Q) != nullptr; });
  md << "\n#### All measurements (p50 / p99 / p999 / max / throughput)\n\n";
  md << "| Scenario | device-api-server | etcd | floor |"
     << (with_sqlite ? " device-api-server (sqlite) |" : "") << "\n|---|---|---|---|"
     << (with_sqlite ? "---|" : "") << "\n";
  for (const auto& r : res.order) {
    md << "| " << r << " | " << Cell(res.Get(r, S)) << " | " << Cell(res.Get(r, E)) << " | "
       << Cell(res.Get(r, F)) << " |";
    if (with_sqlite) md << " " << Cell(res.Get(r, Q)) << " |";
    md << "\n";
  }
  std::vector<std::string> notes;
  for (const auto& r : res.order) {
    for (const auto& [tgt, m] : res.m.at(r)) {
      if (!m.note.empty()) notes.push_back(r + " (" + tgt + "): " + m.note);
    }
  }
  if (!notes.empty()) {
    md << "\nNotes:\n";
    for (const auto& n : notes) md << "- " << n << "\n";
  }
  return md.str();
}

// ---------------------------------------------------------------------------------------------

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(
      stderr,
      "devapi-bench: %s\n"
      "usage: devapi-bench [--targets server,etcd,floor,server-sqlite] [--target "
      "unix:///abs.sock|etcd://HOST:PORT|"
      "floor=unix:///abs.sock]...\n"
      "       [--scenarios all|get,list,update,watch-fanout,slow-watcher,footprint] [--size standard|tiny]\n"
      "       [--fanout WATCHERS:RATE,... (rate 0: saturated)] [--server-bin PATH] [--etcd-bin PATH]\n"
      "       [--out FILE.md]\n"
      "       devapi-bench --serve-floor unix:///abs.sock [--gpus N] [--conditions N]\n",
      why.c_str());
  std::exit(2);
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ',')) {
    if (!x.empty()) out.push_back(x);
  }
  return out;
}

TargetSpec ParseTarget(const std::string& v) {
  if (v == "server") return {Kind::kServer, ""};
  if (v == "etcd") return {Kind::kEtcd, ""};
  if (v == "server-sqlite") return {Kind::kServerSqlite, ""};
  if (v == "floor") return {Kind::kFloor, ""};
  if (v.rfind("unix://", 0) == 0) return {Kind::kServer, v};
  if (v.rfind("etcd://", 0) == 0) return {Kind::kEtcd, v.substr(7)};
  if (v.rfind("floor=", 0) == 0) return {Kind::kFloor, v.substr(6)};
  Usage("unknown target " + v);
}

int Main(int argc, char** argv) {
  Options o;
  o.settings.server_bin = DEVAPI_BENCH_SERVER_BIN;
  std::string serve_floor;
  int floor_gpus = 1024, floor_conditions = 32;
  bool targets_given = false;
  std::string scen = "all";
  std::string fanout;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) Usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--targets") {
      for (const auto& x : Split(val())) o.targets.push_back(ParseTarget(x));
      targets_given = true;
    } else if (a == "--target") {
      o.targets.push_back(ParseTarget(val()));
      targets_given = true;
    } else if (a == "--scenarios" || a == "--scenario") {
      scen = val();
    } else if (a == "--size") {
      o.size_name = val();
      if (o.size_name == "tiny")
        o.sizes = Tiny();
      else if (o.size_name == "standard")
        o.sizes = Standard();
      else
        Usage("unknown size " + o.size_name);
    } else if (a == "--fanout") {
      // W:R,... (R 0: saturated) instead of the size's fan-out cases, e.g. --fanout 10:0
      fanout = val();
    } else if (a == "--server-bin") {
      o.settings.server_bin = val();
    } else if (a == "--etcd-bin") {
      o.settings.etcd_bin = val();
    } else if (a == "--out") {
      o.out = val();
    } else if (a == "--serve-floor") {
      serve_floor = val();
    } else if (a == "--gpus") {
      floor_gpus = std::stoi(val());
    } else if (a == "--conditions") {
      floor_conditions = std::stoi(val());
    } else if (a == "-h" || a == "--help") {
      Usage("help");
    } else {
      Usage("unknown flag " + a);
    }
  }
  if (!serve_floor.empty()) return RunFloorServer(serve_floor, floor_gpus, floor_conditions);
  if (!targets_given) {
    o.targets = {ParseTarget("server"), ParseTarget("etcd"), ParseTarget("floor"),
                 ParseTarget("server-sqlite")};
  }
  const std::vector<std::string> all = {"get", "list", "update", "watch-fanout", "slow-watcher", "footprint"};
  for (const auto& s : scen == "all" ? all : Split(scen)) {
    if (std::find(all.begin(), all.end(), s) == all.end()) Usage("unknown scenario " + s);
    o.scenarios.insert(s);
  }
  if (!fanout.empty()) {
    o.sizes.fanout.clear();
    for (const auto& f : Split(fanout)) {
      // Both numbers whole, nothing else: "10x:0" or "10:0:5" is an error, not 10:0.
      int w = 0, r = -1;
      const char* end = f.data() + f.size();
      auto [p, e1] = std::from_chars(f.data(), end, w);
      bool ok = e1 == std::errc() && p != end && *p == ':';
      if (ok) {
        auto [q, e2] = std::from_chars(p + 1, end, r);
        ok = e2 == std::errc() && q == end;
      }
      if (!ok || w < 1 || r < 0)
        Usage("--fanout wants WATCHERS:RATE[,...] (watchers >= 1, rate >= 0), got " + f);
      o.sizes.fanout.push_back({w, r});
    }
  }
  o.settings.gpus = o.sizes.gpus;
  o.settings.conditions = o.sizes.conditions;

  Results res;
  const int64_t t0 = NowNs();
  for (const auto& spec : o.targets) {
    if (spec.kind == Kind::kEtcd && spec.address.empty() &&
        ::access(o.settings.etcd_bin.c_str(), X_OK) != 0) {
      std::fprintf(stderr, "etcd: skipped (%s not installed; scripts/install-deps.sh installs etcd-server)\n",
                   o.settings.etcd_bin.c_str());
      continue;
    }
    std::fprintf(stderr, "== %s\n", KindName(spec.kind));
    if (Want(o, "footprint")) RunFootprint(o, spec, &res);
    if (Want(o, "get") || Want(o, "list") || Want(o, "update") || Want(o, "watch-fanout") ||
        Want(o, "slow-watcher")) {
      RunPerfScenarios(o, spec, &res);
    }
  }
  std::string md = Report(o, res);
  char hdr[256];
  std::snprintf(
      hdr, sizeof(hdr), "Size `%s`: %d GPUs × %d conditions (%zu-byte objects); suite ran in %.0f s.\n\n",
      o.size_name.c_str(), o.sizes.gpus, o.sizes.conditions,
      MakeBenchGpu(0, o.sizes.conditions, 1).ByteSizeLong(), static_cast<double>(NowNs() - t0) / kSec);
  md = hdr + md;
  std::cout << md;
  if (!o.out.empty()) {
    std::ofstream f(o.out);
    f << md;
    if (!f) {
      std::fprintf(stderr, "cannot write %s\n", o.out.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace devapi_bench

int main(int argc, char** argv) {
  try {
    return devapi_bench::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "devapi-bench: %s\n", e.what());
    return 1;
  }
}
