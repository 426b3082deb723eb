#include "storage/snapshot.h"

#include <algorithm>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"

namespace deviceapi::storage {

std::string MakeKey(std::string_view ns, std::string_view name) {
  std::string key;
  key.reserve(ns.size() + 1 + name.size());
  key.append(ns).append("/").append(name);
  return key;
}

namespace {
size_t BucketOf(const std::string& key) { return absl::Hash<std::string>{}(key) % Snapshot::kBuckets; }
}  // namespace

std::shared_ptr<const Snapshot> Snapshot::Empty(uint64_t rv) {
  auto s = std::make_shared<Snapshot>();
  s->rv_ = rv;
  auto empty = std::make_shared<const Bucket>();
  for (auto& b : s->buckets_) b = empty;
  return s;
}

StoredPtr Snapshot::Find(const std::string& key) const {
  const Bucket& b = *buckets_[BucketOf(key)];
  for (const Entry& e : b) {
    if (e.key == key) return e.object;
  }
  return nullptr;
}

std::shared_ptr<const Snapshot> Snapshot::With(const std::string& key, StoredPtr obj, uint64_t rv) const {
  auto s = std::make_shared<Snapshot>(*this);
  s->rv_ = rv;
  const size_t bi = BucketOf(key);
  auto nb = std::make_shared<Bucket>();
  nb->reserve(buckets_[bi]->size() + 1);
  bool found = false;
  for (const Entry& e : *buckets_[bi]) {
    if (e.key == key) {
      found = true;
      if (obj) nb->push_back(Entry{key, obj});
    } else {
      nb->push_back(e);
    }
  }
  if (!found && obj) nb->push_back(Entry{key, obj});
  s->size_ = size_ - (found ? 1 : 0) + (obj ? 1 : 0);
  s->buckets_[bi] = std::move(nb);
  return s;
}

std::vector<const Snapshot::Entry*> Snapshot::Sorted() const {
  std::vector<const Entry*> out;
  out.reserve(size_);
  for (const auto& b : buckets_) {
    for (const Entry& e : *b) out.push_back(&e);
  }
  std::sort(out.begin(), out.end(), [](const Entry* a, const Entry* b) { return a->key < b->key; });
  return out;
}

void Snapshot::ForEach(const std::function<void(const StoredPtr&)>& f) const {
  for (const auto& b : buckets_) {
    for (const Entry& e : *b) f(e.object);
  }
}

}  // namespace deviceapi::storage
