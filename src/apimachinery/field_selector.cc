// FieldSelector: k8s.io/apimachinery fields.ParseSelector restricted to the metadata fields.
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "apimachinery/name_rules.h"
#include "apimachinery/selector.h"

namespace deviceapi::apimachinery {
namespace {

// Splits on unescaped ','; escapes are kept for the term parser.
std::vector<std::string_view> SplitTerms(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == ',') {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  out.push_back(s.substr(start));
  return out;
}

std::string_view Trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

absl::StatusOr<std::string> Unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 1 >= s.size() || (s[i + 1] != '\\' && s[i + 1] != ',' && s[i + 1] != '=' && s[i + 1] != '!')) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid field selector: invalid escape sequence in ", Quote(s)));
    }
    out.push_back(s[++i]);
  }
  return out;
}

}  // namespace

absl::StatusOr<FieldSelector> FieldSelector::Parse(std::string_view selector) {
  FieldSelector out;
  if (Trim(selector).empty()) return out;
  for (std::string_view term : SplitTerms(selector)) {
    // Find the first unescaped operator: "!=", "==" or "=".
    size_t op_pos = std::string_view::npos;
    size_t op_len = 0;
    bool equals = true;
    for (size_t i = 0; i < term.size(); ++i) {
      if (term[i] == '\\') {
        ++i;
      } else if (term[i] == '!' && i + 1 < term.size() && term[i + 1] == '=') {
        op_pos = i, op_len = 2, equals = false;
        break;
      } else if (term[i] == '=') {
        op_pos = i, op_len = (i + 1 < term.size() && term[i + 1] == '=') ? 2 : 1;
        break;
      }
    }
    if (op_pos == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("invalid field selector: ", Quote(term),
                                                     ": expected <field>=<value>, "
                                                     "<field>==<value> or <field>!=<value>"));
    }
    const std::string_view field = Trim(term.substr(0, op_pos));
    Term t;
    if (field == "metadata.name") {
      t.field = Field::kName;
    } else if (field == "metadata.namespace") {
      t.field = Field::kNamespace;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("field label not supported: ", Sv(field)));
    }
    auto value = Unescape(Trim(term.substr(op_pos + op_len)));
    if (!value.ok()) return value.status();
    t.equals = equals;
    t.value = *std::move(value);
    out.terms_.push_back(std::move(t));
  }
  return out;
}

bool FieldSelector::Matches(std::string_view name, std::string_view ns) const {
  for (const Term& t : terms_) {
    const std::string_view have = t.field == Field::kName ? name : ns;
    if ((have == t.value) != t.equals) return false;
  }
  return true;
}

std::optional<std::string> FieldSelector::ExactName() const {
  for (const Term& t : terms_) {
    if (t.field == Field::kName && t.equals) return t.value;
  }
  return std::nullopt;
}

}  // namespace deviceapi::apimachinery
