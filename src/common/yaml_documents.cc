#include "common/yaml_documents.h"

#include <sstream>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "yaml-cpp/eventhandler.h"

namespace deviceapi::common {
namespace {

// Records where each document starts; builds nothing.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { start_ = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
  }
  void OnMapEnd() override {}

  const YAML::Mark& start() const { return start_; }

 private:
  YAML::Mark start_;
};

}  // namespace

absl::Status InvalidYaml(const YAML::Mark& mark, std::string_view what) {
  if (mark.is_null()) return absl::InvalidArgumentError("invalid YAML: " + std::string(what));
  return absl::InvalidArgumentError("invalid YAML at line " + std::to_string(mark.line + 1) + ", column " +
                                    std::to_string(mark.column + 1) + ": " + std::string(what));
}

absl::StatusOr<std::vector<YAML::Node>> LoadYamlDocuments(std::string_view text, std::size_t max_documents) {
  const std::string input(text);
  try {
    // First pass: count the documents, and make sure the parser gets through the stream. A
    // document that starts where the previous one did means the parser is stuck.
    std::istringstream counting(input);
    YAML::Parser parser(counting);
    DocumentCounter counter;
    std::size_t count = 0;
    int last_pos = -1;
    while (parser.HandleNextDocument(counter)) {
      if (counter.start().pos <= last_pos) {
        return InvalidYaml(counter.start(), "the parser makes no progress here (malformed stream)");
      }
      last_pos = counter.start().pos;
      if (++count > max_documents) {
        return InvalidYaml(counter.start(), "more than " + std::to_string(max_documents) + " documents");
      }
    }
    // Second pass: the same parser over the same bytes ends the same way, so LoadAll terminates.
    return YAML::LoadAll(input);
  } catch (const YAML::Exception& e) {
    return InvalidYaml(e.mark, e.msg);
  }
}

}  // namespace deviceapi::common
