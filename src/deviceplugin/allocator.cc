#include "deviceplugin/allocator.h"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "common/strings.h"

namespace deviceapi::deviceplugin {

namespace {

constexpr std::string_view kVisibleDevicesEnv = "NVIDIA_VISIBLE_DEVICES";
constexpr std::string_view kVolumeMountsRoot = "/var/run/nvidia-container-devices";
constexpr std::string_view kVolumeMountsHostPath = "/dev/null";
constexpr std::string_view kCdiGpuKind = "k8s.device-plugin.nvidia.com/gpu";
constexpr std::string_view kCdiAnnotationPlugin = "nvidia-device-plugin_";
// Beyond this many NUMA nodes the whole-GPU choice is greedy instead of exhaustive.
constexpr size_t kMaxExhaustiveNumaNodes = 16;

absl::Status Invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

// Distinct strings of `ids`, first occurrence kept, in order.
std::vector<std::string> Distinct(const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  std::set<std::string_view> seen;
  for (const std::string& id : ids) {
    if (seen.insert(id).second) out.push_back(id);
  }
  return out;
}

// Whole GPUs: `need` more of `candidates` (healthy, not required; in GPU index order), on as few NUMA
// nodes as possible beyond `free_nodes` (those of the required devices, which cost nothing), then with
// the lowest GPU indices. Returns indices into `candidates`.
std::vector<size_t> ChooseWholeGpus(const ResourceState& resource,
                                    const std::vector<const Device*>& candidates,
                                    const std::set<int>& free_nodes, size_t need) {
  std::vector<size_t> picked;
  // GPUs on nodes already in use come first: they add no node.
  for (size_t i = 0; i < candidates.size() && picked.size() < need; ++i) {
    if (free_nodes.count(resource.GpuOf(*candidates[i]).numa_node) > 0) picked.push_back(i);
  }
  if (picked.size() == need) return picked;
  const size_t rest = need - picked.size();

  // The other nodes, each with its candidates in index order (an unknown node, -1, is one node).
  std::map<int, std::vector<size_t>> by_node;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const int node = resource.GpuOf(*candidates[i]).numa_node;
    if (free_nodes.count(node) == 0) by_node[node].push_back(i);
  }
  std::vector<const std::vector<size_t>*> nodes;
  nodes.reserve(by_node.size());
  for (const auto& [_, members] : by_node) nodes.push_back(&members);

  // The lowest `rest` candidate indices of the union of the nodes in `mask`, sorted.
  auto lowest = [&](uint64_t mask) {
    std::vector<size_t> all;
    for (size_t n = 0; n < nodes.size(); ++n) {
      if ((mask >> n) & 1U) all.insert(all.end(), nodes[n]->begin(), nodes[n]->end());
    }
    std::sort(all.begin(), all.end());
    if (all.size() > rest) all.resize(rest);
    return all;
  };

  std::vector<size_t> best;
  if (nodes.size() <= kMaxExhaustiveNumaNodes) {
    // Every subset of nodes that holds `rest` GPUs: fewest nodes first, then the lowest indices.
    int best_count = 0;
    for (uint64_t mask = 1; mask < (uint64_t{1} << nodes.size()); ++mask) {
      size_t capacity = 0;
      for (size_t n = 0; n < nodes.size(); ++n) {
        if ((mask >> n) & 1U) capacity += nodes[n]->size();
      }
      if (capacity < rest) continue;
      const int count = std::popcount(mask);
      if (!best.empty() && count > best_count) continue;
      std::vector<size_t> choice = lowest(mask);
      if (best.empty() || count < best_count || choice < best) {
        best = std::move(choice);
        best_count = count;
      }
    }
  } else {
    // Greedy: while no single remaining node holds what is still needed, take the largest (ties: the
    // lower first GPU); then the node with the lowest first GPU among those that hold it.
    std::vector<const std::vector<size_t>*> order = nodes;
    std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
      if (a->size() != b->size()) return a->size() > b->size();
      return a->front() < b->front();
    });
    size_t taken = 0;  // nodes of `order` used
    while (best.size() < rest && taken < order.size()) {
      const size_t still = rest - best.size();
      const std::vector<size_t>* fits = nullptr;
      for (size_t n = taken; n < order.size(); ++n) {
        if (order[n]->size() >= still && (fits == nullptr || order[n]->front() < fits->front()))
          fits = order[n];
      }
      if (fits != nullptr) {
        best.insert(best.end(), fits->begin(), fits->begin() + static_cast<std::ptrdiff_t>(still));
        break;
      }
      best.insert(best.end(), order[taken]->begin(), order[taken]->end());
      ++taken;
    }
    std::sort(best.begin(), best.end());
    if (best.size() > rest) best.resize(rest);
  }
  picked.insert(picked.end(), best.begin(), best.end());
  std::sort(picked.begin(), picked.end());
  return picked;
}

// Replicas: one pick at a time, from a GPU this container does not use yet while any such GPU has a
// free replica; by policy (fewest or most allocated), then the NUMA nodes already picked, then index.
std::vector<const Device*> ChooseReplicas(const ResourceState& resource,
                                          const std::vector<const Device*>& candidates,
                                          const std::vector<const Device*>& required, size_t need,
                                          SharedAllocationPolicy policy, const std::vector<int>& present) {
  const size_t gpus = resource.gpus.size();
  std::vector<int> total(gpus, 0);
  for (const Device& d : resource.devices) ++total[static_cast<size_t>(d.gpu)];
  // allocated = total - present in `available` + picked in this request (the required included).
  std::vector<int> allocated(gpus, 0);
  for (size_t g = 0; g < gpus; ++g) allocated[g] = total[g] - present[g];
  std::vector<bool> used(gpus, false);
  std::set<int> picked_nodes;
  auto take = [&](const Device& d) {
    const auto g = static_cast<size_t>(d.gpu);
    ++allocated[g];
    used[g] = true;
    picked_nodes.insert(resource.GpuOf(d).numa_node);
  };
  for (const Device* d : required) take(*d);

  // Free candidate replicas per GPU, lowest replica number first.
  std::vector<std::vector<const Device*>> spare(gpus);
  for (const Device* d : candidates) spare[static_cast<size_t>(d->gpu)].push_back(d);
  for (auto& replicas : spare) {
    std::sort(replicas.begin(), replicas.end(),
              [](const Device* a, const Device* b) { return a->replica < b->replica; });
  }
  std::vector<size_t> next(gpus, 0);

  std::vector<const Device*> out;
  while (out.size() < need) {
    bool any_unused = false;
    for (size_t g = 0; g < gpus; ++g) {
      if (next[g] < spare[g].size() && !used[g]) any_unused = true;
    }
    std::optional<size_t> best;
    for (size_t g = 0; g < gpus; ++g) {
      if (next[g] >= spare[g].size() || (any_unused && used[g])) continue;
      if (!best) {
        best = g;
        continue;
      }
      const size_t b = *best;
      if (allocated[g] != allocated[b]) {
        const bool better = policy == SharedAllocationPolicy::kPacked ? allocated[g] > allocated[b]
                                                                      : allocated[g] < allocated[b];
        if (better) best = g;
        continue;
      }
      const bool g_near = picked_nodes.count(resource.gpus[g].numa_node) > 0;
      const bool b_near = picked_nodes.count(resource.gpus[b].numa_node) > 0;
      if (g_near && !b_near) best = g;
      // Otherwise keep `b`: GPUs are visited in index order.
    }
    if (!best) break;  // cannot happen: the caller checked the count
    const Device* d = spare[*best][next[*best]++];
    take(*d);
    out.push_back(d);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> PreferredAllocation(const ResourceState& resource,
                                                             const std::vector<std::string>& available,
                                                             const std::vector<std::string>& must_include,
                                                             int size, SharedAllocationPolicy policy) {
  if (size < 1) return Invalid(common::Cat("allocation size must be at least 1, got ", size));
  const std::vector<std::string> avail = Distinct(available);
  const std::vector<std::string> required = Distinct(must_include);
  const std::set<std::string_view> avail_set(avail.begin(), avail.end());
  const std::set<std::string_view> required_set(required.begin(), required.end());
  for (const std::string& id : required) {
    if (avail_set.count(id) == 0) {
      return Invalid(common::Cat("must-include device ", id, " is not among the available devices"));
    }
  }
  const auto want = static_cast<size_t>(size);
  if (required.size() > want) {
    return Invalid(
        common::Cat("must-include devices (", required.size(), ") exceed the allocation size ", size));
  }

  // Usable: the required ones as given, and the known healthy others in `available`, in advertised order
  // (GPU order, then replica order) for determinism whatever the kubelet's order.
  std::vector<const Device*> required_devices;
  std::set<int> required_nodes;
  for (const std::string& id : required) {
    if (const Device* d = resource.Find(id); d != nullptr) {
      required_devices.push_back(d);
      required_nodes.insert(resource.GpuOf(*d).numa_node);
    }
  }
  std::vector<const Device*> candidates;
  std::vector<int> present(resource.gpus.size(), 0);  // per GPU: its devices in `available`
  for (const Device& d : resource.devices) {
    if (avail_set.count(d.id) == 0) continue;
    ++present[static_cast<size_t>(d.gpu)];
    if (required_set.count(d.id) == 0 && resource.Healthy(d)) candidates.push_back(&d);
  }
  const size_t need = want - required.size();
  if (candidates.size() < need) {
    return Invalid(common::Cat("not enough available devices to satisfy allocation: need ", size, ", usable ",
                               required.size() + candidates.size(), " (of ", avail.size(), " available)"));
  }

  std::vector<std::string> out = required;
  if (need == 0) return out;
  if (!resource.shared()) {
    for (size_t i : ChooseWholeGpus(resource, candidates, required_nodes, need)) {
      out.push_back(candidates[i]->id);
    }
  } else {
    for (const Device* d : ChooseReplicas(resource, candidates, required_devices, need, policy, present)) {
      out.push_back(d->id);
    }
  }
  return out;
}

absl::Status ValidateAllocateRequest(const ResourceState& resource, const std::vector<std::string>& ids,
                                     bool fail_requests_greater_than_one) {
  const std::string prefix = common::Cat("invalid allocation request for \"", resource.name, "\": ");
  if (ids.empty()) return Invalid(common::Cat(prefix, "no devices requested"));
  for (const std::string& id : ids) {
    if (resource.Find(id) == nullptr)
      return Invalid(common::Cat(prefix, "invalid request: unknown device: ", id));
  }
  if (fail_requests_greater_than_one && resource.shared() && ids.size() > 1) {
    return Invalid(common::Cat(
        prefix, "invalid request: maximum request size for shared resources is 1; found ", ids.size()));
  }
  for (const std::string& id : ids) {
    if (!resource.Healthy(*resource.Find(id)))
      return Invalid(common::Cat(prefix, "device ", id, " is unhealthy"));
  }
  return absl::OkStatus();
}

namespace {

// `root` joined with the absolute `path`: ("/", "/dev/x") -> "/dev/x"; ("/run/d/", "/dev/x") ->
// "/run/d/dev/x".
std::string UnderRoot(std::string_view root, std::string_view path) {
  while (!root.empty() && root.back() == '/') root.remove_suffix(1);
  return common::Cat(root, path);
}

}  // namespace

v1beta1::ContainerAllocateResponse ContainerResponse(const ResourceState& resource,
                                                     const std::vector<std::string>& ids,
                                                     const PluginConfig& config,
                                                     const std::string& annotation_suffix) {
  // The physical GPUs, each once, in first-seen order.
  std::vector<const Gpu*> gpus;
  std::set<int> seen;
  for (const std::string& id : ids) {
    const Device* d = resource.Find(id);
    if (d != nullptr && seen.insert(d->gpu).second) gpus.push_back(&resource.GpuOf(*d));
  }
  std::vector<std::string> names;
  names.reserve(gpus.size());
  for (const Gpu* g : gpus) {
    names.push_back(config.device_id_strategy == DeviceIdStrategy::kIndex ? std::to_string(g->index)
                                                                          : g->uuid);
  }

  auto has = [&](DeviceListStrategy s) {
    return std::find(config.device_list_strategies.begin(), config.device_list_strategies.end(), s) !=
           config.device_list_strategies.end();
  };
  v1beta1::ContainerAllocateResponse response;

  // CDI first, as NVIDIA's getAllocateResponse (updateResponseForCDI).
  std::vector<std::string> cdi_names;
  cdi_names.reserve(names.size());
  for (const std::string& n : names) cdi_names.push_back(common::Cat(kCdiGpuKind, "=", n));
  if (!cdi_names.empty() && has(DeviceListStrategy::kCdiAnnotations)) {
    (*response.mutable_annotations())[common::Cat(config.cdi_annotation_prefix, kCdiAnnotationPlugin,
                                                  annotation_suffix)] = Join(cdi_names, ",");
  }
  if (has(DeviceListStrategy::kCdiCri)) {
    for (const std::string& n : cdi_names) response.add_cdi_devices()->set_name(n);
  }
  // As NVIDIA's: with CDI strategies only, nothing else is handed over (no env, no device specs); the
  // CDI specs generated by the NVIDIA Container Toolkit carry NVIDIA_VISIBLE_DEVICES=void themselves.
  const bool envvar = has(DeviceListStrategy::kEnvvar);
  const bool volume_mounts = has(DeviceListStrategy::kVolumeMounts);
  if (!envvar && !volume_mounts) return response;

  auto& envs = *response.mutable_envs();
  if (envvar) envs[std::string(kVisibleDevicesEnv)] = Join(names, ",");
  if (volume_mounts) {
    // Replaces the envvar value when both are configured, as NVIDIA's.
    envs[std::string(kVisibleDevicesEnv)] = std::string(kVolumeMountsRoot);
    for (const std::string& n : names) {
      v1beta1::Mount* m = response.add_mounts();
      m->set_host_path(std::string(kVolumeMountsHostPath));
      m->set_container_path(common::Cat(kVolumeMountsRoot, "/", n));
      m->set_read_only(true);
    }
  }
  if (config.pass_device_specs) {
    auto add_spec = [&](const std::string& path) {
      v1beta1::DeviceSpec* s = response.add_devices();
      s->set_container_path(path);
      s->set_host_path(UnderRoot(config.nvidia_dev_root, path));
      s->set_permissions("rw");
    };
    for (const Gpu* g : gpus) {
      if (g->minor >= 0) add_spec(common::Cat("/dev/nvidia", g->minor));
    }
    for (const char* path : {"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"}) add_spec(path);
  }
  return response;
}

}  // namespace deviceapi::deviceplugin
