// Fuzz target: the device plugin's config file parser, ParseConfig (deviceplugin/config.h).
//
// Input: the config document (YAML or JSON). Properties: never crashes, throws or hangs; an error
// is INVALID_ARGUMENT naming the source; an accepted config keeps the documented invariants
// (at least one device list strategy, replicas >= 2, positive device counts, known resource
// names); parsing is deterministic.
#include <string>

#include "absl/strings/match.h"
#include "deviceplugin/config.h"
#include "fuzz_check.h"

namespace dp = ::deviceapi::deviceplugin;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = dp::ParseConfig(text, "fuzz.yaml");
  if (!config.ok()) {
    FUZZ_CHECK(config.status().code() == absl::StatusCode::kInvalidArgument, "%s",
               config.status().ToString().c_str());
    FUZZ_CHECK(absl::StartsWith(config.status().message(), "fuzz.yaml: "),
               "the error does not name the file: %s", config.status().ToString().c_str());
    return 0;
  }
  FUZZ_CHECK(!config->device_list_strategies.empty(), "no device list strategy");
  for (const dp::ReplicatedResource& r : config->time_slicing.resources) {
    FUZZ_CHECK(r.replicas >= 2, "resource %s has %d replicas", r.name.c_str(), r.replicas);
    FUZZ_CHECK(r.name == "nvidia.com/gpu", "unknown resource %s accepted", r.name.c_str());
    if (r.devices.kind == dp::DeviceSelector::Kind::kCount)
      FUZZ_CHECK(r.devices.count >= 1, "device count %d", r.devices.count);
    if (r.devices.kind == dp::DeviceSelector::Kind::kList)
      FUZZ_CHECK(!r.devices.list.empty(), "an empty device list accepted");
  }
  auto again = dp::ParseConfig(text, "fuzz.yaml");
  FUZZ_CHECK(again.ok() && *again == *config, "ParseConfig is not deterministic");
  return 0;
}
