#include "cli/manifest.h"

#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "apimachinery/gpu_json.h"
#include "cli/context.h"

namespace deviceapi::cli {
namespace {

// The JSON mapping writes int64/uint64 as strings; kubectl users expect numbers.
void NumberField(Json* object, const char* key) {
  if (object == nullptr || !object->is_object()) return;
  auto it = object->find(key);
  if (it == object->end() || !it->is_string()) return;
  const std::string& s = it->get_ref<const std::string&>();
  if (s.empty()) return;
  char* end = nullptr;
  if (s[0] == '-') {
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (*end == '\0') *it = static_cast<int64_t>(v);
  } else {
    const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (*end == '\0') *it = static_cast<uint64_t>(v);
  }
}

Json* Child(Json* object, const char* key) {
  if (!object->is_object()) return nullptr;
  auto it = object->find(key);
  return it == object->end() ? nullptr : &*it;
}

absl::StatusOr<Json> GpuBody(const v1::Gpu& gpu) {
  absl::StatusOr<std::string> text = apimachinery::GpuToJson(gpu);
  if (!text.ok()) return text.status();
  Json body = Json::parse(*text);
  NumberField(Child(&body, "metadata"), "generation");
  NumberField(Child(&body, "spec"), "memoryBytes");
  if (Json* status = Child(&body, "status"); status != nullptr) {
    if (Json* conditions = Child(status, "conditions"); conditions != nullptr && conditions->is_array()) {
      for (Json& c : *conditions) NumberField(&c, "observedGeneration");
    }
  }
  return body;
}

absl::Status DecodeOne(const Json& doc, const std::string& where, bool in_list, std::vector<v1::Gpu>* out) {
  if (!doc.is_object()) return absl::InvalidArgumentError(absl::StrCat(where, ": not an object"));
  Json body = doc;
  std::string kind;
  if (auto it = body.find("kind"); it != body.end()) {
    if (!it->is_string()) return absl::InvalidArgumentError(absl::StrCat(where, ": kind must be a string"));
    kind = it->get<std::string>();
    body.erase("kind");
  }
  std::string api_version;
  if (auto it = body.find("apiVersion"); it != body.end()) {
    if (!it->is_string())
      return absl::InvalidArgumentError(absl::StrCat(where, ": apiVersion must be a string"));
    api_version = it->get<std::string>();
    body.erase("apiVersion");
  }
  if (kind.empty() && in_list) kind = kKind;  // list items may leave kind out
  if (kind.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": Object 'Kind' is missing"));
  if (kind == kListKind || (kind == "List" && !in_list)) {
    if (!api_version.empty() && api_version != kApiVersion && api_version != "v1") {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": no matches for kind \"", kind, "\" in version \"", api_version, "\""));
    }
    auto items = body.find("items");
    if (items == body.end() || items->is_null()) return absl::OkStatus();
    if (!items->is_array()) return absl::InvalidArgumentError(absl::StrCat(where, ": items must be a list"));
    for (std::size_t i = 0; i < items->size(); ++i) {
      if (absl::Status s = DecodeOne((*items)[i], absl::StrCat(where, ", item ", i + 1), true, out); !s.ok())
        return s;
    }
    return absl::OkStatus();
  }
  if (kind != kKind || (!api_version.empty() && api_version != kApiVersion)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": no matches for kind \"", kind, "\" in version \"", api_version,
                     "\": devicectl handles kind GPU in ", std::string(kApiVersion)));
  }
  absl::StatusOr<v1::Gpu> gpu = apimachinery::GpuFromJson(body.dump());
  if (!gpu.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", gpu.status().message()));
  out->push_back(std::move(*gpu));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Json> GpuToDocument(const v1::Gpu& gpu) {
  absl::StatusOr<Json> body = GpuBody(gpu);
  if (!body.ok()) return body.status();
  Json doc = Json::object();
  doc["apiVersion"] = kApiVersion;
  doc["kind"] = kKind;
  for (auto& [key, value] : body->items()) doc[key] = std::move(value);
  return SortKeys(doc);
}

absl::StatusOr<Json> GpuListToDocument(const v1::GpuList& list) {
  Json items = Json::array();
  for (const v1::Gpu& gpu : list.items()) {
    absl::StatusOr<Json> doc = GpuToDocument(gpu);
    if (!doc.ok()) return doc.status();
    items.push_back(std::move(*doc));
  }
  Json doc = Json::object();
  doc["apiVersion"] = kApiVersion;
  doc["items"] = std::move(items);
  doc["kind"] = kListKind;
  doc["metadata"] = Json::object({{"resourceVersion", list.metadata().resource_version()}});
  return doc;
}

absl::StatusOr<std::vector<v1::Gpu>> DecodeGpus(std::string_view text) {
  absl::StatusOr<std::vector<Json>> docs = ParseDocuments(text);
  if (!docs.ok()) return docs.status();
  std::vector<v1::Gpu> gpus;
  for (std::size_t i = 0; i < docs->size(); ++i) {
    if (absl::Status s = DecodeOne((*docs)[i], absl::StrCat("document ", i + 1), false, &gpus); !s.ok())
      return s;
  }
  return gpus;
}

}  // namespace deviceapi::cli
