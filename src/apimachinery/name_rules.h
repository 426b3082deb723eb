// The Kubernetes name and label syntax rules (k8s.io/apimachinery/pkg/util/validation), shared by
// the selector parser and object validation.
//
// Each Is* function returns the list of reasons `value` breaks the rule, worded as Kubernetes
// words them; an empty list means the value is valid. Pure functions, no allocation on success.
#ifndef DEVICEAPI_APIMACHINERY_NAME_RULES_H_
#define DEVICEAPI_APIMACHINERY_NAME_RULES_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"

namespace deviceapi::apimachinery {

// Debian's abseil is built with ABSL_OPTION_USE_STD_STRING_VIEW=0, so absl::string_view is its
// own type; these convert at the boundary between our std::string_view API and absl::StrCat & co.
inline absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view StdSv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

inline constexpr size_t kDns1123LabelMaxLength = 63;
inline constexpr size_t kDns1123SubdomainMaxLength = 253;
inline constexpr size_t kQualifiedNameMaxLength = 63;
inline constexpr size_t kLabelValueMaxLength = 63;

// Lowercase RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
std::vector<std::string> IsDns1123Label(std::string_view value);

// Lowercase RFC 1123 subdomain: dot-separated RFC 1123 labels, at most 253 characters.
std::vector<std::string> IsDns1123Subdomain(std::string_view value);

// Qualified name (label and annotation keys, condition types): an optional DNS-1123 subdomain
// prefix and '/', then a name of at most 63 characters matching
// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9].
std::vector<std::string> IsQualifiedName(std::string_view value);

// Label value: empty, or at most 63 characters matching the qualified-name name part.
std::vector<std::string> IsValidLabelValue(std::string_view value);

// `value` as a double-quoted string with '"', '\\' and non-printable bytes escaped, truncated
// to a bounded length (so error messages stay small even for huge input).
std::string Quote(std::string_view value);

// "Invalid value: <Quote(value)>: <reason>" (the field.Invalid detail text).
std::string InvalidValueDetail(std::string_view value, std::string_view reason);

}  // namespace deviceapi::apimachinery

#endif  // DEVICEAPI_APIMACHINERY_NAME_RULES_H_
