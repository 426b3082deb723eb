#include "deviceplugin/config.h"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <set>
#include <utility>

#include <yaml-cpp/yaml.h>

#include "absl/status/status.h"
#include "common/strings.h"
#include "common/yaml_documents.h"

namespace deviceapi::deviceplugin {

using common::Cat;

namespace {

// The only resource gpu-device-plugin serves, and NVIDIA's suffix for renameByDefault. (Also in
// devices.h, which config.h must not depend on.)
constexpr std::string_view kGpuResourceName = "nvidia.com/gpu";
constexpr std::string_view kSharedSuffixName = ".shared";

// "<path>: <problem>", as INVALID_ARGUMENT. ParseConfig prefixes the source.
absl::Status Bad(std::string_view path, std::string_view problem) {
  return absl::InvalidArgumentError(Cat(path, ": ", problem));
}

std::string Join(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : Cat(path, ".", key);
}

std::string Index(std::string_view path, size_t i) { return Cat(path, "[", i, "]"); }

// `s` in double quotes, with quotes, backslashes and control characters escaped.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

// A plain scalar (not quoted, no tag): the only kind YAML reads as a boolean or a number.
bool IsPlain(const YAML::Node& n) { return n.IsScalar() && n.Tag() == "?"; }

// The value a node has, for "expected X, got Y".
std::string Describe(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "null";
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a map";
  if (IsPlain(n)) return Quote(n.Scalar());
  return Cat("the quoted string ", Quote(n.Scalar()));
}

// Whether a key's value is given: a null value (`key:` or `key: null`) counts as absent.
bool Present(const YAML::Node& n) { return n.IsDefined() && !n.IsNull(); }

// Checks that `node` is a map whose keys are unique scalars, each one of `known`.
absl::Status CheckMap(const YAML::Node& node, std::string_view path,
                      std::initializer_list<std::string_view> known) {
  if (!node.IsMap()) {
    return path.empty() ? absl::InvalidArgumentError(Cat("expected a map of settings, got ", Describe(node)))
                        : Bad(path, Cat("expected a map, got ", Describe(node)));
  }
  std::set<std::string> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) {
      return Bad(path.empty() ? "(top level)" : path,
                 Cat("a key must be a string, got ", Describe(it->first)));
    }
    const std::string& key = it->first.Scalar();
    bool found = false;
    for (std::string_view k : known) found = found || k == key;
    if (!found) return Bad(Join(path, key), "unknown key");
    if (!seen.insert(key).second) return Bad(Join(path, key), "duplicate key");
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> GetBool(const YAML::Node& n, std::string_view path) {
  // YAML 1.1's words, as NVIDIA's parser (go-yaml v2 through sigs.k8s.io/yaml) reads them.
  static constexpr std::string_view kTrue[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                               "on",   "On",   "ON",   "y",   "Y"};
  static constexpr std::string_view kFalse[] = {"false", "False", "FALSE", "no", "No", "NO",
                                                "off",   "Off",   "OFF",   "n",  "N"};
  if (IsPlain(n)) {
    for (std::string_view w : kTrue) {
      if (n.Scalar() == w) return true;
    }
    for (std::string_view w : kFalse) {
      if (n.Scalar() == w) return false;
    }
  }
  return Bad(path, Cat("expected a boolean (true or false), got ", Describe(n)));
}

// A decimal integer in int's range.
std::optional<int> ParseInt(std::string_view s) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

absl::StatusOr<int> GetInt(const YAML::Node& n, std::string_view path) {
  if (IsPlain(n)) {
    if (std::optional<int> v = ParseInt(n.Scalar())) return *v;
  }
  return Bad(path, Cat("expected an integer, got ", Describe(n)));
}

absl::StatusOr<std::string> GetString(const YAML::Node& n, std::string_view path) {
  if (n.IsScalar()) return n.Scalar();
  return Bad(path, Cat("expected a string, got ", Describe(n)));
}

// A DNS-1123 subdomain, as Kubernetes': lowercase alphanumeric labels with inner '-', joined by '.'.
bool IsDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    const std::string_view label = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (label.empty()) return false;
    for (char c : label) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    if (label.front() == '-' || label.back() == '-') return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// The name part of a Kubernetes qualified name: 1-63 of [A-Za-z0-9._-], alphanumeric at both ends.
bool IsQualifiedNamePart(std::string_view s) {
  if (s.empty() || s.size() > 63 || !IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// Why `name` is not a valid Kubernetes extended resource name, or "" when it is.
std::string ExtendedResourceNameProblem(std::string_view name) {
  const size_t slash = name.find('/');
  if (slash == std::string_view::npos) return "it needs a domain, e.g. example.com/gpu-shared";
  const std::string_view domain = name.substr(0, slash);
  const std::string_view rest = name.substr(slash + 1);
  if (!IsDnsSubdomain(domain)) {
    return Cat("the domain ", Quote(domain),
               " is not a DNS subdomain (lowercase letters, digits, '-' and '.', at most 253 characters)");
  }
  if (domain == "kubernetes.io" ||
      (domain.size() > 14 && domain.substr(domain.size() - 14) == ".kubernetes.io")) {
    return "the kubernetes.io domain is reserved for Kubernetes' own resources";
  }
  if (!IsQualifiedNamePart(rest)) {
    return Cat("the name ", Quote(rest),
               " after the domain must be 1-63 characters of letters, digits, '-', '_' and '.', starting "
               "and ending with a letter or digit");
  }
  return "";
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// A MIG device as NVIDIA writes it in `devices`: a MIG UUID or "<gpu>:<mig>".
bool LooksLikeMig(std::string_view s) {
  if (StartsWith(s, "MIG-")) return true;
  const size_t colon = s.find(':');
  return colon != std::string_view::npos && ParseInt(s.substr(0, colon)) && ParseInt(s.substr(colon + 1));
}

constexpr std::string_view kMigNotSupported =
    "MIG devices are not supported (gpu-device-plugin shares whole GPUs; use GPU indices or GPU-... UUIDs)";

// sharing.timeSlicing.resources[].devices.
absl::StatusOr<DeviceSelector> ParseDevices(const YAML::Node& n, std::string_view path) {
  DeviceSelector sel;
  constexpr std::string_view kExpected =
      "expected \"all\", a positive count, or a list of GPU indices and UUIDs";
  if (n.IsScalar()) {
    if (n.Scalar() == "all") return sel;
    if (IsPlain(n)) {
      if (std::optional<int> count = ParseInt(n.Scalar())) {
        if (*count < 1) return Bad(path, Cat("the count of GPUs must be positive, got ", *count));
        sel.kind = DeviceSelector::Kind::kCount;
        sel.count = *count;
        return sel;
      }
    }
    if (LooksLikeMig(n.Scalar())) return Bad(path, kMigNotSupported);
    return Bad(path, Cat(kExpected, ", got ", Describe(n)));
  }
  if (!n.IsSequence()) return Bad(path, Cat(kExpected, ", got ", Describe(n)));
  if (n.size() == 0) return Bad(path, "the list of GPUs is empty (leave devices out to share all GPUs)");
  sel.kind = DeviceSelector::Kind::kList;
  for (size_t i = 0; i < n.size(); ++i) {
    const YAML::Node item = n[i];
    const std::string item_path = Index(path, i);
    if (!item.IsScalar()) {
      return Bad(item_path, Cat("expected a GPU index or a GPU UUID, got ", Describe(item)));
    }
    const std::string& s = item.Scalar();
    std::string device;
    if (std::optional<int> index = ParseInt(s)) {
      if (*index < 0) return Bad(item_path, Cat("a GPU index must not be negative, got ", *index));
      device = std::to_string(*index);
    } else if (LooksLikeMig(s)) {
      return Bad(item_path, kMigNotSupported);
    } else if (StartsWith(s, "GPU-") && s.size() > 4) {
      device = s;
    } else {
      return Bad(item_path, Cat("expected a GPU index or a GPU UUID (GPU-...), got ", Describe(item)));
    }
    for (size_t j = 0; j < sel.list.size(); ++j) {
      if (Lower(sel.list[j]) == Lower(device)) {
        return Bad(item_path, Cat("GPU ", Quote(device), " is listed twice (also ", Index(path, j), ")"));
      }
    }
    sel.list.push_back(std::move(device));
  }
  return sel;
}

absl::StatusOr<ReplicatedResource> ParseResource(const YAML::Node& n, std::string_view path) {
  if (absl::Status s = CheckMap(n, path, {"name", "replicas", "rename", "devices"}); !s.ok()) return s;
  ReplicatedResource r;
  const std::string name_path = Join(path, "name");
  if (!Present(n["name"]))
    return Bad(name_path, Cat("required (the resource to share: ", kGpuResourceName, ")"));
  absl::StatusOr<std::string> name = GetString(n["name"], name_path);
  if (!name.ok()) return name.status();
  if (*name != kGpuResourceName) {
    if (StartsWith(*name, "nvidia.com/mig-"))
      return Bad(name_path, Cat(Quote(*name), ": MIG is not supported"));
    return Bad(name_path,
               Cat("unknown resource ", Quote(*name), ", only ", kGpuResourceName, " can be shared"));
  }
  r.name = *std::move(name);

  const std::string replicas_path = Join(path, "replicas");
  if (!Present(n["replicas"]))
    return Bad(replicas_path, "required (the number of replicas per GPU, at least 2)");
  absl::StatusOr<int> replicas = GetInt(n["replicas"], replicas_path);
  if (!replicas.ok()) return replicas.status();
  if (*replicas < 2) return Bad(replicas_path, Cat("must be at least 2, got ", *replicas));
  r.replicas = *replicas;

  if (Present(n["rename"])) {
    const std::string rename_path = Join(path, "rename");
    absl::StatusOr<std::string> rename = GetString(n["rename"], rename_path);
    if (!rename.ok()) return rename.status();
    if (!rename->empty()) {
      if (std::string why = ExtendedResourceNameProblem(*rename); !why.empty()) {
        return Bad(rename_path, Cat(Quote(*rename), " is not a valid extended resource name: ", why));
      }
    }
    r.rename = *std::move(rename);
  }

  if (Present(n["devices"])) {
    absl::StatusOr<DeviceSelector> devices = ParseDevices(n["devices"], Join(path, "devices"));
    if (!devices.ok()) return devices.status();
    r.devices = *std::move(devices);
  }
  return r;
}

std::string AdvertisedName(const ReplicatedResource& r, bool rename_by_default) {
  if (!r.rename.empty()) return r.rename;
  if (rename_by_default) return Cat(r.name, kSharedSuffixName);
  return r.name;
}

// The rules between entries; `path` is sharing.timeSlicing.resources.
absl::Status CheckResources(const TimeSlicing& ts, std::string_view path) {
  for (size_t j = 0; j < ts.resources.size(); ++j) {
    const ReplicatedResource& r = ts.resources[j];
    const std::string entry = Index(path, j);
    const std::string advertised = AdvertisedName(r, ts.rename_by_default);
    for (size_t i = 0; i < j; ++i) {
      if (AdvertisedName(ts.resources[i], ts.rename_by_default) == advertised) {
        return Bad(Join(entry, r.rename.empty() ? "name" : "rename"),
                   Cat("advertised name ", Quote(advertised), " is already advertised by ", Index(path, i),
                       "; give each entry its own rename"));
      }
    }
    if (r.devices.kind != DeviceSelector::Kind::kAll && advertised == kGpuResourceName) {
      return Bad(
          Join(entry, "devices"),
          Cat("sharing only some GPUs under the name ", kGpuResourceName,
              " would advertise the GPUs it does not share as whole GPUs under the same name; set rename "
              "on this entry to another name, or sharing.timeSlicing.renameByDefault"));
    }
    for (size_t i = 0; i < j; ++i) {
      if (ts.resources[i].devices.kind == DeviceSelector::Kind::kAll) {
        return Bad(Join(entry, "devices"),
                   Cat(Index(path, i),
                       " already shares all GPUs (devices: all, the default), so this entry "
                       "would never apply; give the entries distinct devices"));
      }
    }
    if (r.devices.kind != DeviceSelector::Kind::kList) continue;
    for (size_t k = 0; k < r.devices.list.size(); ++k) {
      for (size_t i = 0; i < j; ++i) {
        const DeviceSelector& other = ts.resources[i].devices;
        if (other.kind != DeviceSelector::Kind::kList) continue;
        for (const std::string& d : other.list) {
          if (Lower(d) == Lower(r.devices.list[k])) {
            return Bad(Index(Join(entry, "devices"), k),
                       Cat("GPU ", Quote(r.devices.list[k]), " is already shared by ", Index(path, i)));
          }
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ParseTimeSlicing(const YAML::Node& n, std::string_view path, TimeSlicing& ts) {
  if (absl::Status s = CheckMap(n, path, {"renameByDefault", "failRequestsGreaterThanOne", "resources"});
      !s.ok()) {
    return s;
  }
  if (Present(n["renameByDefault"])) {
    absl::StatusOr<bool> b = GetBool(n["renameByDefault"], Join(path, "renameByDefault"));
    if (!b.ok()) return b.status();
    ts.rename_by_default = *b;
  }
  if (Present(n["failRequestsGreaterThanOne"])) {
    absl::StatusOr<bool> b =
        GetBool(n["failRequestsGreaterThanOne"], Join(path, "failRequestsGreaterThanOne"));
    if (!b.ok()) return b.status();
    ts.fail_requests_greater_than_one = *b;
  }
  const std::string resources_path = Join(path, "resources");
  const YAML::Node resources = n["resources"];
  if (!Present(resources)) return Bad(resources_path, "required: at least one resource to share");
  if (!resources.IsSequence()) return Bad(resources_path, Cat("expected a list, got ", Describe(resources)));
  if (resources.size() == 0) return Bad(resources_path, "at least one resource to share is required");
  for (size_t i = 0; i < resources.size(); ++i) {
    absl::StatusOr<ReplicatedResource> r = ParseResource(resources[i], Index(resources_path, i));
    if (!r.ok()) return r.status();
    ts.resources.push_back(*std::move(r));
  }
  return CheckResources(ts, resources_path);
}

// One deviceListStrategy value.
absl::StatusOr<DeviceListStrategy> ParseOneStrategy(std::string_view text, std::string_view key) {
  for (DeviceListStrategy s : {DeviceListStrategy::kEnvvar, DeviceListStrategy::kVolumeMounts,
                               DeviceListStrategy::kCdiAnnotations, DeviceListStrategy::kCdiCri}) {
    if (text == DeviceListStrategyName(s)) return s;
  }
  return Bad(key, Cat("unknown device list strategy ", Quote(text),
                      ", expected envvar, volume-mounts, cdi-annotations or cdi-cri"));
}

void AddUnique(std::vector<DeviceListStrategy>& out, DeviceListStrategy s) {
  for (DeviceListStrategy t : out) {
    if (t == s) return;
  }
  out.push_back(s);
}

absl::Status ParsePlugin(const YAML::Node& n, std::string_view path, PluginConfig& config) {
  if (absl::Status s = CheckMap(
          n, path,
          {"passDeviceSpecs", "deviceListStrategy", "deviceIDStrategy", "sharedDevicesAllocationPolicy",
           "cdiAnnotationPrefix", "containerDriverRoot", "nvidiaCTKPath", "deviceDiscoveryStrategy"});
      !s.ok()) {
    return s;
  }
  if (Present(n["passDeviceSpecs"])) {
    absl::StatusOr<bool> b = GetBool(n["passDeviceSpecs"], Join(path, "passDeviceSpecs"));
    if (!b.ok()) return b.status();
    config.pass_device_specs = *b;
  }
  if (const YAML::Node v = n["deviceListStrategy"]; Present(v)) {
    const std::string key = Join(path, "deviceListStrategy");
    if (v.IsScalar()) {
      absl::StatusOr<std::vector<DeviceListStrategy>> list = ParseDeviceListStrategies(v.Scalar(), key);
      if (!list.ok()) return list.status();
      config.device_list_strategies = *std::move(list);
    } else if (v.IsSequence()) {
      if (v.size() == 0) return Bad(key, "at least one strategy is required");
      std::vector<DeviceListStrategy> list;
      for (size_t i = 0; i < v.size(); ++i) {
        absl::StatusOr<std::string> text = GetString(v[i], Index(key, i));
        if (!text.ok()) return text.status();
        absl::StatusOr<DeviceListStrategy> s = ParseOneStrategy(*text, Index(key, i));
        if (!s.ok()) return s.status();
        AddUnique(list, *s);
      }
      config.device_list_strategies = std::move(list);
    } else {
      return Bad(key, Cat("expected a strategy or a list of strategies, got ", Describe(v)));
    }
  }
  if (Present(n["deviceIDStrategy"])) {
    const std::string key = Join(path, "deviceIDStrategy");
    absl::StatusOr<std::string> text = GetString(n["deviceIDStrategy"], key);
    if (!text.ok()) return text.status();
    absl::StatusOr<DeviceIdStrategy> s = ParseDeviceIdStrategy(*text, key);
    if (!s.ok()) return s.status();
    config.device_id_strategy = *s;
  }
  if (Present(n["sharedDevicesAllocationPolicy"])) {
    const std::string key = Join(path, "sharedDevicesAllocationPolicy");
    absl::StatusOr<std::string> text = GetString(n["sharedDevicesAllocationPolicy"], key);
    if (!text.ok()) return text.status();
    absl::StatusOr<SharedAllocationPolicy> p = ParseSharedAllocationPolicy(*text, key);
    if (!p.ok()) return p.status();
    config.shared_allocation_policy = *p;
  }
  if (Present(n["cdiAnnotationPrefix"])) {
    absl::StatusOr<std::string> text = GetString(n["cdiAnnotationPrefix"], Join(path, "cdiAnnotationPrefix"));
    if (!text.ok()) return text.status();
    config.cdi_annotation_prefix = *std::move(text);
  }
  // NVIDIA's, with no meaning here (no driver root inside the container, no CDI hook, discovery
  // through the Device API): checked for type, then ignored.
  for (std::string_view ignored : {"containerDriverRoot", "nvidiaCTKPath", "deviceDiscoveryStrategy"}) {
    const std::string key(ignored);
    if (Present(n[key])) {
      if (absl::StatusOr<std::string> s = GetString(n[key], Join(path, key)); !s.ok()) return s.status();
    }
  }
  return absl::OkStatus();
}

absl::Status ParseFlags(const YAML::Node& n, std::string_view path, PluginConfig& config) {
  if (absl::Status s = CheckMap(
          n, path,
          {"migStrategy", "failOnInitError", "nvidiaDriverRoot", "nvidiaDevRoot", "mpsRoot", "gdrcopyEnabled",
           "gdsEnabled", "mofedEnabled", "useNodeFeatureAPI", "deviceDiscoveryStrategy", "plugin", "gfd"});
      !s.ok()) {
    return s;
  }
  if (Present(n["migStrategy"])) {
    const std::string key = Join(path, "migStrategy");
    absl::StatusOr<std::string> mig = GetString(n["migStrategy"], key);
    if (!mig.ok()) return mig.status();
    if (*mig == "single" || *mig == "mixed") {
      return Bad(key, Cat("MIG is not supported (got ", Quote(*mig), "); use none"));
    }
    if (*mig != "none") return Bad(key, Cat("unknown MIG strategy ", Quote(*mig), ", expected none"));
  }
  if (Present(n["nvidiaDevRoot"])) {
    absl::StatusOr<std::string> root = GetString(n["nvidiaDevRoot"], Join(path, "nvidiaDevRoot"));
    if (!root.ok()) return root.status();
    if (!root->empty()) config.nvidia_dev_root = *std::move(root);
  }
  // Ignored: there is no init to fail (GPUs come from the Device API), and GFD's flags are GFD's.
  for (std::string_view ignored : {"failOnInitError", "useNodeFeatureAPI"}) {
    const std::string key(ignored);
    if (Present(n[key])) {
      if (absl::StatusOr<bool> b = GetBool(n[key], Join(path, key)); !b.ok()) return b.status();
    }
  }
  for (std::string_view ignored : {"nvidiaDriverRoot", "mpsRoot", "deviceDiscoveryStrategy"}) {
    const std::string key(ignored);
    if (Present(n[key])) {
      if (absl::StatusOr<std::string> s = GetString(n[key], Join(path, key)); !s.ok()) return s.status();
    }
  }
  // Features that change what Allocate returns: false is what we do, true must not pass silently.
  for (std::string_view feature : {"gdrcopyEnabled", "gdsEnabled", "mofedEnabled"}) {
    const std::string key(feature);
    if (Present(n[key])) {
      absl::StatusOr<bool> b = GetBool(n[key], Join(path, key));
      if (!b.ok()) return b.status();
      if (*b) return Bad(Join(path, key), "not supported by gpu-device-plugin (only false is accepted)");
    }
  }
  if (const YAML::Node gfd = n["gfd"]; Present(gfd) && !gfd.IsMap()) {
    return Bad(Join(path, "gfd"), Cat("expected a map, got ", Describe(gfd)));
  }
  if (Present(n["plugin"])) {
    if (absl::Status s = ParsePlugin(n["plugin"], Join(path, "plugin"), config); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ParseSharing(const YAML::Node& n, std::string_view path, PluginConfig& config) {
  if (absl::Status s = CheckMap(n, path, {"timeSlicing", "mps"}); !s.ok()) return s;
  if (Present(n["mps"])) return Bad(Join(path, "mps"), "MPS is not supported, use sharing.timeSlicing");
  if (Present(n["timeSlicing"])) {
    return ParseTimeSlicing(n["timeSlicing"], Join(path, "timeSlicing"), config.time_slicing);
  }
  return absl::OkStatus();
}

absl::Status ParseRoot(const YAML::Node& root, PluginConfig& config) {
  if (!Present(root)) return absl::OkStatus();  // an empty document: the defaults
  if (absl::Status s = CheckMap(root, "", {"version", "flags", "sharing", "resources"}); !s.ok()) return s;
  if (Present(root["version"])) {
    absl::StatusOr<std::string> version = GetString(root["version"], "version");
    if (!version.ok()) return version.status();
    if (!version->empty() && *version != "v1") {
      return Bad("version", Cat("unknown version ", Quote(*version), ", expected v1"));
    }
  }
  // Top-level `resources` (NVIDIA's resource naming for MIG) is discarded by NVIDIA too.
  if (Present(root["flags"])) {
    if (absl::Status s = ParseFlags(root["flags"], "flags", config); !s.ok()) return s;
  }
  if (Present(root["sharing"])) {
    if (absl::Status s = ParseSharing(root["sharing"], "sharing", config); !s.ok()) return s;
  }
  return absl::OkStatus();
}

Getenv OrStdGetenv(const Getenv& getenv) {
  if (getenv) return getenv;
  // std::getenv is safe here: the process does not modify its environment after startup.
  return [](const char* name) -> const char* { return std::getenv(name); };  // NOLINT(concurrency-mt-unsafe)
}

}  // namespace

std::string_view DeviceListStrategyName(DeviceListStrategy s) {
  switch (s) {
    case DeviceListStrategy::kEnvvar:
      return "envvar";
    case DeviceListStrategy::kVolumeMounts:
      return "volume-mounts";
    case DeviceListStrategy::kCdiAnnotations:
      return "cdi-annotations";
    case DeviceListStrategy::kCdiCri:
      return "cdi-cri";
  }
  return "unknown";
}

std::string_view DeviceIdStrategyName(DeviceIdStrategy s) {
  switch (s) {
    case DeviceIdStrategy::kUuid:
      return "uuid";
    case DeviceIdStrategy::kIndex:
      return "index";
  }
  return "unknown";
}

std::string_view SharedAllocationPolicyName(SharedAllocationPolicy p) {
  switch (p) {
    case SharedAllocationPolicy::kDistributed:
      return "distributed";
    case SharedAllocationPolicy::kPacked:
      return "packed";
  }
  return "unknown";
}

absl::StatusOr<std::vector<DeviceListStrategy>> ParseDeviceListStrategies(std::string_view text,
                                                                          std::string_view key) {
  std::vector<DeviceListStrategy> out;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    std::string_view item = text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.empty()) {
      if (text.find_first_not_of(" \t") == std::string_view::npos) {
        return Bad(key, "at least one device list strategy is required");
      }
      return Bad(key, Cat("empty device list strategy in ", Quote(text)));
    }
    absl::StatusOr<DeviceListStrategy> s = ParseOneStrategy(item, key);
    if (!s.ok()) return s.status();
    AddUnique(out, *s);
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

absl::StatusOr<DeviceIdStrategy> ParseDeviceIdStrategy(std::string_view text, std::string_view key) {
  for (DeviceIdStrategy s : {DeviceIdStrategy::kUuid, DeviceIdStrategy::kIndex}) {
    if (text == DeviceIdStrategyName(s)) return s;
  }
  return Bad(key, Cat("unknown device ID strategy ", Quote(text), ", expected uuid or index"));
}

absl::StatusOr<SharedAllocationPolicy> ParseSharedAllocationPolicy(std::string_view text,
                                                                   std::string_view key) {
  for (SharedAllocationPolicy p : {SharedAllocationPolicy::kDistributed, SharedAllocationPolicy::kPacked}) {
    if (text == SharedAllocationPolicyName(p)) return p;
  }
  return Bad(
      key, Cat("unknown shared devices allocation policy ", Quote(text), ", expected distributed or packed"));
}

absl::StatusOr<PluginConfig> ParseConfig(std::string_view text, std::string_view source) {
  PluginConfig config;
  absl::Status status;
  absl::StatusOr<std::vector<YAML::Node>> docs = common::LoadYamlDocuments(text);
  if (!docs.ok()) {
    status = docs.status();
  } else if (docs->size() > 1) {
    status = absl::InvalidArgumentError(Cat("expected one YAML document, got ", docs->size(),
                                            " (separated by ---); put the whole config in one"));
  } else if (docs->size() == 1) {
    try {
      status = ParseRoot((*docs)[0], config);
    } catch (const YAML::Exception& e) {
      status = common::InvalidYaml(e.mark, e.msg);
    }
  }
  if (!status.ok()) return absl::InvalidArgumentError(Cat(source, ": ", common::ToStd(status.message())));
  return config;
}

absl::StatusOr<PluginConfig> LoadConfigFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(Cat("config file ", path, ": no such file"));
    return absl::Status(absl::ErrnoToStatusCode(err),
                        Cat("config file ", path, ": ", common::ErrnoString(err)));
  }
  std::string text;
  char buf[8192];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
  const int err = std::ferror(f) != 0 ? errno : 0;
  std::fclose(f);
  if (err != 0) {
    return absl::Status(absl::ErrnoToStatusCode(err),
                        Cat("config file ", path, ": ", common::ErrnoString(err)));
  }
  return ParseConfig(text, path);
}

void ApplyOverrides(const ConfigOverrides& overrides, PluginConfig& config) {
  if (overrides.device_list_strategies) config.device_list_strategies = *overrides.device_list_strategies;
  if (overrides.device_id_strategy) config.device_id_strategy = *overrides.device_id_strategy;
  if (overrides.pass_device_specs) config.pass_device_specs = *overrides.pass_device_specs;
  if (overrides.shared_allocation_policy)
    config.shared_allocation_policy = *overrides.shared_allocation_policy;
  if (overrides.cdi_annotation_prefix) config.cdi_annotation_prefix = *overrides.cdi_annotation_prefix;
  if (overrides.nvidia_dev_root) config.nvidia_dev_root = *overrides.nvidia_dev_root;
}

absl::StatusOr<ConfigOverrides> OverridesFromEnvironment(const Getenv& getenv) {
  const Getenv get = OrStdGetenv(getenv);
  // Set and non-empty: an empty variable (as templates often leave them) means unset.
  auto value = [&get](const char* name) -> std::optional<std::string> {
    const char* v = get(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  };
  ConfigOverrides o;
  if (std::optional<std::string> v = value("DEVICE_LIST_STRATEGY")) {
    absl::StatusOr<std::vector<DeviceListStrategy>> s = ParseDeviceListStrategies(*v, "DEVICE_LIST_STRATEGY");
    if (!s.ok()) return s.status();
    o.device_list_strategies = *std::move(s);
  }
  if (std::optional<std::string> v = value("DEVICE_ID_STRATEGY")) {
    absl::StatusOr<DeviceIdStrategy> s = ParseDeviceIdStrategy(*v, "DEVICE_ID_STRATEGY");
    if (!s.ok()) return s.status();
    o.device_id_strategy = *s;
  }
  if (std::optional<std::string> v = value("PASS_DEVICE_SPECS")) {
    // Go's strconv.ParseBool, as NVIDIA's flag library reads it.
    static constexpr std::string_view kTrue[] = {"1", "t", "T", "TRUE", "true", "True"};
    static constexpr std::string_view kFalse[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (std::string_view w : kTrue) {
      if (*v == w) o.pass_device_specs = true;
    }
    for (std::string_view w : kFalse) {
      if (*v == w) o.pass_device_specs = false;
    }
    if (!o.pass_device_specs) {
      return Bad("PASS_DEVICE_SPECS", Cat("expected a boolean (true or false), got ", Quote(*v)));
    }
  }
  if (std::optional<std::string> v = value("SHARED_DEVICES_ALLOCATION_POLICY")) {
    absl::StatusOr<SharedAllocationPolicy> p =
        ParseSharedAllocationPolicy(*v, "SHARED_DEVICES_ALLOCATION_POLICY");
    if (!p.ok()) return p.status();
    o.shared_allocation_policy = *p;
  }
  if (std::optional<std::string> v = value("CDI_ANNOTATION_PREFIX")) o.cdi_annotation_prefix = *std::move(v);
  if (std::optional<std::string> v = value("NVIDIA_DEV_ROOT")) o.nvidia_dev_root = *std::move(v);
  return o;
}

}  // namespace deviceapi::deviceplugin
