// Which objects a list or watch selects: namespace, label and field selectors.
#ifndef DEVICEAPI_STORAGE_FILTER_H_
#define DEVICEAPI_STORAGE_FILTER_H_

#include <string>

#include "apimachinery/selector.h"
#include "storage/event.h"

namespace deviceapi::storage {

struct Filter {
  std::string ns;  // empty: all namespaces
  apimachinery::LabelSelector label;
  apimachinery::FieldSelector field;

  // `obj`: a v1::Gpu or a StoredObject (anything with metadata()).
  template <typename Obj>
  bool Matches(const Obj& obj) const {
    const auto& md = obj.metadata();
    if (!ns.empty() && md.namespace_() != ns) return false;
    if (!field.Empty() && !field.Matches(md.name(), md.namespace_())) return false;
    return label.Empty() || label.Matches(md.labels());
  }
  // True when every object in scope matches (no selector narrows the scope).
  bool SelectsAll() const { return label.Empty() && field.Empty(); }
};

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_FILTER_H_
