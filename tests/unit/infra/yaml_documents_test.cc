// common::LoadYamlDocuments: yaml-cpp's document split, with an end guaranteed.
#include "common/yaml_documents.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace deviceapi::common {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(LoadYamlDocumentsTest, SplitsAStreamInOrder) {
  auto docs = LoadYamlDocuments("a: 1\n---\n---\nb: 2\n");
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 3u);
  EXPECT_EQ((*docs)[0]["a"].as<int>(), 1);
  EXPECT_TRUE((*docs)[1].IsNull());
  EXPECT_EQ((*docs)[2]["b"].as<int>(), 2);
}

TEST(LoadYamlDocumentsTest, AnEmptyStreamHasNoDocuments) {
  auto docs = LoadYamlDocuments("");
  ASSERT_TRUE(docs.ok()) << docs.status();
  EXPECT_TRUE(docs->empty());
  docs = LoadYamlDocuments("# only a comment\n");
  ASSERT_TRUE(docs.ok()) << docs.status();
  EXPECT_TRUE(docs->empty());
}

TEST(LoadYamlDocumentsTest, ASyntaxErrorNamesItsPosition) {
  auto docs = LoadYamlDocuments("a: 1\nb: [1, 2\n");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(docs.status().message()), StartsWith("invalid YAML at line "));
  EXPECT_THAT(std::string(docs.status().message()), HasSubstr("end of sequence flow not found"));
}

// yaml-cpp 0.7's LoadAll returns only when memory runs out on these: the parser hands out an empty
// document at the same position on every call.
TEST(LoadYamlDocumentsTest, AStreamTheParserIsStuckOnIsAnError) {
  for (const std::string& input : {std::string(",-----m---\xd5---o-"), std::string(","), std::string(",a")}) {
    auto docs = LoadYamlDocuments(input);
    ASSERT_FALSE(docs.ok()) << "input " << input;
    EXPECT_EQ(docs.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(docs.status().message()),
                StartsWith("invalid YAML at line 1, column 1: the parser makes no progress"));
  }
}

TEST(LoadYamlDocumentsTest, TooManyDocumentsAreAnError) {
  std::string stream;
  for (int i = 0; i < 5; ++i) stream += "---\nk: v\n";
  EXPECT_TRUE(LoadYamlDocuments(stream, 5).ok());
  auto docs = LoadYamlDocuments(stream, 4);
  ASSERT_FALSE(docs.ok());
  EXPECT_THAT(std::string(docs.status().message()), HasSubstr("more than 4 documents"));
}

}  // namespace
}  // namespace deviceapi::common
