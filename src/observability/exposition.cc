#include "observability/exposition.h"

#include <iterator>
#include <vector>

#include "observability/process_metrics.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace deviceapi::observability {

std::string ExpositionText(std::initializer_list<const prometheus::Collectable*> sources) {
  static const ProcessCollector* const process = new ProcessCollector();  // stateless; kept until exit
  std::vector<prometheus::MetricFamily> families;
  auto append = [&families](const prometheus::Collectable* c) {
    std::vector<prometheus::MetricFamily> more = c->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  };
  for (const prometheus::Collectable* c : sources) {
    if (c != nullptr) append(c);
  }
  append(process);
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace deviceapi::observability
