// ReflectionService answers for the services it was built with and the files behind them, and
// NOT_FOUND for every other descriptor linked into the process (the GpuService, on the TCP port).
#include "apiserver/reflection_service.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include <google/protobuf/descriptor.pb.h>

#include "device/v1alpha1/gpu.pb.h"
#include "grpc/health/v1/health.pb.h"

namespace deviceapi::apiserver {
namespace {

namespace refl = grpc::reflection::v1alpha;

constexpr char kGpu[] = "nvidia.nvsentinel.v1alpha1.GpuService";
constexpr char kHealth[] = "grpc.health.v1.Health";

std::set<std::string> FileNames(const refl::ServerReflectionResponse& r) {
  std::set<std::string> names;
  for (const std::string& bytes : r.file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto f;
    EXPECT_TRUE(f.ParseFromString(bytes));
    names.insert(f.name());
  }
  return names;
}

class ReflectionServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Link both files into the generated pool, as the server does.
    (void)nvidia::nvsentinel::v1alpha1::Gpu::descriptor();
    (void)grpc::health::v1::HealthCheckRequest::descriptor();
  }
};

TEST_F(ReflectionServiceTest, HealthOnlyListenerKnowsNothingOfTheGpuService) {
  ReflectionService tcp({kHealth});
  std::set<std::string> sent;
  refl::ServerReflectionRequest req;
  req.set_list_services("");
  refl::ServerReflectionResponse r = tcp.Answer(req, &sent);
  ASSERT_EQ(r.list_services_response().service_size(), 2);
  EXPECT_EQ(r.list_services_response().service(0).name(), kHealth);
  EXPECT_EQ(r.list_services_response().service(1).name(), kReflectionServiceName);

  for (const char* symbol :
       {kGpu, "nvidia.nvsentinel.v1alpha1.Gpu", "nvidia.nvsentinel.v1alpha1.GpuService.GetGpu"}) {
    req.set_file_containing_symbol(symbol);
    r = tcp.Answer(req, &sent);
    EXPECT_EQ(r.error_response().error_code(), static_cast<int>(grpc::StatusCode::NOT_FOUND)) << symbol;
    EXPECT_EQ(r.file_descriptor_response().file_descriptor_proto_size(), 0) << symbol;
  }
  for (const char* file : {"device/v1alpha1/gpu.proto", "google/protobuf/timestamp.proto"}) {
    req.set_file_by_filename(file);
    r = tcp.Answer(req, &sent);
    EXPECT_EQ(r.error_response().error_code(), static_cast<int>(grpc::StatusCode::NOT_FOUND)) << file;
  }
  req.set_all_extension_numbers_of_type("nvidia.nvsentinel.v1alpha1.Gpu");
  EXPECT_TRUE(tcp.Answer(req, &sent).has_error_response());

  req.set_file_containing_symbol(kHealth);
  r = tcp.Answer(req, &sent);
  EXPECT_EQ(FileNames(r), std::set<std::string>{"grpc/health/v1/health.proto"});
  EXPECT_EQ(r.original_request().file_containing_symbol(), kHealth);
}

TEST_F(ReflectionServiceTest, SocketListenerDescribesTheApiWithImportsOncePerStream) {
  ReflectionService socket({kGpu, kHealth});
  std::set<std::string> sent;
  refl::ServerReflectionRequest req;
  req.set_file_containing_symbol("nvidia.nvsentinel.v1alpha1.Condition");
  refl::ServerReflectionResponse r = socket.Answer(req, &sent);
  EXPECT_EQ(FileNames(r), (std::set<std::string>{"device/v1alpha1/gpu.proto", "google/protobuf/empty.proto",
                                                 "google/protobuf/timestamp.proto"}));
  // Again on the same stream: the file itself, not its imports.
  r = socket.Answer(req, &sent);
  EXPECT_EQ(FileNames(r), std::set<std::string>{"device/v1alpha1/gpu.proto"});
  // An import by name is describable.
  req.set_file_by_filename("google/protobuf/timestamp.proto");
  EXPECT_EQ(FileNames(socket.Answer(req, &sent)), std::set<std::string>{"google/protobuf/timestamp.proto"});
  // A file that is linked but not behind a listed service is not.
  req.set_file_by_filename("google/protobuf/descriptor.proto");
  EXPECT_TRUE(socket.Answer(req, &sent).has_error_response());
  // No extensions on our messages: an empty list, not an error.
  req.set_all_extension_numbers_of_type("nvidia.nvsentinel.v1alpha1.Gpu");
  r = socket.Answer(req, &sent);
  EXPECT_FALSE(r.has_error_response());
  EXPECT_EQ(r.all_extension_numbers_response().base_type_name(), "nvidia.nvsentinel.v1alpha1.Gpu");
  EXPECT_EQ(r.all_extension_numbers_response().extension_number_size(), 0);
}

TEST_F(ReflectionServiceTest, EmptyRequestIsInvalid) {
  ReflectionService socket({kGpu});
  std::set<std::string> sent;
  refl::ServerReflectionResponse r = socket.Answer(refl::ServerReflectionRequest(), &sent);
  EXPECT_EQ(r.error_response().error_code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
}

}  // namespace
}  // namespace deviceapi::apiserver
