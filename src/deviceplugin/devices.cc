#include "deviceplugin/devices.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>

#include "common/strings.h"

namespace deviceapi::deviceplugin {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

const Device* ResourceState::Find(std::string_view id) const {
  for (const Device& d : devices) {
    if (d.id == id) return &d;
  }
  return nullptr;
}

std::pair<std::string_view, int> SplitReplicaId(std::string_view id) {
  const size_t at = id.find(kReplicaSeparator);
  if (at == std::string_view::npos) return {id, -1};
  std::string_view rest = id.substr(at + kReplicaSeparator.size());
  int replica = -1;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), replica);
  if (ec != std::errc() || end != rest.data() + rest.size() || replica < 0) return {id, -1};
  return {id.substr(0, at), replica};
}

std::vector<Gpu> GpusFromApi(const std::vector<v1::Gpu>& objects,
                             const std::map<std::string, bool>& healthy_by_name) {
  std::vector<const v1::Gpu*> sorted;
  sorted.reserve(objects.size());
  for (const v1::Gpu& g : objects) {
    if (!g.spec().uuid().empty()) sorted.push_back(&g);
  }
  // NVML enumerates GPUs in PCI bus order; NVIDIA_VISIBLE_DEVICES=<index> means that index.
  std::sort(sorted.begin(), sorted.end(), [](const v1::Gpu* a, const v1::Gpu* b) {
    std::string pa = Lower(a->spec().pci_bus_id()), pb = Lower(b->spec().pci_bus_id());
    if (pa != pb) return pa < pb;
    if (a->spec().uuid() != b->spec().uuid()) return a->spec().uuid() < b->spec().uuid();
    return a->metadata().name() < b->metadata().name();
  });
  std::vector<Gpu> out;
  out.reserve(sorted.size());
  for (const v1::Gpu* g : sorted) {
    // One GPU per UUID: a second object for the same GPU (e.g. a stale one under another name) must not
    // shift the indices of the GPUs after it. The GPU is healthy only if every object says so.
    auto same = std::find_if(out.begin(), out.end(),
                             [&](const Gpu& o) { return Lower(o.uuid) == Lower(g->spec().uuid()); });
    if (same != out.end()) {
      auto h = healthy_by_name.find(g->metadata().name());
      if (h != healthy_by_name.end() && !h->second) same->healthy = false;
      continue;
    }
    Gpu gpu;
    gpu.uuid = g->spec().uuid();
    gpu.name = g->metadata().name();
    gpu.index = static_cast<int>(out.size());
    gpu.minor = g->spec().minor_number();
    gpu.numa_node = g->spec().numa_node();
    auto h = healthy_by_name.find(gpu.name);
    gpu.healthy = h == healthy_by_name.end() ? true : h->second;
    out.push_back(std::move(gpu));
  }
  return out;
}

namespace {

std::string AdvertisedName(const ReplicatedResource& r, const TimeSlicing& ts) {
  if (!r.rename.empty()) return r.rename;
  if (ts.rename_by_default) return common::Cat(r.name, kSharedSuffix);
  return r.name;
}

// Whether `selector` picks `gpu` (whose position among all GPUs is gpu.index).
bool Selects(const DeviceSelector& selector, const Gpu& gpu) {
  switch (selector.kind) {
    case DeviceSelector::Kind::kAll:
      return true;
    case DeviceSelector::Kind::kCount:
      return gpu.index < selector.count;
    case DeviceSelector::Kind::kList:
      for (const std::string& s : selector.list) {
        if (s == std::to_string(gpu.index) || Lower(s) == Lower(gpu.uuid)) return true;
      }
      return false;
  }
  return false;
}

}  // namespace

std::vector<std::string> ResourceNames(const PluginConfig& config) {
  std::set<std::string> names;
  bool whole = true;  // GPUs not claimed by any shared resource are advertised whole
  for (const ReplicatedResource& r : config.time_slicing.resources) {
    names.insert(AdvertisedName(r, config.time_slicing));
    if (r.devices.kind == DeviceSelector::Kind::kAll) whole = false;
  }
  if (whole) names.insert(std::string(kGpuResource));
  return {names.begin(), names.end()};
}

std::vector<ResourceState> BuildResources(const std::vector<Gpu>& gpus, const PluginConfig& config) {
  std::map<std::string, ResourceState> by_name;
  for (const std::string& n : ResourceNames(config)) by_name[n].name = n;
  for (const Gpu& gpu : gpus) {
    // The first timeSlicing entry that selects the GPU shares it; otherwise it is a whole GPU.
    const ReplicatedResource* owner = nullptr;
    for (const ReplicatedResource& r : config.time_slicing.resources) {
      if (Selects(r.devices, gpu)) {
        owner = &r;
        break;
      }
    }
    const std::string name =
        owner != nullptr ? AdvertisedName(*owner, config.time_slicing) : std::string(kGpuResource);
    ResourceState& res = by_name[name];
    res.name = name;
    if (owner != nullptr) res.replicas = owner->replicas;
    const int slot = static_cast<int>(res.gpus.size());
    res.gpus.push_back(gpu);
    // Advertised IDs are always UUIDs, as NVIDIA's: deviceIDStrategy only changes what Allocate
    // hands the container runtime.
    const std::string& base = gpu.uuid;
    if (owner == nullptr) {
      res.devices.push_back(Device{base, slot, -1});
    } else {
      for (int i = 0; i < owner->replicas; ++i) {
        res.devices.push_back(Device{common::Cat(base, kReplicaSeparator, i), slot, i});
      }
    }
  }
  // A resource that is shared keeps its replica count even with no GPUs, for a stable answer.
  for (const ReplicatedResource& r : config.time_slicing.resources) {
    ResourceState& res = by_name[AdvertisedName(r, config.time_slicing)];
    if (res.replicas == 1) res.replicas = r.replicas;
  }
  std::vector<ResourceState> out;
  out.reserve(by_name.size());
  for (auto& [_, res] : by_name) out.push_back(std::move(res));
  return out;
}

}  // namespace deviceapi::deviceplugin
