// Retry helpers for read-modify-write (client-go util/retry).
#ifndef DEVICEAPI_RETRY_H_
#define DEVICEAPI_RETRY_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace deviceapi {

// Exponential backoff with jitter (wait.Backoff).
struct Backoff {
  int steps = 5;  // attempts in all
  absl::Duration duration = absl::Milliseconds(10);
  double factor = 1.0;
  double jitter = 0.1;  // each sleep is duration * [1, 1 + jitter)
  absl::Duration cap = absl::InfiniteDuration();
};

// client-go's retry.DefaultRetry (5 steps, 10 ms, factor 1, jitter 0.1) and DefaultBackoff
// (4 steps, 10 ms, factor 5, jitter 0.1).
inline constexpr Backoff kDefaultRetry{5, absl::Milliseconds(10), 1.0, 0.1, absl::InfiniteDuration()};
inline constexpr Backoff kDefaultBackoff{4, absl::Milliseconds(10), 5.0, 0.1, absl::InfiniteDuration()};

// Calls fn until it returns a status for which `retriable` is false, or backoff.steps attempts
// have been made, sleeping between attempts; returns the last status. Blocks the calling thread.
absl::Status OnError(const Backoff& backoff, const std::function<bool(const absl::Status&)>& retriable,
                     const std::function<absl::Status()>& fn);

// OnError with errors::IsConflict: `fn` must do the whole read-modify-write (Get, change,
// Update with the RV it read), so that each attempt starts from the latest object.
absl::Status RetryOnConflict(const Backoff& backoff, const std::function<absl::Status()>& fn);

}  // namespace deviceapi

#endif  // DEVICEAPI_RETRY_H_
