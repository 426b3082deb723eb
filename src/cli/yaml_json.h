// YAML <-> JSON for devicectl's input files and -o yaml: documents are held as
// nlohmann::ordered_json, so that the order of keys is the printer's choice.
#ifndef DEVICEAPI_CLI_YAML_JSON_H_
#define DEVICEAPI_CLI_YAML_JSON_H_

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace deviceapi::cli {

using Json = nlohmann::ordered_json;

// Parses a file's text: one JSON value when it starts with '{' or '[', else a YAML stream of one
// or more documents ("---"-separated; empty documents are dropped). Plain YAML scalars resolve as
// YAML 1.2's core schema does (null, booleans, integers, floats, else strings); quoted ones are
// always strings. INVALID_ARGUMENT with the parser's message (line and column) on bad input.
absl::StatusOr<std::vector<Json>> ParseDocuments(std::string_view text);

// One YAML document (no "---"), block style, ending in a newline. Strings that a YAML reader
// would take for something else (numbers, booleans, timestamps, "") are double-quoted.
std::string ToYaml(const Json& value);

// `value` with the keys of every object sorted, as kubectl prints custom resources.
Json SortKeys(const Json& value);

}  // namespace deviceapi::cli

#endif  // DEVICEAPI_CLI_YAML_JSON_H_
