// Listers: read-only, typed views of an informer's cache (client-go GPULister). They never call
// the server; they see what the informer has observed so far.
//
// Thread-safe and cheap to copy (they share the cache).
#ifndef DEVICEAPI_LISTER_H_
#define DEVICEAPI_LISTER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "deviceapi/indexer.h"

namespace deviceapi {

// The GPUs of one namespace.
class GpuNamespaceLister {
 public:
  GpuNamespaceLister(std::shared_ptr<const Indexer> indexer, std::string ns);

  // GPUs of this namespace whose labels match `label_selector` (full Kubernetes syntax; ""
  // matches all), ordered by name. INVALID_ARGUMENT for a bad selector.
  absl::StatusOr<std::vector<GpuPtr>> List(std::string_view label_selector = "") const;
  // NOT_FOUND `gpus.device.nvidia.com "<name>" not found` when absent from the cache.
  absl::StatusOr<GpuPtr> Get(std::string_view name) const;

 private:
  std::shared_ptr<const Indexer> indexer_;
  std::string ns_;
};

class GpuLister {
 public:
  explicit GpuLister(std::shared_ptr<const Indexer> indexer);

  // GPUs of every namespace whose labels match `label_selector`, ordered by namespace and name.
  absl::StatusOr<std::vector<GpuPtr>> List(std::string_view label_selector = "") const;
  // The GPU `name` of the "default" namespace (where the typed client's named calls go).
  absl::StatusOr<GpuPtr> Get(std::string_view name) const;
  // The GPUs of `ns` ("" = "default").
  GpuNamespaceLister Gpus(std::string_view ns) const;

 private:
  std::shared_ptr<const Indexer> indexer_;
};

}  // namespace deviceapi

#endif  // DEVICEAPI_LISTER_H_
