// What the real device-api-server offers on TCP (docs/operations.md "Security"): the gRPC port
// (--health-probe-bind-address, default :50051) serves grpc.health.v1.Health and reflection of that
// alone, never the GpuService nor reflection of it; the HTTP port (--metrics-bind-address, default
// :9090) serves /metrics and the probes and nothing else, and no gRPC. The device API is only on the
// Unix socket. Our own reflection client (api/proto/grpc/reflection), so nothing here skips.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "device/v1alpha1/gpu.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "harness.h"

namespace deviceapi::itest {
namespace {

namespace v1 = nvidia::nvsentinel::v1alpha1;
namespace refl = grpc::reflection::v1alpha;
using ::testing::Contains;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

std::unique_ptr<grpc::ClientContext> Deadline() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

// One request on a reflection stream; the stream status when the call fails.
struct ReflectionAnswer {
  grpc::Status status;
  refl::ServerReflectionResponse response;
};

ReflectionAnswer AskReflection(const std::shared_ptr<grpc::Channel>& channel,
                               const refl::ServerReflectionRequest& req) {
  auto stub = refl::ServerReflection::NewStub(channel);
  auto ctx = Deadline();
  auto stream = stub->ServerReflectionInfo(ctx.get());
  ReflectionAnswer a;
  if (stream->Write(req)) stream->Read(&a.response);
  stream->WritesDone();
  a.status = stream->Finish();
  return a;
}

std::vector<std::string> ListServices(const std::shared_ptr<grpc::Channel>& channel, grpc::Status* status) {
  refl::ServerReflectionRequest req;
  req.set_list_services("*");
  ReflectionAnswer a = AskReflection(channel, req);
  *status = a.status;
  std::vector<std::string> names;
  for (const auto& s : a.response.list_services_response().service()) names.push_back(s.name());
  return names;
}

class TcpExposureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = ServerProcess::Start(dir_);
    ASSERT_NE(server_, nullptr);
    tcp_ = MakeChannel(server_->health_target());
    socket_ = MakeChannel(server_->target());
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> tcp_;
  std::shared_ptr<grpc::Channel> socket_;
};

// Every GpuService method on the TCP port: UNIMPLEMENTED (the service is not there), never an answer
// from the API; the same calls on the socket do reach it.
TEST_F(TcpExposureTest, GpuServiceIsNotOnTheTcpPort) {
  auto tcp = v1::GpuService::NewStub(tcp_);
  v1::Gpu gpu;
  gpu.mutable_metadata()->set_name("gpu-0");
  gpu.mutable_spec()->set_uuid("GPU-0");
  std::vector<std::pair<std::string, grpc::Status>> calls;
  {
    v1::GetGpuRequest req;
    req.set_name("gpu-0");
    v1::GetGpuResponse resp;
    calls.emplace_back("GetGpu", tcp->GetGpu(Deadline().get(), req, &resp));
  }
  {
    v1::ListGpusResponse resp;
    calls.emplace_back("ListGpus", tcp->ListGpus(Deadline().get(), v1::ListGpusRequest(), &resp));
  }
  {
    auto ctx = Deadline();
    auto reader = tcp->WatchGpus(ctx.get(), v1::WatchGpusRequest());
    v1::WatchGpusResponse ev;
    EXPECT_FALSE(reader->Read(&ev)) << "a watch event arrived on the TCP port";
    calls.emplace_back("WatchGpus", reader->Finish());
  }
  {
    v1::CreateGpuRequest req;
    *req.mutable_gpu() = gpu;
    v1::Gpu out;
    calls.emplace_back("CreateGpu", tcp->CreateGpu(Deadline().get(), req, &out));
  }
  {
    v1::UpdateGpuRequest req;
    *req.mutable_gpu() = gpu;
    v1::Gpu out;
    calls.emplace_back("UpdateGpu", tcp->UpdateGpu(Deadline().get(), req, &out));
  }
  {
    v1::UpdateGpuStatusRequest req;
    *req.mutable_gpu() = gpu;
    v1::Gpu out;
    calls.emplace_back("UpdateGpuStatus", tcp->UpdateGpuStatus(Deadline().get(), req, &out));
  }
  {
    v1::PatchGpuRequest req;
    req.set_name("gpu-0");
    req.set_patch_type("merge");
    req.set_data("{}");
    v1::Gpu out;
    calls.emplace_back("PatchGpu", tcp->PatchGpu(Deadline().get(), req, &out));
  }
  {
    v1::DeleteGpuRequest req;
    req.set_name("gpu-0");
    google::protobuf::Empty out;
    calls.emplace_back("DeleteGpu", tcp->DeleteGpu(Deadline().get(), req, &out));
  }
  ASSERT_EQ(calls.size(), 8u);
  for (const auto& [method, status] : calls) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED)
        << method << " on the TCP port: " << status.error_code() << " " << status.error_message();
  }

  // Nothing was created through the TCP port; the socket serves the API.
  auto api = v1::GpuService::NewStub(socket_);
  v1::ListGpusResponse list;
  ASSERT_TRUE(api->ListGpus(Deadline().get(), v1::ListGpusRequest(), &list).ok());
  EXPECT_EQ(list.gpu_list().items_size(), 0);
  v1::CreateGpuRequest create;
  *create.mutable_gpu() = gpu;
  v1::Gpu created;
  EXPECT_TRUE(api->CreateGpu(Deadline().get(), create, &created).ok());
}

// Reflection on the TCP port lists health and reflection only and cannot describe the GpuService;
// on the socket it lists the GpuService (so the client is not the reason it is absent on TCP).
TEST_F(TcpExposureTest, ReflectionOnTheTcpPortKnowsOnlyHealth) {
  grpc::Status status;
  const std::vector<std::string> tcp_services = ListServices(tcp_, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(tcp_services,
              UnorderedElementsAre("grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"));

  refl::ServerReflectionRequest symbol;
  symbol.set_file_containing_symbol(kGpuService);
  ReflectionAnswer a = AskReflection(tcp_, symbol);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_TRUE(a.response.has_error_response()) << a.response.DebugString();
  EXPECT_EQ(a.response.error_response().error_code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_EQ(a.response.file_descriptor_response().file_descriptor_proto_size(), 0);

  symbol.set_file_containing_symbol("grpc.health.v1.Health");
  a = AskReflection(tcp_, symbol);
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_GT(a.response.file_descriptor_response().file_descriptor_proto_size(), 0)
      << a.response.DebugString();

  const std::vector<std::string> socket_services = ListServices(socket_, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(socket_services, Contains(kGpuService));
  EXPECT_THAT(tcp_services, Not(Contains(kGpuService)));
}

// The HTTP port answers the documented paths and 404 for everything else; it does not speak gRPC.
TEST_F(TcpExposureTest, HttpPortServesMetricsAndProbesOnly) {
  for (const char* path : {"/metrics", "/healthz", "/livez", "/readyz", "/version"}) {
    EXPECT_EQ(HttpGet(server_->metrics_port(), path).status, 200) << path;
  }
  for (const char* path : {"/", "/debug/pprof", "/apis", "/nvidia.nvsentinel.v1alpha1.GpuService/ListGpus"}) {
    EXPECT_EQ(HttpGet(server_->metrics_port(), path).status, 404) << path;
  }
  auto over_http =
      v1::GpuService::NewStub(MakeChannel("127.0.0.1:" + std::to_string(server_->metrics_port())));
  v1::ListGpusResponse resp;
  grpc::Status s = over_http->ListGpus(Deadline().get(), v1::ListGpusRequest(), &resp);
  EXPECT_FALSE(s.ok()) << "a gRPC call on the HTTP port succeeded";
}

// The defaults the rule is about: upstream's ports, as --help states them.
TEST(TcpExposureDefaults, HelpStatesUpstreamPorts) {
  TempDir dir;
  const CommandResult r = RunCommand(dir, {DEVICE_API_SERVER_BIN, "--help"});
  ASSERT_EQ(r.exit.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, ::testing::HasSubstr("--health-probe-bind-address TEXT=:50051"));
  EXPECT_THAT(r.out, ::testing::HasSubstr("--metrics-bind-address TEXT=:9090"));
}

}  // namespace
}  // namespace deviceapi::itest
