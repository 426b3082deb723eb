// Kubernetes-style predicates over the errors the client returns.
//
// Every failed call returns an absl::Status whose code is the gRPC status code the server sent
// (absl and gRPC codes are numerically identical) and whose message is the server's message
// (e.g. `gpus.device.nvidia.com "gpu-0" not found`). The predicates read the code only, following
// the contract's error table (docs/API.md "Error codes"). All functions are pure and thread-safe.
#ifndef DEVICEAPI_ERRORS_H_
#define DEVICEAPI_ERRORS_H_

#include <string_view>

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace deviceapi::errors {

bool IsNotFound(const absl::Status& s);         // NOT_FOUND: 404
bool IsAlreadyExists(const absl::Status& s);    // ALREADY_EXISTS: 409 AlreadyExists
bool IsConflict(const absl::Status& s);         // ABORTED: 409 Conflict (RV, uid, precondition)
bool IsInvalid(const absl::Status& s);          // INVALID_ARGUMENT: 400/422
bool IsGone(const absl::Status& s);             // OUT_OF_RANGE: 410 Gone, relist
bool IsResourceExpired(const absl::Status& s);  // same as IsGone (410 Expired)
bool IsTooManyRequests(const absl::Status& s);  // RESOURCE_EXHAUSTED: 429 (object limit, slow watcher)
bool IsUnavailable(const absl::Status& s);      // UNAVAILABLE: 503, retry
bool IsForbidden(const absl::Status& s);        // PERMISSION_DENIED: 403
bool IsTimeout(const absl::Status& s);          // DEADLINE_EXCEEDED: 504 (client-side deadline)
bool IsInternalError(const absl::Status& s);    // INTERNAL / UNKNOWN / DATA_LOSS: 500

// The Kubernetes HTTP status code of `s` (200 for OK, 500 for codes without a meaning).
int HttpStatusCode(const absl::Status& s);

// The Kubernetes StatusReason of `s`: "NotFound", "AlreadyExists", "Conflict", "Invalid", "Expired",
// "TooManyRequests", "ServiceUnavailable", "Forbidden", "Timeout", "InternalError",
// "BadRequest", "Unknown"; "" for OK.
std::string_view Reason(const absl::Status& s);

// `s` with its code and message kept, as every client call returns it.
absl::Status FromGrpcStatus(const grpc::Status& s);

}  // namespace deviceapi::errors

#endif  // DEVICEAPI_ERRORS_H_
