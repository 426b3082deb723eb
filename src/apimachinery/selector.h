// Label and field selectors for List and Watch (docs/API.md "List", "Watch").
//
// LabelSelector implements the full Kubernetes label selector grammar (k8s.io/apimachinery
// labels.Parse); FieldSelector supports metadata.name and metadata.namespace, the field selectors
// kube-apiserver supports for every resource. Both are immutable values once parsed: cheap to
// copy, and safe to use from many threads at once.
#ifndef DEVICEAPI_APIMACHINERY_SELECTOR_H_
#define DEVICEAPI_APIMACHINERY_SELECTOR_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/map.h"

namespace deviceapi::apimachinery {

// A parsed label selector: a conjunction of requirements on an object's labels.
//
// Grammar (requirements separated by ',', all ANDed; whitespace around tokens is ignored):
//   key=value  key==value  key!=value  key in (v1,v2)  key notin (v1,v2)  key  !key
//   key>N  key<N   (N a decimal integer; the label must exist and parse as an integer)
// Keys must be qualified names and values valid label values. `!=` and `notin` also match objects
// that lack the key; `=`, `==`, `in`, `>`, `<` and `key` require it. The empty selector matches
// everything.
class LabelSelector {
 public:
  enum class Operator { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist, kGt, kLt };
  struct Requirement {
    std::string key;
    Operator op;
    std::vector<std::string> values;  // sorted, unique; one value for =, !=, >, <; none for exists
  };

  // The empty selector (matches everything).
  LabelSelector() = default;

  // Parses `selector`. Errors are INVALID_ARGUMENT: syntax errors start with
  // `invalid label selector "<selector>": `; a bad key or value starts with
  // `unable to parse requirement: `.
  static absl::StatusOr<LabelSelector> Parse(std::string_view selector);

  // True when every requirement holds for `labels`.
  bool Matches(const google::protobuf::Map<std::string, std::string>& labels) const;

  // True for a selector without requirements.
  bool Empty() const { return requirements_.empty(); }

  // Canonical text: requirements sorted by key, values sorted, `=` for both `=` and `==`;
  // Parse(String()) yields an equal selector. "" for the empty selector.
  std::string String() const;

  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  std::vector<Requirement> requirements_;  // sorted by key (stable)
};

// A parsed field selector: comma-separated `field=value`, `field==value` or `field!=value` terms,
// ANDed, where field is metadata.name or metadata.namespace. '\' escapes ',', '=', '!' and '\'
// in values. The empty selector matches everything.
class FieldSelector {
 public:
  // The empty selector (matches everything).
  FieldSelector() = default;

  // Parses `selector`. Errors are INVALID_ARGUMENT; an unknown field is
  // `field label not supported: <field>`.
  static absl::StatusOr<FieldSelector> Parse(std::string_view selector);

  // True when every term holds for an object with this name and namespace.
  bool Matches(std::string_view name, std::string_view ns) const;

  // True for a selector without terms.
  bool Empty() const { return terms_.empty(); }

  // The name required by a `metadata.name=<x>` (or `==`) term, if there is one: a lookup by key
  // can replace a scan. Matches() still has to be applied to the result.
  std::optional<std::string> ExactName() const;

 private:
  enum class Field { kName, kNamespace };
  struct Term {
    Field field;
    bool equals;  // false: !=
    std::string value;
  };
  std::vector<Term> terms_;
};

}  // namespace deviceapi::apimachinery

#endif  // DEVICEAPI_APIMACHINERY_SELECTOR_H_
