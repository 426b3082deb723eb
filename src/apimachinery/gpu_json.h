// The JSON form of API objects (docs/API.md "JSON form"): the protobuf JSON mapping, so field
// names are lowerCamelCase (metadata.resourceVersion, status.recommendedAction), Timestamps are
// RFC 3339 strings, and 64-bit integers (memoryBytes, generation, observedGeneration) are decimal
// strings on output (numbers and strings are both accepted on input). Parsers also accept the
// proto field names (resource_version). Thread-safe.
#ifndef DEVICEAPI_APIMACHINERY_GPU_JSON_H_
#define DEVICEAPI_APIMACHINERY_GPU_JSON_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "device/v1alpha1/gpu.pb.h"
#include "google/protobuf/message.h"

namespace deviceapi::apimachinery {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

// Serializes any message. `pretty` adds newlines and indentation; `emit_defaults` also prints
// scalar fields holding their default value and empty repeated/map fields (unset sub-messages
// are still omitted). Fails (INVALID_ARGUMENT) only for values JSON cannot represent, e.g. a
// Timestamp outside years 1..9999.
absl::StatusOr<std::string> MessageToJson(const google::protobuf::Message& message, bool pretty = false,
                                          bool emit_defaults = false);

// Parses `json` into `message` (cleared first). Unknown fields, malformed JSON and values of the
// wrong type are INVALID_ARGUMENT carrying the parser's message.
absl::Status MessageFromJson(std::string_view json, google::protobuf::Message* message);

// Typed convenience form of MessageFromJson.
template <typename M>
absl::StatusOr<M> MessageFromJson(std::string_view json) {
  M message;
  if (absl::Status s = MessageFromJson(json, &message); !s.ok()) return s;
  return message;
}

absl::StatusOr<std::string> GpuToJson(const v1::Gpu& gpu, bool pretty = false, bool emit_defaults = false);

absl::StatusOr<v1::Gpu> GpuFromJson(std::string_view json);

}  // namespace deviceapi::apimachinery

#endif  // DEVICEAPI_APIMACHINERY_GPU_JSON_H_
