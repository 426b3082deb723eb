// Unit tests of devicectl's helpers: kubectl-compatible ages and column alignment, YAML <-> JSON,
// and decoding GPU manifests.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/context.h"
#include "cli/humanize.h"
#include "cli/manifest.h"
#include "cli/tabwriter.h"
#include "cli/yaml_json.h"

namespace deviceapi::cli {
namespace {

using ::testing::HasSubstr;

// apimachinery's duration.HumanDuration, boundary by boundary.
TEST(HumanDurationTest, MatchesKubectl) {
  EXPECT_EQ(HumanDuration(absl::Seconds(-5)), "<invalid>");
  EXPECT_EQ(HumanDuration(absl::Milliseconds(-1500)), "0s");
  EXPECT_EQ(HumanDuration(absl::ZeroDuration()), "0s");
  EXPECT_EQ(HumanDuration(absl::Seconds(119)), "119s");
  EXPECT_EQ(HumanDuration(absl::Seconds(120)), "2m");
  EXPECT_EQ(HumanDuration(absl::Seconds(190)), "3m10s");
  EXPECT_EQ(HumanDuration(absl::Minutes(25)), "25m");
  EXPECT_EQ(HumanDuration(absl::Minutes(179)), "179m");
  EXPECT_EQ(HumanDuration(absl::Minutes(183)), "3h3m");
  EXPECT_EQ(HumanDuration(absl::Hours(5)), "5h");
  EXPECT_EQ(HumanDuration(absl::Hours(20)), "20h");
  EXPECT_EQ(HumanDuration(absl::Hours(52)), "2d4h");
  EXPECT_EQ(HumanDuration(absl::Hours(72)), "3d");
  EXPECT_EQ(HumanDuration(absl::Hours(24 * 45)), "45d");
  EXPECT_EQ(HumanDuration(absl::Hours(24 * (365 * 2 + 15))), "2y15d");
  EXPECT_EQ(HumanDuration(absl::Hours(24 * 365 * 9)), "9y");
}

TEST(HumanizeTest, MemoryQuantity) {
  EXPECT_EQ(MemoryQuantity(0), "<none>");
  EXPECT_EQ(MemoryQuantity(80ULL << 30), "80Gi");
  EXPECT_EQ(MemoryQuantity(81559ULL << 20), "81559Mi");
  EXPECT_EQ(MemoryQuantity(1000), "1000");
}

// Columns are as wide as their widest cell plus 3 (at least 6); the last column is not padded.
TEST(TabWriterTest, AlignsLikeKubectl) {
  TabWriter tw = TabWriter::ForTable();
  tw.Write("NAME\tHEALTH\tAGE\n");
  tw.Write("gpu-0\thealthy\t5s\n");
  tw.Write("a-longer-name\tunknown\t3d\n");
  EXPECT_EQ(tw.Flush(),
            "NAME            HEALTH    AGE\n"
            "gpu-0           healthy   5s\n"
            "a-longer-name   unknown   3d\n");
}

// A line without cells ends a column block (describe's sections).
TEST(TabWriterTest, BlocksEndAtLinesWithoutCells) {
  TabWriter tw = TabWriter::ForDescribe();
  tw.Write("Name:\tx\nLabels:\ta=b\n\tc=d\nSpec:\n  UUID:\tGPU-1\n");
  EXPECT_EQ(tw.Flush(),
            "Name:    x\n"
            "Labels:  a=b\n"
            "         c=d\n"
            "Spec:\n"
            "  UUID:  GPU-1\n");
}

// With remembered widths (get -w), later rows never narrow a column.
TEST(TabWriterTest, RememberWidths) {
  TabWriter tw = TabWriter::ForTable();
  tw.set_remember_widths(true);
  tw.Write("NAME\tAGE\na-long-name\t1s\n");
  EXPECT_EQ(tw.Flush(), "NAME          AGE\na-long-name   1s\n");
  tw.Write("b\t2s\n");
  EXPECT_EQ(tw.Flush(), "b             2s\n");
}

// Plain scalars resolve with the core schema; quoted ones stay strings.
TEST(YamlJsonTest, ResolvesScalars) {
  auto docs = ParseDocuments("a: 1\nb: \"1\"\nc: true\nd: ~\ne: 1.5\nf: hello\ng: '0x1'\nh: -3\n");
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 1u);
  const Json& d = (*docs)[0];
  EXPECT_EQ(d["a"], 1);
  EXPECT_EQ(d["b"], "1");
  EXPECT_EQ(d["c"], true);
  EXPECT_TRUE(d["d"].is_null());
  EXPECT_EQ(d["e"], 1.5);
  EXPECT_EQ(d["f"], "hello");
  EXPECT_EQ(d["g"], "0x1");
  EXPECT_EQ(d["h"], -3);
}

TEST(YamlJsonTest, MultipleDocumentsAndErrors) {
  auto docs = ParseDocuments("---\na: 1\n---\n---\nb: 2\n");
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ(docs->size(), 2u);
  EXPECT_FALSE(ParseDocuments("a: [\n").ok());
  EXPECT_FALSE(ParseDocuments("{\"a\": }").ok());
}

// Strings that a YAML reader would take for something else are quoted; the output reads back.
// yaml-cpp's LoadAll never ends on this stream (one empty document after another, found by the
// plugin_config fuzz target); devicectl -f must fail on it, not hang.
TEST(YamlJsonTest, AStreamTheParserLoopsOnIsAnError) {
  auto docs = ParseDocuments(",-----m---\xd5---o-");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(docs.status().message()), HasSubstr("makes no progress"));
}

TEST(YamlJsonTest, ToYamlQuotesAmbiguousStrings) {
  Json v = Json::object();
  v["num"] = "123";
  v["flag"] = "true";
  v["word"] = "yes";
  v["ts"] = "2024-01-01T00:00:00Z";
  v["empty"] = "";
  v["s"] = "plain";
  v["i"] = 7;
  v["on"] = "a key that YAML 1.1 reads as a boolean";
  const std::string yaml = ToYaml(v);
  EXPECT_EQ(
      yaml,
      "num: \"123\"\nflag: \"true\"\nword: \"yes\"\nts: \"2024-01-01T00:00:00Z\"\nempty: \"\"\ns: plain\n"
      "i: 7\n\"on\": a key that YAML 1.1 reads as a boolean\n");
  auto back = ParseDocuments(yaml);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)[0], v);
}

// GPU -> document -> GPU is lossless, from YAML and from JSON, and apiVersion/kind are checked.
TEST(ManifestTest, RoundTrip) {
  v1::Gpu gpu;
  gpu.mutable_metadata()->set_name("gpu-0");
  (*gpu.mutable_metadata()->mutable_labels())["rack"] = "7";
  gpu.mutable_metadata()->set_generation(3);
  gpu.mutable_spec()->set_uuid("GPU-1");
  gpu.mutable_spec()->set_memory_bytes(85899345920ULL);
  auto* c = gpu.mutable_status()->add_conditions();
  c->set_type("Ready");
  c->set_status("True");
  c->mutable_last_transition_time()->set_seconds(1700000000);
  auto doc = GpuToDocument(gpu);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ((*doc)["apiVersion"], "device.nvidia.com/v1alpha1");
  EXPECT_EQ((*doc)["kind"], "GPU");
  EXPECT_EQ((*doc)["spec"]["memoryBytes"], 85899345920ULL);
  EXPECT_EQ(doc->begin().key(), "apiVersion");
  for (const std::string& text : {ToYaml(*doc), doc->dump(4)}) {
    auto gpus = DecodeGpus(text);
    ASSERT_TRUE(gpus.ok()) << gpus.status() << "\n" << text;
    ASSERT_EQ(gpus->size(), 1u);
    EXPECT_EQ((*gpus)[0].DebugString(), gpu.DebugString());
  }
  EXPECT_FALSE(DecodeGpus("apiVersion: v1\nkind: Pod\n").ok());
  EXPECT_FALSE(DecodeGpus("metadata:\n  name: x\n").ok());
  EXPECT_FALSE(DecodeGpus("kind: GPU\nspec:\n  bogus: 1\n").ok());
}

TEST(ContextTest, OneLineAndResources) {
  EXPECT_EQ(OneLine("a\nb\n"), "a; b");
  EXPECT_EQ(OneLine("a\tb"), "a b");
  std::string name;
  EXPECT_TRUE(ParseResource("gpus", &name).ok());
  EXPECT_TRUE(ParseResource("GPU", &name).ok());
  EXPECT_TRUE(ParseResource("gpus.device.nvidia.com", &name).ok());
  EXPECT_TRUE(ParseResource("gpu/gpu-0", &name).ok());
  EXPECT_EQ(name, "gpu-0");
  EXPECT_FALSE(ParseResource("pods", &name).ok());
}

}  // namespace
}  // namespace deviceapi::cli
