// Options of the typed client's calls. They mirror the wire's GetOptions / ListOptions /
// DeleteOptions (docs/API.md "Messages") field for field, plus `call_timeout`, the deadline of this
// one call (zero: the Config's timeout for unary calls and none for watches; InfiniteDuration:
// none).
#ifndef DEVICEAPI_OPTIONS_H_
#define DEVICEAPI_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace deviceapi {

// Values of ListOptions::resource_version_match.
inline constexpr std::string_view kResourceVersionMatchExact = "Exact";
inline constexpr std::string_view kResourceVersionMatchNotOlderThan = "NotOlderThan";

// Patch types accepted by GpuInterface::Patch.
inline constexpr std::string_view kMergePatchType = "application/merge-patch+json";  // RFC 7386
inline constexpr std::string_view kJsonPatchType = "application/json-patch+json";    // RFC 6902

// The annotation a BOOKMARK ending the initial events carries (value "true").
inline constexpr std::string_view kInitialEventsEndAnnotation = "k8s.io/initial-events-end";

struct GetOptions {
  // "" latest; "0" any; N not older than N.
  std::string resource_version;
  absl::Duration call_timeout = absl::ZeroDuration();
};

// For List and Watch.
struct ListOptions {
  std::string label_selector;  // full Kubernetes syntax
  std::string field_selector;  // metadata.name, metadata.namespace
  std::string resource_version;
  std::string resource_version_match;       // "", "Exact", "NotOlderThan"
  bool allow_watch_bookmarks = false;       // Watch: periodic BOOKMARK events
  std::optional<bool> send_initial_events;  // Watch: BOOKMARK after the initial ADDED events
  int64_t timeout_seconds = 0;              // Watch: the server ends the stream with OK after this long
  int64_t limit = 0;                        // List: page size (0: everything)
  std::string continue_token;               // List: the previous page's GpuList.metadata().continue_()
  absl::Duration call_timeout = absl::ZeroDuration();
};

struct CreateOptions {
  absl::Duration call_timeout = absl::ZeroDuration();
};

struct UpdateOptions {
  absl::Duration call_timeout = absl::ZeroDuration();
};

struct PatchOptions {
  absl::Duration call_timeout = absl::ZeroDuration();
};

struct Preconditions {
  std::optional<std::string> uid;
  std::optional<std::string> resource_version;
};

struct DeleteOptions {
  Preconditions preconditions;  // a mismatch is a Conflict
  absl::Duration call_timeout = absl::ZeroDuration();
};

}  // namespace deviceapi

#endif  // DEVICEAPI_OPTIONS_H_
