// Golden-output tests of devicectl: the real binary against a real in-process server, one server
// and one temp directory per test. Each test's transcript is compared with golden/<Test>.golden
// (UPDATE_GOLDEN=1 rewrites them; review the diff).
#include <signal.h>

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "cli/golden_harness.h"
#include "testutil/test_server.h"

namespace deviceapi::cli_test {
namespace {

// "Now" for ages: this far after the test starts, so every object created during the test
// shows the same rounded age ("2d3h") however slow the machine is (up to 30 minutes).
constexpr absl::Duration kAgeOffset = absl::Minutes(51 * 60 + 30);

constexpr char kTwoGpus[] = R"(apiVersion: device.nvidia.com/v1alpha1
kind: GPU
metadata:
  name: gpu-0
  labels:
    nvidia.com/gpu.product: H100
    rack: "7"
  annotations:
    example.com/owner: team-a
spec:
  uuid: GPU-0a1b2c3d
  productName: NVIDIA H100 80GB HBM3
  memoryBytes: 85899345920
  pciBusId: "0000:1b:00.0"
  minorNumber: 0
  numaNode: 0
  architecture: Hopper
  computeCapability: "9.0"
  driverVersion: 550.54.15
  serial: "1654922000123"
status:
  recommendedAction: ResetGPU
  conditions:
  - type: NVMLReady
    status: "True"
    reason: NVMLInitialized
    message: NVML answers
  - type: XidHealthy
    status: "False"
    reason: Xid79
    message: GPU has fallen off the bus
---
apiVersion: device.nvidia.com/v1alpha1
kind: GPU
metadata:
  name: gpu-1
  labels:
    rack: "8"
spec:
  uuid: GPU-4e5f6a7b
  productName: NVIDIA A100-SXM4-40GB
  memoryBytes: 42949672960
  pciBusId: "0000:2c:00.0"
  minorNumber: 1
  numaNode: 1
  driverVersion: 550.54.15
)";

class DevicectlGoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = deviceapi::testing::TestServer::Start();
    now_ = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now() + kAgeOffset, absl::UTCTimeZone());
    golden_ = std::make_unique<Golden>(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }

  void CheckGolden() { golden_->Check({{server_->target(), "<TARGET>"}, {dir_.path(), "<TMP>"}}); }

  std::map<std::string, std::string> Env() const {
    return {{"NVIDIA_DEVICE_API_TARGET", server_->target()}, {"DEVICECTL_NOW", now_}};
  }

  static std::string Quote(const std::string& arg) {
    if (!arg.empty() && arg.find_first_of(" \"'{}[]$*\\") == std::string::npos) return arg;
    return absl::StrCat("'", arg, "'");
  }

  // Runs devicectl, records it in the transcript, and checks the error contract: a failure is
  // exactly one line on stderr.
  RunResult Run(const std::vector<std::string>& args, const std::string& stdin_text = "",
                const std::map<std::string, std::string>& env_override = {}) {
    std::map<std::string, std::string> env = Env();
    for (const auto& [k, v] : env_override) env[k] = v;
    Process p(args, CleanEnvironment(env), dir_.path(), stdin_text);
    RunResult r = p.Wait();
    std::vector<std::string> shown;
    for (const std::string& a : args) shown.push_back(Quote(a));
    std::string line = absl::StrJoin(shown, " ");
    if (!stdin_text.empty()) line += " < stdin";
    golden_->Add(line, r);
    if (r.exit_code != 0) {
      // One line per error (a file with several failing objects gives one line each).
      EXPECT_EQ(r.exit_code, 1) << line;
      EXPECT_TRUE(absl::EndsWith(r.err, "\n")) << line;
      for (absl::string_view l : absl::StrSplit(absl::StripSuffix(r.err, "\n"), '\n')) {
        EXPECT_TRUE(absl::StartsWith(l, "error: ") || absl::StartsWith(l, "Error from server ("))
            << line << ": each error must be one line, got:\n"
            << r.err;
      }
    }
    return r;
  }

  std::string WriteFile(const std::string& name, const std::string& content) {
    const std::string path = dir_.path() + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  void CreateTwoGpus() {
    const RunResult r = Run({"create", "-f", WriteFile("gpus.yaml", kTwoGpus)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  static int Lines(const std::string& text) {
    return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  }

  deviceapi::testing::TempDir dir_;
  std::unique_ptr<deviceapi::testing::TestServer> server_;
  std::string now_;
  std::unique_ptr<Golden> golden_;
};

// An empty server: kubectl's "No resources found" on stderr, exit 0; json/yaml print an empty list.
TEST_F(DevicectlGoldenTest, GetEmpty) {
  Run({"get", "gpus"});
  Run({"get", "gpus", "-A"});
  Run({"get", "gpus", "-n", "team-a"});
  Run({"get", "gpus", "-o", "json"});
  Run({"get", "gpus", "-o", "yaml"});
  Run({"get", "gpus", "-o", "name"});
  CheckGolden();
}

// Every output format of `get`, for lists and single objects.
TEST_F(DevicectlGoldenTest, GetFormats) {
  CreateTwoGpus();
  Run({"get", "gpus"});
  Run({"get", "gpu"});
  Run({"get", "gpus", "-o", "wide"});
  Run({"get", "gpus", "-A"});
  Run({"get", "gpus", "-A", "-o", "wide"});
  Run({"get", "gpus", "-o", "name"});
  Run({"get", "gpus", "-o", "json"});
  Run({"get", "gpus", "-o", "yaml"});
  Run({"get", "gpu", "gpu-0"});
  Run({"get", "gpu/gpu-1", "-o", "wide"});
  Run({"get", "gpu", "gpu-0", "-o", "json"});
  Run({"get", "gpu", "gpu-0", "-o", "yaml"});
  Run({"get", "gpu", "gpu-0", "-o", "name"});
  CheckGolden();
}

// Label selectors with the Kubernetes syntax; a bad one is the server's Invalid error.
TEST_F(DevicectlGoldenTest, GetSelector) {
  CreateTwoGpus();
  Run({"get", "gpus", "-l", "rack=7"});
  Run({"get", "gpus", "-l", "rack in (7,8)", "-o", "name"});
  Run({"get", "gpus", "-l", "nvidia.com/gpu.product"});
  Run({"get", "gpus", "-l", "rack=9"});
  Run({"get", "gpus", "-l", "rack==="});
  CheckGolden();
}

// Namespaces: -n on create and get, -A adds the NAMESPACE column, a file's namespace must match -n.
TEST_F(DevicectlGoldenTest, Namespaces) {
  CreateTwoGpus();
  const std::string other = WriteFile("other.yaml", R"(apiVersion: device.nvidia.com/v1alpha1
kind: GPU
metadata:
  name: gpu-0
  namespace: team-b
spec:
  uuid: GPU-99999999
  productName: NVIDIA L4
)");
  Run({"create", "-f", other});
  Run({"create", "-f", other, "-n", "team-c"});
  Run({"get", "gpus", "-n", "team-b"});
  Run({"get", "gpus", "--all-namespaces"});
  Run({"describe", "gpu", "gpu-0", "-n", "team-b"});
  Run({"delete", "gpu", "gpu-0", "--namespace", "team-b"});
  Run({"get", "gpus", "-n", "team-b"});
  CheckGolden();
}

// describe: metadata, spec, status with the recommended action and the conditions with ages.
TEST_F(DevicectlGoldenTest, Describe) {
  CreateTwoGpus();
  Run({"describe", "gpu", "gpu-0"});
  Run({"describe", "gpus", "gpu-1"});
  Run({"describe", "gpu/gpu-1"});
  Run({"describe", "gpu", "missing"});
  CheckGolden();
}

// create from YAML, from JSON on stdin, and the errors: AlreadyExists, bad documents.
TEST_F(DevicectlGoldenTest, Create) {
  CreateTwoGpus();
  Run({"create", "-f", "-"}, R"({"apiVersion": "device.nvidia.com/v1alpha1", "kind": "GPU",
    "metadata": {"name": "gpu-2", "labels": {"rack": "9"}},
    "spec": {"uuid": "GPU-12345678", "memory_bytes": "1073741824"}})");
  Run({"create", "-f", "-"}, R"({"apiVersion": "device.nvidia.com/v1alpha1", "kind": "GPUList", "items": [
    {"metadata": {"name": "gpu-3"}, "spec": {"uuid": "GPU-3"}},
    {"metadata": {"name": "gpu-4"}, "spec": {"uuid": "GPU-4"}}]})");
  Run({"get", "gpus", "-o", "wide"});
  Run({"create", "-f", WriteFile("gpus.yaml", kTwoGpus)});
  Run({"create", "-f", WriteFile("pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n")});
  Run({"create", "-f", WriteFile("nokind.yaml", "metadata:\n  name: x\n")});
  Run({"create", "-f", WriteFile("bad.yaml", "kind: GPU\nmetadata: [\n")});
  Run({"create", "-f", WriteFile("unknown.yaml", "kind: GPU\nmetadata:\n  name: x\nspec:\n  colour: red\n")});
  Run({"create", "-f", WriteFile("badname.yaml", "kind: GPU\nmetadata:\n  name: Not_Valid\n")});
  Run({"create", "-f", dir_.path() + "/missing.yaml"});
  Run({"create", "-f", WriteFile("empty.yaml", "")});
  CheckGolden();
}

// apply creates, then reports unchanged, then updates spec/labels and status (status kept
// through SetCondition rules: an unchanged condition keeps its transition time).
TEST_F(DevicectlGoldenTest, Apply) {
  const std::string file = WriteFile("gpus.yaml", kTwoGpus);
  Run({"apply", "-f", file});
  Run({"apply", "-f", file});
  std::string changed = kTwoGpus;
  changed.replace(changed.find("rack: \"8\""), 9, "rack: \"10\"");
  changed.replace(changed.find("status: \"False\""), 15, "status: \"True\"");
  Run({"apply", "-f", WriteFile("changed.yaml", changed)});
  Run({"get", "gpus", "-o", "wide", "--show-labels"});
  Run({"get", "gpus", "-l", "rack=10"});
  Run({"describe", "gpu", "gpu-0"});
  Run({"apply", "-f", "-"}, R"({"apiVersion": "device.nvidia.com/v1alpha1", "kind": "GPU",
    "metadata": {"name": "gpu-1"}, "spec": {"uuid": "GPU-4e5f6a7b", "productName": "renamed"},
    "status": {"conditions": [{"type": "NVMLReady", "status": "Unknown", "reason": "Probing"}]}})");
  Run({"get", "gpus"});
  Run({"apply"});
  CheckGolden();
}

// delete prints kubectl's message; a missing GPU is NotFound unless --ignore-not-found.
TEST_F(DevicectlGoldenTest, Delete) {
  CreateTwoGpus();
  Run({"delete", "gpu", "gpu-0"});
  Run({"delete", "gpu", "gpu-0"});
  Run({"delete", "gpu", "gpu-0", "--ignore-not-found"});
  Run({"delete", "gpus", "gpu-1"});
  Run({"delete", "gpu"});
  Run({"get", "gpus"});
  CheckGolden();
}

// patch: merge and JSON patches of the object and of its status; bad patches are errors.
TEST_F(DevicectlGoldenTest, Patch) {
  CreateTwoGpus();
  Run({"patch", "gpu", "gpu-1", "-p", R"({"metadata":{"labels":{"rack":"12","zone":"b"}}})"});
  Run({"patch", "gpu", "gpu-1", "--type", "json", "-p",
       R"j([{"op":"replace","path":"/spec/productName","value":"NVIDIA A100 (patched)"}])j"});
  Run({"patch", "gpu", "gpu-1", "--type", "merge", "--subresource", "status", "-p",
       R"({"status":{"recommendedAction":"Drain","conditions":[{"type":"NVMLReady","status":"False","reason":"Lost"}]}})"});
  Run({"get", "gpu", "gpu-1", "-o", "yaml"});
  Run({"patch", "gpu", "gpu-1", "--type", "json", "-p",
       R"([{"op":"test","path":"/spec/uuid","value":"other"}])"});
  Run({"patch", "gpu", "gpu-1", "-p", "{not json"});
  Run({"patch", "gpu", "missing", "-p", "{}"});
  Run({"patch", "gpu", "gpu-1", "--type", "strategic", "-p", "{}"});
  Run({"patch", "gpu", "gpu-1", "--subresource", "scale", "-p", "{}"});
  Run({"patch", "gpu", "gpu-1"});
  CheckGolden();
}

// set condition: adds or replaces one condition with SetCondition semantics, for operators.
TEST_F(DevicectlGoldenTest, SetCondition) {
  CreateTwoGpus();
  Run({"set", "condition", "gpu-1", "NVMLReady=True", "--reason", "NVMLInitialized", "--message",
       "NVML answers"});
  Run({"get", "gpus"});
  Run({"set", "condition", "gpu-0", "XidHealthy=True", "--reason", "Recovered"});
  Run({"set", "condition", "gpu-0", "NVMLReady=True", "--reason", "NVMLInitialized", "--message",
       "NVML answers"});
  Run({"describe", "gpu", "gpu-0"});
  Run({"get", "gpus"});
  Run({"set", "condition", "gpu-0", "NVMLReady=Maybe"});
  Run({"set", "condition", "gpu-0", "NVMLReady"});
  Run({"set", "condition", "missing", "NVMLReady=True", "--reason", "X"});
  Run({"set", "condition", "gpu-0", "NVMLReady=True", "--reason", "not a reason"});
  Run({"set"});
  CheckGolden();
}

// get -w: the list, then one row per change, until SIGINT (exit 0).
TEST_F(DevicectlGoldenTest, Watch) {
  CreateTwoGpus();
  Process watch({"get", "gpus", "-w"}, CleanEnvironment(Env()), dir_.path(), "");
  ASSERT_TRUE(deviceapi::testing::WaitFor([&] { return Lines(watch.Stdout()) >= 3; }, absl::Seconds(60)))
      << watch.Stdout() << watch.Stderr();
  Run({"set", "condition", "gpu-1", "NVMLReady=False", "--reason", "Lost"});
  ASSERT_TRUE(deviceapi::testing::WaitFor([&] { return Lines(watch.Stdout()) >= 4; }, absl::Seconds(60)));
  Run({"delete", "gpu", "gpu-0"});
  ASSERT_TRUE(deviceapi::testing::WaitFor([&] { return Lines(watch.Stdout()) >= 5; }, absl::Seconds(60)));
  Run({"create", "-f", "-"}, "kind: GPU\nmetadata:\n  name: a-much-longer-gpu-name\nspec:\n  uuid: GPU-77\n");
  ASSERT_TRUE(deviceapi::testing::WaitFor([&] { return Lines(watch.Stdout()) >= 6; }, absl::Seconds(60)));
  watch.Signal(SIGINT);
  golden_->Add("get gpus -w  # then SIGINT", watch.Wait());
  CheckGolden();
}

// get NAME -w with -o name / -o yaml: only that GPU's changes.
TEST_F(DevicectlGoldenTest, WatchOneObject) {
  CreateTwoGpus();
  Process names({"get", "gpu", "gpu-1", "-w", "-o", "name"}, CleanEnvironment(Env()), dir_.path(), "");
  Process yaml({"get", "gpu", "gpu-1", "-w", "-o", "yaml"}, CleanEnvironment(Env()), dir_.path(), "");
  ASSERT_TRUE(deviceapi::testing::WaitFor(
      [&] { return Lines(names.Stdout()) >= 1 && Lines(yaml.Stdout()) >= 5; }, absl::Seconds(60)));
  Run({"patch", "gpu", "gpu-0", "-p", R"({"metadata":{"labels":{"ignored":"yes"}}})"});
  Run({"patch", "gpu", "gpu-1", "-p", R"({"metadata":{"labels":{"seen":"yes"}}})"});
  ASSERT_TRUE(deviceapi::testing::WaitFor(
      [&] { return Lines(names.Stdout()) >= 2 && absl::StrContains(yaml.Stdout(), "seen"); },
      absl::Seconds(60)));
  names.Signal(SIGINT);
  yaml.Signal(SIGTERM);
  golden_->Add("get gpu gpu-1 -w -o name  # then SIGINT", names.Wait());
  golden_->Add("get gpu gpu-1 -w -o yaml  # then SIGTERM", yaml.Wait());
  Run({"get", "gpu", "missing", "-w"});
  CheckGolden();
}

// Bad flags and arguments: one line on stderr, exit 1.
TEST_F(DevicectlGoldenTest, BadFlags) {
  Run({});
  Run({"frobnicate"});
  Run({"get"});
  Run({"get", "gpus", "--bogus"});
  Run({"get", "gpus", "-o"});
  Run({"get", "gpus", "-o", "table"});
  Run({"get", "pods"});
  Run({"get", "gpus", "a", "b"});
  Run({"get", "gpus", "gpu-0", "-A"});
  Run({"get", "gpu/gpu-0", "gpu-1"});
  Run({"create"});
  Run({"set", "frobnicate"});
  Run({"set", "condition"});
  Run({"describe", "gpu"});
  Run({"get", "gpus", "--now", "yesterday"});
  Run({"get", "gpus", "--request-timeout", "soon"});
  Run({"get", "gpus"}, "", {{"DEVICECTL_NOW", "not-a-time"}});
  CheckGolden();
}

// --server wins over NVIDIA_DEVICE_API_TARGET; non-local and unreachable targets fail in one line.
TEST_F(DevicectlGoldenTest, ServerSelection) {
  CreateTwoGpus();
  const std::string missing = "unix://" + dir_.path() + "/missing.sock";
  Run({"get", "gpus", "-o", "name"}, "", {{"NVIDIA_DEVICE_API_TARGET", missing}});
  Run({"--server", server_->target(), "get", "gpus", "-o", "name"}, "",
      {{"NVIDIA_DEVICE_API_TARGET", missing}});
  Run({"get", "gpus", "-o", "name", "--server", server_->target()}, "",
      {{"NVIDIA_DEVICE_API_TARGET", missing}});
  Run({"get", "gpus", "--server", "dns:///example.com:443"});
  Run({"version"});
  Run({"version", "--server", missing});
  CheckGolden();
}

}  // namespace
}  // namespace deviceapi::cli_test
