#include "apiserver/grpc_metrics.h"

#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace deviceapi::apiserver {
namespace {

using ::testing::HasSubstr;

// Go's names for every code.
TEST(GrpcCodeNameTest, MatchesGo) {
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::OK), "OK");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::CANCELLED), "Canceled");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::DEADLINE_EXCEEDED), "DeadlineExceeded");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::RESOURCE_EXHAUSTED), "ResourceExhausted");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::UNAUTHENTICATED), "Unauthenticated");
  EXPECT_EQ(GrpcCodeName(static_cast<grpc::StatusCode>(99)), "Code(99)");
}

TEST(SplitGrpcMethodNameTest, Splits) {
  EXPECT_EQ(SplitGrpcMethodName("/grpc.health.v1.Health/Check"),
            std::make_pair(std::string_view("grpc.health.v1.Health"), std::string_view("Check")));
}

class GrpcMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/grpcmetricsXXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    address_ = "unix://" + dir_ + "/s.sock";

    grpc::EnableDefaultHealthCheckService(true);
    registry_ = std::make_shared<prometheus::Registry>();
    grpc::ServerBuilder builder;
    // gRPC refuses a server without any service of its own; this one answers UNIMPLEMENTED.
    builder.RegisterCallbackGenericService(&generic_service_);
    builder.AddListeningPort(address_, grpc::InsecureServerCredentials());
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(MakeGrpcMetricsInterceptorFactory(registry_));
    builder.experimental().SetInterceptorCreators(std::move(creators));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
    unlink((dir_ + "/s.sock").c_str());
    rmdir(dir_.c_str());
  }

  // Calls grpc.health.v1.Health/Check for `service` and returns the status and response bytes.
  grpc::Status Check(const std::string& service, std::string* response_bytes) {
    auto channel = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
    grpc::GenericStub stub(channel);
    // HealthCheckRequest{service}: field 1, length-delimited; empty for "".
    std::string request;
    if (!service.empty()) {
      request.push_back(0x0a);
      request.push_back(static_cast<char>(service.size()));
      request += service;
    }
    grpc::Slice slice(request);
    grpc::ByteBuffer request_buffer(&slice, 1);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::CompletionQueue cq;
    auto call = stub.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check", request_buffer, &cq);
    call->StartCall();
    grpc::ByteBuffer response;
    grpc::Status status;
    call->Finish(&response, &status, reinterpret_cast<void*>(1));
    void* tag;
    bool ok;
    EXPECT_TRUE(cq.Next(&tag, &ok));
    std::vector<grpc::Slice> slices;
    if (status.ok() && response.Dump(&slices).ok()) {
      response_bytes->clear();
      for (const grpc::Slice& s : slices) {
        response_bytes->append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
    }
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    return status;
  }

  std::string Serialize() { return prometheus::TextSerializer().Serialize(registry_->Collect()); }

  std::string dir_;
  std::string address_;
  std::shared_ptr<prometheus::Registry> registry_;
  grpc::CallbackGenericService generic_service_;
  std::unique_ptr<grpc::Server> server_;
};

// A successful unary call is counted as started, handled OK, one message each way, and timed.
TEST_F(GrpcMetricsTest, CountsUnaryCall) {
  std::string response;
  grpc::Status status = Check("", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response, std::string("\x08\x01", 2));  // SERVING
  const std::string labels =
      "grpc_method=\"Check\",grpc_service=\"grpc.health.v1.Health\",grpc_type=\"unary\"";
  std::string text = Serialize();
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{grpc_code=\"OK\"," + labels + "} 1"));
  EXPECT_THAT(text, HasSubstr("grpc_server_started_total{" + labels + "} 1"));
  EXPECT_THAT(text, HasSubstr("grpc_server_msg_received_total{" + labels + "} 1"));
  EXPECT_THAT(text, HasSubstr("grpc_server_msg_sent_total{" + labels + "} 1"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handling_seconds_count{" + labels + "} 1"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handling_seconds_bucket{" + labels + ",le=\"0.005\"}"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handling_seconds_bucket{" + labels + ",le=\"10\"}"));
}

// A failing call is counted under Go's name for its code.
TEST_F(GrpcMetricsTest, CountsErrorCode) {
  std::string response;
  grpc::Status status = Check("no.such.Service", &response);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(Check("", &response).ok());
  std::string text = Serialize();
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{grpc_code=\"NotFound\",grpc_method="
                              "\"Check\",grpc_service=\"grpc.health.v1.Health\",grpc_type=\"unary\"} 1"));
  EXPECT_THAT(text, HasSubstr("grpc_server_started_total{grpc_method=\"Check\",grpc_service="
                              "\"grpc.health.v1.Health\",grpc_type=\"unary\"} 2"));
}

}  // namespace
}  // namespace deviceapi::apiserver
