// The unary load generator of devapi-bench: closed-loop Get, List and write (UpdateStatus / etcd
// Put) calls against one target, raw request bytes through a GenericStub, every call's latency
// recorded.
#ifndef DEVICEAPI_BENCH_UNARY_RUNNER_H_
#define DEVICEAPI_BENCH_UNARY_RUNNER_H_

#include <cstdint>
#include <functional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "targets.h"
#include "util.h"

namespace devapi_bench {

struct UnaryRun {
  Latencies lat;    // counted calls only, not finalized
  double rate = 0;  // counted successful calls per second
  uint64_t errors = 0;
  std::string first_error;
};

// The request of client `client`'s `seq`-th call.
using UnaryRequestFn = std::function<grpc::ByteBuffer(int client, uint64_t seq)>;

// Closed-loop unary load on `method`: `clients` connections of their own, one call in flight on
// each, for 1.2 × `seconds`. The first 0.2 × `seconds` warm up; calls that start after it and end
// within the following `seconds` are counted (latency and rate). Failed calls are never counted,
// only tallied in `errors`. Returns once every client's last call has ended.
UnaryRun RunUnary(const Target& t, const std::string& method, const UnaryRequestFn& req, int clients,
                  double seconds);

}  // namespace devapi_bench

#endif  // DEVICEAPI_BENCH_UNARY_RUNNER_H_
