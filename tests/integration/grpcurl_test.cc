// A third-party client, grpcurl, against the real device-api-server binary: reflection on both
// endpoints, the service description, and CRUD calls in JSON. grpcurl is installed by
// scripts/install-grpcurl.sh into tools/bin/; without it every test here is skipped.
#include <unistd.h>

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "harness.h"

namespace deviceapi::itest {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    out.emplace_back(absl::StripAsciiWhitespace(line));
  }
  return out;
}

// grpcurl prints proto field names (resource_version) where protojson would print JSON names
// (resourceVersion); accept either.
const nlohmann::json* Field(const nlohmann::json& j, const char* json_name, const char* proto_name) {
  if (!j.is_object()) return nullptr;
  if (auto it = j.find(json_name); it != j.end()) return &*it;
  if (auto it = j.find(proto_name); it != j.end()) return &*it;
  return nullptr;
}

std::string ResourceVersionOf(const nlohmann::json& object_meta) {
  const nlohmann::json* rv = Field(object_meta, "resourceVersion", "resource_version");
  return rv != nullptr && rv->is_string() ? rv->get<std::string>() : "";
}

class GrpcurlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(GRPCURL_BIN, X_OK) != 0) {
      GTEST_SKIP() << "grpcurl not found at " << GRPCURL_BIN << "; run scripts/install-grpcurl.sh";
    }
    server_ = ServerProcess::Start(dir_);
    ASSERT_NE(server_, nullptr);
  }

  // grpcurl on the probe port; `data` (JSON) goes in with -d when not empty; `flags` go before
  // the address.
  CommandResult OnProbePort(const std::vector<std::string>& args, const std::string& data = "",
                            const std::vector<std::string>& flags = {}) {
    std::vector<std::string> argv = {GRPCURL_BIN, "-plaintext", "-max-time", "30"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    if (!data.empty()) {
      argv.push_back("-d");
      argv.push_back(data);
    }
    argv.push_back(server_->health_target());
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(dir_, argv);
  }

  // grpcurl on the Unix socket; `data` (JSON) goes in with -d when not empty.
  CommandResult OnSocket(const std::vector<std::string>& args, const std::string& data = "") {
    std::vector<std::string> argv = {GRPCURL_BIN, "-plaintext", "-max-time", "30", "-unix"};
    if (!data.empty()) {
      argv.push_back("-d");
      argv.push_back(data);
    }
    argv.push_back(server_->socket_path());
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(dir_, argv);
  }

  static std::string Method(const std::string& rpc) { return std::string(kGpuService) + "/" + rpc; }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
};

// The probe port offers health and reflection, and not the GpuService.
TEST_F(GrpcurlTest, ProbePortListsHealthAndReflectionOnly) {
  const CommandResult r = OnProbePort({"list"});
  ASSERT_EQ(r.exit.exit_code, 0) << r.Describe();
  const auto services = Lines(r.out);
  EXPECT_THAT(services, Contains("grpc.health.v1.Health")) << r.out;
  EXPECT_THAT(services, Contains("grpc.reflection.v1alpha.ServerReflection")) << r.out;
  EXPECT_THAT(services, Not(Contains(kGpuService))) << r.out;
}

// The socket offers the GpuService through reflection.
TEST_F(GrpcurlTest, SocketListsGpuService) {
  const CommandResult r = OnSocket({"list"});
  ASSERT_EQ(r.exit.exit_code, 0) << r.Describe();
  EXPECT_THAT(Lines(r.out), Contains(kGpuService)) << r.out;

  const CommandResult methods = OnSocket({"list", kGpuService});
  ASSERT_EQ(methods.exit.exit_code, 0) << methods.Describe();
  // grpcurl lists methods as "<service>.<method>".
  EXPECT_THAT(Lines(methods.out), Contains(std::string(kGpuService) + ".WatchGpus")) << methods.out;
}

// describe shows exactly the eight RPCs of the contract, WatchGpus server-streaming.
TEST_F(GrpcurlTest, DescribeShowsTheEightRpcs) {
  const CommandResult r = OnSocket({"describe", kGpuService});
  ASSERT_EQ(r.exit.exit_code, 0) << r.Describe();
  std::vector<std::string> rpcs;
  for (const std::string& line : Lines(r.out)) {
    if (!absl::StartsWith(line, "rpc ")) continue;
    absl::string_view name = absl::StripPrefix(line, "rpc ");
    rpcs.emplace_back(name.substr(0, name.find_first_of(" (")));
  }
  EXPECT_THAT(rpcs, UnorderedElementsAre("GetGpu", "ListGpus", "WatchGpus", "CreateGpu", "UpdateGpu",
                                         "UpdateGpuStatus", "DeleteGpu", "PatchGpu"))
      << r.out;
  EXPECT_THAT(r.out, HasSubstr("returns ( stream .nvidia.nvsentinel.v1alpha1.WatchGpusResponse )")) << r.out;
}

// CreateGpu, ListGpus and GetGpu round-trip a GPU in JSON.
TEST_F(GrpcurlTest, CreateListGetRoundTrip) {
  const CommandResult created =
      OnSocket({Method("CreateGpu")}, R"({"gpu":{"metadata":{"name":"gpu-1"},"spec":{"uuid":"GPU-1"}}})");
  ASSERT_EQ(created.exit.exit_code, 0) << created.Describe();
  const auto gpu = nlohmann::json::parse(created.out, nullptr, false);
  ASSERT_TRUE(gpu.is_object()) << created.out;
  ASSERT_TRUE(gpu.contains("metadata")) << created.out;
  EXPECT_EQ(gpu["metadata"].value("name", ""), "gpu-1");
  const std::string rv = ResourceVersionOf(gpu["metadata"]);
  EXPECT_FALSE(rv.empty()) << created.out;

  const CommandResult listed = OnSocket({Method("ListGpus")}, "{}");
  ASSERT_EQ(listed.exit.exit_code, 0) << listed.Describe();
  EXPECT_THAT(listed.out, HasSubstr("gpu-1"));
  const auto list = nlohmann::json::parse(listed.out, nullptr, false);
  const nlohmann::json* gpu_list = Field(list, "gpuList", "gpu_list");
  ASSERT_NE(gpu_list, nullptr) << listed.out;
  ASSERT_TRUE(gpu_list->contains("metadata")) << listed.out;
  EXPECT_FALSE(ResourceVersionOf((*gpu_list)["metadata"]).empty()) << "list without a resource version:\n"
                                                                   << listed.out;
  ASSERT_TRUE(gpu_list->contains("items") && (*gpu_list)["items"].size() == 1) << listed.out;
  const auto& item = (*gpu_list)["items"][0];
  EXPECT_EQ(item["metadata"].value("name", ""), "gpu-1");
  EXPECT_EQ(ResourceVersionOf(item["metadata"]), rv);
  EXPECT_EQ(item["spec"].value("uuid", ""), "GPU-1");

  const CommandResult got = OnSocket({Method("GetGpu")}, R"({"name":"gpu-1"})");
  ASSERT_EQ(got.exit.exit_code, 0) << got.Describe();
  const auto resp = nlohmann::json::parse(got.out, nullptr, false);
  ASSERT_TRUE(resp.is_object() && resp.contains("gpu")) << got.out;
  EXPECT_EQ(resp["gpu"]["metadata"].value("name", ""), "gpu-1");
  EXPECT_EQ(ResourceVersionOf(resp["gpu"]["metadata"]), rv);
}

// GetGpu of a name that does not exist is NotFound (grpcurl exits 64 + code 5).
TEST_F(GrpcurlTest, GetMissingGpuIsNotFound) {
  const CommandResult r = OnSocket({Method("GetGpu")}, R"({"name":"gpu-missing"})");
  ASSERT_TRUE(r.exit.exited);
  EXPECT_EQ(r.exit.exit_code, 64 + 5) << r.Describe();
  EXPECT_THAT(r.out + r.err, HasSubstr("NotFound")) << r.Describe();
  EXPECT_THAT(r.out + r.err, HasSubstr("gpu-missing")) << r.Describe();
}

// Health over grpcurl on the probe port, as an operator would call it, with the health proto
// given on the command line (see the next test for why).
TEST_F(GrpcurlTest, HealthCheckOnProbePort) {
  for (const std::string& service : {std::string(), std::string(kGpuService)}) {
    const CommandResult r =
        OnProbePort({"grpc.health.v1.Health/Check"}, R"({"service":")" + service + "\"}",
                    {"-import-path", ITEST_PROTO_DIR, "-proto", "grpc/health/v1/health.proto"});
    ASSERT_EQ(r.exit.exit_code, 0) << r.Describe();
    const auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_TRUE(j.is_object() && j.value("status", "") == "SERVING")
        << "service \"" << service << "\": " << r.out;
  }
}

// Reflection on the probe port describes every service it lists, so that
// `grpcurl -plaintext HOST:PORT grpc.health.v1.Health/Check` works without a local proto file.
TEST_F(GrpcurlTest, ProbePortReflectionDescribesHealth) {
  const CommandResult described = OnProbePort({"describe", "grpc.health.v1.Health"});
  EXPECT_EQ(described.exit.exit_code, 0) << described.Describe();
  EXPECT_THAT(described.out, HasSubstr("rpc Check")) << described.Describe();

  const CommandResult r = OnProbePort({"grpc.health.v1.Health/Check"});
  EXPECT_EQ(r.exit.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("SERVING")) << r.Describe();
}

}  // namespace
}  // namespace deviceapi::itest
