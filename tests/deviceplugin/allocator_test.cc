// allocator.cc: GetPreferredAllocation's choice, Allocate's validation and container response.
#include "deviceplugin/allocator.h"

#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"

namespace deviceapi::deviceplugin {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr auto kDistributed = SharedAllocationPolicy::kDistributed;
constexpr auto kPacked = SharedAllocationPolicy::kPacked;

// GPUs GPU-0.. with index i, minor i, on the given NUMA nodes.
std::vector<Gpu> Gpus(const std::vector<int>& numa) {
  std::vector<Gpu> out;
  for (size_t i = 0; i < numa.size(); ++i) {
    const int n = static_cast<int>(i);
    out.push_back(Gpu{"GPU-" + std::to_string(n), "gpu-" + std::to_string(n), n, n, numa[i], true});
  }
  return out;
}

PluginConfig SharingConfig(int replicas) {
  PluginConfig c;
  if (replicas > 1) {
    c.time_slicing.resources.push_back(ReplicatedResource{"nvidia.com/gpu", "", replicas, {}});
  }
  return c;
}

ResourceState Resource(const std::vector<Gpu>& gpus, int replicas, const PluginConfig& base = {}) {
  PluginConfig c = base;
  c.time_slicing = SharingConfig(replicas).time_slicing;
  std::vector<ResourceState> rs = BuildResources(gpus, c);
  EXPECT_EQ(rs.size(), 1U);
  return rs.at(0);
}

std::vector<std::string> AllIds(const ResourceState& r) {
  std::vector<std::string> out;
  for (const Device& d : r.devices) out.push_back(d.id);
  return out;
}

// "GPU-a::0".."GPU-a::9" minus the first `allocated` of them.
std::vector<std::string> Free(const std::string& gpu, int allocated, int replicas = 10) {
  std::vector<std::string> out;
  for (int i = allocated; i < replicas; ++i) out.push_back(gpu + "::" + std::to_string(i));
  return out;
}

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::string GpuOfId(const std::string& id) { return std::string(SplitReplicaId(id).first); }

std::vector<std::string> Pick(const ResourceState& r, const std::vector<std::string>& available,
                              const std::vector<std::string>& must, int size,
                              SharedAllocationPolicy policy = kDistributed) {
  absl::StatusOr<std::vector<std::string>> got = PreferredAllocation(r, available, must, size, policy);
  EXPECT_TRUE(got.ok()) << got.status();
  return got.ok() ? *got : std::vector<std::string>{};
}

// --- PreferredAllocation: replicas -------------------------------------------------------------------

TEST(PreferredReplicas, SizeTwoNeverTakesTwoReplicasOfOneGpu) {
  const ResourceState r = Resource(Gpus({0, 0}), 10);
  for (SharedAllocationPolicy policy : {kDistributed, kPacked}) {
    // Every mix of allocated replicas where both GPUs still have one free.
    for (int a = 0; a < 10; ++a) {
      for (int b = 0; b < 10; ++b) {
        std::vector<std::string> got = Pick(r, Concat(Free("GPU-0", a), Free("GPU-1", b)), {}, 2, policy);
        ASSERT_EQ(got.size(), 2U);
        EXPECT_NE(GpuOfId(got[0]), GpuOfId(got[1]))
            << "policy " << SharedAllocationPolicyName(policy) << " a=" << a << " b=" << b;
      }
    }
  }
}

TEST(PreferredReplicas, AllFreeTakesTheLowestReplicaOfEachGpu) {
  const ResourceState r = Resource(Gpus({0, 0}), 10);
  EXPECT_THAT(Pick(r, AllIds(r), {}, 2), ElementsAre("GPU-0::0", "GPU-1::0"));
}

TEST(PreferredReplicas, DistributedPicksTheLeastAllocatedGpuPackedTheMost) {
  const ResourceState r = Resource(Gpus({0, 0}), 10);
  // GPU-0 has 9 replicas allocated (only ::9 free), GPU-1 has 1 (::0 taken).
  const std::vector<std::string> available = Concat(Free("GPU-0", 9), Free("GPU-1", 1));
  EXPECT_THAT(Pick(r, available, {}, 1, kDistributed), ElementsAre("GPU-1::1"));
  EXPECT_THAT(Pick(r, available, {}, 1, kPacked), ElementsAre("GPU-0::9"));
  // The second pick goes to the other GPU either way.
  EXPECT_THAT(Pick(r, available, {}, 2, kDistributed), ElementsAre("GPU-1::1", "GPU-0::9"));
  EXPECT_THAT(Pick(r, available, {}, 2, kPacked), ElementsAre("GPU-0::9", "GPU-1::1"));
}

TEST(PreferredReplicas, TheOrderOfAvailableDoesNotMatter) {
  const ResourceState r = Resource(Gpus({0, 0}), 10);
  std::vector<std::string> available = Concat(Free("GPU-1", 1), Free("GPU-0", 9));
  std::reverse(available.begin(), available.end());
  EXPECT_THAT(Pick(r, available, {}, 1, kDistributed), ElementsAre("GPU-1::1"));
  EXPECT_THAT(Pick(r, available, {}, 1, kPacked), ElementsAre("GPU-0::9"));
}

TEST(PreferredReplicas, PackedStillSpreadsOneContainerWhileAnotherGpuHasRoom) {
  const ResourceState r = Resource(Gpus({0, 0, 0}), 10);
  // Allocated: GPU-0 5, GPU-1 2, GPU-2 0.
  const std::vector<std::string> available =
      Concat(Concat(Free("GPU-0", 5), Free("GPU-1", 2)), Free("GPU-2", 0));
  EXPECT_THAT(Pick(r, available, {}, 3, kPacked), ElementsAre("GPU-0::5", "GPU-1::2", "GPU-2::0"));
  EXPECT_THAT(Pick(r, available, {}, 3, kDistributed), ElementsAre("GPU-2::0", "GPU-1::2", "GPU-0::5"));
}

TEST(PreferredReplicas, SizeThreeOnTwoGpusUsesOneTwice) {
  const ResourceState r = Resource(Gpus({0, 0}), 10);
  std::vector<std::string> got = Pick(r, AllIds(r), {}, 3);
  EXPECT_THAT(got, ElementsAre("GPU-0::0", "GPU-1::0", "GPU-0::1"));
  // Packed: the third pick goes where most is allocated; both have 1 now, so the lower index.
  EXPECT_THAT(Pick(r, AllIds(r), {}, 3, kPacked), ElementsAre("GPU-0::0", "GPU-1::0", "GPU-0::1"));
}

TEST(PreferredReplicas, AGpuIsUsedTwiceOnlyWhenNoOtherHasRoom) {
  const ResourceState r = Resource(Gpus({0, 0, 0}), 4);
  // GPU-2 is full: the third pick must reuse one.
  std::vector<std::string> got = Pick(r, Concat(Free("GPU-0", 0, 4), Free("GPU-1", 0, 4)), {}, 3);
  EXPECT_THAT(got, ElementsAre("GPU-0::0", "GPU-1::0", "GPU-0::1"));
  // GPU-2 has one replica left (3 allocated): distributed would rather reuse a GPU with fewer, but must not.
  got = Pick(r, Concat(Concat(Free("GPU-0", 0, 4), Free("GPU-1", 0, 4)), Free("GPU-2", 3, 4)), {}, 3);
  EXPECT_THAT(got, ElementsAre("GPU-0::0", "GPU-1::0", "GPU-2::3"));
}

TEST(PreferredReplicas, ThePickedCountAsAllocatedForTheNextPick) {
  const ResourceState r = Resource(Gpus({0, 0}), 4);
  // Allocated before: GPU-0 0, GPU-1 1. After four picks GPU-0 has 3 allocated and GPU-1 2, so the fifth
  // goes to GPU-1; were the picks not counted, GPU-0 (0 before) would get every repeat.
  std::vector<std::string> got = Pick(r, Concat(Free("GPU-0", 0, 4), Free("GPU-1", 1, 4)), {}, 5);
  EXPECT_THAT(got, ElementsAre("GPU-0::0", "GPU-1::1", "GPU-0::1", "GPU-0::2", "GPU-1::2"));
}

TEST(PreferredReplicas, MustIncludeComesFirstAndCountsAsUsed) {
  const ResourceState r = Resource(Gpus({0, 0}), 10);
  EXPECT_THAT(Pick(r, AllIds(r), {"GPU-0::3"}, 2), ElementsAre("GPU-0::3", "GPU-1::0"));
  EXPECT_THAT(Pick(r, AllIds(r), {"GPU-1::7"}, 2, kPacked), ElementsAre("GPU-1::7", "GPU-0::0"));
  // All of the size required: returned as given.
  EXPECT_THAT(Pick(r, AllIds(r), {"GPU-1::7", "GPU-0::2"}, 2), ElementsAre("GPU-1::7", "GPU-0::2"));
}

TEST(PreferredReplicas, TiesGoToTheNumaNodeAlreadyPicked) {
  const ResourceState r = Resource(Gpus({0, 0, 1, 1}), 2);
  // GPU-2 (node 1) is required; GPU-0, 1, 3 are equally allocated: GPU-3 shares its node.
  EXPECT_THAT(Pick(r, AllIds(r), {"GPU-2::0"}, 2), ElementsAre("GPU-2::0", "GPU-3::0"));
  // Without it the lowest index wins, and the next tie goes to the other GPU on its node.
  const ResourceState mixed = Resource(Gpus({1, 0, 0, 1}), 2);
  EXPECT_THAT(Pick(mixed, AllIds(mixed), {}, 2), ElementsAre("GPU-0::0", "GPU-3::0"));
}

TEST(PreferredReplicas, UnhealthyAndUnknownIdsAreSkipped) {
  std::vector<Gpu> gpus = Gpus({0, 0});
  gpus[1].healthy = false;
  const ResourceState r = Resource(gpus, 10);
  std::vector<std::string> available = Concat({"bogus", "GPU-9::0", "GPU-0"}, AllIds(r));
  EXPECT_THAT(Pick(r, available, {}, 2), ElementsAre("GPU-0::0", "GPU-0::1"));
}

TEST(PreferredReplicas, NotEnoughIsAnError) {
  std::vector<Gpu> gpus = Gpus({0, 0});
  gpus[1].healthy = false;
  const ResourceState r = Resource(gpus, 2);
  absl::StatusOr<std::vector<std::string>> got =
      PreferredAllocation(r, {"GPU-0::1", "GPU-1::0", "GPU-1::1", "bogus"}, {}, 2, kDistributed);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), HasSubstr("not enough available devices to satisfy allocation"));
}

TEST(PreferredAllocation, BadArgumentsAreErrors) {
  const ResourceState r = Resource(Gpus({0, 0}), 2);
  absl::StatusOr<std::vector<std::string>> got = PreferredAllocation(r, AllIds(r), {}, 0, kDistributed);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  got = PreferredAllocation(r, {"GPU-0::0"}, {"GPU-1::0"}, 1, kDistributed);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), HasSubstr("GPU-1::0"));
  got = PreferredAllocation(r, AllIds(r), {"GPU-0::0", "GPU-1::0"}, 1, kDistributed);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
}

// --- PreferredAllocation: whole GPUs by NUMA ---------------------------------------------------------

TEST(PreferredWhole, SameNumaNodeFirst) {
  const ResourceState r = Resource(Gpus({0, 0, 1, 1}), 1);
  EXPECT_THAT(Pick(r, AllIds(r), {}, 2), ElementsAre("GPU-0", "GPU-1"));
  // GPU-0 taken: one node (GPU-2, GPU-3) beats the lower index GPU-1.
  EXPECT_THAT(Pick(r, {"GPU-1", "GPU-2", "GPU-3"}, {}, 2), ElementsAre("GPU-2", "GPU-3"));
  // Three need both nodes: the lowest indices.
  EXPECT_THAT(Pick(r, AllIds(r), {}, 3), ElementsAre("GPU-0", "GPU-1", "GPU-2"));
}

TEST(PreferredWhole, MustIncludeSelectsItsNode) {
  const ResourceState r = Resource(Gpus({0, 0, 1, 1}), 1);
  EXPECT_THAT(Pick(r, AllIds(r), {"GPU-2"}, 2), ElementsAre("GPU-2", "GPU-3"));
  EXPECT_THAT(Pick(r, AllIds(r), {"GPU-3"}, 2), ElementsAre("GPU-3", "GPU-2"));
  // Its node is full: the fewest more nodes, then the lowest index.
  EXPECT_THAT(Pick(r, {"GPU-0", "GPU-1", "GPU-3"}, {"GPU-3"}, 2), ElementsAre("GPU-3", "GPU-0"));
}

TEST(PreferredWhole, FewestNodesBeatsLowerIndex) {
  // Nodes: 0 has GPU-0; 1 has GPU-1, GPU-2, GPU-3. Size 3 fits node 1 alone.
  const ResourceState r = Resource(Gpus({0, 1, 1, 1}), 1);
  EXPECT_THAT(Pick(r, AllIds(r), {}, 3), ElementsAre("GPU-1", "GPU-2", "GPU-3"));
  EXPECT_THAT(Pick(r, AllIds(r), {}, 1), ElementsAre("GPU-0"));
}

TEST(PreferredWhole, UnknownNumaIsANodeOfItsOwn) {
  const ResourceState r = Resource(Gpus({0, -1, -1}), 1);
  EXPECT_THAT(Pick(r, AllIds(r), {}, 2), ElementsAre("GPU-1", "GPU-2"));
}

TEST(PreferredWhole, ManyNumaNodesStillKeepOneNode) {
  // 17 nodes (past the exhaustive search): the only node with two GPUs wins.
  std::vector<int> numa;
  for (int n = 0; n < 17; ++n) numa.push_back(n);
  numa.push_back(16);
  const ResourceState r = Resource(Gpus(numa), 1);
  EXPECT_THAT(Pick(r, AllIds(r), {}, 2), ElementsAre("GPU-16", "GPU-17"));
  EXPECT_THAT(Pick(r, AllIds(r), {}, 1), ElementsAre("GPU-0"));
}

TEST(PreferredWhole, UnhealthyIsSkipped) {
  std::vector<Gpu> gpus = Gpus({0, 0, 1, 1});
  gpus[1].healthy = false;
  const ResourceState r = Resource(gpus, 1);
  EXPECT_THAT(Pick(r, AllIds(r), {}, 2), ElementsAre("GPU-2", "GPU-3"));
  absl::StatusOr<std::vector<std::string>> got = PreferredAllocation(r, AllIds(r), {}, 4, kDistributed);
  EXPECT_THAT(got.status().message(), HasSubstr("not enough available devices to satisfy allocation"));
}

// --- ValidateAllocateRequest -------------------------------------------------------------------------

TEST(Validate, UnknownDeviceHasNvidiasText) {
  const ResourceState r = Resource(Gpus({0}), 2);
  absl::Status s = ValidateAllocateRequest(r, {"GPU-0::0", "GPU-7::0"}, true);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "invalid allocation request for \"nvidia.com/gpu\": invalid request: unknown device: GPU-7::0");
}

TEST(Validate, MoreThanOneSharedHasNvidiasText) {
  const ResourceState r = Resource(Gpus({0}), 2);
  absl::Status s = ValidateAllocateRequest(r, {"GPU-0::0", "GPU-0::1"}, true);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      s.message(),
      "invalid allocation request for \"nvidia.com/gpu\": invalid request: maximum request size for shared "
      "resources is 1; found 2");
}

TEST(Validate, NamesTheRenamedResource) {
  PluginConfig c;
  c.time_slicing.rename_by_default = true;
  c.time_slicing.resources.push_back(ReplicatedResource{"nvidia.com/gpu", "", 2, {}});
  const ResourceState r = BuildResources(Gpus({0}), c).at(0);
  EXPECT_EQ(ValidateAllocateRequest(r, {"GPU-0::0", "GPU-0::1"}, true).message(),
            "invalid allocation request for \"nvidia.com/gpu.shared\": invalid request: maximum request size "
            "for shared resources is 1; found 2");
}

TEST(Validate, UnknownIsCheckedBeforeTheSizeRule) {
  const ResourceState r = Resource(Gpus({0}), 2);
  EXPECT_THAT(ValidateAllocateRequest(r, {"GPU-0::0", "nope"}, true).message(),
              HasSubstr("unknown device: nope"));
}

TEST(Validate, OneReplicaIsFine) {
  const ResourceState r = Resource(Gpus({0}), 2);
  EXPECT_TRUE(ValidateAllocateRequest(r, {"GPU-0::1"}, true).ok());
}

TEST(Validate, TwoReplicasAreFineWithoutTheFlag) {
  const ResourceState r = Resource(Gpus({0}), 2);
  EXPECT_TRUE(ValidateAllocateRequest(r, {"GPU-0::0", "GPU-0::1"}, false).ok());
}

TEST(Validate, TwoWholeGpusAreFineWithTheFlag) {
  const ResourceState r = Resource(Gpus({0, 0}), 1);
  EXPECT_TRUE(ValidateAllocateRequest(r, {"GPU-0", "GPU-1"}, true).ok());
}

TEST(Validate, UnhealthyDevice) {
  std::vector<Gpu> gpus = Gpus({0, 0});
  gpus[1].healthy = false;
  const ResourceState r = Resource(gpus, 2);
  absl::Status s = ValidateAllocateRequest(r, {"GPU-1::0"}, true);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "invalid allocation request for \"nvidia.com/gpu\": device GPU-1::0 is unhealthy");
  // The size rule comes first.
  EXPECT_THAT(ValidateAllocateRequest(r, {"GPU-1::0", "GPU-1::1"}, true).message(), HasSubstr("found 2"));
}

TEST(Validate, EmptyRequest) {
  const ResourceState r = Resource(Gpus({0}), 1);
  absl::Status s = ValidateAllocateRequest(r, {}, false);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "invalid allocation request for \"nvidia.com/gpu\": no devices requested");
}

// --- ContainerResponse -------------------------------------------------------------------------------

PluginConfig Strategies(std::vector<DeviceListStrategy> s) {
  PluginConfig c;
  c.device_list_strategies = std::move(s);
  return c;
}

TEST(ContainerResponse, EnvvarDeduplicatesReplicasOfOneGpuInFirstSeenOrder) {
  const ResourceState r = Resource(Gpus({0, 0}), 4);
  v1beta1::ContainerAllocateResponse resp =
      ContainerResponse(r, {"GPU-1::0", "GPU-1::3", "GPU-0::2"}, PluginConfig{}, "x");
  EXPECT_THAT(resp.envs(), UnorderedElementsAre(Pair("NVIDIA_VISIBLE_DEVICES", "GPU-1,GPU-0")));
  EXPECT_THAT(resp.mounts(), IsEmpty());
  EXPECT_THAT(resp.devices(), IsEmpty());
  EXPECT_THAT(resp.annotations(), IsEmpty());
  EXPECT_THAT(resp.cdi_devices(), IsEmpty());

  resp = ContainerResponse(r, {"GPU-0::0", "GPU-0::1"}, PluginConfig{}, "x");
  EXPECT_EQ(resp.envs().at("NVIDIA_VISIBLE_DEVICES"), "GPU-0");
}

TEST(ContainerResponse, IndexStrategyNamesGpusByIndex) {
  PluginConfig c;
  c.device_id_strategy = DeviceIdStrategy::kIndex;
  const ResourceState r = Resource(Gpus({0, 0, 0}), 2, c);
  v1beta1::ContainerAllocateResponse resp =
      ContainerResponse(r, {"GPU-2::1", "GPU-0::0", "GPU-2::0"}, c, "x");
  EXPECT_EQ(resp.envs().at("NVIDIA_VISIBLE_DEVICES"), "2,0");
  // Whole GPUs advertised by UUID, handed over by index.
  const ResourceState whole = Resource(Gpus({0, 0}), 1);
  resp = ContainerResponse(whole, {"GPU-1"}, c, "x");
  EXPECT_EQ(resp.envs().at("NVIDIA_VISIBLE_DEVICES"), "1");
}

TEST(ContainerResponse, VolumeMounts) {
  const ResourceState r = Resource(Gpus({0, 0}), 2);
  v1beta1::ContainerAllocateResponse resp = ContainerResponse(
      r, {"GPU-1::0", "GPU-0::1", "GPU-1::1"}, Strategies({DeviceListStrategy::kVolumeMounts}), "x");
  EXPECT_THAT(resp.envs(),
              UnorderedElementsAre(Pair("NVIDIA_VISIBLE_DEVICES", "/var/run/nvidia-container-devices")));
  ASSERT_EQ(resp.mounts_size(), 2);
  EXPECT_EQ(resp.mounts(0).host_path(), "/dev/null");
  EXPECT_EQ(resp.mounts(0).container_path(), "/var/run/nvidia-container-devices/GPU-1");
  EXPECT_TRUE(resp.mounts(0).read_only());
  EXPECT_EQ(resp.mounts(1).container_path(), "/var/run/nvidia-container-devices/GPU-0");
}

TEST(ContainerResponse, VolumeMountsReplaceTheEnvvarValueWhenBothAreSet) {
  const ResourceState r = Resource(Gpus({0}), 1);
  v1beta1::ContainerAllocateResponse resp = ContainerResponse(
      r, {"GPU-0"}, Strategies({DeviceListStrategy::kEnvvar, DeviceListStrategy::kVolumeMounts}), "x");
  EXPECT_EQ(resp.envs().at("NVIDIA_VISIBLE_DEVICES"), "/var/run/nvidia-container-devices");
  EXPECT_EQ(resp.mounts_size(), 1);
}

TEST(ContainerResponse, CdiAnnotations) {
  const ResourceState r = Resource(Gpus({0, 0}), 2);
  v1beta1::ContainerAllocateResponse resp = ContainerResponse(
      r, {"GPU-1::0", "GPU-0::0"}, Strategies({DeviceListStrategy::kCdiAnnotations}), "fixed");
  EXPECT_THAT(resp.annotations(),
              UnorderedElementsAre(
                  Pair("cdi.k8s.io/nvidia-device-plugin_fixed",
                       "k8s.device-plugin.nvidia.com/gpu=GPU-1,k8s.device-plugin.nvidia.com/gpu=GPU-0")));
  // CDI only: as NVIDIA's, nothing else (no NVIDIA_VISIBLE_DEVICES).
  EXPECT_THAT(resp.envs(), IsEmpty());
  EXPECT_THAT(resp.cdi_devices(), IsEmpty());

  PluginConfig c = Strategies({DeviceListStrategy::kCdiAnnotations});
  c.cdi_annotation_prefix = "nvidia.cdi.k8s.io/";
  resp = ContainerResponse(r, {"GPU-0::1"}, c, "abc");
  EXPECT_THAT(resp.annotations(), UnorderedElementsAre(Pair("nvidia.cdi.k8s.io/nvidia-device-plugin_abc",
                                                            "k8s.device-plugin.nvidia.com/gpu=GPU-0")));
}

TEST(ContainerResponse, CdiCri) {
  const ResourceState r = Resource(Gpus({0, 0}), 2);
  v1beta1::ContainerAllocateResponse resp = ContainerResponse(r, {"GPU-1::1", "GPU-0::0", "GPU-1::0"},
                                                              Strategies({DeviceListStrategy::kCdiCri}), "x");
  ASSERT_EQ(resp.cdi_devices_size(), 2);
  EXPECT_EQ(resp.cdi_devices(0).name(), "k8s.device-plugin.nvidia.com/gpu=GPU-1");
  EXPECT_EQ(resp.cdi_devices(1).name(), "k8s.device-plugin.nvidia.com/gpu=GPU-0");
  EXPECT_THAT(resp.envs(), IsEmpty());
  EXPECT_THAT(resp.annotations(), IsEmpty());
}

TEST(ContainerResponse, EnvvarAndCdiCriBothApply) {
  const ResourceState r = Resource(Gpus({0}), 1);
  v1beta1::ContainerAllocateResponse resp = ContainerResponse(
      r, {"GPU-0"}, Strategies({DeviceListStrategy::kEnvvar, DeviceListStrategy::kCdiCri}), "x");
  EXPECT_EQ(resp.envs().at("NVIDIA_VISIBLE_DEVICES"), "GPU-0");
  ASSERT_EQ(resp.cdi_devices_size(), 1);
  EXPECT_EQ(resp.cdi_devices(0).name(), "k8s.device-plugin.nvidia.com/gpu=GPU-0");
}

void ExpectSpec(const v1beta1::DeviceSpec& s, const std::string& container, const std::string& host) {
  EXPECT_EQ(s.container_path(), container);
  EXPECT_EQ(s.host_path(), host);
  EXPECT_EQ(s.permissions(), "rw");
}

TEST(ContainerResponse, DeviceSpecsUnderTheDevRoot) {
  std::vector<Gpu> gpus = Gpus({0, 0, 0});
  gpus[2].minor = -1;
  const ResourceState r = Resource(gpus, 2);
  PluginConfig c;
  c.pass_device_specs = true;
  v1beta1::ContainerAllocateResponse resp =
      ContainerResponse(r, {"GPU-1::0", "GPU-1::1", "GPU-2::0"}, c, "x");
  ASSERT_EQ(resp.devices_size(), 4);  // GPU-1 once, GPU-2 has no minor, then the three control devices
  ExpectSpec(resp.devices(0), "/dev/nvidia1", "/dev/nvidia1");
  ExpectSpec(resp.devices(1), "/dev/nvidiactl", "/dev/nvidiactl");
  ExpectSpec(resp.devices(2), "/dev/nvidia-uvm", "/dev/nvidia-uvm");
  ExpectSpec(resp.devices(3), "/dev/nvidia-uvm-tools", "/dev/nvidia-uvm-tools");

  c.nvidia_dev_root = "/run/nvidia/driver";
  resp = ContainerResponse(r, {"GPU-0::0", "GPU-1::0"}, c, "x");
  ASSERT_EQ(resp.devices_size(), 5);
  ExpectSpec(resp.devices(0), "/dev/nvidia0", "/run/nvidia/driver/dev/nvidia0");
  ExpectSpec(resp.devices(1), "/dev/nvidia1", "/run/nvidia/driver/dev/nvidia1");
  ExpectSpec(resp.devices(2), "/dev/nvidiactl", "/run/nvidia/driver/dev/nvidiactl");

  c.nvidia_dev_root = "/run/nvidia/driver/";
  resp = ContainerResponse(r, {"GPU-0::0"}, c, "x");
  ExpectSpec(resp.devices(0), "/dev/nvidia0", "/run/nvidia/driver/dev/nvidia0");
}

TEST(ContainerResponse, NoDeviceSpecsWithoutTheFlagOrWithCdiOnly) {
  const ResourceState r = Resource(Gpus({0}), 1);
  EXPECT_THAT(ContainerResponse(r, {"GPU-0"}, PluginConfig{}, "x").devices(), IsEmpty());
  PluginConfig c = Strategies({DeviceListStrategy::kCdiCri});
  c.pass_device_specs = true;
  EXPECT_THAT(ContainerResponse(r, {"GPU-0"}, c, "x").devices(), IsEmpty());
}

}  // namespace
}  // namespace deviceapi::deviceplugin
