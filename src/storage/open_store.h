// What --datastore-endpoint names, checked in one place: the server's flag
// validation (apiserver/options.cc) and OpenStore (store.h) both parse it with
// ParseDatastoreEndpoint, so an endpoint is accepted or refused the same way,
// with the same message, at start-up and when the store opens.
#ifndef DEVICEAPI_STORAGE_OPEN_STORE_H_
#define DEVICEAPI_STORAGE_OPEN_STORE_H_

#include <string>
#include <string_view>
#include <variant>

#include "absl/status/statusor.h"
#include "storage/etcd/etcd_endpoint.h"

namespace deviceapi::storage {

// memory://
struct MemoryDatastore {};
// sqlite:///ABSOLUTE/PATH[?synchronous=full|normal]
struct SqliteDatastore {
  std::string path_and_query;  // what follows "sqlite://" (see ParseSqliteTarget)
};
using DatastoreEndpoint = std::variant<MemoryDatastore, SqliteDatastore, EtcdEndpoint>;

// The parsed endpoint, or INVALID_ARGUMENT (one line) naming the endpoint,
// what is wrong and the form wanted: an unknown scheme, memory:// followed by
// anything, a sqlite path that is not an absolute file path or an unknown
// sqlite setting, an etcd endpoint ParseEtcdEndpoint refuses.
absl::StatusOr<DatastoreEndpoint> ParseDatastoreEndpoint(std::string_view endpoint);

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_OPEN_STORE_H_
