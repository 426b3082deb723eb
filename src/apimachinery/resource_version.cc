#include "apimachinery/resource_version.h"

#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "apimachinery/name_rules.h"

namespace deviceapi::apimachinery {

absl::StatusOr<uint64_t> ParseResourceVersion(std::string_view rv) {
  auto invalid = [rv] {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid resource version \"", Sv(rv), "\": must be a decimal unsigned integer"));
  };
  if (rv.empty()) return invalid();
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  uint64_t value = 0;
  for (char c : rv) {
    if (c < '0' || c > '9') return invalid();
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (kMax - digit) / 10) return invalid();  // value * 10 + digit would overflow
    value = value * 10 + digit;
  }
  return value;
}

std::string FormatResourceVersion(uint64_t rv) { return std::to_string(rv); }

absl::StatusOr<ResourceVersionMatch> ParseResourceVersionMatch(std::string_view match) {
  if (match.empty()) return ResourceVersionMatch::kUnset;
  if (match == "Exact") return ResourceVersionMatch::kExact;
  if (match == "NotOlderThan") return ResourceVersionMatch::kNotOlderThan;
  return absl::InvalidArgumentError(absl::StrCat("invalid resourceVersionMatch \"", Sv(match),
                                                 "\": supported values: \"Exact\", "
                                                 "\"NotOlderThan\" or empty"));
}

}  // namespace deviceapi::apimachinery
