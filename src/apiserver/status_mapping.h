// absl::Status inside, grpc::Status at the edge: the one place where store
// and validation errors become the codes of the contract's error table.
#ifndef DEVICEAPI_APISERVER_STATUS_MAPPING_H_
#define DEVICEAPI_APISERVER_STATUS_MAPPING_H_

#include <string_view>

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace deviceapi::apiserver {

// Expected codes pass through with their message. Anything unexpected
// (INTERNAL, UNKNOWN, DATA_LOSS, ...) is logged with `context` and becomes
// INTERNAL "internal error": details never reach the client.
grpc::Status ToGrpcStatus(const absl::Status& s, std::string_view context);

}  // namespace deviceapi::apiserver

#endif  // DEVICEAPI_APISERVER_STATUS_MAPPING_H_
