#include "storage/store.h"

#include "absl/synchronization/mutex.h"

namespace deviceapi::storage {

WriteResult AwaitWrite(const std::function<void(WriteDone)>& start) {
  // Shared with the callback: it may still be unlocking when the waiter
  // returns.
  struct State {
    absl::Mutex mu;
    bool done ABSL_GUARDED_BY(mu) = false;
    std::optional<WriteResult> result ABSL_GUARDED_BY(mu);
  };
  auto state = std::make_shared<State>();
  start([state](WriteResult r) {
    absl::MutexLock l(&state->mu);
    state->result = std::move(r);
    state->done = true;
  });
  absl::MutexLock l(&state->mu);
  state->mu.Await(absl::Condition(&state->done));
  return std::move(*state->result);
}

}  // namespace deviceapi::storage
