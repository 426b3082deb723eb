#include "storage/continue_token.h"

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"

namespace deviceapi::storage {

std::string EncodeContinueToken(const ContinueToken& t) {
  nlohmann::json j = {{"v", "device.nvidia.com/v1alpha1"}, {"rv", t.rv}, {"start", t.start_after}};
  return absl::WebSafeBase64Escape(j.dump());
}

absl::StatusOr<ContinueToken> DecodeContinueToken(std::string_view token) {
  auto bad = [](std::string_view why) {
    return absl::InvalidArgumentError(std::string("continue key is not valid: ") + std::string(why));
  };
  std::string raw;
  if (!absl::WebSafeBase64Unescape(absl::string_view(token.data(), token.size()), &raw))
    return bad("not base64");
  auto j = nlohmann::json::parse(raw, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad("not a continue token");
  auto rv = j.find("rv");
  auto start = j.find("start");
  auto v = j.find("v");
  if (v == j.end() || !v->is_string() || *v != "device.nvidia.com/v1alpha1") return bad("unknown version");
  if (rv == j.end() || !rv->is_number_unsigned() || start == j.end() || !start->is_string()) {
    return bad("missing fields");
  }
  ContinueToken t;
  t.rv = rv->get<uint64_t>();
  t.start_after = start->get<std::string>();
  if (t.rv == 0) return bad("zero resource version");
  return t;
}

}  // namespace deviceapi::storage
