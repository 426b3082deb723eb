// A toy health provider: registers GPUs with a first condition, then keeps its own condition type
// up to date with read-modify-write under RetryOnConflict, leaving other providers' conditions
// alone (docs/API.md "Condition conventions for GPU objects").
//
//   deviceapi_example_provider [--server unix:///path.sock] [--gpus N] [--iterations M]
//                              [--interval-ms T] [--condition ExampleReady]
#include <iostream>
#include <string>

#include "absl/strings/str_format.h"
#include "deviceapi/deviceapi.h"
#include "example_flags.h"

namespace v1 = nvidia::nvsentinel::v1alpha1;

int main(int argc, char** argv) {
  auto flags = examples::ParseFlags(argc, argv);
  deviceapi::Config config = deviceapi::Config::FromEnvironment();
  if (auto s = examples::Flag(flags, "server"); !s.empty()) config.target = s;
  const long n = examples::FlagInt(flags, "gpus", 2);
  const long iterations = examples::FlagInt(flags, "iterations", 3);
  const absl::Duration interval = absl::Milliseconds(examples::FlagInt(flags, "interval-ms", 100));
  const std::string type = examples::Flag(flags, "condition", "ExampleReady");

  auto clientset = deviceapi::Clientset::NewForConfig(config);
  if (!clientset.ok()) {
    std::cerr << "error: " << clientset.status() << "\n";
    return 1;
  }
  deviceapi::GpuInterfacePtr gpus = (*clientset)->DeviceV1alpha1().Gpus();

  auto name_of = [](long i) { return absl::StrFormat("gpu-example-%04d", i); };
  for (long i = 0; i < n; ++i) {
    v1::Gpu gpu;
    gpu.mutable_metadata()->set_name(name_of(i));
    (*gpu.mutable_metadata()->mutable_labels())["example.nvidia.com/provider"] = "toy";
    gpu.mutable_spec()->set_uuid(absl::StrFormat("GPU-00000000-0000-0000-0000-%012d", i));
    gpu.mutable_spec()->set_product_name("Toy GPU");
    gpu.mutable_spec()->set_minor_number(static_cast<int32_t>(i));
    deviceapi::SetCondition(gpu.mutable_status(), deviceapi::MakeCondition(type, deviceapi::kConditionTrue,
                                                                           "Registered", "", absl::Now()));
    auto created = gpus->Create(gpu);
    if (created.ok()) {
      std::cout << "registered " << gpu.metadata().name() << std::endl;
    } else if (deviceapi::errors::IsAlreadyExists(created.status())) {
      std::cout << "already registered " << gpu.metadata().name() << std::endl;
    } else {
      std::cerr << "error: create " << gpu.metadata().name() << ": " << created.status() << "\n";
      return 1;
    }
  }

  deviceapi::Backoff backoff = deviceapi::kDefaultRetry;
  backoff.steps = 20;
  for (long it = 0; it < iterations; ++it) {
    // Healthy on even iterations, unhealthy on odd ones; the heartbeat moves every time.
    const bool healthy = it % 2 == 0;
    for (long i = 0; i < n; ++i) {
      absl::Status s = deviceapi::RetryOnConflict(backoff, [&]() -> absl::Status {
        auto gpu = gpus->Get(name_of(i));
        if (!gpu.ok()) return gpu.status();
        deviceapi::SetCondition(
            gpu->mutable_status(),
            deviceapi::MakeCondition(type, healthy ? deviceapi::kConditionTrue : deviceapi::kConditionFalse,
                                     healthy ? "Ok" : "ToyFault", "", absl::Now()));
        return gpus->UpdateStatus(*gpu).status();
      });
      if (!s.ok()) {
        std::cerr << "error: update " << name_of(i) << ": " << s << "\n";
        return 1;
      }
    }
    std::cout << "iteration " << it << ": " << (healthy ? "healthy" : "unhealthy") << std::endl;
    if (it + 1 < iterations) absl::SleepFor(interval);
  }
  return 0;
}
