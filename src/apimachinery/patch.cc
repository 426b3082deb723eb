#include "apimachinery/patch.h"

#include <algorithm>
#include <exception>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "apimachinery/gpu_json.h"
#include "apimachinery/name_rules.h"
#include "nlohmann/json.hpp"

namespace deviceapi::apimachinery {
namespace {

constexpr std::string_view kMergeMediaType = "application/merge-patch+json";
constexpr std::string_view kJsonMediaType = "application/json-patch+json";
// A GPU document is about 5 levels deep; anything far deeper is hostile or a mistake, and
// nlohmann's dump and merge_patch recurse.
constexpr int kMaxNestingDepth = 64;

absl::Status Unprocessable(std::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat("unprocessable content: ", Sv(reason)));
}

// nlohmann messages start with "[json.exception.<kind>.<id>] "; the rest is the useful part.
std::string_view ExceptionReason(const std::exception& e) {
  std::string_view what = e.what();
  if (!what.empty() && what.front() == '[') {
    if (size_t end = what.find("] "); end != std::string_view::npos) what.remove_prefix(end + 2);
  }
  return what;
}

// Depth of nested arrays and objects in `data`, ignoring brackets inside strings.
int NestingDepth(std::string_view data) {
  int depth = 0;
  int max_depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < data.size(); ++i) {
    const char c = data[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return max_depth;
}

// Drops top-level sub-messages the patch created empty, so that a patch that changes nothing
// yields an object equal to `current` (proto3 tracks presence of sub-messages).
void RestoreAbsentSubmessages(const v1::Gpu& current, v1::Gpu* out) {
  if (!current.has_metadata() && out->has_metadata() && out->metadata().ByteSizeLong() == 0) {
    out->clear_metadata();
  }
  if (!current.has_spec() && out->has_spec() && out->spec().ByteSizeLong() == 0) {
    out->clear_spec();
  }
  if (!current.has_status() && out->has_status() && out->status().ByteSizeLong() == 0) {
    out->clear_status();
  }
}

}  // namespace

absl::StatusOr<PatchType> ParsePatchType(std::string_view type) {
  if (type == kMergeMediaType || type == "merge") return PatchType::kMerge;
  if (type == kJsonMediaType || type == "json") return PatchType::kJson;
  return absl::InvalidArgumentError(absl::StrCat("unsupported media type: ", Sv(type),
                                                 "; supported: ", Sv(kMergeMediaType), " (alias merge), ",
                                                 Sv(kJsonMediaType), " (alias json)"));
}

absl::StatusOr<v1::Gpu> ApplyPatch(const v1::Gpu& current, PatchType type, std::string_view data) {
  if (NestingDepth(data) > kMaxNestingDepth) {
    return Unprocessable(absl::StrCat("patch nested deeper than ", kMaxNestingDepth, " levels"));
  }
  // Emit every field, including empty sub-messages, so that paths to default-valued fields exist.
  v1::Gpu full = current;
  full.mutable_metadata();
  full.mutable_spec();
  full.mutable_status();
  absl::StatusOr<std::string> current_json = GpuToJson(full, false, /*emit_defaults=*/true);
  if (!current_json.ok()) return Unprocessable(StdSv(current_json.status().message()));

  std::string patched_json;
  try {
    nlohmann::json doc = nlohmann::json::parse(*current_json);
    nlohmann::json patch = nlohmann::json::parse(data.begin(), data.end());
    switch (type) {
      case PatchType::kMerge:
        if (!patch.is_object()) {
          return Unprocessable("a merge patch must be a JSON object");
        }
        doc.merge_patch(patch);
        break;
      case PatchType::kJson:
        if (!patch.is_array()) {
          return Unprocessable("a JSON patch must be an array of operations");
        }
        doc = doc.patch(patch);
        break;
    }
    if (!doc.is_object()) return Unprocessable("the patched document is not a JSON object");
    patched_json = doc.dump();
  } catch (const nlohmann::json::exception& e) {
    return Unprocessable(ExceptionReason(e));
  } catch (const std::exception& e) {
    return Unprocessable(e.what());
  }

  absl::StatusOr<v1::Gpu> out = GpuFromJson(patched_json);
  if (!out.ok()) return Unprocessable(StdSv(out.status().message()));
  RestoreAbsentSubmessages(current, &*out);
  return out;
}

}  // namespace deviceapi::apimachinery
