#include "apimachinery/validation.h"

#include <cstdint>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "apimachinery/name_rules.h"

namespace deviceapi::apimachinery {
namespace {

// google.protobuf.Timestamp's valid range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

std::string TooLong(size_t max) { return absl::StrCat("Too long: must have at most ", max, " bytes"); }

// "GPU-" or "MIG-" followed by hex digits and dashes, at least one hex digit.
bool IsDeviceUuidName(std::string_view name) {
  if (!absl::StartsWith(Sv(name), "GPU-") && !absl::StartsWith(Sv(name), "MIG-")) return false;
  bool any_hex = false;
  for (char c : name.substr(4)) {
    if (absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      any_hex = true;
    } else if (c != '-') {
      return false;
    }
  }
  return any_hex;
}

void CheckTimestamp(const google::protobuf::Timestamp& ts, const std::string& field,
                    std::vector<FieldError>* errs) {
  if (ts.seconds() < kMinTimestampSeconds || ts.seconds() > kMaxTimestampSeconds || ts.nanos() < 0 ||
      ts.nanos() > 999999999) {
    errs->push_back({field, absl::StrCat("Invalid value: {seconds: ", ts.seconds(), ", nanos: ", ts.nanos(),
                                         "}: must be a valid timestamp between "
                                         "0001-01-01 and 9999-12-31")});
  }
}

void CheckMaxLen(std::string_view value, size_t max, std::string field, std::vector<FieldError>* errs) {
  if (value.size() > max) errs->push_back({std::move(field), TooLong(max)});
}

// ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$
bool IsValidReason(std::string_view r) {
  auto body = [](char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (!absl::ascii_isalpha(static_cast<unsigned char>(r.front()))) return false;
  if (!body(r.back())) return false;
  for (char c : r) {
    if (!body(c) && c != ',' && c != ':') return false;
  }
  return true;
}

void CheckSpec(const v1::GpuSpec& spec, std::vector<FieldError>* errs) {
  const std::string& uuid = spec.uuid();
  if (uuid.size() > kMaxUuidLength) {
    errs->push_back({"spec.uuid", TooLong(kMaxUuidLength)});
  } else {
    for (char c : uuid) {
      if (c < 0x20 || c > 0x7e) {
        errs->push_back(
            {"spec.uuid", InvalidValueDetail(uuid, "must consist of printable ASCII characters")});
        break;
      }
    }
  }
  CheckMaxLen(spec.product_name(), kMaxSpecStringLength, "spec.productName", errs);
  CheckMaxLen(spec.pci_bus_id(), kMaxSpecStringLength, "spec.pciBusId", errs);
  CheckMaxLen(spec.architecture(), kMaxSpecStringLength, "spec.architecture", errs);
  CheckMaxLen(spec.compute_capability(), kMaxSpecStringLength, "spec.computeCapability", errs);
  CheckMaxLen(spec.driver_version(), kMaxSpecStringLength, "spec.driverVersion", errs);
  CheckMaxLen(spec.serial(), kMaxSpecStringLength, "spec.serial", errs);
}

std::vector<FieldError> NameErrors(std::string_view name) {
  if (name.empty()) return {{"metadata.name", "Required value: name is required"}};
  if (name.size() > kDns1123SubdomainMaxLength) {
    return {{"metadata.name",
             InvalidValueDetail(
                 name, absl::StrCat("must be no more than ", kDns1123SubdomainMaxLength, " characters"))}};
  }
  if (IsDeviceUuidName(name)) return {};
  std::vector<std::string> reasons = IsDns1123Subdomain(name);
  if (reasons.empty()) return {};
  reasons.back() += " or be a device UUID such as 'GPU-<hex digits and dashes>'";
  return {{"metadata.name", InvalidValueDetail(name, absl::StrJoin(reasons, "; "))}};
}

std::vector<FieldError> NamespaceErrors(std::string_view ns) {
  if (ns.empty()) return {{"metadata.namespace", "Required value"}};
  std::vector<std::string> reasons = IsDns1123Label(ns);
  if (reasons.empty()) return {};
  return {{"metadata.namespace", InvalidValueDetail(ns, absl::StrJoin(reasons, "; "))}};
}

void CheckKeys(const google::protobuf::Map<std::string, std::string>& m, std::string_view path,
               std::vector<FieldError>* errs) {
  for (const auto& [key, value] : m) {
    if (std::vector<std::string> r = IsQualifiedName(key); !r.empty()) {
      errs->push_back({std::string(path), InvalidValueDetail(key, absl::StrJoin(r, "; "))});
    }
  }
}

}  // namespace

absl::Status ValidateObjectName(std::string_view name) {
  std::vector<FieldError> errs = NameErrors(name);
  return errs.empty() ? absl::OkStatus() : InvalidError(name, std::move(errs));
}

absl::Status ValidateNamespace(std::string_view ns) {
  std::vector<FieldError> errs = NamespaceErrors(ns);
  return errs.empty() ? absl::OkStatus() : InvalidError(ns, std::move(errs));
}

std::vector<FieldError> ValidateLabels(const google::protobuf::Map<std::string, std::string>& labels,
                                       std::string_view field_path) {
  std::vector<FieldError> errs;
  CheckKeys(labels, field_path, &errs);
  for (const auto& [key, value] : labels) {
    if (std::vector<std::string> r = IsValidLabelValue(value); !r.empty()) {
      errs.push_back(
          {absl::StrCat(Sv(field_path), "[", key, "]"), InvalidValueDetail(value, absl::StrJoin(r, "; "))});
    }
  }
  return errs;
}

std::vector<FieldError> ValidateAnnotations(
    const google::protobuf::Map<std::string, std::string>& annotations, std::string_view field_path) {
  std::vector<FieldError> errs;
  CheckKeys(annotations, field_path, &errs);
  return errs;
}

std::vector<FieldError> ValidateConditions(const v1::GpuStatus& status, const Limits& limits) {
  std::vector<FieldError> errs;
  const int n = status.conditions_size();
  if (static_cast<size_t>(n) > limits.max_conditions) {
    errs.push_back({"status.conditions",
                    absl::StrCat("Too many: ", n, ": must have at most ", limits.max_conditions, " items")});
  }
  absl::flat_hash_set<std::string_view> seen;
  for (int i = 0; i < n; ++i) {
    const v1::Condition& c = status.conditions(i);
    const std::string path = absl::StrCat("status.conditions[", i, "]");
    if (c.type().empty()) {
      errs.push_back({path + ".type", "Required value"});
    } else if (std::vector<std::string> r = IsQualifiedName(c.type()); !r.empty()) {
      errs.push_back({path + ".type", InvalidValueDetail(c.type(), absl::StrJoin(r, "; "))});
    } else if (!seen.insert(c.type()).second) {
      errs.push_back({path + ".type", absl::StrCat("Duplicate value: ", Quote(c.type()))});
    }
    if (c.status() != "True" && c.status() != "False" && c.status() != "Unknown") {
      errs.push_back(
          {path + ".status", c.status().empty()
                                 ? std::string("Required value")
                                 : absl::StrCat("Unsupported value: ", Quote(c.status()),
                                                ": supported values: \"False\", \"True\", \"Unknown\"")});
    }
    if (c.reason().size() > kMaxReasonLength) {
      errs.push_back({path + ".reason", TooLong(kMaxReasonLength)});
    } else if (!c.reason().empty() && !IsValidReason(c.reason())) {
      errs.push_back(
          {path + ".reason", InvalidValueDetail(c.reason(),
                                                "a condition reason must start with alphabetic "
                                                "character, optionally followed by a string of "
                                                "alphanumeric characters or '_,:', and must end with an "
                                                "alphanumeric character or '_' (regex used for "
                                                "validation is "
                                                "'[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?')")});
    }
    CheckMaxLen(c.message(), kMaxMessageLength, path + ".message", &errs);
    if (c.observed_generation() < 0) {
      errs.push_back({path + ".observedGeneration", absl::StrCat("Invalid value: ", c.observed_generation(),
                                                                 ": must be greater than or equal to zero")});
    }
    if (c.has_last_transition_time()) {
      CheckTimestamp(c.last_transition_time(), path + ".lastTransitionTime", &errs);
    }
    if (c.has_last_heartbeat_time()) {
      CheckTimestamp(c.last_heartbeat_time(), path + ".lastHeartbeatTime", &errs);
    }
  }
  CheckMaxLen(status.recommended_action(), kMaxRecommendedActionLength, "status.recommendedAction", &errs);
  return errs;
}

absl::Status ValidateGpu(const v1::Gpu& gpu, const Limits& limits) {
  const v1::ObjectMeta& meta = gpu.metadata();
  std::vector<FieldError> errs = NameErrors(meta.name());
  for (FieldError& e : NamespaceErrors(meta.namespace_())) errs.push_back(std::move(e));
  for (FieldError& e : ValidateLabels(meta.labels(), "metadata.labels")) {
    errs.push_back(std::move(e));
  }
  for (FieldError& e : ValidateAnnotations(meta.annotations(), "metadata.annotations")) {
    errs.push_back(std::move(e));
  }
  size_t meta_bytes = 0;
  for (const auto& [k, v] : meta.labels()) meta_bytes += k.size() + v.size();
  for (const auto& [k, v] : meta.annotations()) meta_bytes += k.size() + v.size();
  if (meta_bytes > limits.max_metadata_bytes) {
    errs.push_back({"metadata", TooLong(limits.max_metadata_bytes)});
  }
  if (meta.generation() < 0) {
    errs.push_back({"metadata.generation", absl::StrCat("Invalid value: ", meta.generation(),
                                                        ": must be greater than or equal to zero")});
  }
  if (meta.has_creation_timestamp()) {
    CheckTimestamp(meta.creation_timestamp(), "metadata.creationTimestamp", &errs);
  }
  CheckSpec(gpu.spec(), &errs);
  for (FieldError& e : ValidateConditions(gpu.status(), limits)) errs.push_back(std::move(e));
  return errs.empty() ? absl::OkStatus() : InvalidError(meta.name(), std::move(errs));
}

}  // namespace deviceapi::apimachinery
