// The reflector: keeps a ReflectorStore in step with the server by list + watch (client-go
// tools/cache Reflector). Internal to the informer.
#ifndef DEVICEAPI_CLIENT_REFLECTOR_H_
#define DEVICEAPI_CLIENT_REFLECTOR_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "deviceapi/clientset.h"
#include "deviceapi/informer.h"
#include "deviceapi/watch.h"

namespace deviceapi::client {

// Where the reflector puts what it learns. Called on the reflector thread only.
class ReflectorStore {
 public:
  virtual ~ReflectorStore() = default;
  // Makes the cache equal `items`, a complete list at `rv`. Returns false and changes nothing
  // when `rv` is older than the cache's RV (a relist must never move the cache back in time).
  virtual bool Replace(std::vector<v1::Gpu> items, const std::string& rv) = 0;
  // Applies one watch event; bookmarks only advance the RV; events not newer than the cache
  // are dropped.
  virtual void Apply(WatchEvent event) = 0;
  // The cache's RV ("" before the first list).
  virtual std::string ResourceVersion() = 0;
};

// True when resource version `a` is newer than `b` ("" is older than everything). RVs are
// compared as numbers; non-numeric ones only as different.
bool ResourceVersionNewer(const std::string& a, const std::string& b);

// Exponential backoff with jitter that resets after a healthy period (client-go
// NewExponentialBackoffManager).
class BackoffManager {
 public:
  BackoffManager(const ReflectorOptions& o, uint64_t seed);
  // The next sleep, given that a failure happened at `now`.
  absl::Duration Next(absl::Time now);
  void Reset() { current_ = absl::ZeroDuration(); }
  double Uniform();  // [0, 1)

 private:
  const ReflectorOptions opts_;
  std::mt19937_64 rng_;
  absl::Duration current_ = absl::ZeroDuration();
  absl::Time last_failure_ = absl::InfinitePast();
};

class Reflector {
 public:
  // `client` and `store` must outlive Run().
  Reflector(GpuInterface& client, ListOptions base, ReflectorOptions options, ReflectorStore& store);

  // Lists and watches until Stop(). Blocks; call once.
  void Run();
  // Makes Run() return soon: stops the open watch and wakes a backoff sleep. A List in flight
  // is waited for (up to list_timeout). Non-blocking, idempotent.
  void Stop();

  // Fills the reflector's counters of `stats` (list_errors, watch_*, last_error; the store
  // counts lists, relists and stale lists as it applies them).
  void FillStats(InformerStats& stats) const;

 private:
  absl::Status ListAndReplace();
  // Sleeps `d` or until Stop(); false when stopped.
  bool Sleep(absl::Duration d);
  bool Stopped() const;
  void RecordError(const absl::Status& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  GpuInterface& client_;
  const ListOptions base_;
  const ReflectorOptions opts_;
  ReflectorStore& store_;
  BackoffManager backoff_;  // reflector thread only

  mutable absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  WatchInterface* watch_ ABSL_GUARDED_BY(mu_) = nullptr;  // the open watch, owned by Run()
  InformerStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace deviceapi::client

#endif  // DEVICEAPI_CLIENT_REFLECTOR_H_
