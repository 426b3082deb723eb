#include "storage/event.h"

#include <string>

namespace deviceapi::storage {

EventPtr MakeBookmark(uint64_t rv, bool initial_events_end) {
  auto gpu = std::make_shared<v1::Gpu>();
  gpu->mutable_metadata()->set_resource_version(std::to_string(rv));
  if (initial_events_end) {
    (*gpu->mutable_metadata()->mutable_annotations())[std::string(::deviceapi::kInitialEventsEndAnnotation)] =
        "true";
  }
  auto ev = std::make_shared<Event>();
  ev->rv = rv;
  ev->type = EventType::kBookmark;
  ev->object = StoredObject::Make(std::move(gpu));
  return ev;
}

}  // namespace deviceapi::storage
