// The GPU resource's admission logic, free of gRPC: request validation,
// defaults, immutable fields, optimistic concurrency, no-op detection, patch
// and the status subresource. GpuService adapts it to the wire; an in-process
// fake server can reuse it as is.
#ifndef DEVICEAPI_APISERVER_GPU_REGISTRY_H_
#define DEVICEAPI_APISERVER_GPU_REGISTRY_H_

#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "apimachinery/validation.h"
#include "device/v1alpha1/gpu.pb.h"
#include "storage/store.h"

namespace deviceapi::apiserver {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

struct RegistryOptions {
  apimachinery::Limits limits;
  size_t max_patch_bytes = 4 * 1024 * 1024;
  std::function<absl::Time()> clock = [] { return absl::Now(); };
};

inline constexpr std::string_view kDefaultNamespace = "default";

// Vets what a write does to an object's status, for the caller (condition
// ownership, authorization.h): `old_status` is the stored status (null when
// creating), `new_status` the status the write would store (null when
// deleting). A non-OK result refuses the write and is its answer. It runs
// inside the store's update, after validation, and again on a retry; an
// empty StatusCheck checks nothing. Writes of the main resource (Update, a
// patch without the status subresource) keep the status and are not vetted.
using StatusCheck =
    std::function<absl::Status(const v1::GpuStatus* old_status, const v1::GpuStatus* new_status)>;

class GpuRegistry {
 public:
  GpuRegistry(storage::StorePtr store, RegistryOptions opts);

  absl::StatusOr<storage::StoredPtr> Get(const v1::GetGpuRequest& req);
  absl::StatusOr<storage::ListResult> List(const v1::ListGpusRequest& req);
  absl::StatusOr<storage::StoredPtr> Create(const v1::CreateGpuRequest& req);
  absl::StatusOr<storage::StoredPtr> Update(const v1::UpdateGpuRequest& req);
  absl::StatusOr<storage::StoredPtr> UpdateStatus(const v1::UpdateGpuStatusRequest& req);
  absl::StatusOr<storage::StoredPtr> Patch(const v1::PatchGpuRequest& req);
  // Returns the deleted object (with the deletion's RV).
  absl::StatusOr<storage::StoredPtr> Delete(const v1::DeleteGpuRequest& req);
  // The same writes answered through `done` (see storage::WriteDone), so a
  // caller's thread never waits for a durable backend's sync. `req` must stay
  // alive until `done` runs.
  // `check` (see StatusCheck) must stay alive until `done` runs.
  void Create(const v1::CreateGpuRequest& req, storage::WriteDone done, StatusCheck check = {});
  void Update(const v1::UpdateGpuRequest& req, storage::WriteDone done);
  void UpdateStatus(const v1::UpdateGpuStatusRequest& req, storage::WriteDone done, StatusCheck check = {});
  // The same, free to move the request's status into the new version (the
  // gRPC service's requests, on the call's arena).
  void UpdateStatus(v1::UpdateGpuStatusRequest* req, storage::WriteDone done, StatusCheck check = {});
  void Patch(const v1::PatchGpuRequest& req, storage::WriteDone done, StatusCheck check = {});
  // With a `check`, the object is read first and deleted only if it is still
  // the version checked (a resourceVersion precondition; retried a few times
  // when it changed in between, then ABORTED as a conflict).
  void Delete(const v1::DeleteGpuRequest& req, storage::WriteDone done, StatusCheck check = {});
  // Validates a watch request and turns it into store watch options.
  absl::StatusOr<storage::WatchOptions> WatchOptionsFor(const v1::WatchGpusRequest& req);

  storage::Store& store() { return *store_; }

 private:
  // Resolves and validates (namespace, name) of a call that names an object.
  absl::StatusOr<storage::ObjectKey> KeyFor(std::string_view ns, std::string_view name);
  // Validates the whole object; INVALID_ARGUMENT lists every problem.
  absl::Status Validate(const v1::Gpu& gpu);
  // Applies the spec/labels/annotations of `in` to `cur` (main resource).
  absl::StatusOr<storage::NextVersion> ApplyMain(const v1::Gpu& cur, const v1::Gpu& in);
  // Applies the status of `in` to `cur` (status subresource).
  // Reads the stored version's metadata and spec bytes; the old status is
  // parsed only when an incoming condition needs its transition time.
  absl::StatusOr<storage::NextVersion> ApplyStatus(const storage::StoredObject& cur, const v1::Gpu& in,
                                                   const StatusCheck& check);
  // The status write both paths share: checks the uid and resourceVersion
  // sent in `im`, then makes `next` the new version from the stored
  // metadata and spec of `cur` and the status `in_status` (copied, transition
  // times filled in) or, when null, the status `next` already holds. Returns
  // `next`, null for no change, or the error (`check`'s included).
  absl::StatusOr<storage::NextVersion> ApplyStatusTo(const storage::StoredObject& cur,
                                                     const v1::ObjectMeta& im, const v1::GpuStatus* in_status,
                                                     storage::NextVersion next, const StatusCheck& check);
  // Delete with a StatusCheck: reads, checks, deletes that version.
  void DeleteChecked(storage::ObjectKey key, storage::DeletePreconditions pre, StatusCheck check,
                     storage::WriteDone done, int attempts_left);
  // Checks an UpdateStatus request's shape and names its object.
  absl::StatusOr<storage::ObjectKey> StatusWriteKey(const v1::UpdateGpuStatusRequest& req);

  storage::StorePtr store_;
  RegistryOptions opts_;
};

}  // namespace deviceapi::apiserver

#endif  // DEVICEAPI_APISERVER_GPU_REGISTRY_H_
