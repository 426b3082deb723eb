#include "storage/event.h"

#include <cstring>
#include <string>

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
  auto varint_len = [](uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
      v >>= 7;
      ++n;
    }
    return n;
  };
  const size_t total = 1 + varint_len(name.size()) + name.size() + 1 + varint_len(obj_size) + obj_size;
  grpc::Slice slice(total);
  auto* p = const_cast<uint8_t*>(slice.begin());
  auto put_varint = [&p](uint64_t v) {
    while (v >= 0x80) {
      *p++ = static_cast<uint8_t>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    *p++ = static_cast<uint8_t>(v);
  };
  *p++ = (1 << 3) | 2;
  put_varint(name.size());
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  *p++ = (2 << 3) | 2;
  put_varint(obj_size);
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
