// Fuzz target: the label and field selector parsers (apimachinery/selector.h).
//
// Input: one byte choosing the label (even) or field (odd) selector, a label set or a name and a
// namespace to match against, then the selector text. Properties: parsing never crashes; a parsed
// label selector's String() parses again to the same String() and the same matching; matching any
// labels never crashes; a field selector's ExactName() is the only name it can match.
#include <string>

#include "apimachinery/selector.h"
#include "fuzz_check.h"

namespace am = ::deviceapi::apimachinery;
using deviceapi::fuzz::FuzzInput;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  const bool label = in.Byte() % 2 == 0;
  if (label) {
    google::protobuf::Map<std::string, std::string> labels;
    const int n = in.Byte() % 4;
    for (int i = 0; i < n; ++i) {
      std::string key = in.String(16);
      labels[key] = in.String(16);
    }
    const std::string text(in.Rest());
    auto sel = am::LabelSelector::Parse(text);
    if (!sel.ok()) {
      FUZZ_CHECK(sel.status().code() == absl::StatusCode::kInvalidArgument, "%s",
                 sel.status().ToString().c_str());
      return 0;
    }
    const bool matches = sel->Matches(labels);
    const std::string canonical = sel->String();
    FUZZ_CHECK(sel->Empty() == canonical.empty(), "selector \"%s\"", text.c_str());
    auto again = am::LabelSelector::Parse(canonical);
    FUZZ_CHECK(again.ok(), "String() of \"%s\" is \"%s\", which does not parse: %s", text.c_str(),
               canonical.c_str(), again.status().ToString().c_str());
    FUZZ_CHECK(again->String() == canonical, "\"%s\" -> \"%s\" -> \"%s\"", text.c_str(), canonical.c_str(),
               again->String().c_str());
    FUZZ_CHECK(again->Matches(labels) == matches, "\"%s\" and its String() \"%s\" match differently",
               text.c_str(), canonical.c_str());
    return 0;
  }
  const std::string name = in.String(24);
  const std::string ns = in.String(24);
  const std::string text(in.Rest());
  auto sel = am::FieldSelector::Parse(text);
  if (!sel.ok()) {
    FUZZ_CHECK(sel.status().code() == absl::StatusCode::kInvalidArgument, "%s",
               sel.status().ToString().c_str());
    return 0;
  }
  const bool matches = sel->Matches(name, ns);
  if (sel->Empty()) FUZZ_CHECK(matches, "the empty field selector \"%s\" matched nothing", text.c_str());
  if (auto exact = sel->ExactName(); exact.has_value() && *exact != name) {
    FUZZ_CHECK(!matches, "\"%s\" requires name \"%s\" but matched \"%s\"", text.c_str(), exact->c_str(),
               name.c_str());
  }
  return 0;
}
