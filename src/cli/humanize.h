// Human-readable values the way kubectl prints them: ages, memory quantities.
#ifndef DEVICEAPI_CLI_HUMANIZE_H_
#define DEVICEAPI_CLI_HUMANIZE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace deviceapi::cli {

// apimachinery's duration.HumanDuration: "5s", "119s", "3m10s", "25m", "5h3m", "20h", "2d4h",
// "45d", "2y15d", "9y"; "0s" for up to one second in the future, "<invalid>" beyond.
std::string HumanDuration(absl::Duration d);

// kubectl's translateTimestampSince: "<unknown>" for an unset timestamp, else
// HumanDuration(now - ts).
std::string Age(const google::protobuf::Timestamp& ts, bool has_ts, absl::Time now);

// Bytes as an exact binary quantity: "80Gi", "81559Mi", "1536Ki", "1000"; "<none>" for 0.
std::string MemoryQuantity(uint64_t bytes);

// RFC 3339 in UTC with seconds ("2024-05-01T12:00:00Z"), as Kubernetes prints metav1.Time.
std::string FormatTime(absl::Time t);

// Parses an RFC 3339 time ("2024-05-01T12:00:00Z", fractions and offsets accepted).
absl::StatusOr<absl::Time> ParseTime(const std::string& text);

}  // namespace deviceapi::cli

#endif  // DEVICEAPI_CLI_HUMANIZE_H_
