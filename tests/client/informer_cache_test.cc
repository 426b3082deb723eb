// The informer's building blocks without a server: the indexed store, the lister, RV ordering
// and the reflector's backoff.
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "client/reflector.h"
#include "deviceapi/indexer.h"
#include "deviceapi/lister.h"
#include "testutil/test_server.h"

namespace {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

deviceapi::GpuPtr Gpu(const std::string& name, const std::string& ns,
                      const std::map<std::string, std::string>& labels, const std::string& rv = "1") {
  v1::Gpu g = deviceapi::testing::MakeGpu(name, labels, ns);
  g.mutable_metadata()->set_resource_version(rv);
  return std::make_shared<const v1::Gpu>(std::move(g));
}

std::vector<std::string> Names(const std::vector<deviceapi::GpuPtr>& objs) {
  std::vector<std::string> out;
  for (const auto& o : objs) out.push_back(o->metadata().name());
  return out;
}

// Keys are "<ns>/<name>", an empty namespace counting as "default".
TEST(Indexer, KeysDefaultTheNamespace) {
  EXPECT_EQ(deviceapi::ObjectKey("", "gpu-a"), "default/gpu-a");
  EXPECT_EQ(deviceapi::ObjectKey("x", "gpu-a"), "x/gpu-a");
  EXPECT_EQ(deviceapi::ObjectKey(*Gpu("gpu-a", "", {})), "default/gpu-a");
}

// The built-in namespace and name indexes follow upserts, replacements and removals.
TEST(Indexer, IndexesFollowChanges) {
  deviceapi::Indexer idx;
  EXPECT_EQ(idx.Upsert(Gpu("gpu-a", "ns1", {})), nullptr);
  idx.Upsert(Gpu("gpu-b", "ns1", {}));
  idx.Upsert(Gpu("gpu-a", "ns2", {}));
  EXPECT_EQ(idx.Size(), 3u);
  EXPECT_THAT(Names(*idx.ByIndex(deviceapi::kNamespaceIndex, "ns1")), ElementsAre("gpu-a", "gpu-b"));
  EXPECT_THAT(*idx.IndexKeys(deviceapi::kNameIndex, "gpu-a"), ElementsAre("ns1/gpu-a", "ns2/gpu-a"));
  EXPECT_THAT(idx.ListIndexFuncValues(deviceapi::kNamespaceIndex), ElementsAre("ns1", "ns2"));

  deviceapi::GpuPtr old = idx.Upsert(Gpu("gpu-b", "ns1", {}, "7"));
  ASSERT_NE(old, nullptr);
  EXPECT_EQ(old->metadata().resource_version(), "1");
  EXPECT_EQ(idx.Get("ns1", "gpu-b")->metadata().resource_version(), "7");

  EXPECT_NE(idx.Remove("ns1/gpu-a"), nullptr);
  EXPECT_EQ(idx.Remove("ns1/gpu-a"), nullptr);
  EXPECT_THAT(Names(*idx.ByIndex(deviceapi::kNamespaceIndex, "ns1")), ElementsAre("gpu-b"));
  EXPECT_THAT(*idx.IndexKeys(deviceapi::kNameIndex, "gpu-a"), ElementsAre("ns2/gpu-a"));

  idx.Replace({Gpu("gpu-z", "ns3", {})});
  EXPECT_THAT(idx.ListKeys(), ElementsAre("ns3/gpu-z"));
  EXPECT_THAT(*idx.ByIndex(deviceapi::kNamespaceIndex, "ns1"), IsEmpty());
  EXPECT_THAT(idx.ListIndexFuncValues(deviceapi::kNamespaceIndex), ElementsAre("ns3"));
  EXPECT_EQ(idx.ByIndex("nope", "x").status().code(), absl::StatusCode::kNotFound);
}

// A custom indexer added later indexes the objects already stored; a taken name is refused.
TEST(Indexer, CustomIndexerAddedLater) {
  deviceapi::Indexer idx;
  idx.Upsert(Gpu("gpu-a", "", {{"rack", "r1"}}));
  idx.Upsert(Gpu("gpu-b", "", {{"rack", "r2"}}));
  idx.Upsert(Gpu("gpu-c", "", {}));
  auto by_rack = [](const v1::Gpu& g) -> std::vector<std::string> {
    auto it = g.metadata().labels().find("rack");
    if (it == g.metadata().labels().end()) return {};
    return {it->second};
  };
  ASSERT_TRUE(idx.AddIndexers({{"rack", by_rack}}).ok());
  EXPECT_THAT(Names(*idx.ByIndex("rack", "r1")), ElementsAre("gpu-a"));
  idx.Upsert(Gpu("gpu-c", "", {{"rack", "r1"}}));
  EXPECT_THAT(Names(*idx.ByIndex("rack", "r1")), ElementsAre("gpu-a", "gpu-c"));
  EXPECT_EQ(idx.AddIndexers({{"rack", by_rack}}).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(idx.IndexNames(), ElementsAre("name", "namespace", "rack"));
}

// The lister filters by namespace and label selector and answers NotFound like the server.
TEST(Lister, ListAndGet) {
  auto idx = std::make_shared<deviceapi::Indexer>();
  idx->Upsert(Gpu("gpu-a", "", {{"env", "prod"}}));
  idx->Upsert(Gpu("gpu-b", "", {{"env", "dev"}}));
  idx->Upsert(Gpu("gpu-c", "other", {{"env", "prod"}}));
  deviceapi::GpuLister lister(idx);
  EXPECT_THAT(Names(*lister.List()), ElementsAre("gpu-a", "gpu-b", "gpu-c"));
  EXPECT_THAT(Names(*lister.List("env=prod")), ElementsAre("gpu-a", "gpu-c"));
  EXPECT_THAT(Names(*lister.List("env notin (prod)")), ElementsAre("gpu-b"));
  EXPECT_THAT(Names(*lister.Gpus("other").List()), ElementsAre("gpu-c"));
  EXPECT_THAT(Names(*lister.Gpus("").List("env=prod")), ElementsAre("gpu-a"));
  EXPECT_EQ(lister.List("env in (").status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(lister.Get("gpu-b").ok());
  auto missing = lister.Get("gpu-c");  // lives in "other", not "default"
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "gpus.device.nvidia.com \"gpu-c\" not found");
  EXPECT_TRUE(lister.Gpus("other").Get("gpu-c").ok());
}

// RVs compare as numbers; "" is older than everything.
TEST(Reflector, ResourceVersionOrder) {
  using deviceapi::client::ResourceVersionNewer;
  EXPECT_TRUE(ResourceVersionNewer("10", "9"));
  EXPECT_FALSE(ResourceVersionNewer("9", "10"));
  EXPECT_FALSE(ResourceVersionNewer("10", "10"));
  EXPECT_TRUE(ResourceVersionNewer("1", ""));
  EXPECT_FALSE(ResourceVersionNewer("", "1"));
}

// Backoff: 800 ms doubling to a 30 s cap, jitter within [1, 1 + jitter), reset after health.
TEST(Reflector, BackoffDoublesCapsAndResets) {
  deviceapi::ReflectorOptions o;
  o.backoff_jitter = 0;
  deviceapi::client::BackoffManager b(o, 1);
  absl::Time t = absl::FromUnixSeconds(1000);
  std::vector<int64_t> ms;
  for (int i = 0; i < 8; ++i) ms.push_back(absl::ToInt64Milliseconds(b.Next(t += absl::Seconds(1))));
  EXPECT_THAT(ms, ElementsAre(800, 1600, 3200, 6400, 12800, 25600, 30000, 30000));
  EXPECT_EQ(b.Next(t += absl::Minutes(3)), absl::Milliseconds(800));  // healthy for > 2 min

  o.backoff_jitter = 1.0;
  deviceapi::client::BackoffManager j(o, 42);
  for (int i = 0; i < 20; ++i) {
    absl::Duration d = j.Next(t += absl::Seconds(1));
    EXPECT_GE(d, absl::Milliseconds(800));
    EXPECT_LT(d, absl::Seconds(60));
  }
}

}  // namespace
