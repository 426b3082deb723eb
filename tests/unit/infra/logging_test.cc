#include "common/logging.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/ostream_sink.h"

namespace deviceapi::common {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

class LoggingTest : public ::testing::Test {
 protected:
  void Init(int v, std::string_view format) {
    InitLogging(v, format, std::make_shared<spdlog::sinks::ostream_sink_st>(out_));
  }
  ~LoggingTest() override { InitLogging(0, "text"); }
  std::ostringstream out_;
};

// Text lines carry klog's header: level letter, date, time, thread, file:line.
TEST_F(LoggingTest, TextLooksLikeKlog) {
  Init(0, "text");
  DAPI_LOG_INFO("hello {}", 42);
  EXPECT_THAT(out_.str(), MatchesRegex("I[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6} [0-9]+ "
                                       "logging_test\\.cc:[0-9]+\\] hello 42\n"));
}

// JSON lines are one parseable object with ts, level, msg.
TEST_F(LoggingTest, JsonIsOneObjectPerLine) {
  Init(0, "json");
  DAPI_LOG_WARN("quote \" and\nnewline");
  std::string line = out_.str();
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j.at("level"), "warning");
  EXPECT_EQ(j.at("msg"), "quote \" and\nnewline");
  EXPECT_THAT(j.at("ts").get<std::string>(), MatchesRegex("[0-9-]+T[0-9:.]+Z"));
  EXPECT_THAT(j.at("caller").get<std::string>(), HasSubstr("logging_test.cc:"));
}

// DAPI_VLOG(n) logs only when -v >= n, and does not evaluate its arguments otherwise.
TEST_F(LoggingTest, VlogHonoursVerbosity) {
  Init(2, "text");
  EXPECT_TRUE(VLogIsOn(2));
  EXPECT_FALSE(VLogIsOn(3));
  int evaluated = 0;
  auto count = [&] { return ++evaluated; };
  DAPI_VLOG(3, "hidden {}", count());
  EXPECT_EQ(evaluated, 0);
  EXPECT_EQ(out_.str(), "");
  DAPI_VLOG(2, "shown {}", count());
  EXPECT_EQ(evaluated, 1);
  EXPECT_THAT(out_.str(), HasSubstr("] shown 1"));
}

}  // namespace
}  // namespace deviceapi::common
