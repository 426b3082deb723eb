// Mirror mode of the serving store (see serving_store.h): the serving layer of a backend that
// commits elsewhere and assigns the resource versions itself (etcd). The backend's change feed is
// applied here as if the changes had been written here, so lists, history, continue tokens and
// watches stay the serving store's.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "apimachinery/errors.h"
#include "storage/serving/serving_store.h"

namespace deviceapi::storage {

namespace am = ::deviceapi::apimachinery;

void ServingStore::ApplyExternal(std::vector<ExternalChange> changes) {
  AfterUnlock after;
  {
    absl::MutexLock l(&commit_mu_);
    // Consecutive changes at one RV are one backend transaction (several keys in one etcd txn, or
    // the deletions a relist finds): they become visible together, so a List or a watch resumed
    // from its RV never holds part of one.
    for (size_t i = 0; i < changes.size();) {
      const uint64_t rv = changes[i].rv;
      size_t end = i;
      while (end < changes.size() && changes[end].rv == rv) ++end;
      SnapshotPtr next = Current();
      if (rv < next->rv()) {  // already applied (a replay after a reconnect)
        i = end;
        continue;
      }
      std::vector<EventPtr> events;
      for (; i < end; ++i) {
        ExternalChange& c = changes[i];
        StoredPtr prev = next->Find(c.key);
        auto ev = std::make_shared<Event>();
        ev->rv = rv;
        ev->time = absl::Now();
        if (c.object) {
          c.object->mutable_metadata()->set_resource_version(std::to_string(rv));
          ev->type = prev ? EventType::kModified : EventType::kAdded;
          ev->object = StoredObject::Make(std::move(c.object));
        } else {
          if (!prev) continue;
          // The deleted object's last state, carrying the deletion's RV.
          auto last = CopyObject(*prev->Object());
          last->mutable_metadata()->set_resource_version(std::to_string(rv));
          ev->type = EventType::kDeleted;
          ev->object = StoredObject::Make(std::move(last));
        }
        ev->prev = std::move(prev);
        next = next->With(c.key, ev->type == EventType::kDeleted ? nullptr : ev->object, rv);
        events.push_back(std::move(ev));
      }
      if (!events.empty()) PublishTransactionLocked(events, std::move(next), &after);
    }
  }
  after.Run();
}

void ServingStore::AdvanceTo(uint64_t rv) {
  absl::MutexLock l(&commit_mu_);
  SnapshotPtr cur = Current();
  if (rv <= cur->rv()) return;
  // The same objects at a higher RV: With() on a key that is never used
  // (names are never empty) removes nothing.
  SnapshotPtr next = cur->With(std::string(), nullptr, rv);
  SetVisibleLocked(std::move(next));
}

void ServingStore::RaiseFloor(uint64_t rv) {
  absl::MutexLock l(&commit_mu_);
  floor_ = std::max(floor_, rv);
}

bool ServingStore::WaitForRv(uint64_t rv, absl::Duration timeout) {
  absl::MutexLock l(&snap_mu_);
  auto reached = [this, rv]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(snap_mu_) { return snapshot_->rv() >= rv; };
  snap_mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  return snapshot_->rv() >= rv;
}

void ServingStore::EndWatches(const absl::Status& status) {
  std::vector<WatcherPtr> notify;
  {
    absl::MutexLock l(&commit_mu_);
    for (const auto& weak : watchers_) {
      if (WatcherPtr w = weak.lock(); w && w->End(status)) notify.push_back(std::move(w));
    }
  }
  for (auto& w : notify) w->Notify();
  hub_.Wake();  // the dispatcher drops the ended watchers
}

StoredPtr ServingStore::Find(const std::string& key) const { return Current()->Find(key); }

size_t ServingStore::ObjectCount() const { return Current()->size(); }

absl::Status ServingStore::CheckDeletePreconditions(const std::string& name, const v1::ObjectMeta& md,
                                                    const DeletePreconditions& pre) {
  if (pre.uid && *pre.uid != md.uid()) {
    return am::PreconditionError(
        name, absl::StrCat("UID in precondition: ", *pre.uid, ", UID in object meta: ", md.uid()));
  }
  if (pre.resource_version && *pre.resource_version != md.resource_version()) {
    return am::PreconditionError(name,
                                 absl::StrCat("ResourceVersion in precondition: ", *pre.resource_version,
                                              ", ResourceVersion in object meta: ", md.resource_version()));
  }
  return absl::OkStatus();
}

}  // namespace deviceapi::storage
