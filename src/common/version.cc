#include "common/version.h"

#include "nlohmann/json.hpp"

#ifndef DEVICEAPI_VERSION
#define DEVICEAPI_VERSION "unknown"
#endif
#ifndef DEVICEAPI_GIT_COMMIT
#define DEVICEAPI_GIT_COMMIT "unknown"
#endif
#ifndef DEVICEAPI_BUILD_DATE
#define DEVICEAPI_BUILD_DATE "unknown"
#endif
#ifndef DEVICEAPI_COMPILER
#define DEVICEAPI_COMPILER "unknown"
#endif
#ifndef DEVICEAPI_PLATFORM
#define DEVICEAPI_PLATFORM "unknown"
#endif

namespace deviceapi::common {

const BuildInfo& GetBuildInfo() {
  static const BuildInfo* const kInfo = new BuildInfo{
      DEVICEAPI_VERSION, DEVICEAPI_GIT_COMMIT, DEVICEAPI_BUILD_DATE, DEVICEAPI_COMPILER, DEVICEAPI_PLATFORM,
  };
  return *kInfo;
}

std::string VersionJson() {
  const BuildInfo& info = GetBuildInfo();
  // ordered_json keeps the documented key order.
  nlohmann::ordered_json j;
  j["version"] = info.version;
  j["gitCommit"] = info.git_commit;
  j["buildDate"] = info.build_date;
  j["compiler"] = info.compiler;
  j["platform"] = info.platform;
  return j.dump(2);
}

}  // namespace deviceapi::common
