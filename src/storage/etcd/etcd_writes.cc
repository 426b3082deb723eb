// The writes of the etcd:// backend: one optimistic loop (WriteKey) behind
// Create, Update/UpdateStored and Delete, each a plan for what to do with the
// key's current version; and the writer threads the *Async writes run on, so
// the caller (a gRPC callback thread, which must never block) is not held
// while etcd commits the Txn and the watch delivers its revision.
#include <algorithm>
#include <deque>
#include <optional>
#include <thread>

#include "apimachinery/errors.h"
#include "common/strings.h"
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

namespace {

// Retries of an optimistic write that lost a race to another writer.
constexpr int kMaxWriteAttempts = 64;

}  // namespace

struct EtcdStore::WriteStep {
  // Answer this and commit nothing (an error, or a no-op's current version).
  static WriteStep Answer(WriteResult r) {
    WriteStep s;
    s.answer = std::move(r);
    return s;
  }

  std::optional<WriteResult> answer;
  // Otherwise the bytes to put at the key (nullopt: delete it) ...
  std::optional<std::string> value;
  // ... and the answer once that is committed at revision `rv`.
  std::function<StoredPtr(uint64_t rv)> committed;
};

WriteResult EtcdStore::WriteKey(const std::string& mirror_key, std::string_view name, const WritePlan& plan) {
  if (auto s = Up(); !s.ok()) return s;
  const std::string ekey = EtcdKeyOf(gpus_prefix_, mirror_key);
  for (int attempt = 0; attempt < kMaxWriteAttempts; ++attempt) {
    StoredPtr cur = mirror_->Find(mirror_key);
    WriteStep step = plan(cur);
    if (step.answer) return std::move(*step.answer);
    // Applies only while etcd's key is where the mirror has it: absent
    // (create_revision 0) or at `cur`'s revision; otherwise reads the key
    // back, so the loop can catch up with the change that won.
    pb::TxnRequest txn;
    auto* cmp = txn.add_compare();
    cmp->set_key(ekey);
    cmp->set_result(pb::Compare::EQUAL);
    if (cur) {
      cmp->set_target(pb::Compare::MOD);
      cmp->set_mod_revision(static_cast<int64_t>(std::stoull(cur->metadata().resource_version())));
    } else {
      cmp->set_target(pb::Compare::CREATE);
      cmp->set_create_revision(0);
    }
    if (step.value) {
      auto* put = txn.add_success()->mutable_request_put();
      put->set_key(ekey);
      put->set_value(std::move(*step.value));
    } else {
      txn.add_success()->mutable_request_delete_range()->set_key(ekey);
    }
    txn.add_failure()->mutable_request_range()->set_key(ekey);
    auto resp = client_->Txn(txn);
    if (!resp.ok()) return resp.status();
    if (resp->succeeded()) {
      const uint64_t rv = static_cast<uint64_t>(resp->header().revision());
      if (auto s = AwaitApplied(rv); !s.ok()) return s;
      return step.committed(rv);
    }
    // Another writer got there first: catch up with its change and plan again.
    const auto& kvs = resp->responses(0).response_range().kvs();
    if (kvs.empty()) return am::NotFoundError(name);
    if (auto s = AwaitApplied(static_cast<uint64_t>(kvs[0].mod_revision())); !s.ok()) return s;
  }
  return am::ConflictError(name);
}

absl::Status EtcdStore::AwaitApplied(uint64_t rv) {
  if (mirror_->WaitForRv(rv, options_.apply_timeout)) return absl::OkStatus();
  return absl::UnavailableError(Cat("etcd committed the change at revision ", rv,
                                    " but its watch has not delivered it within ",
                                    ToStd(absl::FormatDuration(options_.apply_timeout)),
                                    "; it will be visible once etcd is reachable again"));
}

absl::StatusOr<StoredPtr> EtcdStore::Create(v1::Gpu gpu) {
  const std::string& name = gpu.metadata().name();
  return WriteKey(MakeKey(gpu.metadata().namespace_(), name), name, [&](const StoredPtr& cur) {
    if (cur) return WriteStep::Answer(am::AlreadyExistsError(name));
    // Two servers on one prefix can each pass this check: the limit is per
    // server's view, the uniqueness is etcd's (the Txn's create_revision 0).
    if (mirror_->ObjectCount() >= config_.max_objects) {
      return WriteStep::Answer(am::TooManyObjectsError(config_.max_objects));
    }
    WriteStep step;
    step.value = EncodeForEtcd(gpu);
    step.committed = [&gpu](uint64_t rv) {
      gpu.mutable_metadata()->set_resource_version(std::to_string(rv));
      return StoredObject::Make(CopyObject(gpu));
    };
    return step;
  });
}

absl::StatusOr<StoredPtr> EtcdStore::Update(const ObjectKey& key, const UpdateFn& fn) {
  return UpdateStored(key, [&fn](const StoredObject& cur) { return fn(*cur.Object()); });
}

absl::StatusOr<StoredPtr> EtcdStore::UpdateStored(const ObjectKey& key, const StoredUpdateFn& fn) {
  return WriteKey(MakeKey(key.ns, key.name), key.name, [&](const StoredPtr& cur) {
    if (!cur) return WriteStep::Answer(am::NotFoundError(key.name));
    auto next = fn(*cur);
    if (!next.ok()) return WriteStep::Answer(next.status());
    if (*next == nullptr) return WriteStep::Answer(cur);  // no-op: nothing committed
    // May be borrowed (next_version.h): held by this step, which is dropped
    // before the write is answered, and only read when it commits.
    auto obj = std::make_shared<NextVersion>(std::move(*next));
    WriteStep step;
    step.value = EncodeForEtcd(**obj);
    step.committed = [obj](uint64_t rv) {
      (*obj)->mutable_metadata()->set_resource_version(std::to_string(rv));
      return StoredObject::Commit(std::move(*obj));
    };
    return step;
  });
}

absl::StatusOr<StoredPtr> EtcdStore::Delete(const ObjectKey& key, const DeletePreconditions& pre) {
  return WriteKey(MakeKey(key.ns, key.name), key.name, [&](const StoredPtr& cur) {
    if (!cur) return WriteStep::Answer(am::NotFoundError(key.name));
    if (auto s = ServingStore::CheckDeletePreconditions(key.name, cur->metadata(), pre); !s.ok()) {
      return WriteStep::Answer(s);
    }
    WriteStep step;  // no value: delete
    step.committed = [cur](uint64_t rv) {
      auto last = CopyObject(*cur->Object());
      last->mutable_metadata()->set_resource_version(std::to_string(rv));
      return StoredObject::Make(std::move(last));
    };
    return step;
  });
}

// The *Async writes: the blocking write on a writer thread. `fn` is dropped
// before `done` runs: what it refers to need only outlive `done` (store.h).

void EtcdStore::CreateAsync(v1::Gpu gpu, WriteDone done) {
  writers_.Submit([this, gpu = std::move(gpu), done = std::move(done)](absl::Status go) mutable {
    done(go.ok() ? Create(std::move(gpu)) : WriteResult(std::move(go)));
  });
}

void EtcdStore::UpdateAsync(const ObjectKey& key, UpdateFn fn, WriteDone done) {
  writers_.Submit([this, key, fn = std::move(fn), done = std::move(done)](absl::Status go) mutable {
    WriteResult r = go.ok() ? Update(key, fn) : WriteResult(std::move(go));
    fn = nullptr;
    done(std::move(r));
  });
}

void EtcdStore::UpdateStoredAsync(const ObjectKey& key, StoredUpdateFn fn, WriteDone done) {
  writers_.Submit([this, key, fn = std::move(fn), done = std::move(done)](absl::Status go) mutable {
    WriteResult r = go.ok() ? UpdateStored(key, fn) : WriteResult(std::move(go));
    fn = nullptr;
    done(std::move(r));
  });
}

void EtcdStore::DeleteAsync(const ObjectKey& key, const DeletePreconditions& pre, WriteDone done) {
  writers_.Submit([this, key, pre, done = std::move(done)](absl::Status go) mutable {
    done(go.ok() ? Delete(key, pre) : WriteResult(std::move(go)));
  });
}

// The writer threads.

struct EtcdStore::WriterPool::Shared {
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return closed || !queue.empty(); }

  absl::Mutex mu;
  std::deque<Task> queue ABSL_GUARDED_BY(mu);
  bool closed ABSL_GUARDED_BY(mu) = false;
};

EtcdStore::WriterPool::WriterPool(int threads) : shared_(std::make_shared<Shared>()) {
  for (int i = 0; i < std::max(threads, 1); ++i) {
    // Each thread holds the queue itself: one left to finish on its own
    // (see Close) outlives the pool.
    threads_.emplace_back([keep = shared_] {
      Shared* const q = keep.get();
      for (;;) {
        Task task;
        {
          absl::MutexLock l(&q->mu);
          q->mu.Await(absl::Condition(q, &Shared::HasWork));
          if (q->queue.empty()) return;  // closed
          task = std::move(q->queue.front());
          q->queue.pop_front();
        }
        task(absl::OkStatus());
      }
    });
  }
}

EtcdStore::WriterPool::~WriterPool() { Close(); }

void EtcdStore::WriterPool::Submit(Task task) {
  Shared* const q = shared_.get();
  {
    absl::MutexLock l(&q->mu);
    if (!q->closed) {
      q->queue.push_back(std::move(task));
      return;
    }
  }
  task(absl::UnavailableError("the etcd store is closed; the write was not started"));
}

void EtcdStore::WriterPool::Close() {
  Shared* const q = shared_.get();
  std::deque<Task> refused;
  {
    absl::MutexLock l(&q->mu);
    q->closed = true;
    refused.swap(q->queue);
  }
  for (Task& task : refused) {
    task(absl::UnavailableError("the etcd store closed before the write started; nothing was written"));
  }
  for (std::thread& t : threads_) {
    if (!t.joinable()) continue;
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();
    } else {
      t.join();
    }
  }
}

}  // namespace deviceapi::storage
