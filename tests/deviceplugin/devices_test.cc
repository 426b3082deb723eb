// devices.cc: replica IDs, the GPUs from the Device API's objects, and the advertised resources.
#include "deviceplugin/devices.h"

#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace deviceapi::deviceplugin {
namespace {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;
using ::testing::ElementsAre;

v1::Gpu ApiGpu(const std::string& name, const std::string& uuid, const std::string& pci, int minor,
               int numa) {
  v1::Gpu g;
  g.mutable_metadata()->set_name(name);
  g.mutable_spec()->set_uuid(uuid);
  g.mutable_spec()->set_pci_bus_id(pci);
  g.mutable_spec()->set_minor_number(minor);
  g.mutable_spec()->set_numa_node(numa);
  return g;
}

// `n` GPUs GPU-0.. with index i, minor i, NUMA node i / 2.
std::vector<Gpu> Gpus(int n) {
  std::vector<Gpu> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(Gpu{"GPU-" + std::to_string(i), "gpu-" + std::to_string(i), i, i, i / 2, true});
  }
  return out;
}

std::vector<std::string> Ids(const ResourceState& r) {
  std::vector<std::string> out;
  for (const Device& d : r.devices) out.push_back(d.id);
  return out;
}

std::vector<std::string> Uuids(const ResourceState& r) {
  std::vector<std::string> out;
  for (const Gpu& g : r.gpus) out.push_back(g.uuid);
  return out;
}

std::vector<std::string> Names(const std::vector<ResourceState>& rs) {
  std::vector<std::string> out;
  for (const ResourceState& r : rs) out.push_back(r.name);
  return out;
}

PluginConfig Sharing(int replicas, DeviceSelector devices = {}, bool rename_by_default = false,
                     const std::string& rename = "") {
  PluginConfig c;
  c.time_slicing.rename_by_default = rename_by_default;
  c.time_slicing.resources.push_back(
      ReplicatedResource{std::string(kGpuResource), rename, replicas, devices});
  return c;
}

TEST(SplitReplicaId, SplitsOnTheSeparator) {
  EXPECT_EQ(SplitReplicaId("GPU-abc::3"), (std::pair<std::string_view, int>{"GPU-abc", 3}));
  EXPECT_EQ(SplitReplicaId("GPU-abc::12"), (std::pair<std::string_view, int>{"GPU-abc", 12}));
  EXPECT_EQ(SplitReplicaId("0::0"), (std::pair<std::string_view, int>{"0", 0}));
}

TEST(SplitReplicaId, NoOrBadReplicaIsTheWholeId) {
  EXPECT_EQ(SplitReplicaId("GPU-abc"), (std::pair<std::string_view, int>{"GPU-abc", -1}));
  EXPECT_EQ(SplitReplicaId("GPU-abc::"), (std::pair<std::string_view, int>{"GPU-abc::", -1}));
  EXPECT_EQ(SplitReplicaId("GPU-abc::x"), (std::pair<std::string_view, int>{"GPU-abc::x", -1}));
  EXPECT_EQ(SplitReplicaId("GPU-abc::1x"), (std::pair<std::string_view, int>{"GPU-abc::1x", -1}));
  EXPECT_EQ(SplitReplicaId("GPU-abc::-1"), (std::pair<std::string_view, int>{"GPU-abc::-1", -1}));
  EXPECT_EQ(SplitReplicaId("GPU-abc:1"), (std::pair<std::string_view, int>{"GPU-abc:1", -1}));
}

TEST(GpusFromApi, OrdersByPciBusIdCaseInsensitively) {
  std::vector<v1::Gpu> objects = {
      ApiGpu("c", "GPU-c", "00000000:B1:00.0", 2, 1),
      ApiGpu("a", "GPU-a", "00000000:3b:00.0", 0, 0),
      ApiGpu("b", "GPU-b", "00000000:5E:00.0", 1, 0),
  };
  std::vector<Gpu> gpus = GpusFromApi(objects, {});
  ASSERT_EQ(gpus.size(), 3U);
  EXPECT_EQ(gpus[0], (Gpu{"GPU-a", "a", 0, 0, 0, true}));
  EXPECT_EQ(gpus[1], (Gpu{"GPU-b", "b", 1, 1, 0, true}));
  EXPECT_EQ(gpus[2], (Gpu{"GPU-c", "c", 2, 2, 1, true}));
}

TEST(GpusFromApi, SamePciBusIdFallsBackToUuidAndSkipsObjectsWithoutUuid) {
  std::vector<v1::Gpu> objects = {
      ApiGpu("y", "GPU-y", "", 1, -1),
      ApiGpu("none", "", "00000000:01:00.0", 5, 0),
      ApiGpu("x", "GPU-x", "", 0, -1),
  };
  std::vector<Gpu> gpus = GpusFromApi(objects, {});
  ASSERT_EQ(gpus.size(), 2U);
  EXPECT_EQ(gpus[0].uuid, "GPU-x");
  EXPECT_EQ(gpus[0].index, 0);
  EXPECT_EQ(gpus[1].uuid, "GPU-y");
  EXPECT_EQ(gpus[1].index, 1);
  EXPECT_EQ(gpus[1].numa_node, -1);
}

TEST(GpusFromApi, HealthComesFromTheMapByNameAndDefaultsToHealthy) {
  std::vector<v1::Gpu> objects = {
      ApiGpu("a", "GPU-a", "0000:01:00.0", 0, 0),
      ApiGpu("b", "GPU-b", "0000:02:00.0", 1, 0),
      ApiGpu("c", "GPU-c", "0000:03:00.0", 2, 0),
  };
  std::vector<Gpu> gpus = GpusFromApi(objects, {{"a", true}, {"b", false}});
  ASSERT_EQ(gpus.size(), 3U);
  EXPECT_TRUE(gpus[0].healthy);
  EXPECT_FALSE(gpus[1].healthy);
  EXPECT_TRUE(gpus[2].healthy);  // not in the map
}

TEST(GpusFromApi, ADuplicateUuidIsOneGpuAndDoesNotShiftIndices) {
  std::vector<v1::Gpu> objects = {
      ApiGpu("a", "GPU-a", "0000:01:00.0", 0, 0),
      ApiGpu("a-stale", "GPU-a", "0000:01:00.0", 0, 0),
      ApiGpu("b", "GPU-b", "0000:02:00.0", 1, 0),
  };
  std::vector<Gpu> gpus = GpusFromApi(objects, {{"a-stale", false}});
  ASSERT_EQ(gpus.size(), 2U);
  EXPECT_EQ(gpus[0].name, "a");
  EXPECT_FALSE(gpus[0].healthy);  // unhealthy if any of its objects is
  EXPECT_EQ(gpus[1].uuid, "GPU-b");
  EXPECT_EQ(gpus[1].index, 1);
}

TEST(BuildResources, NoSharingAdvertisesWholeGpusByUuid) {
  std::vector<ResourceState> rs = BuildResources(Gpus(2), PluginConfig{});
  ASSERT_EQ(rs.size(), 1U);
  EXPECT_EQ(rs[0].name, "nvidia.com/gpu");
  EXPECT_EQ(rs[0].replicas, 1);
  EXPECT_FALSE(rs[0].shared());
  EXPECT_THAT(Ids(rs[0]), ElementsAre("GPU-0", "GPU-1"));
  EXPECT_EQ(rs[0].devices[1], (Device{"GPU-1", 1, -1}));
  EXPECT_EQ(rs[0].gpus, Gpus(2));
}

TEST(BuildResources, NoGpusStillAdvertisesTheResource) {
  std::vector<ResourceState> rs = BuildResources({}, PluginConfig{});
  ASSERT_EQ(rs.size(), 1U);
  EXPECT_EQ(rs[0].name, "nvidia.com/gpu");
  EXPECT_TRUE(rs[0].devices.empty());
}

TEST(BuildResources, SharingAllAdvertisesReplicasUnderTheSameName) {
  std::vector<ResourceState> rs = BuildResources(Gpus(2), Sharing(3));
  ASSERT_EQ(rs.size(), 1U);
  EXPECT_EQ(rs[0].name, "nvidia.com/gpu");
  EXPECT_EQ(rs[0].replicas, 3);
  EXPECT_TRUE(rs[0].shared());
  EXPECT_THAT(Ids(rs[0]),
              ElementsAre("GPU-0::0", "GPU-0::1", "GPU-0::2", "GPU-1::0", "GPU-1::1", "GPU-1::2"));
  EXPECT_EQ(rs[0].devices[4], (Device{"GPU-1::1", 1, 1}));
  const Device* d = rs[0].Find("GPU-1::2");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(rs[0].GpuOf(*d).uuid, "GPU-1");
  EXPECT_EQ(rs[0].Find("GPU-1"), nullptr);
}

TEST(BuildResources, SharingAllWithNoGpusKeepsTheReplicaCount) {
  std::vector<ResourceState> rs = BuildResources({}, Sharing(4));
  ASSERT_EQ(rs.size(), 1U);
  EXPECT_EQ(rs[0].replicas, 4);
}

TEST(BuildResources, RenameByDefaultAdvertisesDotShared) {
  std::vector<ResourceState> rs = BuildResources(Gpus(1), Sharing(2, {}, /*rename_by_default=*/true));
  ASSERT_EQ(rs.size(), 1U);
  EXPECT_EQ(rs[0].name, "nvidia.com/gpu.shared");
  EXPECT_THAT(Ids(rs[0]), ElementsAre("GPU-0::0", "GPU-0::1"));
}

TEST(BuildResources, RenameWinsOverRenameByDefault) {
  std::vector<ResourceState> rs = BuildResources(Gpus(1), Sharing(2, {}, true, "example.com/slice"));
  ASSERT_EQ(rs.size(), 1U);
  EXPECT_EQ(rs[0].name, "example.com/slice");
}

TEST(BuildResources, SharingACountSharesTheFirstGpusAndKeepsTheRestWhole) {
  DeviceSelector first_two{DeviceSelector::Kind::kCount, 2, {}};
  std::vector<ResourceState> rs = BuildResources(Gpus(4), Sharing(2, first_two, true));
  ASSERT_EQ(rs.size(), 2U);
  EXPECT_EQ(rs[0].name, "nvidia.com/gpu");
  EXPECT_EQ(rs[0].replicas, 1);
  EXPECT_THAT(Ids(rs[0]), ElementsAre("GPU-2", "GPU-3"));
  // The whole resource's devices point into its own GPU list.
  EXPECT_EQ(rs[0].devices[0].gpu, 0);
  EXPECT_EQ(rs[0].GpuOf(rs[0].devices[0]).index, 2);
  EXPECT_EQ(rs[1].name, "nvidia.com/gpu.shared");
  EXPECT_EQ(rs[1].replicas, 2);
  EXPECT_THAT(Uuids(rs[1]), ElementsAre("GPU-0", "GPU-1"));
  EXPECT_THAT(Ids(rs[1]), ElementsAre("GPU-0::0", "GPU-0::1", "GPU-1::0", "GPU-1::1"));
}

TEST(BuildResources, SharingAListByIndex) {
  DeviceSelector list{DeviceSelector::Kind::kList, 0, {"1", "3"}};
  std::vector<ResourceState> rs = BuildResources(Gpus(4), Sharing(2, list, true));
  ASSERT_EQ(rs.size(), 2U);
  EXPECT_THAT(Uuids(rs[0]), ElementsAre("GPU-0", "GPU-2"));
  EXPECT_THAT(Uuids(rs[1]), ElementsAre("GPU-1", "GPU-3"));
  EXPECT_EQ(rs[1].devices[2], (Device{"GPU-3::0", 1, 0}));
}

TEST(BuildResources, SharingAListByUuidIgnoresCase) {
  DeviceSelector list{DeviceSelector::Kind::kList, 0, {"gpu-2"}};
  std::vector<ResourceState> rs = BuildResources(Gpus(3), Sharing(2, list, true));
  ASSERT_EQ(rs.size(), 2U);
  EXPECT_THAT(Uuids(rs[0]), ElementsAre("GPU-0", "GPU-1"));
  EXPECT_THAT(Ids(rs[1]), ElementsAre("GPU-2::0", "GPU-2::1"));
}

TEST(BuildResources, TheFirstEntryThatSelectsAGpuOwnsIt) {
  PluginConfig c;
  c.time_slicing.resources = {
      ReplicatedResource{"nvidia.com/gpu", "example.com/a", 2, {DeviceSelector::Kind::kList, 0, {"0"}}},
      ReplicatedResource{"nvidia.com/gpu", "example.com/b", 3, {}},
  };
  std::vector<ResourceState> rs = BuildResources(Gpus(2), c);
  EXPECT_THAT(Names(rs), ElementsAre("example.com/a", "example.com/b"));
  EXPECT_THAT(Ids(rs[0]), ElementsAre("GPU-0::0", "GPU-0::1"));
  EXPECT_THAT(Ids(rs[1]), ElementsAre("GPU-1::0", "GPU-1::1", "GPU-1::2"));
}

// As NVIDIA's plugin: the kubelet always sees UUIDs (stable across GPU changes, and what
// pod-resources consumers expect); deviceIDStrategy only changes what Allocate hands the runtime.
TEST(BuildResources, IndexIdStrategyStillAdvertisesUuids) {
  PluginConfig whole;
  whole.device_id_strategy = DeviceIdStrategy::kIndex;
  std::vector<ResourceState> rs = BuildResources(Gpus(2), whole);
  ASSERT_EQ(rs.size(), 1U);
  EXPECT_THAT(Ids(rs[0]), ElementsAre("GPU-0", "GPU-1"));

  PluginConfig shared = Sharing(2);
  shared.device_id_strategy = DeviceIdStrategy::kIndex;
  rs = BuildResources(Gpus(2), shared);
  ASSERT_EQ(rs.size(), 1U);
  EXPECT_THAT(Ids(rs[0]), ElementsAre("GPU-0::0", "GPU-0::1", "GPU-1::0", "GPU-1::1"));
}

TEST(ResourceNames, FollowTheConfig) {
  EXPECT_THAT(ResourceNames(PluginConfig{}), ElementsAre("nvidia.com/gpu"));
  EXPECT_THAT(ResourceNames(Sharing(2)), ElementsAre("nvidia.com/gpu"));
  EXPECT_THAT(ResourceNames(Sharing(2, {}, true)), ElementsAre("nvidia.com/gpu.shared"));
  EXPECT_THAT(ResourceNames(Sharing(2, {}, false, "example.com/x")), ElementsAre("example.com/x"));
  // A partial selection leaves room for whole GPUs: both names, sorted.
  EXPECT_THAT(ResourceNames(Sharing(2, {DeviceSelector::Kind::kCount, 1, {}}, true)),
              ElementsAre("nvidia.com/gpu", "nvidia.com/gpu.shared"));
  EXPECT_THAT(ResourceNames(Sharing(2, {DeviceSelector::Kind::kList, 0, {"0"}}, false, "a.com/z")),
              ElementsAre("a.com/z", "nvidia.com/gpu"));
}

TEST(ResourceNames, MatchBuildResourcesWhateverTheGpus) {
  PluginConfig c = Sharing(2, {DeviceSelector::Kind::kCount, 8, {}}, true);
  EXPECT_EQ(Names(BuildResources(Gpus(2), c)), ResourceNames(c));
  EXPECT_EQ(Names(BuildResources({}, c)), ResourceNames(c));
}

}  // namespace
}  // namespace deviceapi::deviceplugin
