// A running watch: typed events, pulled with Next() or pushed to callbacks, and an end that says
// what the owner should do next (resume from the last RV, or relist).
#ifndef DEVICEAPI_WATCH_H_
#define DEVICEAPI_WATCH_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "device/v1alpha1/gpu.pb.h"
#include "deviceapi/event_type.h"

namespace deviceapi {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

struct WatchEvent {
  EventType type = EventType::kAdded;
  // ADDED / MODIFIED: the object after the change. DELETED: the last state, carrying the deletion's
  // RV. BOOKMARK: only metadata.resource_version (and annotations on an initial-events-end one).
  v1::Gpu object;

  const std::string& resource_version() const { return object.metadata().resource_version(); }
  // True for the BOOKMARK that ends the initial events of a send_initial_events watch.
  bool IsInitialEventsEnd() const;
};

// What the owner of an ended watch should do.
enum class WatchEndAction {
  kResume,   // watch again from WatchResult::last_resource_version (after a backoff if not OK)
  kRelist,   // the RV is gone (OUT_OF_RANGE, 410): list again, then watch from the list's RV
  kStopped,  // Stop() was called
  kFail,     // the request itself is wrong (INVALID_ARGUMENT, PERMISSION_DENIED, ...): retrying
             // the same request cannot help
};

// OK (server-side timeout, graceful close), UNAVAILABLE, RESOURCE_EXHAUSTED (watcher too slow),
// DEADLINE_EXCEEDED, CANCELLED, ABORTED, INTERNAL, UNKNOWN -> kResume; OUT_OF_RANGE -> kRelist;
// every other code -> kFail. (kStopped is never returned: only the watch knows it was stopped.)
WatchEndAction ClassifyWatchEnd(const absl::Status& status);
std::string_view WatchEndActionName(WatchEndAction action);  // "resume", "relist", ...

struct WatchResult {
  absl::Status status;  // how the stream ended; CANCELLED "watch stopped" after Stop()
  WatchEndAction action = WatchEndAction::kResume;
  // RV of the last event handed to the consumer (bookmarks included); "" if none was.
  std::string last_resource_version;
};

// A running watch. Thread-safe: Stop(), Done(), Result() may be called from any thread; Next() /
// NextUntil() by one consumer thread at a time. Events come in the server's order (strictly
// increasing RVs, no gaps: an event is delivered or the watch ends with an error).
//
// Destroying the watch stops it and waits for its threads; do not destroy it from inside one of
// its own callbacks (Stop() there is fine).
class WatchInterface {
 public:
  using EventHandler = std::function<void(const WatchEvent&)>;
  using EndHandler = std::function<void(const WatchResult&)>;

  virtual ~WatchInterface() = default;

  // Blocks until the next event, the end of the watch, Stop(), or `deadline`. nullopt: no event
  // (Done() tells whether the watch has ended; then Result() holds why).
  virtual std::optional<WatchEvent> NextUntil(absl::Time deadline) = 0;
  std::optional<WatchEvent> Next(absl::Duration timeout = absl::InfiniteDuration()) {
    return NextUntil(timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout);
  }

  // Delivers every further event to `on_event`, in order, on a thread the watch owns, then calls
  // `on_end` once with the result (also after Stop()). Returns at once. Call at most once, and do
  // not call Next() afterwards. Handlers may call Stop().
  virtual void Dispatch(EventHandler on_event, EndHandler on_end) = 0;

  // Ends the watch: cancels the stream, wakes a blocked Next() (which returns nullopt) and drops
  // undelivered events. Non-blocking, idempotent, callable from any thread.
  virtual void Stop() = 0;

  // True once the watch has ended and every event before the end was consumed (or Stop() was
  // called and the stream is closed).
  virtual bool Done() const = 0;

  // The result, once Done(); nullopt before.
  virtual std::optional<WatchResult> Result() const = 0;

  // Blocks until Done() or `deadline`; returns Result().
  virtual std::optional<WatchResult> WaitUntil(absl::Time deadline) = 0;

  // RV of the last event handed out so far ("" if none).
  virtual std::string LastResourceVersion() const = 0;
};

using WatchPtr = std::unique_ptr<WatchInterface>;

}  // namespace deviceapi

#endif  // DEVICEAPI_WATCH_H_
