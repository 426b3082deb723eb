#include "deviceapi/watch.h"

#include <string>

#include "deviceapi/options.h"

namespace deviceapi {

bool WatchEvent::IsInitialEventsEnd() const {
  if (type != EventType::kBookmark) return false;
  const auto& ann = object.metadata().annotations();
  auto it = ann.find(std::string(kInitialEventsEndAnnotation));
  return it != ann.end() && it->second == "true";
}

WatchEndAction ClassifyWatchEnd(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
      return WatchEndAction::kResume;
    case absl::StatusCode::kOutOfRange:
      return WatchEndAction::kRelist;
    default:
      return WatchEndAction::kFail;
  }
}

std::string_view WatchEndActionName(WatchEndAction action) {
  switch (action) {
    case WatchEndAction::kResume:
      return "resume";
    case WatchEndAction::kRelist:
      return "relist";
    case WatchEndAction::kStopped:
      return "stopped";
    case WatchEndAction::kFail:
      return "fail";
  }
  return "unknown";
}

}  // namespace deviceapi
