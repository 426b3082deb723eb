// The codec of the etcd:// backend: where an object lives in etcd and what is
// stored there. An object is the serialized v1alpha1.Gpu at
// <prefix>gpus/<namespace>/<name> with resource_version empty (the key's
// mod_revision is its RV); the mirror's key is "<namespace>/<name>".
#ifndef DEVICEAPI_STORAGE_ETCD_ETCD_CODEC_H_
#define DEVICEAPI_STORAGE_ETCD_ETCD_CODEC_H_

#include <memory>
#include <string>
#include <string_view>

#include "etcd/mvccpb/kv.pb.h"
#include "storage/stored_object.h"

namespace deviceapi::storage {

// The end of the range of every key starting with `prefix` (etcd's
// "prefix + 1": the last byte incremented, trailing 0xff dropped).
std::string PrefixEnd(std::string prefix);

// "<gpus_prefix><mirror_key>": the etcd key of the mirror's "ns/name".
std::string EtcdKeyOf(std::string_view gpus_prefix, std::string_view mirror_key);

// "ns/name" from "<gpus_prefix>ns/name"; empty when the key is not of that form.
std::string MirrorKey(std::string_view gpus_prefix, std::string_view etcd_key);

// The value to store for `gpu`: its bytes with resource_version cleared (in
// `gpu` too: the caller stamps the committed revision afterwards).
std::string EncodeForEtcd(v1::Gpu& gpu);

// The object stored at `kv`, stamped with its mod_revision, and its mirror
// key in `*key`; null (logged) when the key or the value is not one of ours:
// another writer's data under the prefix is skipped rather than served
// half-understood. `*key` is empty when the key itself is not of our form.
std::shared_ptr<v1::Gpu> Decode(std::string_view gpus_prefix, const mvccpb::KeyValue& kv, std::string* key);

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_ETCD_ETCD_CODEC_H_
