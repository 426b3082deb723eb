#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "apimachinery/selector.h"

namespace deviceapi::apimachinery {
namespace {

using Labels = google::protobuf::Map<std::string, std::string>;

Labels L(std::vector<std::pair<std::string, std::string>> kv) {
  Labels m;
  for (auto& [k, v] : kv) m[k] = v;
  return m;
}

bool Match(std::string_view sel, const Labels& labels) {
  auto s = LabelSelector::Parse(sel);
  EXPECT_TRUE(s.ok()) << sel << ": " << s.status();
  return s.ok() && s->Matches(labels);
}

// The empty (or all-whitespace) selector matches everything, including no labels.
TEST(LabelSelectorTest, EmptyMatchesEverything) {
  for (const char* sel : {"", "   "}) {
    auto s = LabelSelector::Parse(sel);
    ASSERT_TRUE(s.ok());
    EXPECT_TRUE(s->Empty());
    EXPECT_TRUE(s->Matches({}));
    EXPECT_TRUE(s->Matches(L({{"a", "b"}})));
  }
  EXPECT_TRUE(LabelSelector().Matches({}));
}

// `=` and `==` require the key with that value.
TEST(LabelSelectorTest, Equals) {
  for (const char* sel : {"zone=a", "zone==a", " zone = a "}) {
    EXPECT_TRUE(Match(sel, L({{"zone", "a"}}))) << sel;
    EXPECT_FALSE(Match(sel, L({{"zone", "b"}}))) << sel;
    EXPECT_FALSE(Match(sel, {})) << sel;
  }
}

// `k=` selects the empty value.
TEST(LabelSelectorTest, EqualsEmptyValue) {
  EXPECT_TRUE(Match("k=", L({{"k", ""}})));
  EXPECT_FALSE(Match("k=", L({{"k", "x"}})));
  EXPECT_FALSE(Match("k=", {}));
}

// `!=` matches other values and objects without the key.
TEST(LabelSelectorTest, NotEqualsMatchesAbsentKey) {
  EXPECT_FALSE(Match("zone!=a", L({{"zone", "a"}})));
  EXPECT_TRUE(Match("zone!=a", L({{"zone", "b"}})));
  EXPECT_TRUE(Match("zone!=a", {}));
}

// `in` requires the key with one of the values.
TEST(LabelSelectorTest, In) {
  EXPECT_TRUE(Match("zone in (a,b)", L({{"zone", "a"}})));
  EXPECT_TRUE(Match("zone in ( a , b )", L({{"zone", "b"}})));
  EXPECT_FALSE(Match("zone in (a,b)", L({{"zone", "c"}})));
  EXPECT_FALSE(Match("zone in (a,b)", {}));
}

// `notin` matches other values and objects without the key.
TEST(LabelSelectorTest, NotInMatchesAbsentKey) {
  EXPECT_FALSE(Match("zone notin (a,b)", L({{"zone", "a"}})));
  EXPECT_TRUE(Match("zone notin (a,b)", L({{"zone", "c"}})));
  EXPECT_TRUE(Match("zone notin (a,b)", {}));
}

// A bare key requires presence; `!key` requires absence.
TEST(LabelSelectorTest, ExistsAndDoesNotExist) {
  EXPECT_TRUE(Match("gpu", L({{"gpu", ""}})));
  EXPECT_FALSE(Match("gpu", {}));
  EXPECT_TRUE(Match("!gpu", {}));
  EXPECT_TRUE(Match("! gpu", L({{"other", "x"}})));
  EXPECT_FALSE(Match("!gpu", L({{"gpu", "x"}})));
}

// `>` and `<` compare integer label values; non-integers and absent keys do not match.
TEST(LabelSelectorTest, GreaterAndLessThan) {
  EXPECT_TRUE(Match("mem>10", L({{"mem", "11"}})));
  EXPECT_FALSE(Match("mem>10", L({{"mem", "10"}})));
  EXPECT_TRUE(Match("mem<10", L({{"mem", "9"}})));
  EXPECT_FALSE(Match("mem<10", L({{"mem", "x"}})));
  EXPECT_FALSE(Match("mem<10", {}));
}

// Comma-separated requirements are ANDed.
TEST(LabelSelectorTest, RequirementsAreAnded) {
  const char* sel = "zone=a, tier in (gold,silver),!maint,arch!=arm, example.com/team";
  EXPECT_TRUE(Match(sel, L({{"zone", "a"}, {"tier", "gold"}, {"example.com/team", "x"}})));
  EXPECT_FALSE(Match(sel, L({{"zone", "a"}, {"tier", "gold"}})));
  EXPECT_FALSE(
      Match(sel, L({{"zone", "a"}, {"tier", "gold"}, {"example.com/team", "x"}, {"maint", "true"}})));
  EXPECT_FALSE(Match(sel, L({{"zone", "a"}, {"tier", "gold"}, {"example.com/team", "x"}, {"arch", "arm"}})));
}

// Keywords are values in value position.
TEST(LabelSelectorTest, KeywordsAsValues) {
  EXPECT_TRUE(Match("k=in", L({{"k", "in"}})));
  EXPECT_TRUE(Match("k in (notin,in)", L({{"k", "notin"}})));
}

// String() is canonical and parses back to the same selector.
TEST(LabelSelectorTest, StringIsCanonical) {
  auto s = LabelSelector::Parse("z==1, a in (c, b), !m, e, x notin (q), n!=2, g>3");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->String(), "a in (b,c),e,g>3,!m,n!=2,x notin (q),z=1");
  auto again = LabelSelector::Parse(s->String());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->String(), s->String());
  EXPECT_EQ(LabelSelector().String(), "");
}

// Syntax errors are INVALID_ARGUMENT "invalid label selector ...".
TEST(LabelSelectorTest, SyntaxErrors) {
  for (const char* bad : {"a=b,", ",a", "a b", "a in b", "a in (b", "a in (b c)", "a=(b)", "a=b=c", "!",
                          "!a=b", "=b", "in=a", "a notin", "(a)", "a==", "a!="}) {
    auto s = LabelSelector::Parse(bad);
    if (std::string_view(bad) == "a==" || std::string_view(bad) == "a!=") {
      // `a==` and `a!=` compare against the empty value, as in Kubernetes.
      EXPECT_TRUE(s.ok()) << bad;
      continue;
    }
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.status().message().rfind("invalid label selector", 0), 0u) << bad << ": " << s.status();
  }
}

// Bad keys and values are INVALID_ARGUMENT "unable to parse requirement: ...".
TEST(LabelSelectorTest, ValidationErrors) {
  for (const char* bad : {"-a=b", "a/b/c=d", "a=-b", "a in (x,-y)", "Exa_mple.com/a=b",
                          "k="
                          "0123456789012345678901234567890123456789012345678901234567890123",
                          "a>b", "a<1.5", "/a=b"}) {
    auto s = LabelSelector::Parse(bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.status().message().rfind("unable to parse requirement: ", 0), 0u)
        << bad << ": " << s.status();
  }
}

// Empty members of an `in` list stand for the empty value.
TEST(LabelSelectorTest, InListWithEmptyValue) {
  EXPECT_TRUE(Match("k in (a,)", L({{"k", ""}})));
  EXPECT_FALSE(Match("k in (a,)", {}));
}

// `()` is the set {""}, as apimachinery parses it (the example of its grammar: "x in (foo,,baz),y,z
// notin ()"), and String() of it parses back. Found by the selectors fuzz target: "k in (,,,,)"
// printed as "k in ()", which this parser used to refuse.
TEST(LabelSelectorTest, EmptyParenthesesAreTheEmptyValue) {
  EXPECT_TRUE(Match("k in ()", L({{"k", ""}})));
  EXPECT_FALSE(Match("k in ()", L({{"k", "a"}})));
  EXPECT_FALSE(Match("k in ()", {}));
  EXPECT_TRUE(Match("k notin ()", L({{"k", "a"}})));
  EXPECT_FALSE(Match("k notin ()", L({{"k", ""}})));
  EXPECT_TRUE(Match("x in (foo,,baz),y,z notin ()", L({{"x", ""}, {"y", "1"}})));
  for (const char* text : {"k in ()", "k in (,,,,)", "k in (,)"}) {
    auto s = LabelSelector::Parse(text);
    ASSERT_TRUE(s.ok()) << text << ": " << s.status();
    EXPECT_EQ(s->String(), "k in ()") << text;
    auto again = LabelSelector::Parse(s->String());
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->String(), "k in ()");
  }
}

}  // namespace
}  // namespace deviceapi::apimachinery
