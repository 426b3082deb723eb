#include "deviceplugin/config.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace deviceapi::deviceplugin {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Message(const absl::Status& s) { return std::string(common::ToStd(s.message())); }

std::string Testdata(const std::string& name) { return std::string(DP_TESTDATA) + "/" + name; }

// A fresh directory per test (ctest runs tests in parallel), removed at the end.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/dpconfigXXXXXX";
    if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& text) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

 private:
  std::string path_;
};

ReplicatedResource Gpu(int replicas, std::string rename = "", DeviceSelector devices = {}) {
  ReplicatedResource r;
  r.name = "nvidia.com/gpu";
  r.rename = std::move(rename);
  r.replicas = replicas;
  r.devices = std::move(devices);
  return r;
}

DeviceSelector Count(int n) {
  DeviceSelector s;
  s.kind = DeviceSelector::Kind::kCount;
  s.count = n;
  return s;
}

DeviceSelector List(std::vector<std::string> list) {
  DeviceSelector s;
  s.kind = DeviceSelector::Kind::kList;
  s.list = std::move(list);
  return s;
}

// ---- Good configs ----

TEST(ConfigTest, DefaultsAreNvidias) {
  PluginConfig c;
  EXPECT_EQ(c.version, "v1");
  EXPECT_EQ(c.device_list_strategies, std::vector<DeviceListStrategy>{DeviceListStrategy::kEnvvar});
  EXPECT_EQ(c.device_id_strategy, DeviceIdStrategy::kUuid);
  EXPECT_FALSE(c.pass_device_specs);
  EXPECT_EQ(c.shared_allocation_policy, SharedAllocationPolicy::kDistributed);
  EXPECT_EQ(c.cdi_annotation_prefix, "cdi.k8s.io/");
  EXPECT_EQ(c.nvidia_dev_root, "/");
  EXPECT_TRUE(c.time_slicing.resources.empty());
}

TEST(ConfigTest, SeedConfigParsesUnchanged) {
  absl::StatusOr<PluginConfig> c = LoadConfigFile(DP_SEED_CONFIG);
  ASSERT_TRUE(c.ok()) << c.status();
  PluginConfig want;
  want.time_slicing.rename_by_default = false;
  want.time_slicing.fail_requests_greater_than_one = true;
  want.time_slicing.resources = {Gpu(10)};
  EXPECT_EQ(*c, want);
  EXPECT_EQ(c->time_slicing.resources[0].devices.kind, DeviceSelector::Kind::kAll);
}

// The example the README and docs/device-plugin.md point at parses into what its comments say.
TEST(ConfigTest, ExampleConfigParses) {
  absl::StatusOr<PluginConfig> c = LoadConfigFile(DP_EXAMPLE_CONFIG);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->time_slicing.fail_requests_greater_than_one);
  ASSERT_EQ(c->time_slicing.resources.size(), 1U);
  const ReplicatedResource& r = c->time_slicing.resources[0];
  EXPECT_EQ(r.rename, "nvidia.com/gpu.shared");
  EXPECT_EQ(r.replicas, 10);
  EXPECT_EQ(r.devices.kind, DeviceSelector::Kind::kList);
  EXPECT_EQ(r.devices.list, (std::vector<std::string>{"0", "1"}));
}

TEST(ConfigTest, FullNvidiaConfigWithIgnoredKeys) {
  absl::StatusOr<PluginConfig> c = LoadConfigFile(Testdata("nvidia-full.yaml"));
  ASSERT_TRUE(c.ok()) << c.status();
  PluginConfig want;
  want.device_list_strategies = {DeviceListStrategy::kVolumeMounts, DeviceListStrategy::kCdiCri};
  want.device_id_strategy = DeviceIdStrategy::kIndex;
  want.pass_device_specs = true;
  want.shared_allocation_policy = SharedAllocationPolicy::kPacked;
  want.cdi_annotation_prefix = "cdi.example.com/";
  want.nvidia_dev_root = "/host";
  want.time_slicing.rename_by_default = true;
  want.time_slicing.fail_requests_greater_than_one = true;
  want.time_slicing.resources = {Gpu(4)};
  EXPECT_EQ(*c, want);
}

TEST(ConfigTest, JsonConfig) {
  absl::StatusOr<PluginConfig> c = LoadConfigFile(Testdata("full.json"));
  ASSERT_TRUE(c.ok()) << c.status();
  PluginConfig want;
  want.device_list_strategies = {DeviceListStrategy::kCdiAnnotations};
  want.pass_device_specs = true;
  want.time_slicing.fail_requests_greater_than_one = true;
  want.time_slicing.resources = {
      Gpu(8, "example.com/gpu-8x", List({"0", "1"})),
      Gpu(2, "example.com/gpu-2x", List({"GPU-8b8a6f5e-1c1d-4b6f-9d4e-0a1b2c3d4e5f"})),
  };
  EXPECT_EQ(*c, want);
}

TEST(ConfigTest, PerResourceRenameDevicesListAndCount) {
  absl::StatusOr<PluginConfig> c = LoadConfigFile(Testdata("per-resource.yaml"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->time_slicing.rename_by_default);
  EXPECT_FALSE(c->time_slicing.fail_requests_greater_than_one);
  const std::vector<ReplicatedResource> want = {
      Gpu(4, "example.com/gpu-quarter", List({"0", "2", "GPU-AAAAAAAA-1111-2222-3333-444444444444"})),
      Gpu(10, "example.com/gpu-tenth", Count(3)),
      Gpu(2),
  };
  EXPECT_EQ(c->time_slicing.resources, want);
}

TEST(ConfigTest, DeviceListStrategyAsStringListAndCommaString) {
  absl::StatusOr<PluginConfig> c = ParseConfig("flags: {plugin: {deviceListStrategy: cdi-cri}}", "t.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->device_list_strategies, std::vector<DeviceListStrategy>{DeviceListStrategy::kCdiCri});

  // A list, duplicates removed, first occurrence order kept.
  c = ParseConfig("flags:\n  plugin:\n    deviceListStrategy: [volume-mounts, envvar, volume-mounts]\n",
                  "t.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->device_list_strategies, (std::vector<DeviceListStrategy>{DeviceListStrategy::kVolumeMounts,
                                                                        DeviceListStrategy::kEnvvar}));

  c = ParseConfig("flags: {plugin: {deviceListStrategy: 'envvar, cdi-annotations'}}", "t.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(
      c->device_list_strategies,
      (std::vector<DeviceListStrategy>{DeviceListStrategy::kEnvvar, DeviceListStrategy::kCdiAnnotations}));
}

TEST(ConfigTest, EmptyDocumentsAreDefaults) {
  for (const char* text :
       {"", "\n", "# only a comment\n", "---\n", "null\n", "version: ''\n", "version:\n"}) {
    absl::StatusOr<PluginConfig> c = ParseConfig(text, "t.yaml");
    ASSERT_TRUE(c.ok()) << "\"" << text << "\": " << c.status();
    EXPECT_EQ(*c, PluginConfig()) << text;
  }
}

TEST(ConfigTest, EmptyFileIsDefaults) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  absl::StatusOr<PluginConfig> c = LoadConfigFile(dir.Write("empty.yaml", ""));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(*c, PluginConfig());
}

TEST(ConfigTest, NullSectionsAreAbsent) {
  absl::StatusOr<PluginConfig> c =
      ParseConfig("version: v1\nflags:\nsharing:\n  timeSlicing:\n  mps:\n", "t.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(*c, PluginConfig());
}

TEST(ConfigTest, BooleansAsNvidiasParserReadsThem) {
  for (const char* word : {"true", "True", "TRUE", "yes", "on"}) {
    absl::StatusOr<PluginConfig> c =
        ParseConfig(common::Cat("flags: {plugin: {passDeviceSpecs: ", word, "}}"), "t.yaml");
    ASSERT_TRUE(c.ok()) << word << ": " << c.status();
    EXPECT_TRUE(c->pass_device_specs) << word;
  }
  absl::StatusOr<PluginConfig> c = ParseConfig("flags: {plugin: {passDeviceSpecs: off}}", "t.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->pass_device_specs);
}

TEST(ConfigTest, DeviceIndicesAreCanonicalAndUuidsKeptAsWritten) {
  absl::StatusOr<PluginConfig> c = ParseConfig(
      "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: a.com/b, "
      "devices: [\"3\", 10, GPU-abc]}]}}",
      "t.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->time_slicing.resources[0].devices, List({"3", "10", "GPU-abc"}));
}

TEST(ConfigTest, ExplicitAllAndRenameToGpu) {
  absl::StatusOr<PluginConfig> c = ParseConfig(
      "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 3, devices: all, "
      "rename: nvidia.com/gpu}]}}",
      "t.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->time_slicing.resources[0].devices.kind, DeviceSelector::Kind::kAll);
  EXPECT_EQ(c->time_slicing.resources[0].rename, "nvidia.com/gpu");
}

TEST(ConfigTest, ListEntriesBeforeAnAllEntry) {
  absl::StatusOr<PluginConfig> c = ParseConfig(R"(
sharing:
  timeSlicing:
    resources:
    - {name: nvidia.com/gpu, replicas: 4, rename: example.com/gpu-4x, devices: [0]}
    - {name: nvidia.com/gpu, replicas: 2, rename: example.com/gpu-2x, devices: [1]}
    - {name: nvidia.com/gpu, replicas: 8}
)",
                                               "t.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->time_slicing.resources.size(), 3u);
}

TEST(ConfigTest, ValidRenames) {
  for (const char* name : {"example.com/gpu-shared", "nvidia.com/gpu.shared", "a.b-c.d/X_y.z-9", "x/y",
                           "nvidia.com/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    absl::StatusOr<PluginConfig> c = ParseConfig(
        common::Cat("sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: '", name,
                    "'}]}}"),
        "t.yaml");
    ASSERT_TRUE(c.ok()) << name << ": " << c.status();
    EXPECT_EQ(c->time_slicing.resources[0].rename, name);
  }
}

// ---- Bad configs: each error is INVALID_ARGUMENT, "<source>: <key path>: <problem>" ----

struct BadCase {
  const char* test_name;
  const char* yaml;
  const char* path;     // the key path the message must name (after "bad.yaml: ")
  const char* problem;  // a part of the problem
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.test_name; }

class BadConfigTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfigTest, NamesTheKey) {
  const BadCase& c = GetParam();
  absl::StatusOr<PluginConfig> got = ParseConfig(c.yaml, "bad.yaml");
  ASSERT_FALSE(got.ok()) << c.yaml;
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(got.status()), StartsWith(common::Cat("bad.yaml: ", c.path, ": ")));
  EXPECT_THAT(Message(got.status()), HasSubstr(c.problem));
}

INSTANTIATE_TEST_SUITE_P(
    Config, BadConfigTest,
    ::testing::Values(
        BadCase{"UnknownTopLevelKey", "version: v1\nfoo: 1\n", "foo", "unknown key"},
        BadCase{"MisspeltPluginKey", "flags:\n  plugin:\n    deviceListStratgy: envvar\n",
                "flags.plugin.deviceListStratgy", "unknown key"},
        BadCase{"UnknownFlagsKey", "flags: {kubeletSocket: /x}", "flags.kubeletSocket", "unknown key"},
        BadCase{"UnknownResourceKey",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, "
                "replica: 3}]}}",
                "sharing.timeSlicing.resources[0].replica", "unknown key"},
        BadCase{"MisspeltTimeSlicing", "sharing: {timeslicing: {}}", "sharing.timeslicing", "unknown key"},
        BadCase{"DuplicateKey", "version: v1\nversion: v1\n", "version", "duplicate key"},
        BadCase{"ReplicasOne", "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 1}]}}",
                "sharing.timeSlicing.resources[0].replicas", "must be at least 2, got 1"},
        BadCase{"ReplicasMissing", "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu}]}}",
                "sharing.timeSlicing.resources[0].replicas", "required"},
        BadCase{"ReplicasNotANumber",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: ten}]}}",
                "sharing.timeSlicing.resources[0].replicas", "expected an integer, got \"ten\""},
        BadCase{
            "ReplicasQuoted", "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: '4'}]}}",
            "sharing.timeSlicing.resources[0].replicas", "expected an integer, got the quoted string \"4\""},
        BadCase{"ReplicasFloat",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2.5}]}}",
                "sharing.timeSlicing.resources[0].replicas", "expected an integer"},
        BadCase{"NameMissing", "sharing: {timeSlicing: {resources: [{replicas: 2}]}}",
                "sharing.timeSlicing.resources[0].name", "required"},
        BadCase{"NameNotGpu",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2}, "
                "{name: amd.com/gpu, replicas: 2, rename: a.com/b}]}}",
                "sharing.timeSlicing.resources[1].name", "only nvidia.com/gpu can be shared"},
        BadCase{"NameMig",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/mig-1g.5gb, replicas: 2}]}}",
                "sharing.timeSlicing.resources[0].name", "MIG is not supported"},
        BadCase{"RenameNoDomain",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: shared}]}}",
                "sharing.timeSlicing.resources[0].rename", "needs a domain"},
        BadCase{"RenameUppercaseDomain",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: "
                "Example.com/g}]}}",
                "sharing.timeSlicing.resources[0].rename", "not a DNS subdomain"},
        BadCase{"RenameKubernetesIo",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: "
                "kubernetes.io/g}]}}",
                "sharing.timeSlicing.resources[0].rename", "reserved"},
        BadCase{"RenameSubdomainOfKubernetesIo",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, "
                "rename: x.kubernetes.io/g}]}}",
                "sharing.timeSlicing.resources[0].rename", "reserved"},
        BadCase{
            "RenameBadNamePart",
            "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: a.com/-g}]}}",
            "sharing.timeSlicing.resources[0].rename", "1-63 characters"},
        BadCase{
            "RenameTwoSlashes",
            "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: a.com/b/c}]}}",
            "sharing.timeSlicing.resources[0].rename", "not a valid extended resource name"},
        BadCase{"RenameNamePartTooLong",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: "
                "a.com/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}]}}",
                "sharing.timeSlicing.resources[0].rename", "1-63 characters"},
        BadCase{"MigIndexInList",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: a.com/b, "
                "devices: [0, '1:0']}]}}",
                "sharing.timeSlicing.resources[0].devices[1]", "MIG devices are not supported"},
        BadCase{"MigUuidInList",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: a.com/b, "
                "devices: [MIG-1234]}]}}",
                "sharing.timeSlicing.resources[0].devices[0]", "MIG devices are not supported"},
        BadCase{"MigScalar",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: a.com/b, "
                "devices: MIG-1234}]}}",
                "sharing.timeSlicing.resources[0].devices", "MIG devices are not supported"},
        BadCase{"DevicesZero",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: a.com/b, "
                "devices: 0}]}}",
                "sharing.timeSlicing.resources[0].devices", "must be positive, got 0"},
        BadCase{"DevicesWord",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: a.com/b, "
                "devices: some}]}}",
                "sharing.timeSlicing.resources[0].devices", "expected \"all\", a positive count"},
        BadCase{"DevicesEmptyList",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: a.com/b, "
                "devices: []}]}}",
                "sharing.timeSlicing.resources[0].devices", "empty"},
        BadCase{"DevicesNegativeIndex",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: a.com/b, "
                "devices: [-1]}]}}",
                "sharing.timeSlicing.resources[0].devices[0]", "must not be negative"},
        BadCase{"DevicesNotAGpu",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: a.com/b, "
                "devices: [gpu0]}]}}",
                "sharing.timeSlicing.resources[0].devices[0]", "expected a GPU index or a GPU UUID"},
        BadCase{"DevicesListedTwice",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: a.com/b, "
                "devices: [GPU-ab, GPU-AB]}]}}",
                "sharing.timeSlicing.resources[0].devices[1]", "listed twice"},
        BadCase{"MpsSection",
                "sharing:\n  mps:\n    resources:\n    - name: nvidia.com/gpu\n      replicas: 2\n",
                "sharing.mps", "MPS is not supported, use sharing.timeSlicing"},
        BadCase{"VersionV2", "version: v2\n", "version", "unknown version \"v2\", expected v1"},
        BadCase{"MigStrategyMixed", "flags: {migStrategy: mixed}", "flags.migStrategy",
                "MIG is not supported"},
        BadCase{"MigStrategySingle", "flags: {migStrategy: single}", "flags.migStrategy",
                "MIG is not supported"},
        BadCase{"MigStrategyUnknown", "flags: {migStrategy: some}", "flags.migStrategy",
                "unknown MIG strategy"},
        BadCase{"GdsEnabled", "flags: {gdsEnabled: true}", "flags.gdsEnabled", "not supported"},
        BadCase{"BadDeviceListStrategy", "flags: {plugin: {deviceListStrategy: envvars}}",
                "flags.plugin.deviceListStrategy", "unknown device list strategy \"envvars\""},
        BadCase{"BadDeviceListStrategyInList", "flags: {plugin: {deviceListStrategy: [envvar, cdi]}}",
                "flags.plugin.deviceListStrategy[1]", "unknown device list strategy \"cdi\""},
        BadCase{"EmptyDeviceListStrategyList", "flags: {plugin: {deviceListStrategy: []}}",
                "flags.plugin.deviceListStrategy", "at least one"},
        BadCase{"DeviceListStrategyMap", "flags: {plugin: {deviceListStrategy: {a: b}}}",
                "flags.plugin.deviceListStrategy", "expected a strategy or a list of strategies, got a map"},
        BadCase{"BadDeviceIdStrategy", "flags: {plugin: {deviceIDStrategy: serial}}",
                "flags.plugin.deviceIDStrategy",
                "unknown device ID strategy \"serial\", expected uuid or index"},
        BadCase{"BadAllocationPolicy", "flags: {plugin: {sharedDevicesAllocationPolicy: spread}}",
                "flags.plugin.sharedDevicesAllocationPolicy", "expected distributed or packed"},
        BadCase{"PassDeviceSpecsWords", "flags:\n  plugin:\n    passDeviceSpecs: yes please\n",
                "flags.plugin.passDeviceSpecs", "expected a boolean (true or false), got \"yes please\""},
        BadCase{"PassDeviceSpecsQuoted", "flags: {plugin: {passDeviceSpecs: 'true'}}",
                "flags.plugin.passDeviceSpecs", "expected a boolean"},
        BadCase{"RenameByDefaultList", "sharing: {timeSlicing: {renameByDefault: [], resources: []}}",
                "sharing.timeSlicing.renameByDefault", "expected a boolean (true or false), got a list"},
        BadCase{"FlagsNotAMap", "flags: [a]", "flags", "expected a map, got a list"},
        BadCase{"PluginString", "flags: {plugin: envvar}", "flags.plugin", "expected a map"},
        BadCase{"CdiPrefixMap", "flags: {plugin: {cdiAnnotationPrefix: {}}}",
                "flags.plugin.cdiAnnotationPrefix", "expected a string"},
        BadCase{"FailOnInitErrorWord", "flags: {failOnInitError: maybe}", "flags.failOnInitError",
                "expected a boolean"},
        BadCase{"GfdNotAMap", "flags: {gfd: 3}", "flags.gfd", "expected a map"},
        BadCase{"ResourcesMissing", "sharing: {timeSlicing: {renameByDefault: true}}",
                "sharing.timeSlicing.resources", "required"},
        BadCase{"ResourcesEmpty", "sharing: {timeSlicing: {resources: []}}", "sharing.timeSlicing.resources",
                "at least one"},
        BadCase{"ResourcesMap", "sharing: {timeSlicing: {resources: {name: nvidia.com/gpu}}}",
                "sharing.timeSlicing.resources", "expected a list, got a map"},
        BadCase{"ResourceNotAMap", "sharing: {timeSlicing: {resources: [nvidia.com/gpu]}}",
                "sharing.timeSlicing.resources[0]", "expected a map"},
        // Between entries.
        BadCase{"DuplicateAdvertisedNameByRename",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: a.com/x, "
                "devices: [0]}, {name: nvidia.com/gpu, replicas: 4, rename: a.com/x, devices: [1]}]}}",
                "sharing.timeSlicing.resources[1].rename",
                "\"a.com/x\" is already advertised by "
                "sharing.timeSlicing.resources[0]"},
        BadCase{
            "DuplicateAdvertisedNameByDefault",
            "sharing: {timeSlicing: {renameByDefault: true, resources: [{name: nvidia.com/gpu, replicas: 2, "
            "devices: [0]}, {name: nvidia.com/gpu, replicas: 4}]}}",
            "sharing.timeSlicing.resources[1].name", "\"nvidia.com/gpu.shared\" is already advertised"},
        BadCase{
            "DuplicateAdvertisedNameRenameEqualsShared",
            "sharing: {timeSlicing: {renameByDefault: true, resources: [{name: nvidia.com/gpu, replicas: 2, "
            "devices: [0]}, {name: nvidia.com/gpu, replicas: 4, rename: nvidia.com/gpu.shared}]}}",
            "sharing.timeSlicing.resources[1].rename", "is already advertised"},
        BadCase{"PartialDevicesWithoutRename",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, devices: [0, 1]}]}}",
                "sharing.timeSlicing.resources[0].devices", "set rename"},
        BadCase{"PartialCountWithoutRename",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, devices: 2}]}}",
                "sharing.timeSlicing.resources[0].devices", "renameByDefault"},
        BadCase{"TwoAllEntries",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: a.com/x}, "
                "{name: nvidia.com/gpu, replicas: 4, rename: a.com/y}]}}",
                "sharing.timeSlicing.resources[1].devices", "never apply"},
        BadCase{"EntryAfterAll",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: a.com/x}, "
                "{name: nvidia.com/gpu, replicas: 4, rename: a.com/y, devices: [0]}]}}",
                "sharing.timeSlicing.resources[1].devices", "already shares all GPUs"},
        BadCase{"OverlappingLists",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: a.com/x, "
                "devices: [0, 1]}, {name: nvidia.com/gpu, replicas: 4, rename: a.com/y, devices: [2, 1]}]}}",
                "sharing.timeSlicing.resources[1].devices[1]",
                "GPU \"1\" is already shared by sharing.timeSlicing.resources[0]"},
        BadCase{"OverlappingUuidsAnyCase",
                "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 2, rename: a.com/x, "
                "devices: [GPU-abc]}, {name: nvidia.com/gpu, replicas: 4, rename: a.com/y, devices: "
                "[GPU-ABC]}]}}",
                "sharing.timeSlicing.resources[1].devices[0]", "already shared"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.test_name); });

TEST(ConfigTest, TopLevelNotAMap) {
  absl::StatusOr<PluginConfig> c = ParseConfig("- a\n- b\n", "bad.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(c.status()), "bad.yaml: expected a map of settings, got a list");
}

TEST(ConfigTest, TwoDocuments) {
  absl::StatusOr<PluginConfig> c = ParseConfig("version: v1\n---\nversion: v1\n", "bad.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(c.status()), HasSubstr("one YAML document"));
}

TEST(ConfigTest, ExactMessages) {
  absl::StatusOr<PluginConfig> c = ParseConfig(
      "sharing: {timeSlicing: {resources: [{name: nvidia.com/gpu, replicas: 1}]}}", "config.yaml");
  EXPECT_EQ(Message(c.status()),
            "config.yaml: sharing.timeSlicing.resources[0].replicas: must be at least 2, got 1");
  c = ParseConfig("flags: {plugin: {deviceListStratgy: envvar}}", "config.yaml");
  EXPECT_EQ(Message(c.status()), "config.yaml: flags.plugin.deviceListStratgy: unknown key");
  c = ParseConfig("version: v2", "config.yaml");
  EXPECT_EQ(Message(c.status()), "config.yaml: version: unknown version \"v2\", expected v1");
  c = ParseConfig("sharing: {mps: {resources: []}}", "config.yaml");
  EXPECT_EQ(Message(c.status()), "config.yaml: sharing.mps: MPS is not supported, use sharing.timeSlicing");
  c = ParseConfig("flags: {plugin: {passDeviceSpecs: yes please}}", "config.yaml");
  EXPECT_EQ(
      Message(c.status()),
      "config.yaml: flags.plugin.passDeviceSpecs: expected a boolean (true or false), got \"yes please\"");
}

TEST(ConfigTest, YamlSyntaxErrorHasLineAndColumn) {
  absl::StatusOr<PluginConfig> c =
      ParseConfig("version: v1\nflags:\n  plugin: {passDeviceSpecs: true\n", "s.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(c.status()), StartsWith("s.yaml: invalid YAML at line "));
  EXPECT_THAT(Message(c.status()), HasSubstr(", column "));

  c = ParseConfig("a: b\n  c: d\n", "s.yaml");  // a mapping value where a scalar was
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(Message(c.status()), StartsWith("s.yaml: invalid YAML at line 2, column "));
}

// Found by tests/fuzz/plugin_config: yaml-cpp's LoadAll loops for ever on this stream (an empty
// document after another, never reaching the end), so the plugin hung at start-up on such a file.
TEST(ConfigTest, AStreamTheYamlParserLoopsOnIsRejected) {
  absl::StatusOr<PluginConfig> c = ParseConfig(",-----m---\xd5---o-", "s.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(c.status()), StartsWith("s.yaml: invalid YAML at line 1, column 1: "));
  EXPECT_THAT(Message(c.status()), HasSubstr("makes no progress"));
}

TEST(ConfigTest, SeveralDocumentsAreCountedInTheError) {
  absl::StatusOr<PluginConfig> c = ParseConfig("version: v1\n---\nversion: v1\n---\nversion: v1\n", "s.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(Message(c.status()), HasSubstr("expected one YAML document, got 3"));
}

// ---- LoadConfigFile ----

TEST(LoadConfigFileTest, MissingFileIsNotFound) {
  TempDir dir;
  const std::string path = dir.path() + "/absent.yaml";
  absl::StatusOr<PluginConfig> c = LoadConfigFile(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Message(c.status()), common::Cat("config file ", path, ": no such file"));
}

TEST(LoadConfigFileTest, ErrorsNameThePath) {
  const std::string path = Testdata("bad-misspelt-key.yaml");
  absl::StatusOr<PluginConfig> c = LoadConfigFile(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(c.status()), common::Cat(path, ": flags.plugin.deviceListStratgy: unknown key"));
}

TEST(LoadConfigFileTest, SyntaxErrorNamesPathAndLine) {
  const std::string path = Testdata("bad-syntax.yaml");
  absl::StatusOr<PluginConfig> c = LoadConfigFile(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(c.status()), StartsWith(common::Cat(path, ": invalid YAML at line ")));
}

TEST(LoadConfigFileTest, DirectoryIsAnError) {
  TempDir dir;
  absl::StatusOr<PluginConfig> c = LoadConfigFile(dir.path());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(c.status()), StartsWith(common::Cat("config file ", dir.path(), ": ")));
}

TEST(LoadConfigFileTest, ReadsAWrittenFile) {
  TempDir dir;
  absl::StatusOr<PluginConfig> c = LoadConfigFile(
      dir.Write("c.yaml", "flags:\n  nvidiaDevRoot: /host\n  plugin:\n    deviceIDStrategy: index\n"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->nvidia_dev_root, "/host");
  EXPECT_EQ(c->device_id_strategy, DeviceIdStrategy::kIndex);
}

// ---- Single-value parsers and names ----

TEST(NamesTest, RoundTrip) {
  for (DeviceListStrategy s : {DeviceListStrategy::kEnvvar, DeviceListStrategy::kVolumeMounts,
                               DeviceListStrategy::kCdiAnnotations, DeviceListStrategy::kCdiCri}) {
    absl::StatusOr<std::vector<DeviceListStrategy>> got =
        ParseDeviceListStrategies(DeviceListStrategyName(s), "k");
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, std::vector<DeviceListStrategy>{s});
  }
  EXPECT_EQ(DeviceListStrategyName(DeviceListStrategy::kEnvvar), "envvar");
  EXPECT_EQ(DeviceListStrategyName(DeviceListStrategy::kVolumeMounts), "volume-mounts");
  EXPECT_EQ(DeviceListStrategyName(DeviceListStrategy::kCdiAnnotations), "cdi-annotations");
  EXPECT_EQ(DeviceListStrategyName(DeviceListStrategy::kCdiCri), "cdi-cri");
  EXPECT_EQ(DeviceIdStrategyName(DeviceIdStrategy::kUuid), "uuid");
  EXPECT_EQ(DeviceIdStrategyName(DeviceIdStrategy::kIndex), "index");
  EXPECT_EQ(SharedAllocationPolicyName(SharedAllocationPolicy::kDistributed), "distributed");
  EXPECT_EQ(SharedAllocationPolicyName(SharedAllocationPolicy::kPacked), "packed");
  EXPECT_EQ(*ParseDeviceIdStrategy("index", "k"), DeviceIdStrategy::kIndex);
  EXPECT_EQ(*ParseSharedAllocationPolicy("packed", "k"), SharedAllocationPolicy::kPacked);
}

TEST(ParsersTest, ErrorsNameTheKey) {
  absl::StatusOr<std::vector<DeviceListStrategy>> l =
      ParseDeviceListStrategies("envvar,,cdi-cri", "--device-list");
  ASSERT_FALSE(l.ok());
  EXPECT_THAT(Message(l.status()), StartsWith("--device-list: empty device list strategy"));
  l = ParseDeviceListStrategies("", "--device-list");
  ASSERT_FALSE(l.ok());
  EXPECT_THAT(Message(l.status()), StartsWith("--device-list: at least one"));
  l = ParseDeviceListStrategies("envvar,nope", "--device-list");
  ASSERT_FALSE(l.ok());
  EXPECT_THAT(Message(l.status()), StartsWith("--device-list: unknown device list strategy \"nope\""));
  EXPECT_EQ(Message(ParseDeviceIdStrategy("UUID", "--id").status()),
            "--id: unknown device ID strategy \"UUID\", expected uuid or index");
  EXPECT_THAT(Message(ParseSharedAllocationPolicy("", "--policy").status()), StartsWith("--policy: unknown"));
}

// ---- Environment ----

// A fake environment.
Getenv Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

TEST(EnvTest, NothingSetIsNoOverrides) {
  absl::StatusOr<ConfigOverrides> o = OverridesFromEnvironment(Env({{"UNRELATED", "x"}}));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_FALSE(o->device_list_strategies);
  EXPECT_FALSE(o->device_id_strategy);
  EXPECT_FALSE(o->pass_device_specs);
  EXPECT_FALSE(o->shared_allocation_policy);
  EXPECT_FALSE(o->cdi_annotation_prefix);
  EXPECT_FALSE(o->nvidia_dev_root);
}

TEST(EnvTest, EmptyValuesAreUnset) {
  absl::StatusOr<ConfigOverrides> o = OverridesFromEnvironment(
      Env({{"DEVICE_ID_STRATEGY", ""}, {"PASS_DEVICE_SPECS", ""}, {"NVIDIA_DEV_ROOT", ""}}));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_FALSE(o->device_id_strategy);
  EXPECT_FALSE(o->pass_device_specs);
  EXPECT_FALSE(o->nvidia_dev_root);
}

TEST(EnvTest, EachVariable) {
  absl::StatusOr<ConfigOverrides> o =
      OverridesFromEnvironment(Env({{"DEVICE_LIST_STRATEGY", "volume-mounts,cdi-cri,volume-mounts"},
                                    {"DEVICE_ID_STRATEGY", "index"},
                                    {"PASS_DEVICE_SPECS", "true"},
                                    {"SHARED_DEVICES_ALLOCATION_POLICY", "packed"},
                                    {"CDI_ANNOTATION_PREFIX", "cdi.example.com/"},
                                    {"NVIDIA_DEV_ROOT", "/host"}}));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->device_list_strategies, (std::vector<DeviceListStrategy>{DeviceListStrategy::kVolumeMounts,
                                                                        DeviceListStrategy::kCdiCri}));
  EXPECT_EQ(o->device_id_strategy, DeviceIdStrategy::kIndex);
  EXPECT_EQ(o->pass_device_specs, true);
  EXPECT_EQ(o->shared_allocation_policy, SharedAllocationPolicy::kPacked);
  EXPECT_EQ(o->cdi_annotation_prefix, "cdi.example.com/");
  EXPECT_EQ(o->nvidia_dev_root, "/host");
}

TEST(EnvTest, PassDeviceSpecsAsGoParseBool) {
  for (const char* t : {"1", "t", "T", "TRUE", "true", "True"}) {
    absl::StatusOr<ConfigOverrides> o = OverridesFromEnvironment(Env({{"PASS_DEVICE_SPECS", t}}));
    ASSERT_TRUE(o.ok()) << t << ": " << o.status();
    EXPECT_EQ(o->pass_device_specs, true) << t;
  }
  for (const char* f : {"0", "f", "F", "FALSE", "false", "False"}) {
    absl::StatusOr<ConfigOverrides> o = OverridesFromEnvironment(Env({{"PASS_DEVICE_SPECS", f}}));
    ASSERT_TRUE(o.ok()) << f << ": " << o.status();
    EXPECT_EQ(o->pass_device_specs, false) << f;
  }
  for (const char* bad : {"yes", "tRUE", "2", " true"}) {
    absl::StatusOr<ConfigOverrides> o = OverridesFromEnvironment(Env({{"PASS_DEVICE_SPECS", bad}}));
    ASSERT_FALSE(o.ok()) << bad;
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(o.status()), StartsWith("PASS_DEVICE_SPECS: expected a boolean"));
  }
}

TEST(EnvTest, BadValuesNameTheVariable) {
  const std::map<std::string, std::string> bad = {{"DEVICE_LIST_STRATEGY", "envvar,cdi"},
                                                  {"DEVICE_ID_STRATEGY", "serial"},
                                                  {"SHARED_DEVICES_ALLOCATION_POLICY", "spread"}};
  for (const auto& [name, value] : bad) {
    absl::StatusOr<ConfigOverrides> o = OverridesFromEnvironment(Env({{name, value}}));
    ASSERT_FALSE(o.ok()) << name;
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(o.status()), StartsWith(name + ": unknown")) << name;
  }
}

TEST(EnvTest, DefaultGetenvReadsTheProcessEnvironment) {
  ASSERT_EQ(::setenv("DEVICE_ID_STRATEGY", "index", 1), 0);
  absl::StatusOr<ConfigOverrides> o = OverridesFromEnvironment();
  ::unsetenv("DEVICE_ID_STRATEGY");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->device_id_strategy, DeviceIdStrategy::kIndex);
}

// ---- Precedence: flag > env > file > default ----

TEST(OverridesTest, UnsetLeavesTheConfig) {
  absl::StatusOr<PluginConfig> c = LoadConfigFile(Testdata("nvidia-full.yaml"));
  ASSERT_TRUE(c.ok()) << c.status();
  PluginConfig before = *c;
  ApplyOverrides(ConfigOverrides{}, *c);
  EXPECT_EQ(*c, before);
}

TEST(OverridesTest, FlagOverEnvOverFile) {
  absl::StatusOr<PluginConfig> c = LoadConfigFile(Testdata("nvidia-full.yaml"));
  ASSERT_TRUE(c.ok()) << c.status();
  const PluginConfig file = *c;

  // The environment sets some of what the file sets.
  absl::StatusOr<ConfigOverrides> env = OverridesFromEnvironment(Env({{"DEVICE_ID_STRATEGY", "uuid"},
                                                                      {"PASS_DEVICE_SPECS", "0"},
                                                                      {"DEVICE_LIST_STRATEGY", "envvar"},
                                                                      {"NVIDIA_DEV_ROOT", "/env-root"}}));
  ASSERT_TRUE(env.ok()) << env.status();
  // Flags set some of those again, and one the environment does not.
  ConfigOverrides flags;
  flags.device_id_strategy = DeviceIdStrategy::kIndex;
  flags.cdi_annotation_prefix = "flag.example.com/";

  ApplyOverrides(*env, *c);
  ApplyOverrides(flags, *c);

  EXPECT_EQ(c->device_id_strategy, DeviceIdStrategy::kIndex);  // flag over env
  EXPECT_EQ(c->cdi_annotation_prefix, "flag.example.com/");    // flag over file
  EXPECT_FALSE(c->pass_device_specs);                          // env over file
  EXPECT_EQ(c->device_list_strategies, std::vector<DeviceListStrategy>{DeviceListStrategy::kEnvvar});
  EXPECT_EQ(c->nvidia_dev_root, "/env-root");                             // env over file
  EXPECT_EQ(c->shared_allocation_policy, file.shared_allocation_policy);  // file kept
  EXPECT_EQ(c->time_slicing, file.time_slicing);                          // not overridable
}

TEST(OverridesTest, EveryFieldReplaces) {
  PluginConfig c;
  ConfigOverrides o;
  o.device_list_strategies = std::vector<DeviceListStrategy>{DeviceListStrategy::kCdiAnnotations};
  o.device_id_strategy = DeviceIdStrategy::kIndex;
  o.pass_device_specs = true;
  o.shared_allocation_policy = SharedAllocationPolicy::kPacked;
  o.cdi_annotation_prefix = "p/";
  o.nvidia_dev_root = "/r";
  ApplyOverrides(o, c);
  PluginConfig want;
  want.device_list_strategies = {DeviceListStrategy::kCdiAnnotations};
  want.device_id_strategy = DeviceIdStrategy::kIndex;
  want.pass_device_specs = true;
  want.shared_allocation_policy = SharedAllocationPolicy::kPacked;
  want.cdi_annotation_prefix = "p/";
  want.nvidia_dev_root = "/r";
  EXPECT_EQ(c, want);
}

}  // namespace
}  // namespace deviceapi::deviceplugin
