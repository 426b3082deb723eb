// The codec of the etcd:// backend (see etcd_codec.h).
#include "storage/etcd/etcd_codec.h"

#include <spdlog/spdlog.h>

#include "storage/snapshot.h"
#include "storage/store.h"

namespace deviceapi::storage {

std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<unsigned char>(prefix.back()) < 0xff) {
      prefix.back() = static_cast<char>(prefix.back() + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

std::string EtcdKeyOf(std::string_view gpus_prefix, std::string_view mirror_key) {
  std::string out;
  out.reserve(gpus_prefix.size() + mirror_key.size());
  out.append(gpus_prefix).append(mirror_key);
  return out;
}

std::string MirrorKey(std::string_view gpus_prefix, std::string_view etcd_key) {
  if (etcd_key.substr(0, gpus_prefix.size()) != gpus_prefix) return {};
  std::string_view rest = etcd_key.substr(gpus_prefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size() ||
      rest.find('/', slash + 1) != std::string_view::npos) {
    return {};
  }
  return std::string(rest);
}

std::string EncodeForEtcd(v1::Gpu& gpu) {
  gpu.mutable_metadata()->clear_resource_version();
  return gpu.SerializeAsString();
}

std::shared_ptr<v1::Gpu> Decode(std::string_view gpus_prefix, const mvccpb::KeyValue& kv, std::string* key) {
  *key = MirrorKey(gpus_prefix, kv.key());
  if (key->empty()) {
    spdlog::warn("etcd: skipping key \"{}\": not of the form {}NAMESPACE/NAME", kv.key(), gpus_prefix);
    return nullptr;
  }
  auto gpu = NewObjectForParse(kv.value().size());
  if (!gpu->ParseFromString(kv.value())) {
    spdlog::warn("etcd: skipping key \"{}\" (revision {}): the value is not a serialized v1alpha1.Gpu",
                 kv.key(), kv.mod_revision());
    return nullptr;
  }
  if (MakeKey(gpu->metadata().namespace_(), gpu->metadata().name()) != *key) {
    spdlog::warn("etcd: skipping key \"{}\": it holds the object {}/{}", kv.key(),
                 gpu->metadata().namespace_(), gpu->metadata().name());
    return nullptr;
  }
  gpu->mutable_metadata()->set_resource_version(std::to_string(kv.mod_revision()));
  return gpu;
}

}  // namespace deviceapi::storage
