// An immutable view of every object at one resource version, cheap to copy on
// write: objects live in hash buckets, and a write copies only one bucket.
#ifndef DEVICEAPI_STORAGE_SNAPSHOT_H_
#define DEVICEAPI_STORAGE_SNAPSHOT_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "storage/event.h"

namespace deviceapi::storage {

// "namespace/name", the order of lists and continue tokens (names never contain '/').
std::string MakeKey(std::string_view ns, std::string_view name);

class Snapshot {
 public:
  static constexpr size_t kBuckets = 64;
  struct Entry {
    std::string key;
    StoredPtr object;
  };
  using Bucket = std::vector<Entry>;

  static std::shared_ptr<const Snapshot> Empty(uint64_t rv);

  uint64_t rv() const { return rv_; }
  size_t size() const { return size_; }
  StoredPtr Find(const std::string& key) const;
  // A copy with `key` set to `obj` (or removed when obj is null), at `rv`.
  std::shared_ptr<const Snapshot> With(const std::string& key, StoredPtr obj, uint64_t rv) const;
  // Every entry, sorted by key.
  std::vector<const Entry*> Sorted() const;
  void ForEach(const std::function<void(const StoredPtr&)>& f) const;

 private:
  uint64_t rv_ = 0;
  size_t size_ = 0;
  std::array<std::shared_ptr<const Bucket>, kBuckets> buckets_;
};

using SnapshotPtr = std::shared_ptr<const Snapshot>;

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_SNAPSHOT_H_
