#include "deviceplugin/health.h"

#include "deviceapi/conditions.h"

namespace deviceapi::deviceplugin {

bool GpuHealthy(const nvidia::nvsentinel::v1alpha1::Gpu& gpu, UnknownHealth unknown) {
  switch (deviceapi::GpuHealth(gpu)) {
    case Health::kHealthy:
      return true;
    case Health::kUnhealthy:
      return false;
    case Health::kUnknown:
      return unknown == UnknownHealth::kHealthy;
  }
  return false;
}

}  // namespace deviceapi::deviceplugin
