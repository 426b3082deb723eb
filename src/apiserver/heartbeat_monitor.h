// Provider liveness: a condition whose provider stopped refreshing its
// lastHeartbeatTime is marked Unknown (reason ProviderHeartbeatTimeout), the
// way the Kubernetes node lifecycle controller treats a silent kubelet. A dead
// provider can therefore never leave a GPU looking healthy.
#ifndef DEVICEAPI_APISERVER_HEARTBEAT_MONITOR_H_
#define DEVICEAPI_APISERVER_HEARTBEAT_MONITOR_H_

#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/store.h"

namespace deviceapi::apiserver {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

inline constexpr char kHeartbeatTimeoutReason[] = "ProviderHeartbeatTimeout";

struct HeartbeatMonitorOptions {
  absl::Duration timeout = absl::Seconds(40);
  // How often to scan; zero: timeout / 4, clamped to [100ms, 5s].
  absl::Duration period = absl::ZeroDuration();
  std::function<absl::Time()> clock = [] { return absl::Now(); };
  std::function<void()> on_timeout;  // one condition marked Unknown
};

class HeartbeatMonitor {
 public:
  HeartbeatMonitor(storage::StorePtr store, HeartbeatMonitorOptions opts);
  ~HeartbeatMonitor();  // stops and joins

  // One scan: marks every expired condition Unknown. Returns how many it
  // marked. Thread-safe; the background thread calls it every period.
  int ScanOnce();

 private:
  void Run();

  storage::StorePtr store_;
  const HeartbeatMonitorOptions opts_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Marks the expired conditions of `gpu` Unknown at `now`; returns how many
// (the status is changed in place).
int ExpireStaleConditions(v1::GpuStatus* status, absl::Time now, absl::Duration timeout);

}  // namespace deviceapi::apiserver

#endif  // DEVICEAPI_APISERVER_HEARTBEAT_MONITOR_H_
