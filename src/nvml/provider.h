// The NVML provider: registers the node's GPUs with the Device API server and keeps this
// provider's condition type (NVMLReady) current from NVML, never touching other providers'
// conditions. See docs/nvml-provider.md for the behaviour and the recovery rule.
//
// Threads: an NVML event monitor (EventMonitor), a worker that does every write (full reconciles
// every --reconcile-interval, per-GPU syncs when something changes, heartbeats every
// --heartbeat-interval), and a watcher (list + watch of this provider's GPUs) that notices
// deletions, server restarts and operator clears. Public methods are thread-safe.
//
// Files: provider.cc (threads, NVML loading, events, enumeration), provider_writer.cc (the writes
// of the GPU objects), provider_watch.cc (the watcher); the fault and recovery rules themselves
// are the pure FaultTracker (fault_tracker.h), which the Provider drives under mu_.
#ifndef DEVICEAPI_NVML_PROVIDER_H_
#define DEVICEAPI_NVML_PROVIDER_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "deviceapi/clientset.h"
#include "nvml/event_monitor.h"
#include "nvml/fault_tracker.h"
#include "nvml/inventory.h"
#include "nvml/library.h"
#include "nvml/metrics.h"
#include "nvml/options.h"
#include "nvml/xid_policy.h"

namespace deviceapi::nvml {

inline constexpr std::string_view kConditionType = "NVMLReady";
// Label on every GPU this provider registered (value: --provider-id); deletions are limited to it.
inline constexpr std::string_view kProviderLabel = "device.nvidia.com/provider";
inline constexpr std::string_view kProductLabel = "nvidia.com/gpu.product";
inline constexpr std::string_view kMemoryLabel = "nvidia.com/gpu.memory";  // MiB
inline constexpr std::string_view kFamilyLabel = "nvidia.com/gpu.family";
inline constexpr std::string_view kComputeMajorLabel = "nvidia.com/gpu.compute.major";
inline constexpr std::string_view kComputeMinorLabel = "nvidia.com/gpu.compute.minor";
// Annotations: the last warning-class XID, and polled memory signals.
inline constexpr std::string_view kLastWarningXidAnnotation = "nvml.device.nvidia.com/last-warning-xid";
inline constexpr std::string_view kLastWarningTimeAnnotation = "nvml.device.nvidia.com/last-warning-time";
inline constexpr std::string_view kLastWarningMessageAnnotation =
    "nvml.device.nvidia.com/last-warning-message";
inline constexpr std::string_view kMemoryWarningAnnotation = "nvml.device.nvidia.com/memory-warning";
inline constexpr std::string_view kRetiredPagesAnnotation = "nvml.device.nvidia.com/retired-pages";

// "gpu-..." from "GPU-...": the object name is the lower-cased UUID.
std::string GpuObjectName(std::string_view uuid);
// A label value for the product name: "NVIDIA H100 80GB HBM3" -> "NVIDIA-H100-80GB-HBM3".
std::string ProductLabelValue(std::string_view product);

class Provider {
 public:
  using NvmlLoader = std::function<absl::StatusOr<NvmlLibraryPtr>()>;
  // Makes a client for the GPUs of --namespace on a new connection. Called at Start() and again
  // when calls keep failing with UNAVAILABLE (a fresh channel reconnects at once, where gRPC's
  // own reconnect backoff grows to minutes).
  using ClientFactory = std::function<std::shared_ptr<GpuInterface>()>;

  // `loader` opens NVML (normally NvmlLibrary::Load of
  // --driver-root); it is called at Start() and, in --nvml-missing=unknown mode, again every
  // reconcile until it succeeds.
  Provider(ProviderOptions options, ClientFactory client_factory, NvmlLoader loader);
  ~Provider();  // Shutdown()s
  Provider(const Provider&) = delete;
  Provider& operator=(const Provider&) = delete;

  // Loads NVML and starts the threads. Returns FAILED_PRECONDITION / NOT_FOUND from the loader
  // when NVML is missing and --nvml-missing=exit. Does not wait for the server.
  absl::Status Start();
  // Stops every thread. Blocks up to about one event-wait timeout plus one API call. Idempotent.
  void Shutdown();

  // Ready: NVML loaded (or knowingly running without it) and the last full reconcile succeeded.
  bool Ready() const;
  // Live: the worker loop has turned recently.
  bool Live() const;
  std::string MetricsText() const { return metrics_.Serialize(); }

  // The classification in force (for logs and tests).
  const XidPolicy& policy() const { return policy_; }

 private:
  // What this provider knows about one GPU (by UUID).
  struct GpuState {
    GpuInventory inventory;
    nvmlDevice_t handle = nullptr;
    bool present = false;  // enumerated by NVML in the last reconcile
    DeviceHealthProbe probe;
    FaultState health;  // moved by faults_ (fault_tracker.h)
    bool events_supported = true;
    // Bookkeeping of our writes.
    uint64_t last_written_rv = 0;
    std::string written_action;  // the recommended_action we last set
    absl::Time last_heartbeat = absl::InfinitePast();
    bool adopted = false;  // server state read once (fault adoption after a provider restart)
  };

  // ---- provider.cc: threads, NVML side ----
  void WorkerLoop();
  void OnNvmlEvent(const NvmlEvent& ev);
  // Loads NVML if it is not loaded yet (--nvml-missing=unknown); false while it cannot be.
  // Worker thread only.
  bool EnsureNvmlLoaded();
  // Creates and starts the event monitor on nvml_ (none when NVML events are unavailable).
  void StartEventMonitor();
  // Enumerates NVML, updates every GPU's state (inventory, probe, faults_), forgets GPUs that are
  // gone and registers new ones for events. Returns the UUIDs present. Worker thread only.
  absl::StatusOr<std::set<std::string>> RefreshDevices() ABSL_LOCKS_EXCLUDED(mu_);
  // An operator clear of `s`'s fault (FaultTracker::ClearsFault held), seen in `seen` at `rv`.
  void ApplyClearLocked(GpuState* s, const v1::Gpu& seen, uint64_t rv) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool WorkerShouldWake() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void UpdateHealthGaugesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Stopping() const;
  void RecordApiError(const absl::Status& s);
  std::shared_ptr<GpuInterface> Client() const ABSL_LOCKS_EXCLUDED(client_mu_);
  void MaybeReconnect(const absl::Status& s) ABSL_LOCKS_EXCLUDED(client_mu_);

  // ---- provider_writer.cc: writes of the GPU objects (worker thread only) ----
  absl::Status FullReconcile();
  absl::Status ReconcileWithoutNvml();
  // The GPUs this provider registered (labelled with --provider-id).
  absl::StatusOr<v1::GpuList> ListOwnGpus(GpuInterface& gpus) const;
  absl::Status SyncGpu(const std::string& uuid);
  // NVMLReady as FaultTracker::Desired has it; `action`: the recommended action to set ("" = none).
  static v1::Condition DesiredCondition(const GpuState& s, std::string* action);
  void ApplyMetadata(const GpuState& s, v1::Gpu* gpu) const;
  void AdoptServerState(GpuState* s, const v1::Gpu& gpu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `fault_gen`: the gen of the fault the write carried (0: none).
  void NoteWritten(const std::string& uuid, const v1::Gpu& written, bool heartbeat, std::string action,
                   uint64_t fault_gen) ABSL_LOCKS_EXCLUDED(mu_);
  // The numeric value of a resource version; 0 when it is not a decimal number.
  static uint64_t ParseRv(const std::string& rv);

  // ---- provider_watch.cc: the watch of this provider's GPUs (watcher thread) ----
  void WatchLoop();

  const ProviderOptions options_;
  const ClientFactory client_factory_;
  mutable absl::Mutex client_mu_;  // never held while calling the server
  std::shared_ptr<GpuInterface> client_ ABSL_GUARDED_BY(client_mu_);
  absl::Time client_created_ ABSL_GUARDED_BY(client_mu_);
  const NvmlLoader loader_;
  const XidPolicy policy_;
  mutable ProviderMetrics metrics_;

  // Set by Start(), or later by the worker (--nvml-missing=unknown); used by the worker only,
  // released after the threads have stopped.
  NvmlLibraryPtr nvml_;
  std::unique_ptr<EventMonitor> monitor_;

  mutable absl::Mutex mu_;
  std::map<std::string, GpuState> gpus_state_ ABSL_GUARDED_BY(mu_);  // by UUID
  std::set<std::string> dirty_ ABSL_GUARDED_BY(mu_);
  bool full_requested_ ABSL_GUARDED_BY(mu_) = true;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
  bool nvml_loaded_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_loop_ ABSL_GUARDED_BY(mu_) = absl::Now();
  std::map<unsigned int, std::string> uuid_by_index_ ABSL_GUARDED_BY(mu_);
  FaultTracker faults_ ABSL_GUARDED_BY(mu_);
  WatchInterface* active_watch_ ABSL_GUARDED_BY(mu_) = nullptr;

  std::thread worker_;
  std::thread watcher_;
};

}  // namespace deviceapi::nvml

#endif  // DEVICEAPI_NVML_PROVIDER_H_
