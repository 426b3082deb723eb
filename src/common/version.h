// Build metadata of this binary, as printed by --version and exported as device_api_server_info.
#ifndef DEVICEAPI_COMMON_VERSION_H_
#define DEVICEAPI_COMMON_VERSION_H_

#include <string>

namespace deviceapi::common {

// Values baked in at compile time (see cmake/DeviceapiVersion.cmake). Never empty: a value the
// build did not provide reads "unknown".
struct BuildInfo {
  std::string version;     // "0.1.0"
  std::string git_commit;  // short commit hash or "unknown"
  std::string build_date;  // RFC 3339 UTC, "2024-11-23T06:25:13Z"
  std::string compiler;    // "GNU-12.2.0"
  std::string platform;    // "Linux/x86_64"
};

// The process-wide build info. Thread-safe; the reference stays valid for the program's life.
const BuildInfo& GetBuildInfo();

// {"version","gitCommit","buildDate","compiler","platform"} as JSON indented by 2 spaces, without
// a trailing newline.
std::string VersionJson();

}  // namespace deviceapi::common

#endif  // DEVICEAPI_COMMON_VERSION_H_
