// The watch feed of the etcd:// backend: one etcd Watch on <prefix>gpus/
// keeps the mirror current (WatchLoop/RunWatch, reconnecting with backoff
// while etcd is away), a relist when etcd compacted what the store missed
// (Relist), the stop when etcd's revision went back (RevisionWentBack), and
// whether the store serves (SetUp/Up). CheckCompacted asks etcd whether a
// revision a reader resumes from is still there.
#include <algorithm>
#include <map>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "apimachinery/errors.h"
#include "common/strings.h"
#include "etcd/etcdserverpb/rpc.grpc.pb.h"
#include "etcd/etcdserverpb/rpc.pb.h"
#include "storage/etcd/etcd_client.h"
#include "storage/etcd/etcd_codec.h"
#include "storage/etcd/etcd_store.h"
#include "storage/snapshot.h"

namespace deviceapi::storage {

namespace am = ::deviceapi::apimachinery;
namespace pb = ::etcdserverpb;
using ::deviceapi::common::Cat;
using ::deviceapi::common::ToStd;

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
  return EtcdClient::Map(address, "watch", fin);
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

}  // namespace deviceapi::storage
