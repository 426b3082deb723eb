// A committed change; its wire form is the stored object's bytes behind a
// small header.
#ifndef DEVICEAPI_STORAGE_EVENT_H_
#define DEVICEAPI_STORAGE_EVENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include "absl/time/time.h"
#include "storage/stored_object.h"

namespace deviceapi::storage {

enum class EventType { kAdded = 0, kModified = 1, kDeleted = 2, kBookmark = 3 };

std::string_view EventTypeName(EventType t);

// One committed change. Immutable once published.
struct Event {
  uint64_t rv = 0;
  EventType type = EventType::kAdded;
  // The object after the change. For kDeleted: the last state, with the
  // deletion's resource version.
  StoredPtr object;
  // The object before the change (null for kAdded).
  StoredPtr prev;
  absl::Time time;

  // The serialized WatchGpusResponse {type, object} for `as` (the type can
  // differ from `type` when a selector turns a modification into an enter
  // (ADDED) or a leave (DELETED)): a header of a few bytes and a reference
  // to the object's stored bytes, shared by every watcher.
  grpc::ByteBuffer Wire(EventType as) const;
};

using EventPtr = std::shared_ptr<const Event>;

// Builds a BOOKMARK event: the object carries only metadata.resource_version
// (plus the initial-events-end annotation when `initial_events_end`).
EventPtr MakeBookmark(uint64_t rv, bool initial_events_end);

inline constexpr std::string_view kInitialEventsEndAnnotation = "k8s.io/initial-events-end";

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_EVENT_H_
