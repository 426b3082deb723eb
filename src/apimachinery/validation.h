// Validation of GPU objects, following the Kubernetes API validation rules
// (docs/API.md "Names", "Bounds").
//
// The list-returning functions report every problem found, as field errors whose paths use the
// JSON field names ("metadata.labels", "status.conditions[0].type"); ValidateGpu gathers them into
// one INVALID_ARGUMENT status. All functions are pure and thread-safe.
#ifndef DEVICEAPI_APIMACHINERY_VALIDATION_H_
#define DEVICEAPI_APIMACHINERY_VALIDATION_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "apimachinery/errors.h"
#include "device/v1alpha1/gpu.pb.h"
#include "google/protobuf/map.h"

namespace deviceapi::apimachinery {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

// Configurable bounds (docs/API.md "Bounds").
struct Limits {
  size_t max_conditions = 64;
  // Total bytes of all keys and values of labels plus annotations.
  size_t max_metadata_bytes = 256 * 1024;
};

// Per-string bounds that are not configurable.
inline constexpr size_t kMaxUuidLength = 256;
inline constexpr size_t kMaxSpecStringLength = 1024;
inline constexpr size_t kMaxReasonLength = 1024;
inline constexpr size_t kMaxMessageLength = 32768;
inline constexpr size_t kMaxRecommendedActionLength = 1024;

// metadata.name: required, at most 253 characters, and either a lowercase DNS-1123 subdomain or
// a device UUID "GPU-" / "MIG-" followed by hex digits (either case) and dashes, with at least
// one hex digit. Returns OkStatus or InvalidError(name, {"metadata.name", ...}).
absl::Status ValidateObjectName(std::string_view name);

// metadata.namespace: a DNS-1123 label (at most 63 characters). The caller maps "" to "default"
// first, so "" is invalid here. Returns OkStatus or InvalidError(ns, {"metadata.namespace", ...})
// (the quoted name in that message is the namespace, as the object name may not be known).
absl::Status ValidateNamespace(std::string_view ns);

// Label keys must be qualified names (errors on `field_path`), values valid label values
// (errors on `<field_path>[<key>]`).
std::vector<FieldError> ValidateLabels(const google::protobuf::Map<std::string, std::string>& labels,
                                       std::string_view field_path);

// Annotation keys must be qualified names; values are free-form.
std::vector<FieldError> ValidateAnnotations(
    const google::protobuf::Map<std::string, std::string>& annotations, std::string_view field_path);

// status: at most limits.max_conditions conditions; each with a required qualified-name type that
// is unique in the list, a status of True/False/Unknown, a CamelCase-ish reason (empty or
// ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$, at most 1024 bytes), a message of at most 32768
// bytes, a non-negative observed_generation and valid timestamps; recommended_action at most
// 1024 bytes.
std::vector<FieldError> ValidateConditions(const v1::GpuStatus& status, const Limits& limits);

// The whole object after defaulting (namespace filled in): name, namespace, labels, annotations,
// their total size, creation timestamp, spec (uuid at most 256 printable ASCII characters, other
// strings at most 1024 bytes) and status. Returns OkStatus or one InvalidError listing every
// problem.
absl::Status ValidateGpu(const v1::Gpu& gpu, const Limits& limits);

}  // namespace deviceapi::apimachinery

#endif  // DEVICEAPI_APIMACHINERY_VALIDATION_H_
