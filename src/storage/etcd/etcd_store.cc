#include "storage/etcd/etcd_store.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <map>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "apimachinery/errors.h"
#include "common/strings.h"
#include "etcd/etcdserverpb/rpc.grpc.pb.h"
#include "etcd/etcdserverpb/rpc.pb.h"
#include "storage/continue_token.h"
#include "storage/snapshot.h"

namespace deviceapi::storage {

namespace am = ::deviceapi::apimachinery;
namespace pb = ::etcdserverpb;
using ::deviceapi::common::Cat;
using ::deviceapi::common::ToStd;

namespace {

// Retries of an optimistic write that lost a race to another writer.
constexpr int kMaxWriteAttempts = 64;

// The end of the range of every key starting with `prefix` (etcd's
// "prefix + 1": the last byte incremented, trailing 0xff dropped).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<unsigned char>(prefix.back()) < 0xff) {
      prefix.back() = static_cast<char>(prefix.back() + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

absl::Status InvalidEndpoint(std::string_view endpoint, std::string_view why) {
  return absl::InvalidArgumentError(Cat("datastore endpoint \"", endpoint, "\": ", why,
                                        "; want etcd://HOST:PORT[,HOST:PORT...][?prefix=/device-api/]"));
}

std::string GrpcCodeName(grpc::StatusCode code) {
  return std::string(ToStd(absl::StatusCodeToString(static_cast<absl::StatusCode>(code))));
}

}  // namespace

absl::StatusOr<EtcdEndpoint> ParseEtcdEndpoint(std::string_view endpoint) {
  constexpr std::string_view kScheme = "etcd://";
  if (endpoint.substr(0, kScheme.size()) != kScheme)
    return InvalidEndpoint(endpoint, "not an etcd:// endpoint");
  std::string_view rest = endpoint.substr(kScheme.size());
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  EtcdEndpoint out;
  if (rest.empty()) return InvalidEndpoint(endpoint, "no etcd address");
  while (true) {
    const size_t comma = rest.find(',');
    std::string_view addr = rest.substr(0, comma);
    // host:port, or [v6]:port.
    const size_t colon = addr.rfind(':');
    if (colon == std::string_view::npos) {
      return InvalidEndpoint(endpoint, Cat("address \"", addr, "\" has no port"));
    }
    std::string_view host = addr.substr(0, colon);
    std::string_view port = addr.substr(colon + 1);
    if (host.empty() || host == "[]")
      return InvalidEndpoint(endpoint, Cat("address \"", addr, "\" has no host"));
    if (host.find(':') != std::string_view::npos && (host.front() != '[' || host.back() != ']')) {
      return InvalidEndpoint(endpoint, Cat("IPv6 address \"", addr, "\" must be written [ADDRESS]:PORT"));
    }
    int p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p < 1 || p > 65535) {
      return InvalidEndpoint(endpoint,
                             Cat("port \"", port, "\" of \"", addr, "\" is not a number in 1-65535"));
    }
    out.addresses.emplace_back(addr);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    const size_t eq = param.find('=');
    std::string_view name = param.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
    if (name == "prefix") {
      if (value.empty() || value.front() != '/') {
        return InvalidEndpoint(endpoint, Cat("prefix \"", value, "\" must start with '/'"));
      }
      out.prefix = std::string(value);
      if (out.prefix.back() != '/') out.prefix += '/';
    } else {
      return InvalidEndpoint(endpoint, Cat("unknown parameter \"", name, "\" (the only one is prefix)"));
    }
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return out;
}

// The gRPC side: one channel per etcd address. Calls go to the current one;
// an unreachable address makes the next one current.
class EtcdStore::Client {
 public:
  Client(const std::vector<std::string>& addresses, absl::Duration timeout) : timeout_(timeout) {
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

  absl::StatusOr<pb::RangeResponse> Range(const pb::RangeRequest& req) {
    return Call<pb::RangeResponse>("range", [&](pb::KV::Stub& kv, grpc::ClientContext* ctx,
                                                pb::RangeResponse* r) { return kv.Range(ctx, req, r); });
  }
  absl::StatusOr<pb::PutResponse> Put(const pb::PutRequest& req) {
    return Call<pb::PutResponse>("put", [&](pb::KV::Stub& kv, grpc::ClientContext* ctx, pb::PutResponse* r) {
      return kv.Put(ctx, req, r);
    });
  }
  absl::StatusOr<pb::TxnResponse> Txn(const pb::TxnRequest& req) {
    return Call<pb::TxnResponse>("txn", [&](pb::KV::Stub& kv, grpc::ClientContext* ctx, pb::TxnResponse* r) {
      return kv.Txn(ctx, req, r);
    });
  }

  size_t current() const { return current_.load(); }
  const std::string& address(size_t i) const { return conns_[i].address; }
  pb::Watch::Stub& watch(size_t i) { return *conns_[i].watch; }
  std::string addresses() const {
    std::string out;
    for (const auto& c : conns_) out += (out.empty() ? "" : ",") + c.address;
    return out;
  }
  // Waits until address `i` has a connection, trying to make one meanwhile.
  // Calls fail fast while etcd is away, and gRPC makes progress on a
  // connection attempt only while some call or waiter polls for it: with
  // nothing waiting, each attempt runs into its connect timeout and the
  // channel never recovers. So the watch loop waits here before each stream.
  bool WaitConnected(size_t i, absl::Duration timeout) {
    return conns_[i].channel->WaitForConnected(absl::ToChronoTime(absl::Now() + timeout));
  }
  // Moves on from address `i` after it failed (no-op if another call already did).
  void Failed(size_t i) {
    size_t expected = i;
    current_.compare_exchange_strong(expected, (i + 1) % conns_.size());
  }

  // etcd's status as ours: OUT_OF_RANGE (a compacted revision) and
  // INVALID_ARGUMENT (e.g. a request over etcd's size limit) keep their code;
  // everything else means etcd could not do it now: UNAVAILABLE.
  static absl::Status Map(const std::string& address, std::string_view what, const grpc::Status& s) {
    const std::string msg = Cat("etcd ", address, ": ", what, " failed (", GrpcCodeName(s.error_code()),
                                "): ", s.error_message());
    switch (s.error_code()) {
      case grpc::StatusCode::OUT_OF_RANGE:
        return absl::OutOfRangeError(msg);
      case grpc::StatusCode::INVALID_ARGUMENT:
        return absl::InvalidArgumentError(msg);
      default:
        return absl::UnavailableError(msg);
    }
  }

 private:
  struct Conn {
    std::string address;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<pb::KV::Stub> kv;
    std::unique_ptr<pb::Watch::Stub> watch;
  };

  template <typename Resp, typename Fn>
  absl::StatusOr<Resp> Call(std::string_view what, const Fn& fn) {
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

  const absl::Duration timeout_;
  std::vector<Conn> conns_;
  std::atomic<size_t> current_{0};
};

namespace {

// "ns/name" from "<gpus_prefix>ns/name"; empty when the key is not of that form.
std::string MirrorKey(std::string_view gpus_prefix, std::string_view etcd_key) {
  if (etcd_key.substr(0, gpus_prefix.size()) != gpus_prefix) return {};
  std::string_view rest = etcd_key.substr(gpus_prefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size() ||
      rest.find('/', slash + 1) != std::string_view::npos) {
    return {};
  }
  return std::string(rest);
}

// The object stored at `kv`, stamped with its mod_revision; null (logged) when
// the key or the value is not one of ours: another writer's data under the
// prefix is skipped rather than served half-understood.
std::shared_ptr<v1::Gpu> Decode(std::string_view gpus_prefix, const mvccpb::KeyValue& kv, std::string* key) {
  *key = MirrorKey(gpus_prefix, kv.key());
  if (key->empty()) {
    spdlog::warn("etcd: skipping key \"{}\": not of the form {}NAMESPACE/NAME", kv.key(), gpus_prefix);
    return nullptr;
  }
  auto gpu = NewObjectForParse(kv.value().size());
  if (!gpu->ParseFromString(kv.value())) {
    spdlog::warn("etcd: skipping key \"{}\" (revision {}): the value is not a serialized v1alpha1.Gpu",
                 kv.key(), kv.mod_revision());
    return nullptr;
  }
  if (MakeKey(gpu->metadata().namespace_(), gpu->metadata().name()) != *key) {
    spdlog::warn("etcd: skipping key \"{}\": it holds the object {}/{}", kv.key(),
                 gpu->metadata().namespace_(), gpu->metadata().name());
    return nullptr;
  }
  gpu->mutable_metadata()->set_resource_version(std::to_string(kv.mod_revision()));
  return gpu;
}

}  // namespace

EtcdStore::EtcdStore(EtcdEndpoint endpoint, const StoreConfig& config, const EtcdOptions& options)
    : endpoint_(std::move(endpoint)),
      config_(config),
      options_(options),
      gpus_prefix_(endpoint_.prefix + "gpus/"),
      client_(std::make_unique<Client>(endpoint_.addresses, options.request_timeout)) {}

absl::StatusOr<std::shared_ptr<EtcdStore>> EtcdStore::Open(const EtcdEndpoint& endpoint,
                                                           const StoreConfig& config,
                                                           const EtcdOptions& options) {
  std::shared_ptr<EtcdStore> s(new EtcdStore(endpoint, config, options));
  if (auto st = s->Load(); !st.ok()) return st;
  s->watch_thread_ = std::thread([p = s.get()] { p->WatchLoop(); });
  // Ready only once the watch runs: a write must be able to see its revision applied.
  absl::MutexLock l(&s->mu_);
  auto up = [p = s.get()]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) { return p->up_; };
  if (!s->mu_.AwaitWithTimeout(absl::Condition(&up), options.request_timeout)) {
    return absl::UnavailableError(Cat("etcd ", s->client_->addresses(), ": the watch on ", s->gpus_prefix_,
                                      " did not start: ", ToStd(s->down_reason_.message())));
  }
  return s;
}

absl::Status EtcdStore::Load() {
  // The start marker: its revision is above every RV handed out before this
  // start, and it proves etcd takes writes (quorum, permissions). etcd may be
  // still starting: retry, moving through the addresses, until the deadline.
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  pb::PutRequest put;
  put.set_key(endpoint_.prefix + "meta/started");
  put.set_value(Cat("{\"host\":\"", host, "\",\"pid\":", ::getpid(), ",\"time\":\"",
                    ToStd(absl::FormatTime(absl::Now())), "\"}"));
  const absl::Time deadline = absl::Now() + options_.request_timeout;
  absl::StatusOr<pb::PutResponse> started;
  for (;;) {
    const size_t conn = client_->current();
    if (!client_->WaitConnected(conn, std::min(options_.connect_timeout, deadline - absl::Now()))) {
      client_->Failed(conn);
    }
    started = client_->Put(put);
    if (started.ok() || started.status().code() != absl::StatusCode::kUnavailable || absl::Now() >= deadline)
      break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  if (!started.ok()) {
    return absl::UnavailableError(Cat("cannot reach etcd at ", client_->addresses(), " (datastore prefix ",
                                      endpoint_.prefix, "): ", ToStd(started.status().message())));
  }
  const uint64_t start_rv = static_cast<uint64_t>(started->header().revision());

  pb::RangeRequest range;
  range.set_key(gpus_prefix_);
  range.set_range_end(PrefixEnd(gpus_prefix_));
  range.set_revision(static_cast<int64_t>(start_rv));
  auto listed = client_->Range(range);
  if (!listed.ok()) return listed.status();
  SnapshotPtr snap = Snapshot::Empty(start_rv);
  for (const mvccpb::KeyValue& kv : listed->kvs()) {
    std::string key;
    if (auto gpu = Decode(gpus_prefix_, kv, &key))
      snap = snap->With(key, StoredObject::Make(std::move(gpu)), start_rv);
  }
  spdlog::info("etcd {}: {} objects under {} at revision {}", client_->addresses(), snap->size(),
               gpus_prefix_, start_rv);
  mirror_ = std::make_shared<ServingStore>(config_, start_rv, std::move(snap), nullptr);
  return absl::OkStatus();
}

EtcdStore::~EtcdStore() {
  Shutdown();
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    if (stream_ctx_ != nullptr) stream_ctx_->TryCancel();
  }
  if (watch_thread_.joinable()) watch_thread_.join();
}

void EtcdStore::Shutdown() {
  // The watch keeps running until destruction: writes still draining need
  // their revisions applied.
  shut_ = true;
  if (mirror_) mirror_->Shutdown();
}

void EtcdStore::SetUp(bool up, absl::Status why) {
  absl::MutexLock l(&mu_);
  if (up_ && !up) spdlog::warn("etcd watch down, NOT_SERVING until it is back: {}", ToStd(why.message()));
  if (!up_ && up && !down_reason_.ok())
    spdlog::info("etcd watch back at revision {}", mirror_->CurrentResourceVersion());
  up_ = up;
  serving_.store(up && fatal_.ok(), std::memory_order_release);
  down_reason_ = std::move(why);
}

absl::Status EtcdStore::Up() {
  if (serving_.load(std::memory_order_acquire)) return absl::OkStatus();  // every read asks: no lock
  absl::MutexLock l(&mu_);
  if (!fatal_.ok()) return absl::UnavailableError(fatal_.message());
  if (up_) return absl::OkStatus();
  return absl::UnavailableError(Cat("etcd unavailable: ", ToStd(down_reason_.message())));
}

void EtcdStore::WatchLoop() {
  absl::Duration backoff = options_.min_backoff;
  for (;;) {
    const absl::Time began = absl::Now();
    absl::Status s = RunWatch();
    {
      absl::MutexLock l(&mu_);
      if (stopping_ || !fatal_.ok()) return;
    }
    if (s.ok()) {  // relisted after a compaction: watch again at once, still up
      backoff = options_.min_backoff;
      continue;
    }
    SetUp(false, s);
    absl::MutexLock l(&mu_);
    // A stream that ran a while was healthy: reconnect at once.
    if (absl::Now() - began > options_.max_backoff) backoff = options_.min_backoff;
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stop), backoff)) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

absl::Status EtcdStore::RunWatch() {
  const size_t conn = client_->current();
  const std::string& address = client_->address(conn);
  if (!client_->WaitConnected(conn, options_.connect_timeout)) {
    client_->Failed(conn);
    return absl::UnavailableError(Cat("etcd ", address, ": no connection within ",
                                      ToStd(absl::FormatDuration(options_.connect_timeout))));
  }
  grpc::ClientContext ctx;
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return absl::CancelledError("stopping");
    stream_ctx_ = &ctx;
  }
  struct Unregister {
    EtcdStore* s;
    ~Unregister() {
      absl::MutexLock l(&s->mu_);
      s->stream_ctx_ = nullptr;
    }
  } unregister{this};

  auto stream = client_->watch(conn).Watch(&ctx);
  pb::WatchRequest req;
  auto* create = req.mutable_create_request();
  create->set_key(gpus_prefix_);
  create->set_range_end(PrefixEnd(gpus_prefix_));
  create->set_start_revision(static_cast<int64_t>(mirror_->CurrentResourceVersion() + 1));
  create->set_progress_notify(true);
  absl::Status ended;
  if (stream->Write(req)) {
    pb::WatchResponse resp;
    while (stream->Read(&resp)) {
      if (resp.compact_revision() != 0) {
        // We were away while etcd compacted the revisions we missed.
        spdlog::warn("etcd: revision {} is compacted (oldest {}): relisting {}",
                     mirror_->CurrentResourceVersion() + 1, resp.compact_revision(), gpus_prefix_);
        absl::Status relisted = Relist();
        ctx.TryCancel();
        (void)stream->Finish();
        return relisted;
      }
      if (resp.canceled()) {
        ended = absl::UnavailableError(Cat("etcd ", address, " cancelled the watch: ", resp.cancel_reason()));
        break;
      }
      if (resp.created()) {
        const uint64_t etcd_rev = static_cast<uint64_t>(resp.header().revision());
        if (etcd_rev < mirror_->CurrentResourceVersion()) return RevisionWentBack(etcd_rev);
        SetUp(true, absl::OkStatus());
        continue;
      }
      std::vector<ServingStore::ExternalChange> changes;
      changes.reserve(resp.events_size());
      for (const mvccpb::Event& ev : resp.events()) {
        ServingStore::ExternalChange c;
        c.rv = static_cast<uint64_t>(ev.kv().mod_revision());
        if (ev.type() == mvccpb::Event::DELETE) {
          c.key = MirrorKey(gpus_prefix_, ev.kv().key());
          if (c.key.empty()) continue;
        } else {
          c.object = Decode(gpus_prefix_, ev.kv(), &c.key);
          // A value we cannot read is, to us, no object at that key.
          if (c.key.empty()) continue;
        }
        changes.push_back(std::move(c));
      }
      if (!changes.empty()) mirror_->ApplyExternal(std::move(changes));
    }
  }
  ctx.TryCancel();
  grpc::Status fin = stream->Finish();
  if (!ended.ok()) return ended;
  client_->Failed(conn);
  if (fin.ok()) return absl::UnavailableError(Cat("etcd ", address, " closed the watch stream"));
  return Client::Map(address, "watch", fin);
}

absl::Status EtcdStore::Relist() {
  pb::RangeRequest range;
  range.set_key(gpus_prefix_);
  range.set_range_end(PrefixEnd(gpus_prefix_));
  auto listed = client_->Range(range);
  if (!listed.ok()) return listed.status();
  const uint64_t at = static_cast<uint64_t>(listed->header().revision());
  const uint64_t from = mirror_->CurrentResourceVersion();
  std::map<uint64_t, std::vector<ServingStore::ExternalChange>> by_rv;
  std::map<std::string, bool> seen;
  bool backwards = at < from;
  for (const mvccpb::KeyValue& kv : listed->kvs()) {
    ServingStore::ExternalChange c;
    c.object = Decode(gpus_prefix_, kv, &c.key);
    if (!c.object) continue;
    seen[c.key] = true;
    StoredPtr have = mirror_->Find(c.key);
    if (have && have->metadata().resource_version() == c.object->metadata().resource_version()) continue;
    c.rv = static_cast<uint64_t>(kv.mod_revision());
    if (c.rv <= from) backwards = true;
    by_rv[c.rv].push_back(std::move(c));
  }
  if (backwards) return RevisionWentBack(at);
  // Deletions happened at some revision in (from, at]: give them `at`.
  auto current = mirror_->List(ListOptions{});
  if (!current.ok()) return current.status();
  for (const StoredPtr& o : current->items) {
    std::string key = MakeKey(o->metadata().namespace_(), o->metadata().name());
    if (seen.count(key)) continue;
    ServingStore::ExternalChange c;
    c.key = std::move(key);
    c.rv = at;
    by_rv[at].push_back(std::move(c));
  }
  std::vector<ServingStore::ExternalChange> changes;
  for (auto& [rv, cs] : by_rv) {
    for (auto& c : cs) changes.push_back(std::move(c));
  }
  spdlog::info("etcd: relisted {} at revision {}: {} changes since {}", gpus_prefix_, at, changes.size(),
               from);
  mirror_->ApplyExternal(std::move(changes));
  mirror_->AdvanceTo(at);
  // The history cannot replay (from, at] one change at a time: resuming
  // inside it is too old.
  mirror_->RaiseFloor(at);
  return absl::OkStatus();
}

absl::Status EtcdStore::RevisionWentBack(uint64_t etcd_rev) {
  // etcd was restored from a backup, or is another cluster: its changes
  // cannot get RVs above the ones already handed out. Every watcher relists
  // (elsewhere: this server stops serving until it is restarted and reloads).
  const uint64_t served = mirror_->CurrentResourceVersion();
  spdlog::error(
      "etcd: revision {} is behind the {} already served; ending every watch, NOT_SERVING until restarted",
      etcd_rev, served);
  absl::Status fatal =
      absl::FailedPreconditionError(Cat("etcd's revision went back from ", served, " to ", etcd_rev,
                                        " (restored from a backup?); restart device-api-server to reload"));
  {
    absl::MutexLock l(&mu_);
    fatal_ = fatal;
    serving_.store(false, std::memory_order_release);
  }
  mirror_->EndWatches(am::TooOldResourceVersionError(served, etcd_rev));
  return fatal;
}

std::string EtcdStore::EtcdKey(const std::string& mirror_key) const { return gpus_prefix_ + mirror_key; }

void EtcdStore::CheckCompacted(uint64_t rv) {
  // Only while etcd answers: a resume during an outage is served from the
  // history without waiting for a call that would time out.
  if (rv >= mirror_->CurrentResourceVersion() || !Up().ok()) return;
  pb::RangeRequest r;
  r.set_key(gpus_prefix_);
  r.set_range_end(PrefixEnd(gpus_prefix_));
  r.set_revision(static_cast<int64_t>(rv));
  r.set_count_only(true);
  auto got = client_->Range(r);
  // Compacted in etcd: every server on this prefix treats it as too old. Any
  // other failure: the mirror's history decides.
  if (!got.ok() && got.status().code() == absl::StatusCode::kOutOfRange) mirror_->RaiseFloor(rv + 1);
}

absl::Status EtcdStore::AwaitApplied(uint64_t rv) {
  if (mirror_->WaitForRv(rv, options_.apply_timeout)) return absl::OkStatus();
  return absl::UnavailableError(Cat("etcd committed the change at revision ", rv,
                                    " but its watch has not delivered it within ",
                                    ToStd(absl::FormatDuration(options_.apply_timeout)),
                                    "; it will be visible once etcd is reachable again"));
}

absl::StatusOr<StoredPtr> EtcdStore::Get(const ObjectKey& key, std::string_view rv) {
  // "" is a consistent read: not from a mirror that may be behind.
  if (rv.empty()) {
    if (auto s = Up(); !s.ok()) return s;
  }
  return mirror_->Get(key, rv);
}

absl::StatusOr<ListResult> EtcdStore::List(const ListOptions& opts) {
  if (!opts.continue_token.empty()) {
    if (auto tok = DecodeContinueToken(opts.continue_token); tok.ok()) CheckCompacted(tok->rv);
  } else if (opts.resource_version.empty()) {
    if (auto s = Up(); !s.ok()) return s;
  } else if (opts.match == am::ResourceVersionMatch::kExact) {
    if (auto n = am::ParseResourceVersion(opts.resource_version); n.ok()) CheckCompacted(*n);
  }
  return mirror_->List(opts);
}

absl::StatusOr<std::unique_ptr<WatchHandle>> EtcdStore::Watch(WatchOptions opts, WatchConsumer* consumer) {
  if (opts.resume_rv) CheckCompacted(*opts.resume_rv);
  return mirror_->Watch(std::move(opts), consumer);
}

absl::StatusOr<StoredPtr> EtcdStore::Create(v1::Gpu gpu) {
  if (auto s = Up(); !s.ok()) return s;
  const std::string key = MakeKey(gpu.metadata().namespace_(), gpu.metadata().name());
  if (mirror_->Find(key)) return am::AlreadyExistsError(gpu.metadata().name());
  // Two servers on one prefix can each pass this check: the limit is per
  // server's view, the uniqueness below is etcd's.
  if (mirror_->ObjectCount() >= config_.max_objects) return am::TooManyObjectsError(config_.max_objects);
  gpu.mutable_metadata()->clear_resource_version();
  const std::string ekey = EtcdKey(key);
  pb::TxnRequest txn;
  auto* cmp = txn.add_compare();
  cmp->set_key(ekey);
  cmp->set_target(pb::Compare::CREATE);
  cmp->set_result(pb::Compare::EQUAL);
  cmp->set_create_revision(0);
  auto* put = txn.add_success()->mutable_request_put();
  put->set_key(ekey);
  put->set_value(gpu.SerializeAsString());
  auto resp = client_->Txn(txn);
  if (!resp.ok()) return resp.status();
  if (!resp->succeeded()) return am::AlreadyExistsError(gpu.metadata().name());
  const uint64_t rv = static_cast<uint64_t>(resp->header().revision());
  if (auto s = AwaitApplied(rv); !s.ok()) return s;
  gpu.mutable_metadata()->set_resource_version(std::to_string(rv));
  return StoredObject::Make(CopyObject(gpu));
}

namespace {

// A transaction on `ekey` that applies only while the key is still at `cur`'s
// revision (optimistic concurrency) and otherwise reads the key back, so the
// caller can catch up with the change that won. The caller adds the success op.
pb::TxnRequest GuardedTxn(const std::string& ekey, const StoredObject& cur) {
  pb::TxnRequest txn;
  auto* cmp = txn.add_compare();
  cmp->set_key(ekey);
  cmp->set_target(pb::Compare::MOD);
  cmp->set_result(pb::Compare::EQUAL);
  cmp->set_mod_revision(static_cast<int64_t>(std::stoull(cur.metadata().resource_version())));
  txn.add_failure()->mutable_request_range()->set_key(ekey);
  return txn;
}

}  // namespace

absl::StatusOr<StoredPtr> EtcdStore::Update(const ObjectKey& key, const UpdateFn& fn) {
  return UpdateStored(key, [&fn](const StoredObject& cur) { return fn(*cur.Object()); });
}

absl::StatusOr<StoredPtr> EtcdStore::UpdateStored(const ObjectKey& key, const StoredUpdateFn& fn) {
  if (auto s = Up(); !s.ok()) return s;
  const std::string k = MakeKey(key.ns, key.name);
  const std::string ekey = EtcdKey(k);
  for (int attempt = 0; attempt < kMaxWriteAttempts; ++attempt) {
    StoredPtr cur = mirror_->Find(k);
    if (!cur) return am::NotFoundError(key.name);
    auto next = fn(*cur);
    if (!next.ok()) return next.status();
    if (*next == nullptr) return cur;  // no-op: nothing committed
    v1::Gpu& obj = **next;
    obj.mutable_metadata()->clear_resource_version();
    pb::TxnRequest txn = GuardedTxn(ekey, *cur);
    auto* put = txn.add_success()->mutable_request_put();
    put->set_key(ekey);
    put->set_value(obj.SerializeAsString());
    auto resp = client_->Txn(txn);
    if (!resp.ok()) return resp.status();
    if (resp->succeeded()) {
      const uint64_t rv = static_cast<uint64_t>(resp->header().revision());
      if (auto s = AwaitApplied(rv); !s.ok()) return s;
      obj.mutable_metadata()->set_resource_version(std::to_string(rv));
      return StoredObject::Commit(std::move(*next));
    }
    // Another writer got there first: catch up with its change and recompute.
    const auto& kvs = resp->responses(0).response_range().kvs();
    if (kvs.empty()) return am::NotFoundError(key.name);
    if (auto s = AwaitApplied(static_cast<uint64_t>(kvs[0].mod_revision())); !s.ok()) return s;
  }
  return am::ConflictError(key.name);
}

absl::StatusOr<StoredPtr> EtcdStore::Delete(const ObjectKey& key, const DeletePreconditions& pre) {
  if (auto s = Up(); !s.ok()) return s;
  const std::string k = MakeKey(key.ns, key.name);
  const std::string ekey = EtcdKey(k);
  for (int attempt = 0; attempt < kMaxWriteAttempts; ++attempt) {
    StoredPtr cur = mirror_->Find(k);
    if (!cur) return am::NotFoundError(key.name);
    if (auto s = ServingStore::CheckDeletePreconditions(key.name, cur->metadata(), pre); !s.ok()) return s;
    pb::TxnRequest txn = GuardedTxn(ekey, *cur);
    txn.add_success()->mutable_request_delete_range()->set_key(ekey);
    auto resp = client_->Txn(txn);
    if (!resp.ok()) return resp.status();
    if (resp->succeeded()) {
      const uint64_t rv = static_cast<uint64_t>(resp->header().revision());
      if (auto s = AwaitApplied(rv); !s.ok()) return s;
      auto last = CopyObject(*cur->Object());
      last->mutable_metadata()->set_resource_version(std::to_string(rv));
      return StoredObject::Make(std::move(last));
    }
    const auto& kvs = resp->responses(0).response_range().kvs();
    if (kvs.empty()) return am::NotFoundError(key.name);
    if (auto s = AwaitApplied(static_cast<uint64_t>(kvs[0].mod_revision())); !s.ok()) return s;
  }
  return am::ConflictError(key.name);
}

uint64_t EtcdStore::CurrentResourceVersion() { return mirror_->CurrentResourceVersion(); }

StoreStats EtcdStore::Stats() { return mirror_->Stats(); }

absl::Status EtcdStore::Ready() {
  if (shut_) return am::ShuttingDownError();
  if (auto s = Up(); !s.ok()) return s;
  return mirror_->Ready();
}

absl::StatusOr<StorePtr> OpenEtcdStore(std::string_view endpoint, const StoreConfig& config,
                                       const EtcdOptions& options) {
  auto ep = ParseEtcdEndpoint(endpoint);
  if (!ep.ok()) return ep.status();
  auto s = EtcdStore::Open(*ep, config, options);
  if (!s.ok()) return s.status();
  return StorePtr(std::move(*s));
}

}  // namespace deviceapi::storage
