// What the bench talks to: device-api-server, etcd (its v3 gRPC API) or the floor server, each
// either spawned by the bench (temp dir, free ports) or already running at an address. A Target
// hides the protocol: it knows its method paths and pre-serialized request bytes, so the load
// generators send raw bytes through a GenericStub and never parse a response in the hot path.
#ifndef DEVICEAPI_BENCH_TARGETS_H_
#define DEVICEAPI_BENCH_TARGETS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "device/v1alpha1/gpu.pb.h"
#include "util.h"

namespace devapi_bench {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

// GPU number i: "gpu-0000"..., `conditions` conditions of about 200 bytes, condition 0's message
// starting with the timestamp marker (ts 0 = "not a benchmark write").
v1::Gpu MakeBenchGpu(int i, int conditions, int64_t ts);
std::string GpuName(int i);

// kServerSqlite: device-api-server on sqlite:// (durable, synchronous=FULL) in the target's temp dir.
enum class Kind { kServer, kEtcd, kFloor, kServerSqlite };
inline bool IsServer(Kind k) { return k == Kind::kServer || k == Kind::kServerSqlite; }

struct TargetSpec {
  Kind kind = Kind::kServer;
  std::string address;  // empty: spawn one
};

struct Settings {
  std::string server_bin;
  std::string etcd_bin = "/usr/bin/etcd";
  int gpus = 1024;
  int conditions = 32;
  int64_t watch_queue_size = 1000;
};

class Target {
 public:
  // Spawns (or connects to) the target and waits until it answers. Throws on failure.
  static std::unique_ptr<Target> Open(const TargetSpec& spec, const Settings& s);
  ~Target();

  Kind kind() const { return kind_; }
  const std::string& name() const { return name_; }
  const std::string& address() const { return address_; }
  bool spawned() const { return child_ != nullptr; }
  pid_t pid() const;
  // Spawn to first answered request (ns), and what the process itself reports ("" if nothing).
  int64_t ready_ns() const { return ready_ns_; }
  const std::string& self_reported_ready() const { return self_ready_; }

  // Creates objects 0..n-1 (no-op for the floor, which serves pre-built ones).
  void Load(int n);
  // Watches start from the current revision (no initial state, nothing missed): re-reads it, so
  // a watch never starts below the server's history window.
  void RefreshWatchStart();

  // Method paths and request bytes.
  const std::string& get_method() const { return get_method_; }
  const grpc::ByteBuffer& get_request() const { return get_request_; }
  const std::string& list_method() const { return list_method_; }
  const grpc::ByteBuffer& list_request() const { return list_request_; }
  const std::string& write_method() const { return write_method_; }
  // The request that writes GPU `gpu` with marker timestamp `ts` (a fresh change every call).
  grpc::ByteBuffer WriteRequest(int gpu, int64_t ts) const;
  const std::string& watch_method() const { return watch_method_; }
  // Built after Load(): watches every object from the current revision, no initial state.
  const grpc::ByteBuffer& watch_request() const { return watch_request_; }
  // Server-streaming (send one request and half-close) vs etcd's bidirectional Watch.
  bool watch_half_close() const { return kind_ != Kind::kEtcd; }
  // Smallest distance between two event markers in one response (etcd batches events).
  size_t event_size() const { return event_size_; }

 private:
  Target() = default;
  void WaitReady();
  void BuildRequests();

  Kind kind_ = Kind::kServer;
  std::string name_;
  std::string address_;
  Settings settings_;
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Child> child_;
  int64_t ready_ns_ = -1;
  std::string self_ready_;

  std::string get_method_, list_method_, write_method_, watch_method_;
  grpc::ByteBuffer get_request_, list_request_, watch_request_;
  struct WriteTemplate {
    std::string bytes;
    size_t marker = 0;
  };
  std::vector<WriteTemplate> writes_;
  size_t event_size_ = 0;
};

const char* KindName(Kind k);

// A blocking unary call through the generic stub; returns the status, fills `resp`.
grpc::Status SyncUnary(grpc::GenericStub* stub, const std::string& method, const grpc::ByteBuffer& req,
                       grpc::ByteBuffer* resp, int64_t timeout_ms = 30000, bool wait_for_ready = false);

}  // namespace devapi_bench

#endif  // DEVICEAPI_BENCH_TARGETS_H_
