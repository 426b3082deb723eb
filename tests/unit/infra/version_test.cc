#include "common/version.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace deviceapi::common {
namespace {

// VersionJson() is the documented 5-key object, 2-space indented, matching GetBuildInfo().
TEST(VersionTest, JsonHasTheFiveKeys) {
  std::string text = VersionJson();
  nlohmann::json j = nlohmann::json::parse(text);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.size(), 5u);
  const BuildInfo& info = GetBuildInfo();
  EXPECT_EQ(j.at("version"), info.version);
  EXPECT_EQ(j.at("gitCommit"), info.git_commit);
  EXPECT_EQ(j.at("buildDate"), info.build_date);
  EXPECT_EQ(j.at("compiler"), info.compiler);
  EXPECT_EQ(j.at("platform"), info.platform);
  EXPECT_EQ(text.rfind("{\n  \"version\": ", 0), 0u) << text;
  EXPECT_FALSE(info.version.empty());
  EXPECT_NE(info.version, "unknown");  // the build passes the definitions in
}

}  // namespace
}  // namespace deviceapi::common
