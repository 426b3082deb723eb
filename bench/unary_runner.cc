// Closed-loop unary load: one callback chain per client, each issuing its next call from the
// completion of the previous one.
#include "unary_runner.h"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include <grpcpp/generic/generic_stub.h>

namespace devapi_bench {

UnaryRun RunUnary(const Target& t, const std::string& method, const UnaryRequestFn& req, int clients,
                  double seconds) {
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

}  // namespace devapi_bench
