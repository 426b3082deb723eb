// A thread-safe, indexed store of GPU objects: the cache behind an informer (client-go
// tools/cache ThreadSafeStore + Indexer).
//
// Objects are kept as immutable shared pointers (GpuPtr): readers get a snapshot that stays valid
// however long they hold it, and the store never copies an object on read. Keys are
// "<namespace>/<name>". Indexes map an index value to the keys of the objects that produce it;
// two are built in ("namespace", "name") and more can be added (AddIndexers).
//
// Thread-safety: every method may be called from any thread. The mutating methods are meant for
// the informer that owns the store; users of an informer's cache get it as `const Indexer`.
#ifndef DEVICEAPI_INDEXER_H_
#define DEVICEAPI_INDEXER_H_

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "device/v1alpha1/gpu.pb.h"

namespace deviceapi {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

// An immutable GPU shared between the cache, listers and event handlers.
using GpuPtr = std::shared_ptr<const v1::Gpu>;

// The values an object has for one index (none: the object is not in that index).
using IndexFunc = std::function<std::vector<std::string>(const v1::Gpu&)>;
// Index name -> function.
using Indexers = std::map<std::string, IndexFunc>;

inline constexpr std::string_view kNamespaceIndex = "namespace";
inline constexpr std::string_view kNameIndex = "name";

// "<ns>/<name>"; an empty namespace counts as "default", as the server defaults it.
std::string ObjectKey(std::string_view ns, std::string_view name);
std::string ObjectKey(const v1::Gpu& gpu);

// {metadata.namespace} (client-go MetaNamespaceIndexFunc).
std::vector<std::string> NamespaceIndexFunc(const v1::Gpu& gpu);
// {metadata.name}.
std::vector<std::string> NameIndexFunc(const v1::Gpu& gpu);
// {"namespace": NamespaceIndexFunc, "name": NameIndexFunc}.
Indexers DefaultIndexers();

class Indexer {
 public:
  explicit Indexer(Indexers indexers = DefaultIndexers());
  Indexer(const Indexer&) = delete;
  Indexer& operator=(const Indexer&) = delete;

  // ---- reads (non-blocking apart from the store's lock) ----
  // nullptr when absent.
  GpuPtr Get(std::string_view ns, std::string_view name) const;
  GpuPtr GetByKey(std::string_view key) const;
  // Every object, ordered by key.
  std::vector<GpuPtr> List() const;
  std::vector<std::string> ListKeys() const;
  size_t Size() const;

  // Objects whose `index` function yields `value`, ordered by key. NOT_FOUND for an unknown index.
  absl::StatusOr<std::vector<GpuPtr>> ByIndex(std::string_view index, std::string_view value) const;
  // Their keys.
  absl::StatusOr<std::vector<std::string>> IndexKeys(std::string_view index, std::string_view value) const;
  // The values present in `index` (empty for an unknown index), sorted.
  std::vector<std::string> ListIndexFuncValues(std::string_view index) const;
  // Names of the indexes, sorted.
  std::vector<std::string> IndexNames() const;

  // Adds indexes and indexes the objects already stored. ALREADY_EXISTS (and nothing added) when
  // a name is taken.
  absl::Status AddIndexers(const Indexers& indexers);

  // ---- writes (the owning informer's) ----
  // Inserts or replaces the object under its key; returns the previous one (nullptr if none).
  GpuPtr Upsert(GpuPtr obj);
  // Removes `key`; returns the removed object (nullptr if none).
  GpuPtr Remove(std::string_view key);
  // Makes the store hold exactly `objs`.
  void Replace(const std::vector<GpuPtr>& objs);

 private:
  using Index = std::map<std::string, std::set<std::string>, std::less<>>;  // value -> keys

  void IndexLocked(const std::string& key, const v1::Gpu& obj) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UnindexLocked(const std::string& key, const v1::Gpu& obj) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  Indexers indexers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, GpuPtr, std::less<>> items_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Index, std::less<>> indices_ ABSL_GUARDED_BY(mu_);
};

using IndexerPtr = std::shared_ptr<Indexer>;

}  // namespace deviceapi

#endif  // DEVICEAPI_INDEXER_H_
