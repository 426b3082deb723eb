// Bind addresses of the binaries' HTTP endpoints ("host:port").
#ifndef DEVICEAPI_COMMON_HOST_PORT_H_
#define DEVICEAPI_COMMON_HOST_PORT_H_

#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace deviceapi::common {

// Splits "host:port" the way Go's net.SplitHostPort does ("[::1]:80" -> {"::1", 80}; ":9090" ->
// {"", 9090}). The host must be empty, "localhost" or an IPv4/IPv6 literal; the port decimal in
// 0..65535. INVALID_ARGUMENT otherwise.
absl::StatusOr<std::pair<std::string, int>> ParseHostPort(std::string_view address);

}  // namespace deviceapi::common

#endif  // DEVICEAPI_COMMON_HOST_PORT_H_
