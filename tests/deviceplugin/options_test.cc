// gpu-device-plugin's flags: defaults, NVIDIA's DaemonSet args, errors naming the flag, and the
// effective config's precedence (flag > environment > file).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "deviceplugin/options.h"

namespace deviceapi::deviceplugin {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<ParseResult> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "gpu-device-plugin");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::ostringstream out;
  return ParsePluginOptions(static_cast<int>(argv.size()), argv.data(), out);
}

TEST(PluginOptions, Defaults) {
  auto r = Parse({"--server-address", "unix:///run/api.sock"});
  ASSERT_TRUE(r.ok()) << r.status();
  const PluginOptions& o = r->options;
  EXPECT_EQ(o.device_plugin_path, "/var/lib/kubelet/device-plugins/");
  EXPECT_EQ(o.KubeletSocketPath(), "/var/lib/kubelet/device-plugins/kubelet.sock");
  EXPECT_TRUE(o.register_with_kubelet);
  EXPECT_EQ(o.api_unavailable_grace, absl::Seconds(60));
  EXPECT_EQ(o.unknown_health, UnknownHealth::kHealthy);
  EXPECT_TRUE(o.metrics);
  EXPECT_EQ(o.metrics_host, "");
  EXPECT_EQ(o.metrics_port, 2112);
  EXPECT_FALSE(o.overrides.device_list_strategies.has_value());
}

TEST(PluginOptions, KubeletSocket) {
  auto r = Parse({"--server-address", "unix:///a.sock", "--device-plugin-path", "/tmp/dp", "--kubelet-socket",
                  "k.sock"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->options.KubeletSocketPath(), "/tmp/dp/k.sock");
  r = Parse({"--server-address", "unix:///a.sock", "--kubelet-socket", "/elsewhere/kubelet.sock"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->options.KubeletSocketPath(), "/elsewhere/kubelet.sock");
  r = Parse({"--server-address", "unix:///a.sock", "--kubelet-socket", ""});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->options.register_with_kubelet);
}

// The args of NVIDIA's DaemonSet are accepted; the ones that choose something are honoured.
TEST(PluginOptions, NvidiaDaemonSetArgs) {
  auto r = Parse({"--server-address", "unix:///a.sock", "--mig-strategy=none", "--fail-on-init-error=false",
                  "--nvidia-driver-root=/run/nvidia/driver", "--pass-device-specs=true",
                  "--device-list-strategy=envvar,cdi-cri", "--device-id-strategy=index",
                  "--cdi-annotation-prefix=cdi.example.com/", "--nvidia-dev-root=/host"});
  ASSERT_TRUE(r.ok()) << r.status();
  const ConfigOverrides& ov = r->options.overrides;
  ASSERT_TRUE(ov.device_list_strategies.has_value());
  EXPECT_EQ(*ov.device_list_strategies,
            (std::vector<DeviceListStrategy>{DeviceListStrategy::kEnvvar, DeviceListStrategy::kCdiCri}));
  EXPECT_EQ(ov.device_id_strategy, DeviceIdStrategy::kIndex);
  EXPECT_EQ(ov.pass_device_specs, true);
  EXPECT_EQ(ov.cdi_annotation_prefix, "cdi.example.com/");
  EXPECT_EQ(ov.nvidia_dev_root, "/host");
}

TEST(PluginOptions, ErrorsNameTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string want;
  };
  for (const Case& c : std::vector<Case>{
           {{"--api-unavailable-grace", "soon"}, "--api-unavailable-grace"},
           {{"--api-timeout", "1ms"}, "--api-timeout must be at least"},
           {{"--unknown-health", "maybe"}, "--unknown-health must be"},
           {{"--metrics-bind-address", "nope"}, "--metrics-bind-address"},
           {{"--device-list-strategy", "carrier-pigeon"}, "--device-list-strategy"},
           {{"--device-id-strategy", "serial"}, "--device-id-strategy"},
           {{"--shared-devices-allocation-policy", "random"}, "--shared-devices-allocation-policy"},
           {{"--pass-device-specs", "perhaps"}, "--pass-device-specs must be true or false"},
           {{"--mig-strategy", "mixed"}, "MIG is not supported"},
           {{"--device-plugin-path", "relative/dir"}, "--device-plugin-path must be an absolute directory"},
           {{"--log-format", "xml"}, "--log-format"},
           {{"--server-address", "http://x"}, "--server-address"},
       }) {
    std::vector<std::string> args = {"--server-address", "unix:///a.sock"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto r = Parse(args);
    ASSERT_FALSE(r.ok()) << c.want;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.want));
  }
  EXPECT_EQ(Parse({"--server-address", "unix:///a.sock", "--metrics-bind-address", "0"})->options.metrics,
            false);
}

// flag > environment > file > default.
TEST(PluginOptions, EffectiveConfigPrecedence) {
  char tmpl[] = "/tmp/dp-options-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/config.yaml";
  std::ofstream(path) << "flags:\n  plugin:\n    deviceIDStrategy: index\n    passDeviceSpecs: true\n"
                         "    deviceListStrategy: volume-mounts\n";
  auto r = Parse(
      {"--server-address", "unix:///a.sock", "--config-file", path, "--device-list-strategy", "cdi-cri"});
  ASSERT_TRUE(r.ok()) << r.status();
  auto env = [](const char* name) -> const char* {
    return std::string(name) == "PASS_DEVICE_SPECS" ? "false" : nullptr;
  };
  absl::StatusOr<PluginConfig> c = LoadEffectiveConfig(r->options, env);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->device_id_strategy, DeviceIdStrategy::kIndex);  // file
  EXPECT_FALSE(c->pass_device_specs);                          // env over file
  EXPECT_EQ(c->device_list_strategies, std::vector<DeviceListStrategy>{DeviceListStrategy::kCdiCri});  // flag
  // A bad env value is an error naming the variable; a missing file names the path.
  auto bad_env = [](const char* name) -> const char* {
    return std::string(name) == "DEVICE_ID_STRATEGY" ? "serial" : nullptr;
  };
  c = LoadEffectiveConfig(r->options, bad_env);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("DEVICE_ID_STRATEGY"));
  r->options.config_file = std::string(tmpl) + "/missing.yaml";
  c = LoadEffectiveConfig(r->options, env);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("missing.yaml"));
  std::remove(path.c_str());
  ::rmdir(tmpl);
}

}  // namespace
}  // namespace deviceapi::deviceplugin
