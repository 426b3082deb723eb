// Kubernetes-flavoured error constructors for the GPU resource.
//
// Every error the API machinery, the storage and the server produce is an absl::Status built here,
// so that the code (see docs/API.md "Error codes") and the message text (the one kube-apiserver
// would produce, so client libraries and humans recognise it) stay consistent. The gRPC edge maps
// the absl code 1:1 to the gRPC code.
#ifndef DEVICEAPI_APIMACHINERY_ERRORS_H_
#define DEVICEAPI_APIMACHINERY_ERRORS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace deviceapi::apimachinery {

// Kubernetes resource (plural.group) and kind.group used in messages.
inline constexpr std::string_view kGpuResource = "gpus.device.nvidia.com";
inline constexpr std::string_view kGpuKindGroup = "GPU.device.nvidia.com";

inline constexpr size_t kMaxListedFieldErrors = 50;

// One problem with one field of an object, like apimachinery's field.Error.
// `field` is the JSON path ("metadata.name", "status.conditions[2].type"); `detail` is the
// human-readable reason, usually starting with the error type ("Invalid value: ...",
// "Required value", "Too long: ...", "Duplicate value: ...", "Unsupported value: ...").
struct FieldError {
  std::string field;
  std::string detail;

  // "<field>: <detail>" (just `detail` when `field` is empty).
  std::string ToString() const;
  friend bool operator==(const FieldError&, const FieldError&) = default;
};

// NOT_FOUND: gpus.device.nvidia.com "<name>" not found
absl::Status NotFoundError(std::string_view name);

// ALREADY_EXISTS: gpus.device.nvidia.com "<name>" already exists
absl::Status AlreadyExistsError(std::string_view name);

// ABORTED: Operation cannot be fulfilled on gpus.device.nvidia.com "<name>": the object has been
// modified; please apply your changes to the latest version and try again
absl::Status ConflictError(std::string_view name);

// ABORTED: Operation cannot be fulfilled on gpus.device.nvidia.com "<name>": Precondition failed:
// <detail>
absl::Status PreconditionError(std::string_view name, std::string_view detail);

// INVALID_ARGUMENT: GPU.device.nvidia.com "<name>" is invalid: <field>: <detail>, <f2>: <d2>
// `errs` should not be empty (an empty list still yields INVALID_ARGUMENT, with no details).
// At most kMaxListedFieldErrors errors are spelled out; the rest are counted (", and N more
// errors") so that one bad request cannot produce an unbounded message.
absl::Status InvalidError(std::string_view name, std::vector<FieldError> errs);

// INVALID_ARGUMENT with `msg` verbatim (400 BadRequest).
absl::Status BadRequestError(std::string msg);

// OUT_OF_RANGE: too old resource version: <requested> (<oldest>)
absl::Status TooOldResourceVersionError(uint64_t requested, uint64_t oldest);

// OUT_OF_RANGE: The provided continue parameter is too old to display a consistent list result.
// You can start a new list without the continue parameter.
absl::Status ExpiredContinueError();

// UNAVAILABLE: Too large resource version: <requested>, current: <current>
absl::Status TooLargeResourceVersionError(uint64_t requested, uint64_t current);

// RESOURCE_EXHAUSTED: object limit reached: at most <limit> gpus.device.nvidia.com objects
absl::Status TooManyObjectsError(size_t limit);

// UNAVAILABLE: server is shutting down
absl::Status ShuttingDownError();

}  // namespace deviceapi::apimachinery

#endif  // DEVICEAPI_APIMACHINERY_ERRORS_H_
