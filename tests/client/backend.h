// One typed-client test suite, two backends: a real server over gRPC on a temp Unix socket, and
// the in-process fake clientset. Suites parametrized over kBackends run every case on both.
#ifndef DEVICEAPI_TESTS_CLIENT_BACKEND_H_
#define DEVICEAPI_TESTS_CLIENT_BACKEND_H_

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "deviceapi/clientset.h"
#include "deviceapi/fake/clientset.h"
#include "testutil/test_server.h"

namespace client_test {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

// Knobs both backends honour, shrunk by tests that need a slow path.
struct Knobs {
  size_t history_size = 10000;
  size_t max_objects = 4096;
};

class Backend {
 public:
  static std::unique_ptr<Backend> Make(const std::string& kind, const Knobs& knobs = {}) {
    auto b = std::make_unique<Backend>();
    if (kind == "fake") {
      deviceapi::fake::Options o;
      o.history_size = knobs.history_size;
      o.max_objects = knobs.max_objects;
      o.start_resource_version = 1000;
      b->fake_ = std::make_unique<deviceapi::fake::Clientset>(std::vector<v1::Gpu>{}, o);
      return b;
    }
    b->server_ =
        deviceapi::testing::TestServer::Start("memory://", [&](deviceapi::apiserver::ServerOptions& o) {
          o.watch_history_size = static_cast<int64_t>(knobs.history_size);
          o.max_objects = static_cast<int64_t>(knobs.max_objects);
        });
    deviceapi::Config c;
    c.target = b->server_->target();
    c.timeout = absl::Seconds(20);
    c.retry.max_attempts = 1;  // "too large RV" must surface at once in tests
    auto cs = deviceapi::Clientset::NewForConfig(c);
    EXPECT_TRUE(cs.ok()) << cs.status();
    b->real_ = std::move(*cs);
    return b;
  }

  deviceapi::Interface& cs() {
    if (fake_) return *fake_;
    return *real_;
  }
  deviceapi::GpuInterfacePtr Gpus(const std::string& ns = "") { return cs().DeviceV1alpha1().Gpus(ns); }
  deviceapi::fake::Clientset* fake() { return fake_.get(); }
  deviceapi::testing::TestServer* server() { return server_.get(); }

 private:
  std::unique_ptr<deviceapi::testing::TestServer> server_;
  std::unique_ptr<deviceapi::Clientset> real_;
  std::unique_ptr<deviceapi::fake::Clientset> fake_;
};

inline const std::string kBackends[] = {"real", "fake"};

class BackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { Restart(); }
  void Restart(const Knobs& knobs = {}) {
    backend_.reset();
    backend_ = Backend::Make(GetParam(), knobs);
    gpus_ = backend_->Gpus();
  }

  v1::Gpu MustCreate(const std::string& name, const std::map<std::string, std::string>& labels = {},
                     const std::string& ns = "") {
    auto r = backend_->Gpus(ns)->Create(deviceapi::testing::MakeGpu(name, labels, ns));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : v1::Gpu();
  }

  std::unique_ptr<Backend> backend_;
  deviceapi::GpuInterfacePtr gpus_;
};

inline std::string BackendName(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

#define CLIENT_BACKEND_SUITE(suite)                                                        \
  INSTANTIATE_TEST_SUITE_P(Backends, suite, ::testing::ValuesIn(::client_test::kBackends), \
                           ::client_test::BackendName)

inline uint64_t Rv(const std::string& rv) { return std::stoull(rv); }
inline uint64_t Rv(const v1::Gpu& g) { return Rv(g.metadata().resource_version()); }

}  // namespace client_test

#endif  // DEVICEAPI_TESTS_CLIENT_BACKEND_H_
