// A committed change and its once-serialized wire forms.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <grpcpp/support/slice.h>

#include "absl/time/time.h"
#include "device/v1alpha1/gpu.pb.h"

namespace deviceapi::storage {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

// Stored objects are immutable once committed and shared by every reader.
using ObjectPtr = std::shared_ptr<const v1::Gpu>;

enum class EventType { kAdded = 0, kModified = 1, kDeleted = 2, kBookmark = 3 };

std::string_view EventTypeName(EventType t);

// One committed change. Immutable after construction except for the lazily
// built wire cache, which is thread-safe.
struct Event {
  uint64_t rv = 0;
  EventType type = EventType::kAdded;
  // The object after the change. For kDeleted: the last state, with the
  // deletion's resource version.
  ObjectPtr object;
  // The object before the change (null for kAdded).
  ObjectPtr prev;
  absl::Time time;

  // The serialized WatchGpusResponse {type, object} for `as`, built once and
  // shared by every watcher (the type can differ from `type` when a selector
  // turns a modification into an enter (ADDED) or a leave (DELETED)).
  const grpc::Slice& Wire(EventType as) const;

 private:
  mutable std::array<std::once_flag, 4> wire_once_;
  mutable std::array<grpc::Slice, 4> wire_;
};

using EventPtr = std::shared_ptr<const Event>;

// Builds a BOOKMARK event: the object carries only metadata.resource_version
// (plus the initial-events-end annotation when `initial_events_end`).
EventPtr MakeBookmark(uint64_t rv, bool initial_events_end);

// Serializes a WatchGpusResponse into a slice.
grpc::Slice SerializeWatchResponse(EventType type, const v1::Gpu& object);

inline constexpr std::string_view kInitialEventsEndAnnotation = "k8s.io/initial-events-end";

}  // namespace deviceapi::storage
