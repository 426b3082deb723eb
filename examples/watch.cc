// Watches the GPUs and prints every event: a minimal reflector loop that lists, watches from the
// list's resource version with bookmarks, resumes from the last one, and relists when told to.
//
//   deviceapi_example_watch [--server unix:///path.sock] [--selector k=v] [--max-events N]
//                           [--duration-seconds S]
#include <iostream>
#include <string>

#include "deviceapi/deviceapi.h"
#include "example_flags.h"

int main(int argc, char** argv) {
  auto flags = examples::ParseFlags(argc, argv);
  deviceapi::Config config = deviceapi::Config::FromEnvironment();
  if (auto s = examples::Flag(flags, "server"); !s.empty()) config.target = s;
  const long max_events = examples::FlagInt(flags, "max-events", -1);
  const long duration = examples::FlagInt(flags, "duration-seconds", -1);
  const absl::Time end = duration < 0 ? absl::InfiniteFuture() : absl::Now() + absl::Seconds(duration);

  auto clientset = deviceapi::Clientset::NewForConfig(config);
  if (!clientset.ok()) {
    std::cerr << "error: " << clientset.status() << "\n";
    return 1;
  }
  deviceapi::GpuInterfacePtr gpus = (*clientset)->DeviceV1alpha1().Gpus();
  const std::string selector = examples::Flag(flags, "selector");

  long seen = 0;
  std::string rv;  // empty: (re)list first
  while (absl::Now() < end && (max_events < 0 || seen < max_events)) {
    if (rv.empty()) {
      deviceapi::ListOptions lo;
      lo.label_selector = selector;
      auto list = gpus->List(lo);
      if (!list.ok()) {
        std::cerr << "error: list: " << list.status() << "\n";
        return 1;
      }
      rv = list->metadata().resource_version();
      std::cout << "LISTED " << list->items_size() << " at " << rv << std::endl;
      for (const auto& gpu : list->items()) {
        std::cout << "ADDED " << gpu.metadata().name() << " "
                  << deviceapi::HealthName(deviceapi::GpuHealth(gpu)) << " "
                  << gpu.metadata().resource_version() << std::endl;
        if (max_events >= 0 && ++seen >= max_events) return 0;
      }
    }
    deviceapi::ListOptions wo;
    wo.label_selector = selector;
    wo.resource_version = rv;
    wo.allow_watch_bookmarks = true;
    auto watch = gpus->Watch(wo);
    if (!watch.ok()) {
      std::cerr << "error: watch: " << watch.status() << "\n";
      return 1;
    }
    for (;;) {
      std::optional<deviceapi::WatchEvent> ev = (*watch)->NextUntil(end);
      if (!ev.has_value()) break;
      rv = ev->resource_version();
      if (ev->type == deviceapi::EventType::kBookmark) continue;
      std::cout << deviceapi::EventTypeName(ev->type) << " " << ev->object.metadata().name() << " "
                << deviceapi::HealthName(deviceapi::GpuHealth(ev->object)) << " " << rv << std::endl;
      if (max_events >= 0 && ++seen >= max_events) return 0;
    }
    if (!(*watch)->Done()) break;  // our own deadline passed
    deviceapi::WatchResult result = *(*watch)->Result();
    std::cout << "watch ended: " << result.status << " -> " << deviceapi::WatchEndActionName(result.action)
              << std::endl;
    switch (result.action) {
      case deviceapi::WatchEndAction::kRelist:
        rv.clear();
        break;
      case deviceapi::WatchEndAction::kResume:
        if (!result.status.ok()) absl::SleepFor(absl::Milliseconds(500));
        break;
      case deviceapi::WatchEndAction::kStopped:
      case deviceapi::WatchEndAction::kFail:
        return 1;
    }
  }
  return 0;
}
