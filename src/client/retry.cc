#include "deviceapi/retry.h"

#include <algorithm>
#include <random>

#include "absl/time/clock.h"
#include "deviceapi/errors.h"

namespace deviceapi {

absl::Status OnError(const Backoff& backoff, const std::function<bool(const absl::Status&)>& retriable,
                     const std::function<absl::Status()>& fn) {
  thread_local std::minstd_rand rng{std::random_device{}()};
  absl::Duration delay = backoff.duration;
  absl::Status last;
  const int steps = std::max(1, backoff.steps);
  for (int attempt = 0; attempt < steps; ++attempt) {
    if (attempt > 0) {
      absl::Duration sleep = delay;
      if (backoff.jitter > 0) {
        std::uniform_real_distribution<double> dist(0.0, backoff.jitter);
        sleep += delay * dist(rng);
      }
      absl::SleepFor(sleep);
      delay = std::min(delay * backoff.factor, backoff.cap);
    }
    last = fn();
    if (last.ok() || !retriable(last)) return last;
  }
  return last;
}

absl::Status RetryOnConflict(const Backoff& backoff, const std::function<absl::Status()>& fn) {
  return OnError(backoff, errors::IsConflict, fn);
}

}  // namespace deviceapi
