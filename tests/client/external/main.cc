// Uses the installed headers and library: config validation, errors, conditions, the generated types.
#include <iostream>

#include "deviceapi/deviceapi.h"

int main() {
  deviceapi::Config c = deviceapi::Config::Default();
  if (!c.Validate().ok()) return 1;
  c.target = "dns:///example.com:443";
  if (!deviceapi::errors::IsInvalid(deviceapi::Clientset::NewForConfig(c).status())) return 2;
  nvidia::nvsentinel::v1alpha1::Gpu gpu;
  deviceapi::SetCondition(gpu.mutable_status(), deviceapi::MakeCondition("Ready", "True", "Ok"));
  if (deviceapi::GpuHealth(gpu) != deviceapi::Health::kHealthy) return 3;
  std::cout << deviceapi::DefaultUserAgent() << std::endl;
  return 0;
}
