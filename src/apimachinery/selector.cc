// LabelSelector: a lexer and recursive-descent parser following k8s.io/apimachinery labels.Parse.
#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "apimachinery/name_rules.h"
#include "apimachinery/selector.h"

namespace deviceapi::apimachinery {
namespace {

enum class Tok {
  kIdentifier,
  kDoesNotExist,  // !
  kEquals,        // =
  kDoubleEquals,  // ==
  kNotEquals,     // !=
  kGreaterThan,   // >
  kLessThan,      // <
  kOpenParen,
  kCloseParen,
  kComma,
  kEnd,
};

struct Token {
  Tok tok;
  std::string_view text;
};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }
bool IsSpecial(char c) {
  return c == '!' || c == '=' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

std::vector<Token> Lex(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (IsSpace(c)) {
      ++i;
      continue;
    }
    if (IsSpecial(c)) {
      const bool eq_next = i + 1 < s.size() && s[i + 1] == '=';
      switch (c) {
        case '!':
          out.push_back({eq_next ? Tok::kNotEquals : Tok::kDoesNotExist, s.substr(i, eq_next ? 2 : 1)});
          i += eq_next ? 2 : 1;
          continue;
        case '=':
          out.push_back({eq_next ? Tok::kDoubleEquals : Tok::kEquals, s.substr(i, eq_next ? 2 : 1)});
          i += eq_next ? 2 : 1;
          continue;
        case '(':
          out.push_back({Tok::kOpenParen, s.substr(i, 1)});
          break;
        case ')':
          out.push_back({Tok::kCloseParen, s.substr(i, 1)});
          break;
        case ',':
          out.push_back({Tok::kComma, s.substr(i, 1)});
          break;
        case '>':
          out.push_back({Tok::kGreaterThan, s.substr(i, 1)});
          break;
        default:
          out.push_back({Tok::kLessThan, s.substr(i, 1)});
          break;
      }
      ++i;
      continue;
    }
    const size_t start = i;
    while (i < s.size() && !IsSpace(s[i]) && !IsSpecial(s[i])) ++i;
    out.push_back({Tok::kIdentifier, s.substr(start, i - start)});
  }
  out.push_back({Tok::kEnd, {}});
  return out;
}

bool IsKeyword(const Token& t) { return t.tok == Tok::kIdentifier && (t.text == "in" || t.text == "notin"); }

using Op = LabelSelector::Operator;

class Parser {
 public:
  explicit Parser(std::string_view selector) : selector_(selector), tokens_(Lex(selector)) {}

  absl::StatusOr<std::vector<LabelSelector::Requirement>> Run() {
    std::vector<LabelSelector::Requirement> reqs;
    if (Peek().tok == Tok::kEnd) return reqs;
    while (true) {
      auto req = ParseRequirement();
      if (!req.ok()) return req.status();
      reqs.push_back(*std::move(req));
      const Token t = Next();
      if (t.tok == Tok::kEnd) break;
      if (t.tok != Tok::kComma) return Syntax(t, "',' or 'end of string'");
      if (Peek().tok == Tok::kEnd) return Syntax(Peek(), "identifier after ','");
    }
    return reqs;
  }

 private:
  const Token& Peek() const { return tokens_[pos_]; }
  Token Next() { return pos_ + 1 < tokens_.size() ? tokens_[pos_++] : tokens_[pos_]; }

  absl::Status Syntax(const Token& found, std::string_view expected) const {
    return absl::InvalidArgumentError(absl::StrCat("invalid label selector ", Quote(selector_), ": found '",
                                                   Sv(found.text), "', expected: ", Sv(expected)));
  }

  absl::StatusOr<LabelSelector::Requirement> ParseRequirement() {
    LabelSelector::Requirement req;
    Token t = Next();
    bool negated = false;
    if (t.tok == Tok::kDoesNotExist) {
      negated = true;
      t = Next();
    }
    if (t.tok != Tok::kIdentifier || IsKeyword(t)) {
      return Syntax(t, negated ? "identifier" : "!, identifier, or 'end of string'");
    }
    req.key = std::string(t.text);
    if (std::vector<std::string> errs = IsQualifiedName(req.key); !errs.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("unable to parse requirement: key: ",
                                                     InvalidValueDetail(req.key, absl::StrJoin(errs, "; "))));
    }
    if (negated) {
      req.op = Op::kDoesNotExist;
      return req;
    }
    const Token op = Peek();
    if (op.tok == Tok::kEnd || op.tok == Tok::kComma) {
      req.op = Op::kExists;
      return req;
    }
    Next();
    switch (op.tok) {
      case Tok::kEquals:
      case Tok::kDoubleEquals:
      case Tok::kNotEquals:
      case Tok::kGreaterThan:
      case Tok::kLessThan: {
        req.op = op.tok == Tok::kNotEquals     ? Op::kNotEquals
                 : op.tok == Tok::kGreaterThan ? Op::kGt
                 : op.tok == Tok::kLessThan    ? Op::kLt
                                               : Op::kEquals;
        const Token v = Peek();
        if (v.tok == Tok::kEnd || v.tok == Tok::kComma) {
          req.values.emplace_back();  // `key=` selects the empty value
        } else if (v.tok == Tok::kIdentifier) {
          Next();
          req.values.emplace_back(v.text);
        } else {
          return Syntax(v, "identifier");
        }
        break;
      }
      default:
        if (op.tok == Tok::kIdentifier && (op.text == "in" || op.text == "notin")) {
          req.op = op.text == "in" ? Op::kIn : Op::kNotIn;
          if (absl::Status s = ParseValueList(&req.values); !s.ok()) return s;
          break;
        }
        return Syntax(op, "'=', '!=', '==', 'in', 'notin', '>', '<'");
    }
    if (absl::Status s = CheckValues(&req); !s.ok()) return s;
    return req;
  }

  // `( v1, v2, ... )`; empty members are the empty value, as in Kubernetes, and so is `()`: the set
  // {""} (apimachinery's parseValues: "handles ()"; its grammar's example is `z notin ()`).
  absl::Status ParseValueList(std::vector<std::string>* values) {
    Token t = Next();
    if (t.tok != Tok::kOpenParen) return Syntax(t, "'('");
    if (Peek().tok == Tok::kCloseParen) {
      Next();
      values->emplace_back();
      return absl::OkStatus();
    }
    while (true) {
      t = Peek();
      if (t.tok == Tok::kIdentifier) {
        Next();
        values->emplace_back(t.text);
        t = Peek();
      } else {
        values->emplace_back();
      }
      if (t.tok == Tok::kCloseParen) {
        Next();
        return absl::OkStatus();
      }
      if (t.tok != Tok::kComma) return Syntax(t, "',' or ')'");
      Next();
    }
  }

  absl::Status CheckValues(LabelSelector::Requirement* req) const {
    auto fail = [&](std::string detail) {
      return absl::InvalidArgumentError(absl::StrCat("unable to parse requirement: ", detail));
    };
    if ((req->op == Op::kIn || req->op == Op::kNotIn) && req->values.empty()) {
      return fail("values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty");
    }
    if (req->op == Op::kGt || req->op == Op::kLt) {
      int64_t unused;
      if (!absl::SimpleAtoi(req->values[0], &unused)) {
        return fail(absl::StrCat("values[0]: ", InvalidValueDetail(req->values[0],
                                                                   "for 'gt', 'lt' operators, the "
                                                                   "value must be an integer")));
      }
    }
    for (size_t i = 0; i < req->values.size(); ++i) {
      if (std::vector<std::string> errs = IsValidLabelValue(req->values[i]); !errs.empty()) {
        return fail(absl::StrCat("values[", i, "][", req->key,
                                 "]: ", InvalidValueDetail(req->values[i], absl::StrJoin(errs, "; "))));
      }
    }
    std::sort(req->values.begin(), req->values.end());
    req->values.erase(std::unique(req->values.begin(), req->values.end()), req->values.end());
    return absl::OkStatus();
  }

  std::string_view selector_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
};

bool Contains(const std::vector<std::string>& sorted, const std::string& v) {
  return std::binary_search(sorted.begin(), sorted.end(), v);
}

}  // namespace

absl::StatusOr<LabelSelector> LabelSelector::Parse(std::string_view selector) {
  auto reqs = Parser(selector).Run();
  if (!reqs.ok()) return reqs.status();
  LabelSelector out;
  out.requirements_ = *std::move(reqs);
  std::stable_sort(out.requirements_.begin(), out.requirements_.end(),
                   [](const Requirement& a, const Requirement& b) { return a.key < b.key; });
  return out;
}

bool LabelSelector::Matches(const google::protobuf::Map<std::string, std::string>& labels) const {
  for (const Requirement& r : requirements_) {
    auto it = labels.find(r.key);
    const bool has = it != labels.end();
    switch (r.op) {
      case Operator::kEquals:
      case Operator::kIn:
        if (!has || !Contains(r.values, it->second)) return false;
        break;
      case Operator::kNotEquals:
      case Operator::kNotIn:
        if (has && Contains(r.values, it->second)) return false;
        break;
      case Operator::kExists:
        if (!has) return false;
        break;
      case Operator::kDoesNotExist:
        if (has) return false;
        break;
      case Operator::kGt:
      case Operator::kLt: {
        int64_t have = 0;
        int64_t want = 0;
        if (!has || !absl::SimpleAtoi(it->second, &have) || !absl::SimpleAtoi(r.values[0], &want)) {
          return false;
        }
        if (r.op == Operator::kGt ? !(have > want) : !(have < want)) return false;
        break;
      }
    }
  }
  return true;
}

std::string LabelSelector::String() const {
  std::vector<std::string> parts;
  parts.reserve(requirements_.size());
  for (const Requirement& r : requirements_) {
    switch (r.op) {
      case Operator::kEquals:
        parts.push_back(absl::StrCat(r.key, "=", r.values[0]));
        break;
      case Operator::kNotEquals:
        parts.push_back(absl::StrCat(r.key, "!=", r.values[0]));
        break;
      case Operator::kGt:
        parts.push_back(absl::StrCat(r.key, ">", r.values[0]));
        break;
      case Operator::kLt:
        parts.push_back(absl::StrCat(r.key, "<", r.values[0]));
        break;
      case Operator::kIn:
        parts.push_back(absl::StrCat(r.key, " in (", absl::StrJoin(r.values, ","), ")"));
        break;
      case Operator::kNotIn:
        parts.push_back(absl::StrCat(r.key, " notin (", absl::StrJoin(r.values, ","), ")"));
        break;
      case Operator::kExists:
        parts.push_back(r.key);
        break;
      case Operator::kDoesNotExist:
        parts.push_back(absl::StrCat("!", r.key));
        break;
    }
  }
  return absl::StrJoin(parts, ",");
}

}  // namespace deviceapi::apimachinery
