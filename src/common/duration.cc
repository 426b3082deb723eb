#include "common/duration.h"
#include "common/strings.h"

#include <cstdint>
#include <limits>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace deviceapi::common {
namespace {

using int128 = __int128;
constexpr int128 kMaxNanos = std::numeric_limits<int64_t>::max();

absl::Status Invalid(std::string_view text) {
  return absl::InvalidArgumentError(Cat("time: invalid duration \"", text, "\""));
}

// Nanoseconds per unit, or 0 for an unknown unit.
int64_t UnitNanos(std::string_view unit) {
  if (unit == "ns") return 1;
  if (unit == "us" || unit == "\xC2\xB5s" /* µ U+00B5 */ || unit == "\xCE\xBCs" /* μ U+03BC */) {
    return 1000;
  }
  if (unit == "ms") return 1000 * 1000;
  if (unit == "s") return int64_t{1000} * 1000 * 1000;
  if (unit == "m") return int64_t{60} * 1000 * 1000 * 1000;
  if (unit == "h") return int64_t{3600} * 1000 * 1000 * 1000;
  return 0;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Appends `v` / 10^`digits` as Go does: the integer part, then the fraction without trailing zeros.
void AppendFraction(std::string& out, uint64_t v, int digits) {
  uint64_t scale = 1;
  for (int i = 0; i < digits; ++i) scale *= 10;
  out += std::to_string(v / scale);
  uint64_t frac = v % scale;
  if (frac == 0) return;
  std::string f(digits, '0');
  for (int i = digits - 1; i >= 0; --i) {
    f[i] = static_cast<char>('0' + frac % 10);
    frac /= 10;
  }
  while (!f.empty() && f.back() == '0') f.pop_back();
  out += "." + f;
}

}  // namespace

absl::StatusOr<absl::Duration> ParseGoDuration(std::string_view text) {
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return absl::ZeroDuration();
  if (s.empty()) return Invalid(text);

  int128 total = 0;
  while (!s.empty()) {
    if (!(IsDigit(s[0]) || s[0] == '.')) return Invalid(text);
    // Integer part.
    int128 whole = 0;
    size_t i = 0;
    bool any_digits = false;
    for (; i < s.size() && IsDigit(s[i]); ++i) {
      whole = whole * 10 + (s[i] - '0');
      if (whole > kMaxNanos) return Invalid(text);
      any_digits = true;
    }
    // Fraction: keep at most 18 digits, enough for nanosecond precision of any unit.
    int128 frac = 0;
    int128 frac_scale = 1;
    if (i < s.size() && s[i] == '.') {
      ++i;
      for (; i < s.size() && IsDigit(s[i]); ++i) {
        any_digits = true;
        if (frac_scale < static_cast<int128>(1000000000000000000LL)) {
          frac = frac * 10 + (s[i] - '0');
          frac_scale *= 10;
        }
      }
    }
    if (!any_digits) return Invalid(text);
    // Unit.
    size_t u = i;
    while (u < s.size() && s[u] != '.' && !IsDigit(s[u])) ++u;
    std::string_view unit = s.substr(i, u - i);
    if (unit.empty()) {
      return absl::InvalidArgumentError(Cat("time: missing unit in duration \"", text, "\""));
    }
    int64_t unit_nanos = UnitNanos(unit);
    if (unit_nanos == 0) {
      return absl::InvalidArgumentError(Cat("time: unknown unit \"", unit, "\" in duration \"", text, "\""));
    }
    int128 part = whole * unit_nanos + frac * unit_nanos / frac_scale;
    total += part;
    if (total > kMaxNanos + (negative ? 1 : 0)) return Invalid(text);
    s.remove_prefix(u);
  }
  int64_t nanos = negative ? static_cast<int64_t>(-total) : static_cast<int64_t>(total);
  return absl::Nanoseconds(nanos);
}

std::string FormatGoDuration(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return "inf";
  if (d == -absl::InfiniteDuration()) return "-inf";
  int64_t nanos = absl::ToInt64Nanoseconds(d);
  if (nanos == 0) return "0s";
  std::string out;
  // Magnitude as unsigned so that INT64_MIN works.
  uint64_t u = nanos < 0 ? uint64_t{0} - static_cast<uint64_t>(nanos) : static_cast<uint64_t>(nanos);
  if (nanos < 0) out = "-";
  constexpr uint64_t kSecond = 1000000000;
  if (u < kSecond) {
    if (u < 1000) {
      AppendFraction(out, u, 0);
      out += "ns";
    } else if (u < 1000000) {
      AppendFraction(out, u, 3);
      out += "\xC2\xB5s";
    } else {
      AppendFraction(out, u, 6);
      out += "ms";
    }
    return out;
  }
  uint64_t hours = u / (3600 * kSecond);
  u -= hours * 3600 * kSecond;
  uint64_t minutes = u / (60 * kSecond);
  u -= minutes * 60 * kSecond;
  if (hours > 0) out += std::to_string(hours) + "h";
  if (hours > 0 || minutes > 0) out += std::to_string(minutes) + "m";
  AppendFraction(out, u, 9);
  out += "s";
  return out;
}

}  // namespace deviceapi::common
