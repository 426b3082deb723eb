#include "common/duration.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace deviceapi::common {
namespace {

using ::testing::HasSubstr;

// Every Go spelling the flags document parses to the same value Go would produce.
TEST(ParseGoDurationTest, AcceptsGoSyntax) {
  struct Case {
    const char* text;
    absl::Duration want;
  } cases[] = {
      {"0", absl::ZeroDuration()},
      {"-0", absl::ZeroDuration()},
      {"0s", absl::ZeroDuration()},
      {"25s", absl::Seconds(25)},
      {"1m30s", absl::Seconds(90)},
      {"500ms", absl::Milliseconds(500)},
      {"1.5h", absl::Minutes(90)},
      {"10m", absl::Minutes(10)},
      {"1h2m3s4ms5us6ns", absl::Hours(1) + absl::Minutes(2) + absl::Seconds(3) + absl::Milliseconds(4) +
                              absl::Microseconds(5) + absl::Nanoseconds(6)},
      {"3\xC2\xB5s", absl::Microseconds(3)},
      {".5s", absl::Milliseconds(500)},
      {"1.s", absl::Seconds(1)},
      {"+5s", absl::Seconds(5)},
      {"-1.5s", absl::Milliseconds(-1500)},
      {"2562047h47m16.854775807s", absl::Nanoseconds(INT64_MAX)},
  };
  for (const Case& c : cases) {
    absl::StatusOr<absl::Duration> got = ParseGoDuration(c.text);
    ASSERT_TRUE(got.ok()) << c.text << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.text;
  }
}

// Malformed text is rejected with Go's messages.
TEST(ParseGoDurationTest, RejectsMalformedText) {
  EXPECT_THAT(ParseGoDuration("").status().message(), HasSubstr("time: invalid duration \"\""));
  EXPECT_THAT(ParseGoDuration("abc").status().message(), HasSubstr("invalid duration \"abc\""));
  EXPECT_THAT(ParseGoDuration("5").status().message(), HasSubstr("time: missing unit in duration \"5\""));
  EXPECT_THAT(ParseGoDuration("1d").status().message(),
              HasSubstr("time: unknown unit \"d\" in duration \"1d\""));
  EXPECT_FALSE(ParseGoDuration(".s").ok());
  EXPECT_FALSE(ParseGoDuration("-").ok());
  EXPECT_FALSE(ParseGoDuration("1s ").ok());
  EXPECT_FALSE(ParseGoDuration("9999999999999h").ok());
  EXPECT_EQ(ParseGoDuration("x").status().code(), absl::StatusCode::kInvalidArgument);
}

// Formatting matches Go's Duration.String().
TEST(FormatGoDurationTest, MatchesGo) {
  EXPECT_EQ(FormatGoDuration(absl::ZeroDuration()), "0s");
  EXPECT_EQ(FormatGoDuration(absl::Seconds(25)), "25s");
  EXPECT_EQ(FormatGoDuration(absl::Seconds(90)), "1m30s");
  EXPECT_EQ(FormatGoDuration(absl::Minutes(10)), "10m0s");
  EXPECT_EQ(FormatGoDuration(absl::Hours(1)), "1h0m0s");
  EXPECT_EQ(FormatGoDuration(absl::Milliseconds(500)), "500ms");
  EXPECT_EQ(FormatGoDuration(absl::Microseconds(1500)), "1.5ms");
  EXPECT_EQ(FormatGoDuration(absl::Nanoseconds(1500)), "1.5\xC2\xB5s");
  EXPECT_EQ(FormatGoDuration(absl::Nanoseconds(7)), "7ns");
  EXPECT_EQ(FormatGoDuration(absl::Milliseconds(1500)), "1.5s");
  EXPECT_EQ(FormatGoDuration(absl::Milliseconds(-1500)), "-1.5s");
  EXPECT_EQ(FormatGoDuration(absl::Nanoseconds(INT64_MAX)), "2562047h47m16.854775807s");
}

// Format then parse gives the value back.
TEST(FormatGoDurationTest, RoundTrips) {
  for (absl::Duration d : {absl::Nanoseconds(1), absl::Microseconds(3), absl::Milliseconds(12345),
                           absl::Hours(49) + absl::Nanoseconds(1), -absl::Seconds(3)}) {
    absl::StatusOr<absl::Duration> back = ParseGoDuration(FormatGoDuration(d));
    ASSERT_TRUE(back.ok()) << FormatGoDuration(d);
    EXPECT_EQ(*back, d) << FormatGoDuration(d);
  }
}

}  // namespace
}  // namespace deviceapi::common
