#include "apimachinery/validation.h"

#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace deviceapi::apimachinery {
namespace {

v1::Gpu ValidGpu() {
  v1::Gpu gpu;
  gpu.mutable_metadata()->set_name("gpu-a1b2c3d4-0000-1111-2222-333344445555");
  gpu.mutable_metadata()->set_namespace_("default");
  gpu.mutable_spec()->set_uuid("GPU-a1b2c3d4-0000-1111-2222-333344445555");
  v1::Condition* c = gpu.mutable_status()->add_conditions();
  c->set_type("NVMLReady");
  c->set_status("True");
  c->set_reason("DriverLoaded");
  return gpu;
}

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// Lowercase DNS subdomains and GPU-/MIG- UUID forms are valid names.
TEST(ValidationTest, GoodNames) {
  for (const char* name :
       {"gpu-a1b2c3d4-0000-1111-2222-333344445555", "gpu0", "a", "0", "node-1.gpu-0",
        "GPU-A1B2C3D4-0000-1111-2222-333344445555", "GPU-6a0b7c5d-1e2f", "GPU-abc", "MIG-0a1b-FF"}) {
    EXPECT_TRUE(ValidateObjectName(name).ok()) << name << ": " << ValidateObjectName(name);
  }
  EXPECT_TRUE(ValidateObjectName(std::string(253, 'a')).ok());
}

// Empty, slashes, "..", spaces, upper case outside GPU-, and over-long names are invalid.
TEST(ValidationTest, BadNames) {
  for (std::string name : {std::string(""), std::string("a/b"), std::string(".."), std::string("../etc"),
                           std::string("has space"), std::string("UPPER"), std::string("GPU-"),
                           std::string("GPU-xyz"), std::string("GPU-12/3"), std::string("gpu-"),
                           std::string("-gpu"), std::string("a..b"), std::string("Gpu-abc"),
                           std::string("GPU-12 34"), std::string(254, 'a'), "GPU-" + std::string(250, 'a')}) {
    absl::Status s = ValidateObjectName(name);
    ASSERT_FALSE(s.ok()) << name;
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_NE(Msg(s).find("metadata.name"), std::string::npos) << s;
  }
}

// The invalid-name message follows the Kubernetes wording.
TEST(ValidationTest, BadNameMessage) {
  EXPECT_EQ(Msg(ValidateObjectName("")),
            "GPU.device.nvidia.com \"\" is invalid: metadata.name: Required value: name is "
            "required");
  const std::string m = Msg(ValidateObjectName("A/B"));
  EXPECT_EQ(m.rfind("GPU.device.nvidia.com \"A/B\" is invalid: metadata.name: Invalid value: "
                    "\"A/B\": a lowercase RFC 1123 subdomain must consist of",
                    0),
            0u)
      << m;
}

// Namespaces are DNS-1123 labels of at most 63 characters.
TEST(ValidationTest, Namespaces) {
  EXPECT_TRUE(ValidateNamespace("default").ok());
  EXPECT_TRUE(ValidateNamespace("kube-system").ok());
  EXPECT_TRUE(ValidateNamespace(std::string(63, 'n')).ok());
  for (std::string ns : {std::string(""), std::string("a.b"), std::string("Default"), std::string("a/b"),
                         std::string(64, 'n'), std::string("-a")}) {
    absl::Status s = ValidateNamespace(ns);
    ASSERT_FALSE(s.ok()) << ns;
    EXPECT_NE(Msg(s).find("metadata.namespace"), std::string::npos) << s;
  }
}

// Label keys are qualified names and values valid label values.
TEST(ValidationTest, Labels) {
  google::protobuf::Map<std::string, std::string> good;
  good["app"] = "x";
  good["example.com/tier"] = "Gold_1.a-b";
  good["empty"] = "";
  EXPECT_TRUE(ValidateLabels(good, "metadata.labels").empty());

  for (const char* key : {"-a", "a/b/c", "/a", "a/", "Example.com/a", "a b",
                          "0123456789012345678901234567890123456789012345678901234567890123x"}) {
    google::protobuf::Map<std::string, std::string> m;
    m[key] = "v";
    auto errs = ValidateLabels(m, "metadata.labels");
    ASSERT_EQ(errs.size(), 1u) << key;
    EXPECT_EQ(errs[0].field, "metadata.labels") << key;
  }
  for (std::string value : {std::string("-v"), std::string("a b"), std::string("v/"), std::string(64, 'v')}) {
    google::protobuf::Map<std::string, std::string> m;
    m["k"] = value;
    auto errs = ValidateLabels(m, "metadata.labels");
    ASSERT_EQ(errs.size(), 1u) << value;
    EXPECT_EQ(errs[0].field, "metadata.labels[k]") << value;
  }
}

// Annotation keys are checked; annotation values are free-form.
TEST(ValidationTest, Annotations) {
  google::protobuf::Map<std::string, std::string> m;
  m["example.com/note"] = "any text / with spaces: and \"quotes\"";
  EXPECT_TRUE(ValidateAnnotations(m, "metadata.annotations").empty());
  m["bad key"] = "x";
  auto errs = ValidateAnnotations(m, "metadata.annotations");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "metadata.annotations");
}

// A complete, well-formed GPU is valid.
TEST(ValidationTest, ValidGpu) {
  EXPECT_TRUE(ValidateGpu(ValidGpu(), Limits{}).ok()) << ValidateGpu(ValidGpu(), Limits{});
}

// 10,000 valid labels beyond 256 KiB in total make the object invalid.
TEST(ValidationTest, MetadataTooLarge) {
  v1::Gpu gpu = ValidGpu();
  auto& labels = *gpu.mutable_metadata()->mutable_labels();
  for (int i = 0; i < 10000; ++i) labels[absl::StrCat("key-", i)] = std::string(30, 'v');
  absl::Status s = ValidateGpu(gpu, Limits{});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(Msg(s).find("metadata: Too long: must have at most 262144 bytes"), std::string::npos) << s;
}

// Annotations count towards the same metadata budget, which is configurable.
TEST(ValidationTest, AnnotationsCountTowardsBudget) {
  v1::Gpu gpu = ValidGpu();
  (*gpu.mutable_metadata()->mutable_annotations())["note"] = std::string(100, 'x');
  Limits small;
  small.max_metadata_bytes = 100;
  EXPECT_FALSE(ValidateGpu(gpu, small).ok());
  small.max_metadata_bytes = 104;
  EXPECT_TRUE(ValidateGpu(gpu, small).ok());
}

// More than max_conditions conditions is "Too many".
TEST(ValidationTest, TooManyConditions) {
  v1::GpuStatus status;
  for (int i = 0; i < 65; ++i) {
    v1::Condition* c = status.add_conditions();
    c->set_type(absl::StrCat("Cond", i));
    c->set_status("True");
  }
  auto errs = ValidateConditions(status, Limits{});
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].ToString(), "status.conditions: Too many: 65: must have at most 64 items");
  status.mutable_conditions()->RemoveLast();
  EXPECT_TRUE(ValidateConditions(status, Limits{}).empty());
}

// Condition types are required, qualified and unique; statuses True/False/Unknown only.
TEST(ValidationTest, ConditionTypesAndStatuses) {
  v1::GpuStatus status;
  auto add = [&](std::string type, std::string st) {
    v1::Condition* c = status.add_conditions();
    c->set_type(type);
    c->set_status(st);
  };
  add("Ready", "True");
  add("Ready", "False");    // duplicate
  add("", "True");          // missing type
  add("bad type", "True");  // not a qualified name
  add("Other", "true");     // wrong case
  add("Third", "");         // missing status
  auto errs = ValidateConditions(status, Limits{});
  ASSERT_EQ(errs.size(), 5u);
  EXPECT_EQ(errs[0].ToString(), "status.conditions[1].type: Duplicate value: \"Ready\"");
  EXPECT_EQ(errs[1].ToString(), "status.conditions[2].type: Required value");
  EXPECT_EQ(errs[2].field, "status.conditions[3].type");
  EXPECT_EQ(errs[3].ToString(),
            "status.conditions[4].status: Unsupported value: \"true\": supported values: "
            "\"False\", \"True\", \"Unknown\"");
  EXPECT_EQ(errs[4].ToString(), "status.conditions[5].status: Required value");
}

// Reasons follow the CamelCase rule; lengths and observedGeneration are bounded.
TEST(ValidationTest, ConditionFields) {
  auto one = [](auto mutate) {
    v1::GpuStatus status;
    v1::Condition* c = status.add_conditions();
    c->set_type("Ready");
    c->set_status("Unknown");
    mutate(c, &status);
    return ValidateConditions(status, Limits{});
  };
  for (const char* ok : {"", "A", "Driver_Loaded", "a1:b,c_"}) {
    EXPECT_TRUE(one([&](v1::Condition* c, v1::GpuStatus*) { c->set_reason(ok); }).empty()) << ok;
  }
  for (const char* bad : {"1Driver", "Driver Loaded", "Driver:", "Driver-Loaded", "_x"}) {
    auto errs = one([&](v1::Condition* c, v1::GpuStatus*) { c->set_reason(bad); });
    ASSERT_EQ(errs.size(), 1u) << bad;
    EXPECT_EQ(errs[0].field, "status.conditions[0].reason");
  }
  EXPECT_EQ(one([](v1::Condition* c, v1::GpuStatus*) { c->set_reason("A" + std::string(1024, 'a')); }).size(),
            1u);
  EXPECT_EQ(
      one([](v1::Condition* c, v1::GpuStatus*) { c->set_message(std::string(32769, 'm')); }).at(0).field,
      "status.conditions[0].message");
  EXPECT_TRUE(one([](v1::Condition* c, v1::GpuStatus*) { c->set_message(std::string(32768, 'm')); }).empty());
  EXPECT_EQ(one([](v1::Condition* c, v1::GpuStatus*) { c->set_observed_generation(-1); }).at(0).field,
            "status.conditions[0].observedGeneration");
  EXPECT_EQ(one([](v1::Condition*, v1::GpuStatus* s) { s->set_recommended_action(std::string(1025, 'r')); })
                .at(0)
                .field,
            "status.recommendedAction");
  EXPECT_EQ(one([](v1::Condition* c, v1::GpuStatus*) { c->mutable_last_transition_time()->set_nanos(-1); })
                .at(0)
                .field,
            "status.conditions[0].lastTransitionTime");
}

// Spec strings are bounded and the uuid must be printable ASCII.
TEST(ValidationTest, SpecBounds) {
  v1::Gpu gpu = ValidGpu();
  gpu.mutable_spec()->set_uuid(std::string(257, 'a'));
  EXPECT_NE(Msg(ValidateGpu(gpu, Limits{})).find("spec.uuid: Too long"), std::string::npos);
  gpu = ValidGpu();
  gpu.mutable_spec()->set_uuid("GPU-\n1");
  EXPECT_NE(Msg(ValidateGpu(gpu, Limits{})).find("spec.uuid: Invalid value"), std::string::npos);
  gpu = ValidGpu();
  gpu.mutable_spec()->set_product_name(std::string(1025, 'p'));
  EXPECT_NE(Msg(ValidateGpu(gpu, Limits{})).find("spec.productName: Too long"), std::string::npos);
}

// ValidateGpu reports every problem in one INVALID_ARGUMENT naming the object.
TEST(ValidationTest, GpuCollectsAllErrors) {
  v1::Gpu gpu = ValidGpu();
  gpu.mutable_metadata()->set_name("Bad/Name");
  gpu.mutable_metadata()->set_namespace_("");
  (*gpu.mutable_metadata()->mutable_labels())["k"] = "-bad";
  gpu.mutable_status()->mutable_conditions(0)->set_status("Maybe");
  absl::Status s = ValidateGpu(gpu, Limits{});
  ASSERT_FALSE(s.ok());
  const std::string m = Msg(s);
  EXPECT_EQ(m.rfind("GPU.device.nvidia.com \"Bad/Name\" is invalid: metadata.name: ", 0), 0u) << m;
  for (const char* field : {"metadata.namespace: Required value", "metadata.labels[k]: Invalid",
                            "status.conditions[0].status: Unsupported value"}) {
    EXPECT_NE(m.find(field), std::string::npos) << field << " in " << m;
  }
}

}  // namespace
}  // namespace deviceapi::apimachinery
