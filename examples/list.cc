// Lists the GPUs with their health, page by page.
//
//   deviceapi_example_list [--server unix:///path.sock] [--namespace ns] [--selector k=v] [--limit N]
#include <iostream>

#include "deviceapi/deviceapi.h"
#include "example_flags.h"

int main(int argc, char** argv) {
  auto flags = examples::ParseFlags(argc, argv);
  deviceapi::Config config = deviceapi::Config::FromEnvironment();
  if (auto s = examples::Flag(flags, "server"); !s.empty()) config.target = s;

  auto clientset = deviceapi::Clientset::NewForConfig(config);
  if (!clientset.ok()) {
    std::cerr << "error: " << clientset.status() << "\n";
    return 1;
  }
  deviceapi::GpuInterfacePtr gpus = (*clientset)->DeviceV1alpha1().Gpus(examples::Flag(flags, "namespace"));

  deviceapi::ListOptions opts;
  opts.label_selector = examples::Flag(flags, "selector");
  opts.limit = examples::FlagInt(flags, "limit", 100);
  std::cout << "NAMESPACE\tNAME\tUUID\tHEALTH\tRESOURCE-VERSION\n";
  int count = 0;
  do {
    absl::StatusOr<nvidia::nvsentinel::v1alpha1::GpuList> list = gpus->List(opts);
    if (!list.ok()) {
      std::cerr << "error: list: " << list.status() << " (" << deviceapi::errors::Reason(list.status())
                << ")\n";
      return 1;
    }
    for (const auto& gpu : list->items()) {
      std::cout << gpu.metadata().namespace_() << "\t" << gpu.metadata().name() << "\t" << gpu.spec().uuid()
                << "\t" << deviceapi::HealthName(deviceapi::GpuHealth(gpu)) << "\t"
                << gpu.metadata().resource_version() << "\n";
      ++count;
    }
    opts.continue_token = list->metadata().continue_();
  } while (!opts.continue_token.empty());
  std::cout << count << " GPU(s)\n";
  return 0;
}
