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

grpc::ByteBuffer Event::Wire(EventType as) const {
  // A WatchGpusResponse is exactly {type=1, object=2}, both length-delimited:
  // the header goes in a small slice of its own and the object's stored
  // bytes follow as they are (no copy, no response message).
  const std::string_view name = EventTypeName(as);
  const grpc::Slice& body = object->bytes();
  uint8_t header[32];
  uint8_t* p = wire::PutLenHeader(header, 1, name.size());
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  p = wire::PutLenHeader(p, 2, body.size());
  grpc::Slice slices[2] = {grpc::Slice(header, static_cast<size_t>(p - header)), body};
  return grpc::ByteBuffer(slices, 2);
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
  ev->object = StoredObject::Make(std::move(gpu));
  return ev;
}

}  // namespace deviceapi::storage
