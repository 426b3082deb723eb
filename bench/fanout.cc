// The watch fan-out client: WatchStream (one watch, raw bytes, marker timestamps found by memmem,
// never parsed), WatchSet (many streams over a few connections) and the fan-out run on top.
#include "fanout.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

namespace devapi_bench {
namespace {

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

  // Events with a timestamp from `from` on count (until StopCounting).
  void StartCounting(int64_t from) { from_.store(from); }
  // Events written from now on no longer count; returns what the healthy streams received so far.
  uint64_t StopCounting() {
    to_.store(NowNs());
    return HealthyCount();
  }
  // Waits, at most 5 s, until the healthy streams have received `writes` counted events each (in
  // sum) and `writing()` is false.
  void WaitDelivered(uint64_t writes, const std::function<bool()>& writing) const {
    const int64_t deadline = NowNs() + 5 * kSec;
    const uint64_t want = writes * static_cast<uint64_t>(healthy());
    while ((writing() || HealthyCount() < want) && NowNs() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

 private:
  std::atomic<int64_t> from_{INT64_MAX}, to_{INT64_MAX};
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;
  std::vector<std::unique_ptr<WatchStream>> streams_;
};

}  // namespace

FanoutRun RunFanout(Target& t, int watchers, int stalled, int rate, double seconds) {
  t.RefreshWatchStart();
  WatchSet set(t, watchers, stalled);
  auto wch = NewChannel(t.address(), 3000);
  grpc::GenericStub writer(wch);
  set.WaitRegistered(t, &writer);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));

  const int64_t from = NowNs();
  const int64_t end = from + static_cast<int64_t>(seconds * kSec);
  set.StartCounting(from);
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
    delivered_at_end = set.StopCounting();
    set.WaitDelivered(writes.load(), [&] { return outstanding.load() > 0; });
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
    delivered_at_end = set.StopCounting();
    for (auto& th : threads) th.join();
    set.WaitDelivered(writes.load(), [] { return false; });
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

void WithBusyWatchers(Target& t, int watchers, const std::function<void()>& measure) {
  WatchSet set(t, watchers, 0);
  auto wch = NewChannel(t.address(), 3000);
  grpc::GenericStub writer(wch);
  set.WaitRegistered(t, &writer);
  // A short burst of traffic (100 updates at 1000/s) so every stream has carried events.
  for (int i = 0; i < 100; ++i) {
    grpc::ByteBuffer resp;
    SyncUnary(&writer, t.write_method(), t.WriteRequest(i, NowNs()), &resp);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  measure();
}

}  // namespace devapi_bench
