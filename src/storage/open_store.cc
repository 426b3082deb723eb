#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "storage/memory/memory_store.h"
#include "storage/store.h"

namespace deviceapi::storage {

absl::StatusOr<StorePtr> OpenStore(std::string_view endpoint, const StoreConfig& config) {
  if (endpoint == "memory://" || endpoint == "memory") {
    return StorePtr(MemoryStore::Create(config, MemoryStore::WallClockStartRv()));
  }
  for (std::string_view scheme : {"sqlite", "etcd"}) {
    if (std::string(endpoint).rfind(std::string(scheme) + "://", 0) == 0) {
      return absl::UnimplementedError("datastore scheme \"" + std::string(scheme) + "\" is not supported yet");
    }
  }
  return absl::InvalidArgumentError(
      "unsupported datastore endpoint \"" + std::string(endpoint) + "\": want memory://");
}

}  // namespace deviceapi::storage
