// A committed change. Its wire form (a WatchGpusResponse framed around the stored object's
// bytes) is built by the serving layer: apiserver::WatchEventBytes.
#ifndef DEVICEAPI_STORAGE_EVENT_H_
#define DEVICEAPI_STORAGE_EVENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "deviceapi/event_type.h"
#include "deviceapi/options.h"
#include "storage/stored_object.h"

namespace deviceapi::storage {

using ::deviceapi::EventType;
using ::deviceapi::EventTypeName;

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
};

using EventPtr = std::shared_ptr<const Event>;

// Builds a BOOKMARK event: the object carries only metadata.resource_version
// (plus the initial-events-end annotation, deviceapi::kInitialEventsEndAnnotation, when
// `initial_events_end`).
EventPtr MakeBookmark(uint64_t rv, bool initial_events_end);

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_EVENT_H_
