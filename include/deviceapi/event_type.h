// The types of a watch event (docs/API.md "Watch"): one definition for the client library and the
// server. Pure functions; thread-compatible.
#ifndef DEVICEAPI_EVENT_TYPE_H_
#define DEVICEAPI_EVENT_TYPE_H_

#include <optional>
#include <string_view>

namespace deviceapi {

enum class EventType { kAdded = 0, kModified = 1, kDeleted = 2, kBookmark = 3 };

// "ADDED", "MODIFIED", "DELETED", "BOOKMARK" (the wire's WatchGpusResponse.type).
std::string_view EventTypeName(EventType type);
// The type named `name`, or nullopt for a name the contract does not define.
std::optional<EventType> ParseEventType(std::string_view name);

}  // namespace deviceapi

#endif  // DEVICEAPI_EVENT_TYPE_H_
