// Work decided on while a lock is held that must run once no lock is held: a write's answer (which
// may start the caller's next write at once) and the wake-up of watchers that have new events.
//
// A function that decides such work under a lock takes an AfterUnlock* and adds to it; the caller
// that owns the AfterUnlock (on its stack) runs it after releasing every lock. Anything not run
// explicitly runs when the AfterUnlock is destroyed, so declare it before taking the lock: an
// early return can then neither drop an answer nor run one under the lock. Not thread-safe: it
// belongs to one call chain.
#ifndef DEVICEAPI_STORAGE_AFTER_UNLOCK_H_
#define DEVICEAPI_STORAGE_AFTER_UNLOCK_H_

#include <functional>
#include <utility>
#include <vector>

namespace deviceapi::storage {

class AfterUnlock {
 public:
  AfterUnlock() = default;
  AfterUnlock(const AfterUnlock&) = delete;
  AfterUnlock& operator=(const AfterUnlock&) = delete;
  ~AfterUnlock() { Run(); }

  // Queues `f` to run, in the order added.
  void Add(std::function<void()> f) { calls_.push_back(std::move(f)); }

  // Runs what was added, in order, and forgets it (a call may add more: it runs too). Call with no
  // lock held.
  void Run() {
    while (!calls_.empty()) {
      std::vector<std::function<void()>> now;
      now.swap(calls_);
      for (auto& f : now) f();
    }
  }

  bool empty() const { return calls_.empty(); }

 private:
  std::vector<std::function<void()>> calls_;
};

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_AFTER_UNLOCK_H_
