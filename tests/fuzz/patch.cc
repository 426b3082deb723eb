// Fuzz target: ApplyPatch (apimachinery/patch.h), JSON merge patch and JSON patch, on a valid Gpu.
//
// Input: one byte (bit 0: merge or JSON patch; bit 1: which of two GPUs), then the patch document.
// Properties: never crashes or throws; a failure is INVALID_ARGUMENT; a result serializes (binary
// and JSON) and parses back equal; the merge patch {} leaves the result unchanged.
#include <string>

#include <google/protobuf/util/message_differencer.h>

#include "apimachinery/gpu_json.h"
#include "apimachinery/patch.h"
#include "fuzz_check.h"

namespace am = ::deviceapi::apimachinery;
namespace v1 = ::nvidia::nvsentinel::v1alpha1;
using deviceapi::fuzz::FuzzInput;
using google::protobuf::util::MessageDifferencer;

namespace {

v1::Gpu Base(bool full) {
  v1::Gpu gpu;
  auto* md = gpu.mutable_metadata();
  md->set_name("gpu-0");
  md->set_namespace_("default");
  md->set_resource_version("42");
  md->set_uid("1b4e28ba-2fa1-41d2-883f-0016d3cca427");
  md->set_generation(3);
  md->mutable_creation_timestamp()->set_seconds(1700000000);
  if (!full) return gpu;
  (*md->mutable_labels())["pool"] = "a";
  (*md->mutable_annotations())["note"] = "x";
  auto* spec = gpu.mutable_spec();
  spec->set_uuid("GPU-1b4e28ba-2fa1-11d2-883f-0016d3cca427");
  spec->set_product_name("NVIDIA H100");
  spec->set_memory_bytes(85899345920ULL);
  spec->set_numa_node(-1);
  auto* c = gpu.mutable_status()->add_conditions();
  c->set_type("NVMLReady");
  c->set_status("False");
  c->set_reason("XID79");
  c->set_message("fell off the bus");
  c->set_observed_generation(3);
  c->mutable_last_transition_time()->set_seconds(1700000100);
  c->mutable_last_heartbeat_time()->set_seconds(1700000200);
  gpu.mutable_status()->set_recommended_action("RESET_GPU");
  return gpu;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const v1::Gpu kBases[2] = {Base(false), Base(true)};
  FuzzInput in(data, size);
  const uint8_t mode = in.Byte();
  const am::PatchType type = mode & 1 ? am::PatchType::kJson : am::PatchType::kMerge;
  const v1::Gpu& base = kBases[(mode >> 1) & 1];
  const std::string doc(in.Rest());

  auto patched = am::ApplyPatch(base, type, doc);
  if (!patched.ok()) {
    FUZZ_CHECK(patched.status().code() == absl::StatusCode::kInvalidArgument, "%s",
               patched.status().ToString().c_str());
    return 0;
  }
  std::string bytes;
  FUZZ_CHECK(patched->SerializeToString(&bytes), "the patched Gpu does not serialize");
  v1::Gpu reparsed;
  FUZZ_CHECK(reparsed.ParseFromString(bytes), "the patched Gpu's bytes do not parse");
  FUZZ_CHECK(MessageDifferencer::Equals(reparsed, *patched), "binary round trip differs");
  auto json = am::GpuToJson(*patched);
  FUZZ_CHECK(json.ok(), "the patched Gpu has no JSON form: %s", json.status().ToString().c_str());
  auto from_json = am::GpuFromJson(*json);
  FUZZ_CHECK(from_json.ok(), "the patched Gpu's JSON %s does not parse back: %s", json->c_str(),
             from_json.status().ToString().c_str());
  FUZZ_CHECK(MessageDifferencer::Equals(*from_json, *patched), "JSON round trip differs: %s", json->c_str());

  auto same = am::ApplyPatch(*patched, am::PatchType::kMerge, "{}");
  FUZZ_CHECK(same.ok(), "merge patch {} failed: %s", same.status().ToString().c_str());
  FUZZ_CHECK(MessageDifferencer::Equals(*same, *patched), "merge patch {} changed %s", json->c_str());
  return 0;
}
