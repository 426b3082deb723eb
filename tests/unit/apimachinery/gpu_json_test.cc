#include "apimachinery/gpu_json.h"

#include <string>

#include <gtest/gtest.h>

#include "google/protobuf/util/message_differencer.h"

namespace deviceapi::apimachinery {
namespace {

v1::Gpu SampleGpu() {
  v1::Gpu gpu;
  gpu.mutable_metadata()->set_name("gpu-0");
  gpu.mutable_metadata()->set_namespace_("default");
  gpu.mutable_metadata()->set_resource_version("17");
  gpu.mutable_metadata()->set_generation(3);
  gpu.mutable_metadata()->mutable_creation_timestamp()->set_seconds(1767225600);  // 2026-01-01
  (*gpu.mutable_metadata()->mutable_labels())["zone"] = "a";
  gpu.mutable_spec()->set_uuid("GPU-abc");
  gpu.mutable_spec()->set_memory_bytes(85899345920);
  gpu.mutable_spec()->set_numa_node(-1);
  v1::Condition* c = gpu.mutable_status()->add_conditions();
  c->set_type("Ready");
  c->set_status("True");
  c->mutable_last_transition_time()->set_seconds(1767225601);
  c->mutable_last_transition_time()->set_nanos(500000000);
  gpu.mutable_status()->set_recommended_action("NONE");
  return gpu;
}

// Output uses lowerCamelCase names and RFC 3339 timestamps.
TEST(GpuJsonTest, KubernetesFieldNames) {
  auto json = GpuToJson(SampleGpu());
  ASSERT_TRUE(json.ok()) << json.status();
  for (const char* s : {"\"resourceVersion\":\"17\"", "\"recommendedAction\":\"NONE\"",
                        "\"creationTimestamp\":\"2026-01-01T00:00:00Z\"",
                        "\"lastTransitionTime\":\"2026-01-01T00:00:01.500Z\"",
                        "\"memoryBytes\":\"85899345920\"", "\"numaNode\":-1"}) {
    EXPECT_NE(json->find(s), std::string::npos) << s << " in " << *json;
  }
  EXPECT_EQ(json->find("resource_version"), std::string::npos);
  EXPECT_EQ(json->find('\n'), std::string::npos);
}

// Pretty output is indented; emit_defaults prints zero-valued fields.
TEST(GpuJsonTest, PrettyAndDefaults) {
  v1::Gpu gpu;
  gpu.mutable_metadata()->set_name("gpu-0");
  gpu.mutable_spec();
  auto pretty = GpuToJson(gpu, /*pretty=*/true);
  ASSERT_TRUE(pretty.ok());
  EXPECT_NE(pretty->find('\n'), std::string::npos);
  EXPECT_EQ(pretty->find("minorNumber"), std::string::npos);
  auto full = GpuToJson(gpu, false, /*emit_defaults=*/true);
  ASSERT_TRUE(full.ok());
  EXPECT_NE(full->find("\"minorNumber\":0"), std::string::npos) << *full;
  EXPECT_NE(full->find("\"labels\":{}"), std::string::npos) << *full;
}

// JSON -> Gpu -> JSON round-trips to an equal message.
TEST(GpuJsonTest, RoundTrip) {
  const v1::Gpu gpu = SampleGpu();
  auto json = GpuToJson(gpu, true);
  ASSERT_TRUE(json.ok());
  auto back = GpuFromJson(*json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(gpu, *back));
}

// Proto field names and numeric 64-bit values are accepted on input.
TEST(GpuJsonTest, AcceptsProtoNames) {
  auto gpu = GpuFromJson(
      R"({"metadata":{"name":"gpu-0","resource_version":"5"},
          "spec":{"memory_bytes":1024,"pci_bus_id":"0000:01:00.0"},
          "status":{"recommended_action":"RESET","conditions":[{"type":"Ready","status":"True",
          "last_transition_time":"2026-01-01T00:00:00+01:00"}]}})");
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  EXPECT_EQ(gpu->metadata().resource_version(), "5");
  EXPECT_EQ(gpu->spec().memory_bytes(), 1024u);
  EXPECT_EQ(gpu->spec().pci_bus_id(), "0000:01:00.0");
  EXPECT_EQ(gpu->status().recommended_action(), "RESET");
  EXPECT_EQ(gpu->status().conditions(0).last_transition_time().seconds(), 1767222000);
}

// Unknown fields, wrong types, bad timestamps and malformed JSON are INVALID_ARGUMENT.
TEST(GpuJsonTest, RejectsBadInput) {
  for (const char* bad :
       {R"({"metadata":{"nam":"x"}})", R"({"spec":{"memoryBytes":"abc"}})", R"({"spec":{"numaNode":"x"}})",
        R"({"metadata":{"creationTimestamp":"yesterday"}})", R"({"metadata":)", "[]", "", "null"}) {
    auto gpu = GpuFromJson(bad);
    ASSERT_FALSE(gpu.ok()) << bad;
    EXPECT_EQ(gpu.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

// An unknown field's name appears in the error.
TEST(GpuJsonTest, UnknownFieldNamed) {
  auto gpu = GpuFromJson(R"({"spec":{"colour":"green"}})");
  ASSERT_FALSE(gpu.ok());
  EXPECT_NE(std::string(gpu.status().message()).find("colour"), std::string::npos) << gpu.status();
}

// A timestamp JSON cannot represent fails cleanly on output.
TEST(GpuJsonTest, UnrepresentableTimestamp) {
  v1::Gpu gpu;
  gpu.mutable_metadata()->mutable_creation_timestamp()->set_seconds(-99999999999999);
  auto json = GpuToJson(gpu);
  ASSERT_FALSE(json.ok());
  EXPECT_EQ(json.status().code(), absl::StatusCode::kInvalidArgument);
}

// The generic helpers work for other messages.
TEST(GpuJsonTest, GenericMessages) {
  v1::ListOptions opts;
  opts.set_label_selector("a=b");
  opts.set_limit(10);
  auto json = MessageToJson(opts);
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(*json, R"({"labelSelector":"a=b","limit":"10"})");
  auto back = MessageFromJson<v1::ListOptions>(*json);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->limit(), 10);
}

}  // namespace
}  // namespace deviceapi::apimachinery
