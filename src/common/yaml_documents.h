// Splitting a YAML stream into its documents without trusting yaml-cpp to terminate.
//
// yaml-cpp 0.7 (Debian 12) can loop for ever on malformed input: for some byte strings (one starting
// with ",", e.g. ",-----m---") YAML::LoadAll gets a new empty document from the parser on every
// call, never reaching the end of the stream, and grows its vector until memory runs out
// (yaml-cpp issue #1040; found by tests/fuzz/plugin_config). LoadYamlDocuments drives the parser
// itself and stops with an error when a document ends where it began and the stream has not ended.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "yaml-cpp/yaml.h"

namespace deviceapi::common {

// INVALID_ARGUMENT "invalid YAML at line L, column C: <what>" (1-based), or "invalid YAML: <what>"
// where yaml-cpp gives no position: the one wording of YAML errors for every reader.
absl::Status InvalidYaml(const YAML::Mark& mark, std::string_view what);

// The documents of `text` in order (none for an empty stream). Errors are InvalidArgument, with
// "invalid YAML at line L, column C: ..." where yaml-cpp gives a position, and also for a stream of
// more than `max_documents` documents (the caller's sanity limit) or one the parser makes no
// progress on. Never throws.
absl::StatusOr<std::vector<YAML::Node>> LoadYamlDocuments(std::string_view text,
                                                          std::size_t max_documents = 10000);

}  // namespace deviceapi::common
