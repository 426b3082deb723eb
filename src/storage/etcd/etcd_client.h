// The failover client of the etcd:// backend: one gRPC channel per etcd
// address, unary KV calls (Range, Put, Txn) with a deadline on the current
// address, moving on to the next address when one is unreachable, and etcd's
// gRPC status mapped to ours.
#ifndef DEVICEAPI_STORAGE_ETCD_ETCD_CLIENT_H_
#define DEVICEAPI_STORAGE_ETCD_ETCD_CLIENT_H_

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "etcd/etcdserverpb/rpc.grpc.pb.h"
#include "etcd/etcdserverpb/rpc.pb.h"

namespace deviceapi::storage {

// Calls go to the current address; an unreachable address (UNAVAILABLE or
// DEADLINE_EXCEEDED) makes the next one current. Thread-safe.
class EtcdClient {
 public:
  // `timeout` is the deadline of every unary call.
  EtcdClient(const std::vector<std::string>& addresses, absl::Duration timeout);

  absl::StatusOr<etcdserverpb::RangeResponse> Range(const etcdserverpb::RangeRequest& req);
  absl::StatusOr<etcdserverpb::PutResponse> Put(const etcdserverpb::PutRequest& req);
  absl::StatusOr<etcdserverpb::TxnResponse> Txn(const etcdserverpb::TxnRequest& req);

  size_t current() const { return current_.load(); }
  const std::string& address(size_t i) const { return conns_[i].address; }
  etcdserverpb::Watch::Stub& watch(size_t i) { return *conns_[i].watch; }
  // "a:1,b:2": every address, for messages.
  std::string addresses() const;
  // Waits until address `i` has a connection, trying to make one meanwhile.
  // Calls fail fast while etcd is away, and gRPC makes progress on a
  // connection attempt only while some call or waiter polls for it: with
  // nothing waiting, each attempt runs into its connect timeout and the
  // channel never recovers. So the watch loop waits here before each stream.
  bool WaitConnected(size_t i, absl::Duration timeout);
  // Moves on from address `i` after it failed (no-op if another call already did).
  void Failed(size_t i);

  // etcd's status as ours: OUT_OF_RANGE (a compacted revision) and
  // INVALID_ARGUMENT (e.g. a request over etcd's size limit) keep their code;
  // everything else means etcd could not do it now: UNAVAILABLE.
  static absl::Status Map(const std::string& address, std::string_view what, const grpc::Status& s);

 private:
  struct Conn {
    std::string address;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<etcdserverpb::KV::Stub> kv;
    std::unique_ptr<etcdserverpb::Watch::Stub> watch;
  };

  // One unary call `fn(stub, ctx, resp)` on the current address.
  template <typename Resp, typename Fn>
  absl::StatusOr<Resp> Call(std::string_view what, const Fn& fn);

  const absl::Duration timeout_;
  std::vector<Conn> conns_;  // fixed after construction
  std::atomic<size_t> current_{0};
};

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_ETCD_ETCD_CLIENT_H_
