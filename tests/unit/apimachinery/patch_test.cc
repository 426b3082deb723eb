#include "apimachinery/patch.h"

#include <string>

#include <gtest/gtest.h>

#include "google/protobuf/util/message_differencer.h"

namespace deviceapi::apimachinery {
namespace {

v1::Gpu Current() {
  v1::Gpu gpu;
  gpu.mutable_metadata()->set_name("gpu-0");
  gpu.mutable_metadata()->set_namespace_("default");
  gpu.mutable_metadata()->set_resource_version("7");
  (*gpu.mutable_metadata()->mutable_labels())["zone"] = "a";
  (*gpu.mutable_metadata()->mutable_labels())["tier"] = "gold";
  gpu.mutable_spec()->set_uuid("GPU-abc");
  gpu.mutable_spec()->set_product_name("H100");
  v1::Condition* c = gpu.mutable_status()->add_conditions();
  c->set_type("Ready");
  c->set_status("True");
  return gpu;
}

void ExpectUnprocessable(const absl::StatusOr<v1::Gpu>& r) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(r.status().message()).rfind("unprocessable content: ", 0), 0u) << r.status();
}

// Both media types and their aliases are recognised.
TEST(PatchTest, ParsePatchType) {
  EXPECT_EQ(*ParsePatchType("application/merge-patch+json"), PatchType::kMerge);
  EXPECT_EQ(*ParsePatchType("merge"), PatchType::kMerge);
  EXPECT_EQ(*ParsePatchType("application/json-patch+json"), PatchType::kJson);
  EXPECT_EQ(*ParsePatchType("json"), PatchType::kJson);
}

// Other types are INVALID_ARGUMENT starting "unsupported media type: <type>".
TEST(PatchTest, UnsupportedType) {
  for (const char* t :
       {"application/strategic-merge-patch+json", "application/apply-patch+yaml", "", "MERGE"}) {
    auto r = ParsePatchType(t);
    ASSERT_FALSE(r.ok()) << t;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string m(r.status().message());
    EXPECT_EQ(m.rfind(std::string("unsupported media type: ") + t, 0), 0u) << m;
    EXPECT_NE(m.find("application/merge-patch+json"), std::string::npos) << m;
  }
}

// A merge patch sets fields and leaves the rest alone.
TEST(PatchTest, MergeSetsFields) {
  auto r = ApplyPatch(Current(), PatchType::kMerge,
                      R"({"metadata":{"labels":{"zone":"b"}},"spec":{"memoryBytes":1024}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->metadata().labels().at("zone"), "b");
  EXPECT_EQ(r->metadata().labels().at("tier"), "gold");
  EXPECT_EQ(r->spec().memory_bytes(), 1024u);
  EXPECT_EQ(r->spec().product_name(), "H100");
  EXPECT_EQ(r->status().conditions_size(), 1);
}

// null in a merge patch removes map entries and fields.
TEST(PatchTest, MergeNullRemoves) {
  auto r = ApplyPatch(Current(), PatchType::kMerge,
                      R"({"metadata":{"labels":{"tier":null}},"spec":{"productName":null}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->metadata().labels().size(), 1u);
  EXPECT_EQ(r->metadata().labels().count("tier"), 0u);
  EXPECT_EQ(r->spec().product_name(), "");
}

// A merge patch replaces lists wholesale (RFC 7386).
TEST(PatchTest, MergeReplacesLists) {
  auto r = ApplyPatch(Current(), PatchType::kMerge,
                      R"({"status":{"conditions":[{"type":"NVMLReady","status":"False"}]}})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status().conditions_size(), 1);
  EXPECT_EQ(r->status().conditions(0).type(), "NVMLReady");
}

// An empty merge patch yields an object equal to the current one.
TEST(PatchTest, EmptyPatchIsNoOp) {
  for (const v1::Gpu& cur : {Current(), v1::Gpu()}) {
    auto r = ApplyPatch(cur, PatchType::kMerge, "{}");
    ASSERT_TRUE(r.ok()) << r.status();
    // Equals also compares the presence of sub-messages (metadata, spec, status).
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*r, cur));
    EXPECT_EQ(r->has_status(), cur.has_status());
  }
}

// JSON patch add, replace (also of a zero-valued field) and remove work.
TEST(PatchTest, JsonAddReplaceRemove) {
  auto r = ApplyPatch(Current(), PatchType::kJson, R"([
      {"op":"add","path":"/metadata/labels/new","value":"x"},
      {"op":"replace","path":"/spec/productName","value":"B200"},
      {"op":"replace","path":"/spec/minorNumber","value":3},
      {"op":"remove","path":"/metadata/labels/zone"},
      {"op":"add","path":"/status/conditions/-","value":{"type":"Fan","status":"Unknown"}}])");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->metadata().labels().at("new"), "x");
  EXPECT_EQ(r->metadata().labels().count("zone"), 0u);
  EXPECT_EQ(r->spec().product_name(), "B200");
  EXPECT_EQ(r->spec().minor_number(), 3);
  ASSERT_EQ(r->status().conditions_size(), 2);
  EXPECT_EQ(r->status().conditions(1).type(), "Fan");
}

// Replacing a field of a status that was never set works.
TEST(PatchTest, JsonReplaceInAbsentSubmessage) {
  v1::Gpu cur;
  cur.mutable_metadata()->set_name("gpu-0");
  auto r = ApplyPatch(cur, PatchType::kJson,
                      R"([{"op":"replace","path":"/status/recommendedAction","value":"RESET"}])");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status().recommended_action(), "RESET");
}

// A passing test op lets the patch apply; a failing one rejects it.
TEST(PatchTest, JsonTestOp) {
  auto ok = ApplyPatch(Current(), PatchType::kJson, R"([
      {"op":"test","path":"/metadata/resourceVersion","value":"7"},
      {"op":"replace","path":"/spec/productName","value":"X"}])");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->spec().product_name(), "X");
  ExpectUnprocessable(ApplyPatch(Current(), PatchType::kJson, R"([
      {"op":"test","path":"/metadata/resourceVersion","value":"6"},
      {"op":"replace","path":"/spec/productName","value":"X"}])"));
}

// Operations on missing paths and malformed operations are rejected.
TEST(PatchTest, JsonBadOperations) {
  ExpectUnprocessable(
      ApplyPatch(Current(), PatchType::kJson, R"([{"op":"remove","path":"/metadata/labels/nope"}])"));
  ExpectUnprocessable(
      ApplyPatch(Current(), PatchType::kJson, R"([{"op":"replace","path":"/spec/nope/deeper","value":1}])"));
  ExpectUnprocessable(ApplyPatch(Current(), PatchType::kJson, R"([{"op":"frobnicate","path":"/"}])"));
  ExpectUnprocessable(ApplyPatch(Current(), PatchType::kJson, R"([{"path":"/spec"}])"));
  ExpectUnprocessable(ApplyPatch(Current(), PatchType::kJson, R"({"op":"add"})"));
}

// Malformed JSON is rejected for both patch types.
TEST(PatchTest, MalformedJson) {
  for (PatchType t : {PatchType::kMerge, PatchType::kJson}) {
    for (const char* bad : {"", "{", "{\"spec\":", "not json", "[1,]", "{\"a\":1}}"}) {
      ExpectUnprocessable(ApplyPatch(Current(), t, bad));
    }
  }
}

// A patch that yields a value of the wrong type is rejected.
TEST(PatchTest, WrongTypeResult) {
  ExpectUnprocessable(ApplyPatch(Current(), PatchType::kMerge, R"({"spec":{"memoryBytes":"abc"}})"));
  ExpectUnprocessable(ApplyPatch(Current(), PatchType::kMerge, R"({"spec":"nope"})"));
  ExpectUnprocessable(ApplyPatch(Current(), PatchType::kMerge, R"([1,2])"));
  ExpectUnprocessable(ApplyPatch(Current(), PatchType::kJson, R"([{"op":"replace","path":"","value":5}])"));
}

// A patch that introduces an unknown field is rejected and names it.
TEST(PatchTest, UnknownField) {
  auto r = ApplyPatch(Current(), PatchType::kMerge, R"({"spec":{"colour":"green"}})");
  ExpectUnprocessable(r);
  EXPECT_NE(std::string(r.status().message()).find("colour"), std::string::npos) << r.status();
}

// Absurdly deep documents are refused before they reach the recursive JSON code.
TEST(PatchTest, DeepNestingRefused) {
  std::string deep = "{\"metadata\":" + std::string(10000, '[') + std::string(10000, ']') + "}";
  ExpectUnprocessable(ApplyPatch(Current(), PatchType::kMerge, deep));
}

// Non-UTF-8 bytes do not escape as exceptions.
TEST(PatchTest, InvalidUtf8) {
  ExpectUnprocessable(ApplyPatch(Current(), PatchType::kMerge, "{\"spec\":{\"productName\":\"\xff\xfe\"}}"));
}

}  // namespace
}  // namespace deviceapi::apimachinery
