// Patching a GPU with a JSON merge patch (RFC 7386) or a JSON patch (RFC 6902)
// (docs/API.md "Patch").
//
// Patches operate on the JSON form of the object (gpu_json.h): lowerCamelCase names, RFC 3339
// timestamps, and 64-bit integers (spec.memoryBytes, metadata.generation,
// status.conditions[].observedGeneration) as decimal strings, so a JSON-patch `test` must compare
// them as strings (add/replace accept numbers or strings). Fields at their default value are
// present in the document being patched (e.g. "numaNode": 0, "labels": {}), so `replace` and
// `test` work on them. This module only applies the patch; what a patch may change (spec vs.
// status, immutable metadata) and validation are the caller's job. Thread-safe.
#ifndef DEVICEAPI_APIMACHINERY_PATCH_H_
#define DEVICEAPI_APIMACHINERY_PATCH_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "device/v1alpha1/gpu.pb.h"

namespace deviceapi::apimachinery {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

enum class PatchType { kMerge, kJson };

// "application/merge-patch+json" or "merge" -> kMerge; "application/json-patch+json" or "json"
// -> kJson. Anything else: INVALID_ARGUMENT "unsupported media type: <type>; supported: ...".
absl::StatusOr<PatchType> ParsePatchType(std::string_view type);

// Applies `data` to `current` and returns the patched object. `data` must be a JSON object for
// kMerge (null members remove fields or map entries) and a JSON array of operations for kJson.
// Malformed JSON, an operation that fails (missing path, failed `test`, ...), a document nested
// deeper than 64 levels, or a result that is not a valid Gpu (wrong types, unknown fields) is
// INVALID_ARGUMENT starting "unprocessable content: ". Never throws. The size of `data` is bounded
// by the caller.
absl::StatusOr<v1::Gpu> ApplyPatch(const v1::Gpu& current, PatchType type, std::string_view data);

}  // namespace deviceapi::apimachinery

#endif  // DEVICEAPI_APIMACHINERY_PATCH_H_
