// Keeps a local cache of the GPUs with an informer and prints every change handed to its event
// handler: the initial list as ADDED, then ADDED / MODIFIED / DELETED as they happen (also across
// broken watches and server restarts, which the informer handles by itself).
//
//   deviceapi_example_informer [--server unix:///path.sock] [--selector k=v] [--max-events N]
//                              [--duration-seconds S]
#include <atomic>
#include <iostream>
#include <mutex>
#include <string>

#include "absl/synchronization/notification.h"
#include "deviceapi/deviceapi.h"
#include "deviceapi/informer_factory.h"
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
  deviceapi::SharedInformerFactoryOptions options;
  const std::string selector = examples::Flag(flags, "selector");
  options.tweak = [&](deviceapi::InformerOptions& o) { o.label_selector = selector; };
  deviceapi::SharedInformerFactory factory(**clientset, options);
  deviceapi::GpuInformer& informer = factory.Gpus();

  // Handlers run on the informer's dispatcher thread, one at a time.
  std::atomic<long> seen{0};
  absl::Notification enough;
  auto count = [&] {
    if (max_events >= 0 && ++seen >= max_events && !enough.HasBeenNotified()) enough.Notify();
  };
  // Handlers and main() both print: one line at a time, whole.
  std::mutex out_mu;
  auto print_line = [&out_mu](const std::string& line) {
    std::lock_guard<std::mutex> lock(out_mu);
    std::cout << line << std::endl;
  };
  auto print = [&print_line](std::string_view what, const deviceapi::v1::Gpu& gpu) {
    print_line(std::string(what) + " " + gpu.metadata().name() + " " +
               std::string(deviceapi::HealthName(deviceapi::GpuHealth(gpu))) + " " +
               gpu.metadata().resource_version());
  };
  deviceapi::ResourceEventHandlerFuncs handlers;
  handlers.on_add = [&](const deviceapi::v1::Gpu& gpu, bool) {
    print("ADDED", gpu);
    count();
  };
  handlers.on_update = [&](const deviceapi::v1::Gpu&, const deviceapi::v1::Gpu& gpu) {
    print("MODIFIED", gpu);
    count();
  };
  handlers.on_delete = [&](const deviceapi::v1::Gpu& gpu, bool final_state_unknown) {
    print(final_state_unknown ? "DELETED (while disconnected)" : "DELETED", gpu);
    count();
  };
  deviceapi::EventHandlerRegistrationPtr registration = informer.AddEventHandler(handlers);

  factory.Start();
  if (!factory.WaitForCacheSync(end == absl::InfiniteFuture() ? absl::Now() + absl::Seconds(30) : end)) {
    std::cerr << "error: cache did not sync: " << informer.Stats().last_error << "\n";
    return 1;
  }
  auto gpus = informer.Lister().List();
  print_line("SYNCED " + std::to_string(gpus.ok() ? gpus->size() : 0) + " GPU(s) at " +
             informer.LastSyncResourceVersion());

  if (max_events == 0 || (max_events > 0 && seen.load() >= max_events)) return 0;
  if (end == absl::InfiniteFuture()) {
    enough.WaitForNotification();
  } else {
    enough.WaitForNotificationWithDeadline(end);
  }
  registration.reset();
  factory.Shutdown();
  return 0;
}
