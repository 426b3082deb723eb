// Go time.Duration syntax for flags and environment variables ("25s", "1m30s", "500ms", "0").
#ifndef DEVICEAPI_COMMON_DURATION_H_
#define DEVICEAPI_COMMON_DURATION_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace deviceapi::common {

// Parses like Go's time.ParseDuration: an optional sign, then one or more decimal numbers with an
// optional fraction, each followed by a unit: "ns", "us" ("µs", "μs"), "ms", "s", "m", "h".
// "0" (optionally signed) needs no unit. Negative durations are accepted; callers validate ranges.
// Returns INVALID_ARGUMENT with Go's message text, e.g. `time: missing unit in duration "5"`,
// `time: unknown unit "d" in duration "1d"`, `time: invalid duration "abc"`.
absl::StatusOr<absl::Duration> ParseGoDuration(std::string_view text);

// Formats like Go's Duration.String(): "0s", "500ms", "1.5µs", "25s", "1m30s", "1h0m0s".
// Infinite durations, which Go cannot represent, format as "inf" / "-inf".
std::string FormatGoDuration(absl::Duration d);

}  // namespace deviceapi::common

#endif  // DEVICEAPI_COMMON_DURATION_H_
