#include <gtest/gtest.h>

#include "apimachinery/selector.h"

namespace deviceapi::apimachinery {
namespace {

// The empty selector matches everything and names no object.
TEST(FieldSelectorTest, EmptyMatchesEverything) {
  auto s = FieldSelector::Parse("");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->Empty());
  EXPECT_TRUE(s->Matches("gpu-0", "default"));
  EXPECT_FALSE(s->ExactName().has_value());
}

// `=` and `==` on metadata.name select that name; ExactName reports it.
TEST(FieldSelectorTest, NameEquals) {
  for (const char* sel : {"metadata.name=gpu-0", "metadata.name==gpu-0", " metadata.name = gpu-0 "}) {
    auto s = FieldSelector::Parse(sel);
    ASSERT_TRUE(s.ok()) << sel;
    EXPECT_TRUE(s->Matches("gpu-0", "default"));
    EXPECT_FALSE(s->Matches("gpu-1", "default"));
    EXPECT_EQ(s->ExactName(), "gpu-0");
  }
}

// `!=` excludes a name and gives no exact name.
TEST(FieldSelectorTest, NameNotEquals) {
  auto s = FieldSelector::Parse("metadata.name!=gpu-0");
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->Matches("gpu-0", "default"));
  EXPECT_TRUE(s->Matches("gpu-1", "default"));
  EXPECT_FALSE(s->ExactName().has_value());
}

// metadata.namespace terms compare the namespace, and terms are ANDed.
TEST(FieldSelectorTest, NamespaceAndConjunction) {
  auto s = FieldSelector::Parse("metadata.namespace=prod,metadata.name!=gpu-0");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->Matches("gpu-1", "prod"));
  EXPECT_FALSE(s->Matches("gpu-1", "default"));
  EXPECT_FALSE(s->Matches("gpu-0", "prod"));
}

// Other fields are rejected with "field label not supported: <f>".
TEST(FieldSelectorTest, UnsupportedField) {
  auto s = FieldSelector::Parse("spec.uuid=GPU-1");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message(), "field label not supported: spec.uuid");
}

// Terms without an operator, empty terms and bad escapes are INVALID_ARGUMENT.
TEST(FieldSelectorTest, SyntaxErrors) {
  for (const char* bad :
       {"metadata.name", "metadata.name=a,", ",metadata.name=a", "metadata.name=a\\x", "=a"}) {
    auto s = FieldSelector::Parse(bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

// A backslash escapes ',' inside a value.
TEST(FieldSelectorTest, EscapedComma) {
  auto s = FieldSelector::Parse("metadata.name=a\\,b");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->Matches("a,b", "default"));
  EXPECT_EQ(s->ExactName(), "a,b");
}

}  // namespace
}  // namespace deviceapi::apimachinery
