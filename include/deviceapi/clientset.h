// The typed client: Interface -> DeviceV1alpha1() -> Gpus(namespace) -> Get/List/Watch/Create/
// Update/UpdateStatus/Patch/Delete (upstream pkg/client-go clientset, client-gen shape).
//
// The interfaces are abstract so that the gRPC Clientset below and the in-process fake
// (deviceapi/fake/clientset.h) are interchangeable: code under test takes an Interface&.
//
// Namespaces: Gpus("") addresses "default" for calls that name one object and all namespaces for
// List and Watch, as the server does. Errors: see deviceapi/errors.h. Every method is thread-safe
// and blocks until the call completes (or its deadline passes).
#ifndef DEVICEAPI_CLIENTSET_H_
#define DEVICEAPI_CLIENTSET_H_

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "device/v1alpha1/gpu.pb.h"
#include "deviceapi/config.h"
#include "deviceapi/options.h"
#include "deviceapi/watch.h"

namespace grpc {
class Channel;
}

namespace deviceapi {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

// The GPUs of one namespace (or of all, for List and Watch with namespace ""). Cheap to create;
// keeps its connection alive by itself, so it may outlive the clientset it came from.
class GpuInterface {
 public:
  virtual ~GpuInterface() = default;

  const std::string& ns() const { return ns_; }

  absl::StatusOr<v1::Gpu> Get(std::string_view name, const GetOptions& opts = {}) {
    return DoGet(name, opts);
  }
  absl::StatusOr<v1::GpuList> List(const ListOptions& opts = {}) { return DoList(opts); }
  // Starts a watch. Errors the server reports before the first event (a bad selector, an RV
  // that is too old) arrive as the watch's result, not here; this fails only when the watch
  // cannot be started at all. The gRPC client opens the stream asynchronously: to miss nothing,
  // watch from an explicit RV (e.g. a List's), as a reflector does. (The fake registers the
  // watch before returning.) With Config::wait_for_ready a watch started while the server is
  // down waits for it (up to opts.call_timeout, by default without limit).
  absl::StatusOr<WatchPtr> Watch(const ListOptions& opts = {}) { return DoWatch(opts); }
  // gpu.metadata().namespace_() empty: this interface's namespace (or "default").
  absl::StatusOr<v1::Gpu> Create(const v1::Gpu& gpu, const CreateOptions& opts = {}) {
    return DoCreate(gpu, opts);
  }
  // Replaces spec, labels, annotations. A non-empty metadata.resource_version is a precondition
  // (Conflict on mismatch).
  absl::StatusOr<v1::Gpu> Update(const v1::Gpu& gpu, const UpdateOptions& opts = {}) {
    return DoUpdate(gpu, opts);
  }
  // Replaces status only.
  absl::StatusOr<v1::Gpu> UpdateStatus(const v1::Gpu& gpu, const UpdateOptions& opts = {}) {
    return DoUpdateStatus(gpu, opts);
  }
  // `patch_type`: kMergePatchType / kJsonPatchType (or "merge" / "json"). subresources {"status"}
  // patches the status.
  absl::StatusOr<v1::Gpu> Patch(std::string_view name, std::string_view patch_type, std::string_view data,
                                const PatchOptions& opts = {},
                                const std::vector<std::string>& subresources = {}) {
    return DoPatch(name, patch_type, data, opts, subresources);
  }
  absl::Status Delete(std::string_view name, const DeleteOptions& opts = {}) { return DoDelete(name, opts); }

 protected:
  explicit GpuInterface(std::string ns) : ns_(std::move(ns)) {}

  virtual absl::StatusOr<v1::Gpu> DoGet(std::string_view name, const GetOptions& opts) = 0;
  virtual absl::StatusOr<v1::GpuList> DoList(const ListOptions& opts) = 0;
  virtual absl::StatusOr<WatchPtr> DoWatch(const ListOptions& opts) = 0;
  virtual absl::StatusOr<v1::Gpu> DoCreate(const v1::Gpu& gpu, const CreateOptions& opts) = 0;
  virtual absl::StatusOr<v1::Gpu> DoUpdate(const v1::Gpu& gpu, const UpdateOptions& opts) = 0;
  virtual absl::StatusOr<v1::Gpu> DoUpdateStatus(const v1::Gpu& gpu, const UpdateOptions& opts) = 0;
  virtual absl::StatusOr<v1::Gpu> DoPatch(std::string_view name, std::string_view patch_type,
                                          std::string_view data, const PatchOptions& opts,
                                          const std::vector<std::string>& subresources) = 0;
  virtual absl::Status DoDelete(std::string_view name, const DeleteOptions& opts) = 0;

 private:
  const std::string ns_;
};

using GpuInterfacePtr = std::unique_ptr<GpuInterface>;

class DeviceV1alpha1Interface {
 public:
  virtual ~DeviceV1alpha1Interface() = default;
  // A client for the GPUs in `ns` ("" = default / all namespaces, see above).
  virtual GpuInterfacePtr Gpus(std::string_view ns = "") = 0;
};

// The clientset: one group-version today.
class Interface {
 public:
  virtual ~Interface() = default;
  virtual DeviceV1alpha1Interface& DeviceV1alpha1() = 0;
};

// The gRPC clientset: one channel to the server's Unix socket, shared by every typed client made
// from it. Connecting is lazy: NewForConfig does not wait for the server (calls wait for it, up to
// their deadline, when Config::wait_for_ready).
class Clientset final : public Interface {
 public:
  // INVALID_ARGUMENT when `config` does not Validate() (e.g. a non-local target).
  static absl::StatusOr<std::unique_ptr<Clientset>> NewForConfig(const Config& config);
  // Config::FromEnvironment().
  static absl::StatusOr<std::unique_ptr<Clientset>> NewFromEnvironment();
  // Uses an existing channel (which the caller configured); `config` supplies timeouts.
  static std::unique_ptr<Clientset> NewForConfigAndChannel(const Config& config,
                                                           std::shared_ptr<grpc::Channel> channel);

  ~Clientset() override;

  DeviceV1alpha1Interface& DeviceV1alpha1() override;
  std::shared_ptr<grpc::Channel> channel() const;
  const Config& config() const;

  class Impl;

 private:
  explicit Clientset(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace deviceapi

#endif  // DEVICEAPI_CLIENTSET_H_
