#include "storage/event.h"

#include <cstring>
#include <string>

#include "storage/wire.h"

namespace deviceapi::storage {

std::string_view EventTypeName(EventType t) {
  switch (t) {
    case EventType::kAdded:
      return "ADDED";
    case EventType::kModified:
      return "MODIFIED";
    case EventType::kDeleted:
      return "DELETED";
    case EventType::kBookmark:
      return "BOOKMARK";
  }
  return "UNKNOWN";
}

grpc::Slice SerializeWatchResponse(EventType type, const v1::Gpu& object) {
  // A WatchGpusResponse is exactly {type=1, object=2}, both length-delimited:
  // write them straight into one slice instead of building a response message
  // (which would copy the object).
  const std::string_view name = EventTypeName(type);
  const size_t obj_size = object.ByteSizeLong();
  const size_t total = wire::LenHeaderSize(1, name.size()) + name.size() + wire::LenHeaderSize(2, obj_size) + obj_size;
  grpc::Slice slice(total);
  auto* p = const_cast<uint8_t*>(slice.begin());
  p = wire::PutLenHeader(p, 1, name.size());
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  p = wire::PutLenHeader(p, 2, obj_size);
  object.SerializeWithCachedSizesToArray(p);
  return slice;
}

const grpc::Slice& Event::Wire(EventType as) const {
  const auto i = static_cast<size_t>(as);
  std::call_once(wire_once_[i], [&] { wire_[i] = SerializeWatchResponse(as, *object); });
  return wire_[i];
}

EventPtr MakeBookmark(uint64_t rv, bool initial_events_end) {
  auto gpu = std::make_shared<v1::Gpu>();
  gpu->mutable_metadata()->set_resource_version(std::to_string(rv));
  if (initial_events_end) {
    (*gpu->mutable_metadata()->mutable_annotations())[std::string(kInitialEventsEndAnnotation)] = "true";
  }
  auto ev = std::make_shared<Event>();
  ev->rv = rv;
  ev->type = EventType::kBookmark;
  ev->object = std::move(gpu);
  return ev;
}

}  // namespace deviceapi::storage
