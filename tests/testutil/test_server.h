// Test helpers: a real DeviceApiServer on a Unix socket in a private temp
// directory, a typed stub, object builders, and a background watch reader.
#ifndef DEVICEAPI_TESTS_TESTUTIL_TEST_SERVER_H_
#define DEVICEAPI_TESTS_TESTUTIL_TEST_SERVER_H_

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "apiserver/options.h"
#include "apiserver/server.h"
#include "device/v1alpha1/gpu.grpc.pb.h"

namespace deviceapi::testing {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

// A private directory under /tmp (short: Unix socket paths are < 108 bytes),
// removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

using OptionsTweak = std::function<void(apiserver::ServerOptions&)>;

// The datastore endpoints the conformance suite runs against: memory://,
// sqlite:// and etcd:// (a real etcd, one per test process, started on first
// use; see testutil/etcd.h). "sqlite://" is resolved per TestServer (see
// TestServer::Start).
std::vector<std::string> ConformanceEndpoints();

class TestServer {
 public:
  // Starts a server with test-friendly defaults (ports 0, socket in a temp dir).
  // "sqlite://" (no path) means sqlite://<the temp dir>/state.db; "etcd://"
  // (no address) a fresh prefix on SharedEtcd() (testutil/etcd.h).
  static std::unique_ptr<TestServer> Start(const std::string& endpoint = "memory://",
                                           OptionsTweak tweak = {});
  ~TestServer();

  v1::GpuService::Stub& stub() { return *stub_; }
  // A stub on a fresh connection of its own (separate HTTP/2 flow control).
  std::unique_ptr<v1::GpuService::Stub> NewStub() const;
  std::shared_ptr<grpc::Channel> NewChannel() const;
  std::shared_ptr<grpc::Channel> NewChannel(const std::string& target) const;
  apiserver::DeviceApiServer& server() { return *server_; }
  const apiserver::ServerOptions& options() const { return options_; }
  std::string target() const { return "unix://" + options_.socket_path; }
  // The read-only socket every test server also serves (writes: PERMISSION_DENIED).
  std::string read_only_target() const { return "unix://" + options_.read_only_socket_path; }

  // Graceful stop and start again on the same socket with the same options.
  void Restart();
  void Stop();

 private:
  TestServer() = default;
  void Connect();

  TempDir dir_;
  apiserver::ServerOptions options_;
  std::unique_ptr<apiserver::DeviceApiServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::GpuService::Stub> stub_;
};

// A GPU ready to create: name, spec.uuid derived from it, optional labels.
v1::Gpu MakeGpu(const std::string& name, const std::map<std::string, std::string>& labels = {},
                const std::string& ns = "");
v1::Condition MakeCondition(const std::string& type, const std::string& status,
                            const std::string& reason = "Test");

// Unary helpers that return the status and fill `out`.
grpc::Status CreateGpu(v1::GpuService::Stub& stub, const v1::Gpu& gpu, v1::Gpu* out = nullptr);
grpc::Status GetGpu(v1::GpuService::Stub& stub, const std::string& name, v1::Gpu* out = nullptr,
                    const std::string& rv = "", const std::string& ns = "");
grpc::Status UpdateGpu(v1::GpuService::Stub& stub, const v1::Gpu& gpu, v1::Gpu* out = nullptr);
grpc::Status UpdateGpuStatus(v1::GpuService::Stub& stub, const v1::Gpu& gpu, v1::Gpu* out = nullptr);
grpc::Status DeleteGpu(v1::GpuService::Stub& stub, const std::string& name, const std::string& ns = "",
                       std::optional<std::string> uid = std::nullopt,
                       std::optional<std::string> rv = std::nullopt);
grpc::Status PatchGpu(v1::GpuService::Stub& stub, const std::string& name, const std::string& type,
                      const std::string& data, bool status = false, v1::Gpu* out = nullptr);
grpc::Status ListGpus(v1::GpuService::Stub& stub, const v1::ListOptions& opts, v1::GpuList* out,
                      const std::string& ns = "");
uint64_t Rv(const v1::Gpu& gpu);
uint64_t Rv(const std::string& rv);

// Reads a WatchGpus stream on a background thread into a queue.
class WatchStream {
 public:
  WatchStream(v1::GpuService::Stub& stub, const v1::WatchGpusRequest& req);
  WatchStream(v1::GpuService::Stub& stub, const std::string& rv, bool bookmarks = false,
              const std::string& label_selector = "");
  ~WatchStream();

  // The next event, or nullopt if none arrives in `timeout` or the stream ended.
  std::optional<v1::WatchGpusResponse> Next(absl::Duration timeout = absl::Seconds(20));
  // The next non-bookmark event.
  std::optional<v1::WatchGpusResponse> NextEvent(absl::Duration timeout = absl::Seconds(20));
  // Waits for the end of the stream (draining events) and returns its status.
  std::optional<grpc::Status> WaitEnd(absl::Duration timeout = absl::Seconds(20));
  // True if no event arrives within `quiet`.
  bool Quiet(absl::Duration quiet);
  void Cancel();

 private:
  void Run(v1::GpuService::Stub* stub, v1::WatchGpusRequest req);

  grpc::ClientContext ctx_;
  absl::Mutex mu_;
  std::deque<v1::WatchGpusResponse> events_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> status_ ABSL_GUARDED_BY(mu_);
  std::thread reader_;
};

// Polls `cond` until true or `timeout`; returns the last result.
bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout = absl::Seconds(20));

}  // namespace deviceapi::testing

#endif  // DEVICEAPI_TESTS_TESTUTIL_TEST_SERVER_H_
