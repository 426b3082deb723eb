// String glue for this abseil build: Debian's abseil has its own
// absl::string_view (not std::string_view), so absl::StrCat and friends do not
// take std::string_view. These helpers bridge the two.
#ifndef DEVICEAPI_COMMON_STRINGS_H_
#define DEVICEAPI_COMMON_STRINGS_H_

#include <string.h>

#include <string>
#include <string_view>

#include <fmt/format.h>

#include "absl/strings/string_view.h"

namespace deviceapi::common {

// Concatenates anything fmt can format (std::string_view included).
template <typename... Args>
std::string Cat(const Args&... args) {
  std::string out;
  ((out += fmt::to_string(args)), ...);
  return out;
}

inline absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// The message of errno value `err` ("No such file or directory"), thread-safe (strerror is not:
// it may return a shared buffer).
inline std::string ErrnoString(int err) {
  char buf[256];
  // GNU strerror_r: returns the message, in `buf` or a static string.
  return std::string(strerror_r(err, buf, sizeof(buf)));
}
inline std::string_view ToStd(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace deviceapi::common

#endif  // DEVICEAPI_COMMON_STRINGS_H_
