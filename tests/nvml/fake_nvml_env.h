// A driver root for the fake NVML: <tmp>/usr/lib64/libnvidia-ml.so.1 (a link to the fake built in
// tests/fakes/), the fake's JSON config and its events file, all in a private temp directory.
#ifndef DEVICEAPI_TESTS_NVML_FAKE_NVML_ENV_H_
#define DEVICEAPI_TESTS_NVML_FAKE_NVML_ENV_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace deviceapi::nvmltest {

class FakeNvmlEnv {
 public:
  // `devices`: the initial device list (see DefaultDevices()).
  explicit FakeNvmlEnv(const std::vector<nlohmann::json>& devices);
  ~FakeNvmlEnv();
  FakeNvmlEnv(const FakeNvmlEnv&) = delete;
  FakeNvmlEnv& operator=(const FakeNvmlEnv&) = delete;

  const std::string& root() const { return root_; }  // --driver-root
  const std::string& dir() const { return root_; }
  std::string config_path() const { return root_ + "/fake-nvml.json"; }
  std::string events_path() const { return root_ + "/events"; }

  // Replaces the device list (atomically: write + rename, so the fake sees it whole).
  void SetDevices(const std::vector<nlohmann::json>& devices);
  const std::vector<nlohmann::json>& devices() const { return devices_; }
  // Appends "<uuid> <what>" to the events file (what: an XID number, "sbe" or "dbe").
  void Inject(const std::string& uuid, const std::string& what);

 private:
  std::string root_;
  std::vector<nlohmann::json> devices_;
};

// `n` H100-like devices with distinct UUIDs, bus IDs, minors, serials; NUMA node i / 4.
std::vector<nlohmann::json> DefaultDevices(int n);

}  // namespace deviceapi::nvmltest

#endif  // DEVICEAPI_TESTS_NVML_FAKE_NVML_ENV_H_
