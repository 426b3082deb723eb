// The failover client of the etcd:// backend (see etcd_client.h).
#include "storage/etcd/etcd_client.h"

#include "common/strings.h"

namespace deviceapi::storage {

namespace pb = ::etcdserverpb;
using ::deviceapi::common::Cat;
using ::deviceapi::common::ToStd;

namespace {

std::string GrpcCodeName(grpc::StatusCode code) {
  return std::string(ToStd(absl::StatusCodeToString(static_cast<absl::StatusCode>(code))));
}

}  // namespace

EtcdClient::EtcdClient(const std::vector<std::string>& addresses, absl::Duration timeout)
    : timeout_(timeout) {
  for (const auto& a : addresses) {
    grpc::ChannelArguments args;
    // Reconnect within a second of etcd coming back (gRPC's default backoff
    // grows to two minutes). The "min" backoff is gRPC's connect timeout.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    // Notice a silently dead peer (etcd allows pings every 5 s by default).
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetMaxReceiveMessageSize(-1);
    Conn c;
    c.address = a;
    c.channel = grpc::CreateCustomChannel(a, grpc::InsecureChannelCredentials(), args);
    c.kv = pb::KV::NewStub(c.channel);
    c.watch = pb::Watch::NewStub(c.channel);
    conns_.push_back(std::move(c));
  }
}

template <typename Resp, typename Fn>
absl::StatusOr<Resp> EtcdClient::Call(std::string_view what, const Fn& fn) {
  const size_t i = current_.load();
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  Resp resp;
  grpc::Status s = fn(*conns_[i].kv, &ctx, &resp);
  if (s.ok()) return resp;
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
      s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    Failed(i);
  }
  return Map(conns_[i].address, what, s);
}

absl::StatusOr<pb::RangeResponse> EtcdClient::Range(const pb::RangeRequest& req) {
  return Call<pb::RangeResponse>("range", [&](pb::KV::Stub& kv, grpc::ClientContext* ctx,
                                              pb::RangeResponse* r) { return kv.Range(ctx, req, r); });
}

absl::StatusOr<pb::PutResponse> EtcdClient::Put(const pb::PutRequest& req) {
  return Call<pb::PutResponse>("put", [&](pb::KV::Stub& kv, grpc::ClientContext* ctx, pb::PutResponse* r) {
    return kv.Put(ctx, req, r);
  });
}

absl::StatusOr<pb::TxnResponse> EtcdClient::Txn(const pb::TxnRequest& req) {
  return Call<pb::TxnResponse>("txn", [&](pb::KV::Stub& kv, grpc::ClientContext* ctx, pb::TxnResponse* r) {
    return kv.Txn(ctx, req, r);
  });
}

std::string EtcdClient::addresses() const {
  std::string out;
  for (const auto& c : conns_) out += (out.empty() ? "" : ",") + c.address;
  return out;
}

bool EtcdClient::WaitConnected(size_t i, absl::Duration timeout) {
  return conns_[i].channel->WaitForConnected(absl::ToChronoTime(absl::Now() + timeout));
}

void EtcdClient::Failed(size_t i) {
  size_t expected = i;
  current_.compare_exchange_strong(expected, (i + 1) % conns_.size());
}

absl::Status EtcdClient::Map(const std::string& address, std::string_view what, const grpc::Status& s) {
  const std::string msg =
      Cat("etcd ", address, ": ", what, " failed (", GrpcCodeName(s.error_code()), "): ", s.error_message());
  switch (s.error_code()) {
    case grpc::StatusCode::OUT_OF_RANGE:
      return absl::OutOfRangeError(msg);
    case grpc::StatusCode::INVALID_ARGUMENT:
      return absl::InvalidArgumentError(msg);
    default:
      return absl::UnavailableError(msg);
  }
}

}  // namespace deviceapi::storage
