#include "deviceapi/lister.h"

#include <utility>

#include "apimachinery/selector.h"

namespace deviceapi {
namespace {

absl::StatusOr<std::vector<GpuPtr>> Filter(std::vector<GpuPtr> objs, std::string_view label_selector) {
  if (label_selector.empty()) return objs;
  absl::StatusOr<apimachinery::LabelSelector> sel = apimachinery::LabelSelector::Parse(label_selector);
  if (!sel.ok()) return sel.status();
  std::vector<GpuPtr> out;
  for (auto& o : objs) {
    if (sel->Matches(o->metadata().labels())) out.push_back(std::move(o));
  }
  return out;
}

std::string NotFoundMessage(std::string_view name) {
  return "gpus.device.nvidia.com \"" + std::string(name) + "\" not found";
}

}  // namespace

GpuNamespaceLister::GpuNamespaceLister(std::shared_ptr<const Indexer> indexer, std::string ns)
    : indexer_(std::move(indexer)), ns_(ns.empty() ? std::string("default") : std::move(ns)) {}

absl::StatusOr<std::vector<GpuPtr>> GpuNamespaceLister::List(std::string_view label_selector) const {
  absl::StatusOr<std::vector<GpuPtr>> objs = indexer_->ByIndex(kNamespaceIndex, ns_);
  if (!objs.ok()) {
    // The namespace index was replaced by the user: scan.
    std::vector<GpuPtr> all;
    for (auto& o : indexer_->List()) {
      const std::string& ns = o->metadata().namespace_();
      if ((ns.empty() ? std::string("default") : ns) == ns_) all.push_back(std::move(o));
    }
    return Filter(std::move(all), label_selector);
  }
  return Filter(std::move(*objs), label_selector);
}

absl::StatusOr<GpuPtr> GpuNamespaceLister::Get(std::string_view name) const {
  GpuPtr obj = indexer_->Get(ns_, name);
  if (obj == nullptr) return absl::NotFoundError(NotFoundMessage(name));
  return obj;
}

GpuLister::GpuLister(std::shared_ptr<const Indexer> indexer) : indexer_(std::move(indexer)) {}

absl::StatusOr<std::vector<GpuPtr>> GpuLister::List(std::string_view label_selector) const {
  return Filter(indexer_->List(), label_selector);
}

absl::StatusOr<GpuPtr> GpuLister::Get(std::string_view name) const { return Gpus("default").Get(name); }

GpuNamespaceLister GpuLister::Gpus(std::string_view ns) const {
  return GpuNamespaceLister(indexer_, std::string(ns));
}

}  // namespace deviceapi
