#include <string>

#include "common/strings.h"
#include "storage/etcd/etcd_store.h"
#include "storage/serving/serving_store.h"
#include "storage/sqlite/sqlite_persister.h"
#include "storage/store.h"

namespace deviceapi::storage {

using ::deviceapi::common::Cat;

absl::StatusOr<StorePtr> OpenStore(std::string_view endpoint, const StoreConfig& config) {
  if (endpoint == "memory://" || endpoint == "memory") {
    return StorePtr(ServingStore::Create(config, ServingStore::WallClockStartRv()));
  }
  constexpr std::string_view kSqlite = "sqlite://";
  if (endpoint.substr(0, kSqlite.size()) == kSqlite) {
    std::string path(endpoint.substr(kSqlite.size()));
    if (path.empty() || path.front() != '/') {
      return absl::InvalidArgumentError(
          Cat("datastore endpoint \"", endpoint, "\": want sqlite:///absolute/path/to/state.db"));
    }
    return OpenSqliteStore(path, config);
  }
  if (endpoint.substr(0, 7) == "etcd://") return OpenEtcdStore(endpoint, config);
  return absl::InvalidArgumentError(Cat("unsupported datastore endpoint \"", endpoint,
                                        "\": want memory://, sqlite:///abs/path or etcd://HOST:PORT"));
}

}  // namespace deviceapi::storage
