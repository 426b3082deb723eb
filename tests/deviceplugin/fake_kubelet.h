// A fake kubelet for the device plugin's tests: the Registration service on <dir>/kubelet.sock,
// and for every registration what the kubelet's device manager does: check the version and the
// resource name, dial <dir>/<endpoint> back and call GetDevicePluginOptions before answering, then
// read ListAndWatch on its own thread, keeping every list. A second registration for a resource
// whose previous server is still streaming is recorded as a violation (the real kubelet drops
// both servers then). Restart() does what a restarting kubelet does to the directory: removes
// every socket in it, then creates kubelet.sock again.
#ifndef DEVICEAPI_TESTS_DEVICEPLUGIN_FAKE_KUBELET_H_
#define DEVICEAPI_TESTS_DEVICEPLUGIN_FAKE_KUBELET_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "deviceplugin/v1beta1/api.grpc.pb.h"

namespace deviceapi::dptest {

class FakeKubelet {
 public:
  explicit FakeKubelet(std::string dir);
  ~FakeKubelet();  // Stop()s
  FakeKubelet(const FakeKubelet&) = delete;
  FakeKubelet& operator=(const FakeKubelet&) = delete;

  void Start();    // serves <dir>/kubelet.sock
  void Stop();     // stops serving, closes every endpoint, removes kubelet.sock
  void Restart();  // Stop(), remove every socket in the directory, Start()

  std::string socket_path() const { return dir_ + "/kubelet.sock"; }

  // Registrations the kubelet accepted (after the dial-back succeeded), in order.
  std::vector<v1beta1::RegisterRequest> registrations() const ABSL_LOCKS_EXCLUDED(mu_);
  bool WaitRegistrations(size_t n, absl::Duration deadline) const ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<std::string> violations() const ABSL_LOCKS_EXCLUDED(mu_);

  // The newest device list of `resource` (from its current endpoint), if any.
  std::optional<v1beta1::ListAndWatchResponse> Latest(const std::string& resource) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until the newest list of `resource` satisfies `pred`.
  bool WaitList(const std::string& resource,
                const std::function<bool(const v1beta1::ListAndWatchResponse&)>& pred,
                absl::Duration deadline) const ABSL_LOCKS_EXCLUDED(mu_);
  // Every list received for `resource` on its current endpoint, with the time it arrived.
  std::vector<std::pair<absl::Time, v1beta1::ListAndWatchResponse>> History(const std::string& resource) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // The options GetDevicePluginOptions answered for `resource`.
  std::optional<v1beta1::DevicePluginOptions> Options(const std::string& resource) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Whether the current endpoint's ListAndWatch stream has ended.
  bool StreamEnded(const std::string& resource) const ABSL_LOCKS_EXCLUDED(mu_);

  // Calls on the resource's current endpoint, as the kubelet makes them.
  grpc::Status Allocate(const std::string& resource, const std::vector<std::string>& ids,
                        v1beta1::AllocateResponse* out) ABSL_LOCKS_EXCLUDED(mu_);
  grpc::Status Preferred(const std::string& resource, const std::vector<std::string>& available,
                         const std::vector<std::string>& must_include, int size,
                         v1beta1::PreferredAllocationResponse* out) ABSL_LOCKS_EXCLUDED(mu_);

  // What the kubelet would compute: healthy device count.
  static int Healthy(const v1beta1::ListAndWatchResponse& list);

 private:
  class Registration;
  struct Endpoint {
    std::string resource;
    std::string path;
    std::unique_ptr<v1beta1::DevicePlugin::Stub> stub;
    std::unique_ptr<grpc::ClientContext> ctx;  // the ListAndWatch call
    std::thread reader;
    v1beta1::DevicePluginOptions options;
    std::vector<std::pair<absl::Time, v1beta1::ListAndWatchResponse>> lists;
    bool ended = false;
  };

  grpc::Status HandleRegister(const v1beta1::RegisterRequest& req) ABSL_LOCKS_EXCLUDED(mu_);
  void ReadStream(Endpoint* ep);
  void CloseEndpoint(std::unique_ptr<Endpoint> ep);
  v1beta1::DevicePlugin::Stub* StubFor(const std::string& resource) const ABSL_LOCKS_EXCLUDED(mu_);

  const std::string dir_;
  std::unique_ptr<Registration> service_;
  std::unique_ptr<grpc::Server> server_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Endpoint>> endpoints_ ABSL_GUARDED_BY(mu_);
  std::vector<v1beta1::RegisterRequest> registrations_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> violations_ ABSL_GUARDED_BY(mu_);
};

}  // namespace deviceapi::dptest

#endif  // DEVICEAPI_TESTS_DEVICEPLUGIN_FAKE_KUBELET_H_
