#include "cli/yaml_json.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <regex>

#include <yaml-cpp/yaml.h>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/yaml_documents.h"

namespace deviceapi::cli {
namespace {

bool IsNullWord(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

bool IsBoolWord(const std::string& s, bool* value) {
  if (s == "true" || s == "True" || s == "TRUE") {
    *value = true;
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    *value = false;
    return true;
  }
  return false;
}

// YAML 1.1 booleans that YAML 1.2 reads as strings: quoted on output so that either reader agrees.
bool IsYaml11BoolWord(const std::string& s) {
  static const char* const kWords[] = {"y",  "Y",  "yes", "Yes", "YES", "n",   "N",   "no",
                                       "No", "NO", "on",  "On",  "ON",  "off", "Off", "OFF"};
  return std::find(std::begin(kWords), std::end(kWords), s) != std::end(kWords);
}

const std::regex& IntPattern() {
  static const std::regex re("[-+]?[0-9]+");
  return re;
}

const std::regex& FloatPattern() {
  static const std::regex re(
      R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))");
  return re;
}

// A plain scalar's value under the core schema.
Json ResolvePlain(const std::string& s) {
  if (IsNullWord(s)) return nullptr;
  bool b = false;
  if (IsBoolWord(s, &b)) return b;
  if (std::regex_match(s, IntPattern())) {
    errno = 0;
    if (s[0] == '-') {
      const long long v = std::strtoll(s.c_str(), nullptr, 10);
      if (errno == 0) return static_cast<int64_t>(v);
    } else {
      const unsigned long long v = std::strtoull(s.c_str(), nullptr, 10);
      if (errno == 0) return static_cast<uint64_t>(v);
    }
    return s;  // out of range: keep the digits
  }
  if (std::regex_match(s, FloatPattern())) {
    if (s.find("inf") != std::string::npos || s.find("Inf") != std::string::npos ||
        s.find("INF") != std::string::npos || absl::AsciiStrToLower(s).find("nan") != std::string::npos) {
      return s;  // JSON has no infinities or NaN
    }
    return std::strtod(s.c_str(), nullptr);
  }
  return s;
}

absl::StatusOr<Json> FromYamlNode(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return Json(nullptr);
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      // "!" marks a quoted (non-plain) scalar.
      if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return Json(text);
      return ResolvePlain(text);
    }
    case YAML::NodeType::Sequence: {
      Json array = Json::array();
      for (const YAML::Node& item : node) {
        absl::StatusOr<Json> v = FromYamlNode(item);
        if (!v.ok()) return v.status();
        array.push_back(std::move(*v));
      }
      return array;
    }
    case YAML::NodeType::Map: {
      Json object = Json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return absl::InvalidArgumentError(
              absl::StrCat("line ", kv.first.Mark().line + 1, ": mapping keys must be scalars"));
        }
        absl::StatusOr<Json> v = FromYamlNode(kv.second);
        if (!v.ok()) return v.status();
        object[kv.first.Scalar()] = std::move(*v);
      }
      return object;
    }
  }
  return Json(nullptr);
}

bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  if (!ResolvePlain(s).is_string() || IsYaml11BoolWord(s)) return true;
  // Timestamps, dates, sexagesimal numbers, dotted versions: YAML 1.1 readers may resolve these.
  static const std::regex re("[0-9][0-9:.+\\-TtZz ]*");
  return std::regex_match(s, re);
}

void Emit(YAML::Emitter& e, const Json& v) {
  switch (v.type()) {
    case Json::value_t::object:
      if (v.empty()) {
        e << YAML::Flow << YAML::BeginMap << YAML::EndMap;  // "{}", as kubectl prints it
        break;
      }
      e << YAML::BeginMap;
      for (const auto& [key, value] : v.items()) {
        e << YAML::Key;
        if (NeedsQuotes(key)) e << YAML::DoubleQuoted;
        e << key << YAML::Value;
        Emit(e, value);
      }
      e << YAML::EndMap;
      break;
    case Json::value_t::array:
      if (v.empty()) {
        e << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;  // "[]"
        break;
      }
      e << YAML::BeginSeq;
      for (const Json& item : v) Emit(e, item);
      e << YAML::EndSeq;
      break;
    case Json::value_t::string: {
      const std::string& s = v.get_ref<const std::string&>();
      if (NeedsQuotes(s)) e << YAML::DoubleQuoted;
      e << s;
      break;
    }
    case Json::value_t::boolean:
      e << v.get<bool>();
      break;
    case Json::value_t::number_integer:
      e << v.get<int64_t>();
      break;
    case Json::value_t::number_unsigned:
      e << v.get<uint64_t>();
      break;
    case Json::value_t::number_float:
      e << v.get<double>();
      break;
    default:
      e << YAML::Null;
      break;
  }
}

}  // namespace

absl::StatusOr<std::vector<Json>> ParseDocuments(std::string_view text) {
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return std::vector<Json>{};
  std::vector<Json> docs;
  if (text[first] == '{' || text[first] == '[') {
    try {
      docs.push_back(Json::parse(text.begin(), text.end()));
    } catch (const Json::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat("error parsing JSON: ", e.what()));
    }
    return docs;
  }
  absl::StatusOr<std::vector<YAML::Node>> nodes = common::LoadYamlDocuments(text);
  if (!nodes.ok())
    return absl::InvalidArgumentError(absl::StrCat("error parsing YAML: ", nodes.status().message()));
  try {
    for (const YAML::Node& node : *nodes) {
      if (node.IsNull() || !node.IsDefined()) continue;
      absl::StatusOr<Json> doc = FromYamlNode(node);
      if (!doc.ok())
        return absl::InvalidArgumentError(absl::StrCat("error parsing YAML: ", doc.status().message()));
      docs.push_back(std::move(*doc));
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("error parsing YAML: ", e.what()));
  }
  return docs;
}

std::string ToYaml(const Json& value) {
  YAML::Emitter e;
  e.SetIndent(2);
  e.SetNullFormat(YAML::LowerNull);
  Emit(e, value);
  std::string out = e.c_str();
  if (out.empty() || out.back() != '\n') out.push_back('\n');
  return out;
}

Json SortKeys(const Json& value) {
  if (value.is_array()) {
    Json out = Json::array();
    for (const Json& item : value) out.push_back(SortKeys(item));
    return out;
  }
  if (!value.is_object()) return value;
  std::vector<std::string> keys;
  for (const auto& [key, v] : value.items()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  Json out = Json::object();
  for (const std::string& key : keys) out[key] = SortKeys(value.at(key));
  return out;
}

}  // namespace deviceapi::cli
