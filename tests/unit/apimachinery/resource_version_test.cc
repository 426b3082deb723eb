#include "apimachinery/resource_version.h"

#include <cstdint>
#include <limits>

#include <gtest/gtest.h>

namespace deviceapi::apimachinery {
namespace {

// Decimal strings parse, up to UINT64_MAX.
TEST(ResourceVersionTest, ParsesDecimal) {
  EXPECT_EQ(*ParseResourceVersion("0"), 0u);
  EXPECT_EQ(*ParseResourceVersion("42"), 42u);
  EXPECT_EQ(*ParseResourceVersion("007"), 7u);
  EXPECT_EQ(*ParseResourceVersion("18446744073709551615"), std::numeric_limits<uint64_t>::max());
}

// Anything but plain decimal digits is INVALID_ARGUMENT with the documented message.
TEST(ResourceVersionTest, RejectsNonDecimal) {
  for (const char* bad : {"", "abc", "-1", "+1", "1e5", " 1", "1 ", "0x10", "1.0", "１"}) {
    auto rv = ParseResourceVersion(bad);
    ASSERT_FALSE(rv.ok()) << bad;
    EXPECT_EQ(rv.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(rv.status().message(),
              std::string("invalid resource version \"") + bad + "\": must be a decimal unsigned integer");
  }
}

// A value above UINT64_MAX is rejected, not wrapped.
TEST(ResourceVersionTest, RejectsOverflow) {
  EXPECT_FALSE(ParseResourceVersion("18446744073709551616").ok());
  EXPECT_FALSE(ParseResourceVersion("99999999999999999999999").ok());
}

// Format and Parse round-trip.
TEST(ResourceVersionTest, FormatRoundTrips) {
  for (uint64_t v :
       {uint64_t{0}, uint64_t{1}, uint64_t{1234567890123}, std::numeric_limits<uint64_t>::max()}) {
    EXPECT_EQ(*ParseResourceVersion(FormatResourceVersion(v)), v);
  }
  EXPECT_EQ(FormatResourceVersion(17), "17");
}

// resourceVersionMatch accepts "", Exact, NotOlderThan and nothing else.
TEST(ResourceVersionTest, ParsesMatch) {
  EXPECT_EQ(*ParseResourceVersionMatch(""), ResourceVersionMatch::kUnset);
  EXPECT_EQ(*ParseResourceVersionMatch("Exact"), ResourceVersionMatch::kExact);
  EXPECT_EQ(*ParseResourceVersionMatch("NotOlderThan"), ResourceVersionMatch::kNotOlderThan);
  for (const char* bad : {"exact", "Any", " Exact", "NotOlderThan "}) {
    auto m = ParseResourceVersionMatch(bad);
    ASSERT_FALSE(m.ok()) << bad;
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace deviceapi::apimachinery
