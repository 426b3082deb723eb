// Endpoint parsing for the etcd:// backend: what --datastore-endpoint
// etcd://HOST:PORT[,HOST:PORT...][?prefix=/p/] names (the addresses to fail
// over between and the key prefix), checked once with one message per problem.
#ifndef DEVICEAPI_STORAGE_ETCD_ETCD_ENDPOINT_H_
#define DEVICEAPI_STORAGE_ETCD_ETCD_ENDPOINT_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace deviceapi::storage {

inline constexpr std::string_view kDefaultEtcdPrefix = "/device-api/";

// A parsed etcd://host:port[,host:port...][?prefix=/p/] endpoint.
struct EtcdEndpoint {
  std::vector<std::string> addresses;                    // host:port, in the order given
  std::string prefix = std::string(kDefaultEtcdPrefix);  // starts and ends with '/'
};

// INVALID_ARGUMENT naming the endpoint and what is wanted when it is not of
// that form: no address, an empty host, a port that is not 1-65535, an
// unknown query parameter, a prefix that does not start with '/'. A prefix
// without a trailing '/' gets one.
absl::StatusOr<EtcdEndpoint> ParseEtcdEndpoint(std::string_view endpoint);

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_ETCD_ETCD_ENDPOINT_H_
