// PatchGpu: merge and JSON patches, the status subresource, preconditions
// and bad patches.
#include "conformance/fixture.h"

namespace deviceapi::testing {
namespace {

using ::grpc::StatusCode;

class Patch : public Conformance {};

// A merge patch changes labels and spec; a null removes a label.
TEST_P(Patch, MergePatch) {
  MustCreate("gpu-p1", {{"a", "1"}, {"b", "2"}});
  v1::Gpu out;
  auto s =
      PatchGpu(stub(), "gpu-p1", "application/merge-patch+json",
               R"({"metadata":{"labels":{"a":null,"c":"3"}},"spec":{"productName":"H100"}})", false, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.metadata().labels().count("a"), 0u);
  EXPECT_EQ(out.metadata().labels().at("c"), "3");
  EXPECT_EQ(out.spec().product_name(), "H100");
  EXPECT_EQ(out.metadata().generation(), 2);
}

// A JSON patch (RFC 6902) with test and replace; a failing test op is invalid.
TEST_P(Patch, JsonPatch) {
  MustCreate("gpu-p2");
  v1::Gpu out;
  auto s = PatchGpu(
      stub(), "gpu-p2", "json",
      R"([{"op":"test","path":"/spec/uuid","value":"GPU-gpu-p2"},{"op":"replace","path":"/spec/serial","value":"123"}])",
      false, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.spec().serial(), "123");
  s = PatchGpu(stub(), "gpu-p2", "json", R"([{"op":"test","path":"/spec/uuid","value":"nope"}])");
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::StartsWith("unprocessable content:"));
}

// The status subresource patches status only; the main resource ignores status.
TEST_P(Patch, StatusSubresource) {
  MustCreate("gpu-p3");
  v1::Gpu out;
  auto s = PatchGpu(
      stub(), "gpu-p3", "merge",
      R"({"status":{"conditions":[{"type":"Ready","status":"True","reason":"Ok"}]},"spec":{"serial":"x"}})",
      true, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(out.status().conditions_size(), 1);
  EXPECT_GT(out.status().conditions(0).last_transition_time().seconds(), 0);
  EXPECT_EQ(out.spec().serial(), "");
  s = PatchGpu(stub(), "gpu-p3", "merge", R"({"status":{"recommendedAction":"reboot"}})", false, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.status().recommended_action(), "");
}

// A resourceVersion inside the patch is a precondition.
TEST_P(Patch, ResourceVersionPrecondition) {
  v1::Gpu g = MustCreate("gpu-p4");
  auto s =
      PatchGpu(stub(), "gpu-p4", "merge", R"({"metadata":{"resourceVersion":"1"},"spec":{"serial":"a"}})");
  EXPECT_EQ(s.error_code(), StatusCode::ABORTED);
  s = PatchGpu(stub(), "gpu-p4", "merge",
               R"({"metadata":{"resourceVersion":")" + g.metadata().resource_version() +
                   R"("},"spec":{"serial":"a"}})");
  EXPECT_TRUE(s.ok()) << s.error_message();
}

// Unsupported patch types are INVALID_ARGUMENT "unsupported media type: ...".
TEST_P(Patch, UnsupportedType) {
  MustCreate("gpu-p5");
  for (const char* t :
       {"application/strategic-merge-patch+json", "application/apply-patch+yaml", "", "xml"}) {
    auto s = PatchGpu(stub(), "gpu-p5", t, "{}");
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << t;
    EXPECT_THAT(s.error_message(), ::testing::StartsWith("unsupported media type:")) << t;
  }
}

// Patches that break the object or are not JSON are invalid and change nothing.
TEST_P(Patch, BadPatchesChangeNothing) {
  v1::Gpu g = MustCreate("gpu-p6");
  const char* bad[] = {
      "not json",
      R"({"spec":{"memoryBytes":"lots"}})",
      R"({"spec":{"noSuchField":1}})",
      R"({"metadata":{"labels":{"bad key!":"v"}}})",
      R"({"metadata":{"name":"gpu-other"}})",
      R"({"metadata":{"uid":"changed"}})",
  };
  for (const char* p : bad) {
    auto s = PatchGpu(stub(), "gpu-p6", "merge", p);
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << p << " -> " << s.error_message();
  }
  EXPECT_EQ(MustGet("gpu-p6").metadata().resource_version(), g.metadata().resource_version());
}

// Patching a missing object is NOT_FOUND; an unknown subresource is invalid.
TEST_P(Patch, MissingAndUnknownSubresource) {
  EXPECT_EQ(PatchGpu(stub(), "gpu-none", "merge", "{}").error_code(), StatusCode::NOT_FOUND);
  MustCreate("gpu-p7");
  v1::PatchGpuRequest req;
  req.set_name("gpu-p7");
  req.set_patch_type("merge");
  req.set_data("{}");
  req.add_subresources("scale");
  grpc::ClientContext ctx;
  v1::Gpu out;
  EXPECT_EQ(stub().PatchGpu(&ctx, req, &out).error_code(), StatusCode::INVALID_ARGUMENT);
}

DEVICEAPI_CONFORMANCE_SUITE(Patch);

}  // namespace
}  // namespace deviceapi::testing
