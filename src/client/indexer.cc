#include "deviceapi/indexer.h"

#include <utility>

namespace deviceapi {

std::string ObjectKey(std::string_view ns, std::string_view name) {
  std::string key(ns.empty() ? std::string_view("default") : ns);
  key += '/';
  key += name;
  return key;
}

std::string ObjectKey(const v1::Gpu& gpu) {
  return ObjectKey(gpu.metadata().namespace_(), gpu.metadata().name());
}

std::vector<std::string> NamespaceIndexFunc(const v1::Gpu& gpu) {
  const std::string& ns = gpu.metadata().namespace_();
  return {ns.empty() ? std::string("default") : ns};
}

std::vector<std::string> NameIndexFunc(const v1::Gpu& gpu) { return {gpu.metadata().name()}; }

Indexers DefaultIndexers() {
  return Indexers{{std::string(kNamespaceIndex), NamespaceIndexFunc},
                  {std::string(kNameIndex), NameIndexFunc}};
}

Indexer::Indexer(Indexers indexers) : indexers_(std::move(indexers)) {
  for (const auto& [name, fn] : indexers_) indices_[name];
}

GpuPtr Indexer::Get(std::string_view ns, std::string_view name) const {
  return GetByKey(ObjectKey(ns, name));
}

GpuPtr Indexer::GetByKey(std::string_view key) const {
  absl::MutexLock lock(&mu_);
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : it->second;
}

std::vector<GpuPtr> Indexer::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<GpuPtr> out;
  out.reserve(items_.size());
  for (const auto& [key, obj] : items_) out.push_back(obj);
  return out;
}

std::vector<std::string> Indexer::ListKeys() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const auto& [key, obj] : items_) out.push_back(key);
  return out;
}

size_t Indexer::Size() const {
  absl::MutexLock lock(&mu_);
  return items_.size();
}

absl::StatusOr<std::vector<std::string>> Indexer::IndexKeys(std::string_view index,
                                                            std::string_view value) const {
  absl::MutexLock lock(&mu_);
  auto idx = indices_.find(index);
  if (idx == indices_.end())
    return absl::NotFoundError("index \"" + std::string(index) + "\" does not exist");
  std::vector<std::string> out;
  if (auto it = idx->second.find(value); it != idx->second.end())
    out.assign(it->second.begin(), it->second.end());
  return out;
}

absl::StatusOr<std::vector<GpuPtr>> Indexer::ByIndex(std::string_view index, std::string_view value) const {
  absl::MutexLock lock(&mu_);
  auto idx = indices_.find(index);
  if (idx == indices_.end())
    return absl::NotFoundError("index \"" + std::string(index) + "\" does not exist");
  std::vector<GpuPtr> out;
  if (auto it = idx->second.find(value); it != idx->second.end()) {
    for (const auto& key : it->second) {
      if (auto obj = items_.find(key); obj != items_.end()) out.push_back(obj->second);
    }
  }
  return out;
}

std::vector<std::string> Indexer::ListIndexFuncValues(std::string_view index) const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  if (auto idx = indices_.find(index); idx != indices_.end()) {
    for (const auto& [value, keys] : idx->second) out.push_back(value);
  }
  return out;
}

std::vector<std::string> Indexer::IndexNames() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [name, fn] : indexers_) out.push_back(name);
  return out;
}

absl::Status Indexer::AddIndexers(const Indexers& indexers) {
  absl::MutexLock lock(&mu_);
  for (const auto& [name, fn] : indexers) {
    if (indexers_.count(name) > 0) return absl::AlreadyExistsError("indexer conflict: " + name);
  }
  for (const auto& [name, fn] : indexers) {
    indexers_[name] = fn;
    Index& index = indices_[name];
    for (const auto& [key, obj] : items_) {
      for (auto& value : fn(*obj)) index[std::move(value)].insert(key);
    }
  }
  return absl::OkStatus();
}

void Indexer::IndexLocked(const std::string& key, const v1::Gpu& obj) {
  for (const auto& [name, fn] : indexers_) {
    Index& index = indices_[name];
    for (auto& value : fn(obj)) index[std::move(value)].insert(key);
  }
}

void Indexer::UnindexLocked(const std::string& key, const v1::Gpu& obj) {
  for (const auto& [name, fn] : indexers_) {
    Index& index = indices_[name];
    for (const auto& value : fn(obj)) {
      auto it = index.find(value);
      if (it == index.end()) continue;
      it->second.erase(key);
      if (it->second.empty()) index.erase(it);
    }
  }
}

GpuPtr Indexer::Upsert(GpuPtr obj) {
  std::string key = ObjectKey(*obj);
  absl::MutexLock lock(&mu_);
  GpuPtr old;
  auto it = items_.find(key);
  if (it != items_.end()) {
    old = std::move(it->second);
    UnindexLocked(key, *old);
    it->second = obj;
  } else {
    items_.emplace(key, obj);
  }
  IndexLocked(key, *obj);
  return old;
}

GpuPtr Indexer::Remove(std::string_view key) {
  absl::MutexLock lock(&mu_);
  auto it = items_.find(key);
  if (it == items_.end()) return nullptr;
  GpuPtr old = std::move(it->second);
  UnindexLocked(it->first, *old);
  items_.erase(it);
  return old;
}

void Indexer::Replace(const std::vector<GpuPtr>& objs) {
  absl::MutexLock lock(&mu_);
  items_.clear();
  for (auto& [name, index] : indices_) index.clear();
  for (const auto& obj : objs) {
    std::string key = ObjectKey(*obj);
    IndexLocked(key, *obj);
    items_[std::move(key)] = obj;
  }
}

}  // namespace deviceapi
