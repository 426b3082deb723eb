// The conformance suite's fixture: every case runs against each datastore
// endpoint from ConformanceEndpoints() over real gRPC on a temp Unix socket.
#ifndef DEVICEAPI_TESTS_CONFORMANCE_FIXTURE_H_
#define DEVICEAPI_TESTS_CONFORMANCE_FIXTURE_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testutil/test_server.h"

namespace deviceapi::testing {

class Conformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { Start(); }
  // (Re)starts the server with knobs shrunk for a slow path.
  void Start(OptionsTweak tweak = {}) {
    server_.reset();
    server_ = TestServer::Start(GetParam(), std::move(tweak));
  }
  v1::GpuService::Stub& stub() { return server_->stub(); }
  TestServer& server() { return *server_; }

  v1::Gpu MustCreate(const std::string& name, const std::map<std::string, std::string>& labels = {},
                     const std::string& ns = "") {
    v1::Gpu out;
    auto s = CreateGpu(stub(), MakeGpu(name, labels, ns), &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }
  v1::Gpu MustGet(const std::string& name) {
    v1::Gpu out;
    auto s = GetGpu(stub(), name, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }
  v1::GpuList MustList(const v1::ListOptions& opts = {}, const std::string& ns = "") {
    v1::GpuList out;
    auto s = ListGpus(stub(), opts, &out, ns);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  std::unique_ptr<TestServer> server_;
};

inline std::string EndpointName(const ::testing::TestParamInfo<std::string>& info) {
  return info.param.substr(0, info.param.find(':'));
}

#define DEVICEAPI_CONFORMANCE_SUITE(suite) \
  INSTANTIATE_TEST_SUITE_P(Backends, suite, ::testing::ValuesIn(ConformanceEndpoints()), EndpointName)

}  // namespace deviceapi::testing

#endif  // DEVICEAPI_TESTS_CONFORMANCE_FIXTURE_H_
