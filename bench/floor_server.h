// The "floor": a bare gRPC C++ callback server on the same Unix socket transport that answers
// GpuService with pre-built bytes and no storage, validation or bookkeeping. GetGpu and ListGpus
// return one pre-serialized response (a shared slice); UpdateGpuStatus turns the request's object
// into a WatchGpusResponse once (one copy) and queues that same slice on every open WatchGpus
// stream, one write in flight per stream. It is the physical limit of gRPC on the machine, the
// yardstick every target of docs/performance.md is a ratio to.
#ifndef DEVICEAPI_BENCH_FLOOR_SERVER_H_
#define DEVICEAPI_BENCH_FLOOR_SERVER_H_

#include <string>

namespace devapi_bench {

// Serves until SIGTERM/SIGINT. Returns the process exit code.
int RunFloorServer(const std::string& address, int gpus, int conditions);

}  // namespace devapi_bench

#endif  // DEVICEAPI_BENCH_FLOOR_SERVER_H_
