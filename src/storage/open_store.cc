// Opening the backend a --datastore-endpoint names (see open_store.h).
#include "storage/open_store.h"

#include <spdlog/spdlog.h>

#include <string>

#include "common/strings.h"
#include "storage/etcd/etcd_store.h"
#include "storage/rv_mark.h"
#include "storage/serving/serving_store.h"
#include "storage/sqlite/sqlite_persister.h"
#include "storage/store.h"

namespace deviceapi::storage {

using ::deviceapi::common::Cat;
using ::deviceapi::common::ToStd;

absl::StatusOr<DatastoreEndpoint> ParseDatastoreEndpoint(std::string_view endpoint) {
  constexpr std::string_view kMemory = "memory://";
  constexpr std::string_view kSqlite = "sqlite://";
  constexpr std::string_view kEtcd = "etcd://";
  if (endpoint.substr(0, kMemory.size()) == kMemory) {
    if (endpoint.size() != kMemory.size()) {
      return absl::InvalidArgumentError(
          Cat("datastore endpoint \"", endpoint, "\": memory:// takes no path or settings; want memory://"));
    }
    return MemoryDatastore{};
  }
  if (endpoint.substr(0, kSqlite.size()) == kSqlite) {
    const std::string_view path_and_query = endpoint.substr(kSqlite.size());
    const std::string_view path = path_and_query.substr(0, path_and_query.find('?'));
    if (path.empty() || path.front() != '/' || path.back() == '/') {
      return absl::InvalidArgumentError(Cat("datastore endpoint \"", endpoint,
                                            "\": sqlite needs an absolute file path; want "
                                            "sqlite:///ABSOLUTE/PATH/state.db[?synchronous=full|normal], "
                                            "e.g. sqlite:///var/lib/device-api/state.db"));
    }
    if (auto target = ParseSqliteTarget(path_and_query); !target.ok()) {
      return absl::InvalidArgumentError(
          Cat("datastore endpoint \"", endpoint, "\": ", ToStd(target.status().message())));
    }
    return SqliteDatastore{std::string(path_and_query)};
  }
  if (endpoint.substr(0, kEtcd.size()) == kEtcd) {
    auto etcd = ParseEtcdEndpoint(endpoint);
    if (!etcd.ok()) return etcd.status();
    return *std::move(etcd);
  }
  return absl::InvalidArgumentError(Cat("unsupported datastore endpoint \"", endpoint,
                                        "\": want memory://, sqlite:///ABSOLUTE/PATH or "
                                        "etcd://HOST:PORT[,HOST:PORT...]"));
}

absl::StatusOr<StorePtr> OpenStore(std::string_view endpoint, const StoreConfig& config) {
  auto parsed = ParseDatastoreEndpoint(endpoint);
  if (!parsed.ok()) return parsed.status();
  if (std::holds_alternative<MemoryDatastore>(*parsed)) {
    const uint64_t now_rv = ServingStore::WallClockStartRv();
    if (config.rv_mark_file.empty()) return StorePtr(ServingStore::Create(config, now_rv));
    auto mark = RvMark::Open(config.rv_mark_file);
    if (!mark.ok()) return mark.status();
    const uint64_t held = (*mark)->mark();
    const uint64_t start_rv = (*mark)->StartAfter(now_rv);
    // Reserved before anything is served: even the RV of an empty list is covered.
    if (absl::Status s = (*mark)->Reserve(start_rv + (*mark)->window()); !s.ok()) return s;
    if (held > now_rv) {
      spdlog::warn(
          "memory:// resource versions start after {} from {}, above the wall clock ({}): the clock "
          "is behind an earlier run's resource versions",
          start_rv, config.rv_mark_file, now_rv);
    } else {
      spdlog::info("memory:// resource versions start after {} (high-water mark file {})", start_rv,
                   config.rv_mark_file);
    }
    return StorePtr(ServingStore::Create(config, start_rv, *std::move(mark)));
  }
  if (const auto* sqlite = std::get_if<SqliteDatastore>(&*parsed)) {
    return OpenSqliteStore(sqlite->path_and_query, config);
  }
  auto etcd = EtcdStore::Open(std::get<EtcdEndpoint>(*parsed), config);
  if (!etcd.ok()) return etcd.status();
  return StorePtr(std::move(*etcd));
}

}  // namespace deviceapi::storage
