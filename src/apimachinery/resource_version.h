// Resource versions on the wire: decimal strings of one global uint64 counter (docs/API.md
// "Resource versions"), and the resourceVersionMatch list option.
#ifndef DEVICEAPI_APIMACHINERY_RESOURCE_VERSION_H_
#define DEVICEAPI_APIMACHINERY_RESOURCE_VERSION_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace deviceapi::apimachinery {

// Parses a non-empty resource version: decimal digits only (no sign, spaces, exponent or hex),
// value <= UINT64_MAX. "" is NOT accepted here: callers give "" its own meaning ("latest") before
// calling. Errors: INVALID_ARGUMENT
//   invalid resource version "<rv>": must be a decimal unsigned integer
absl::StatusOr<uint64_t> ParseResourceVersion(std::string_view rv);

// The wire form of `rv`: its decimal representation ("0" for 0).
std::string FormatResourceVersion(uint64_t rv);

// ListOptions.resource_version_match.
enum class ResourceVersionMatch { kUnset, kExact, kNotOlderThan };

// "" -> kUnset, "Exact" -> kExact, "NotOlderThan" -> kNotOlderThan (case-sensitive, as
// Kubernetes). Anything else: INVALID_ARGUMENT naming the supported values.
absl::StatusOr<ResourceVersionMatch> ParseResourceVersionMatch(std::string_view match);

}  // namespace deviceapi::apimachinery

#endif  // DEVICEAPI_APIMACHINERY_RESOURCE_VERSION_H_
