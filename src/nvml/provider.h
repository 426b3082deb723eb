// The NVML provider: registers the node's GPUs with the Device API server and keeps this
// provider's condition type (NVMLReady) current from NVML, never touching other providers'
// conditions. See docs/nvml-provider.md for the behaviour and the recovery rule.
//
// Threads: an NVML event monitor (EventMonitor), a worker that does every write (full reconciles
// every --reconcile-interval, per-GPU syncs when something changes, heartbeats every
// --heartbeat-interval), and a watcher (list + watch of this provider's GPUs) that notices
// deletions, server restarts and operator clears. Public methods are thread-safe.
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
  struct Fault {
    std::string reason;  // "XID79", "GPULost", "ResetRequired", "RowRemapFailure"
    std::string message;
    RecommendedAction action = RecommendedAction::kContactSupport;
    uint64_t gen = 0;           // identifies this fault; every new fault gets a new number
    uint64_t published_rv = 0;  // RV of our first write that carried it; 0: not on the server yet
  };
  struct Warning {
    uint64_t xid = 0;
    absl::Time time;
    std::string message;
  };
  // What this provider knows about one GPU (by UUID).
  struct GpuState {
    GpuInventory inventory;
    nvmlDevice_t handle = nullptr;
    bool present = false;  // enumerated by NVML in the last reconcile
    DeviceHealthProbe probe;
    std::optional<Fault> fault;  // latched critical condition
    bool reset_seen = false;     // since the fault: the GPU was lost or unusable (a reset)
    bool recovered = false;      // True again after a fault: reason "Recovered"
    std::optional<Warning> last_warning;
    bool events_supported = true;
    // Bookkeeping of our writes.
    uint64_t last_written_rv = 0;
    std::string written_action;  // the recommended_action we last set
    absl::Time last_heartbeat = absl::InfinitePast();
    bool adopted = false;  // server state read once (fault adoption after a provider restart)
  };

  void WorkerLoop();
  void WatchLoop();
  void OnNvmlEvent(const NvmlEvent& ev);

  absl::Status FullReconcile();
  absl::Status ReconcileWithoutNvml();
  absl::Status SyncGpu(const std::string& uuid);
  v1::Condition DesiredCondition(const GpuState& s) const;
  void ApplyMetadata(const GpuState& s, v1::Gpu* gpu) const;
  void AdoptServerState(GpuState* s, const v1::Gpu& gpu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `fault_gen`: the gen of the fault the write carried (0: none).
  void NoteWritten(const std::string& uuid, const v1::Gpu& written, bool heartbeat, std::string action,
                   uint64_t fault_gen) ABSL_LOCKS_EXCLUDED(mu_);
  void SetFaultLocked(GpuState* s, Fault f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // An NVMLReady=True written by someone else at `rv` clears the fault only when that fault was
  // already on the server before (rv > published_rv): the operator saw it. A clear that raced
  // with a fault not yet published was meant for the earlier state and does not hide the new one.
  static bool ClearsFault(const GpuState& s, uint64_t rv);
  void ApplyClearLocked(GpuState* s, const v1::Gpu& seen, uint64_t rv) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool WorkerShouldWake() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void UpdateHealthGaugesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Stopping() const;
  void RecordApiError(const absl::Status& s);
  std::shared_ptr<GpuInterface> Client() const ABSL_LOCKS_EXCLUDED(client_mu_);
  void MaybeReconnect(const absl::Status& s) ABSL_LOCKS_EXCLUDED(client_mu_);

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
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
  bool nvml_loaded_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_loop_ ABSL_GUARDED_BY(mu_) = absl::Now();
  std::map<unsigned int, std::string> uuid_by_index_ ABSL_GUARDED_BY(mu_);
  uint64_t next_fault_gen_ ABSL_GUARDED_BY(mu_) = 0;
  WatchInterface* active_watch_ ABSL_GUARDED_BY(mu_) = nullptr;

  std::thread worker_;
  std::thread watcher_;
};

}  // namespace deviceapi::nvml

#endif  // DEVICEAPI_NVML_PROVIDER_H_
