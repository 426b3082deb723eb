#include "deviceapi/informer_factory.h"

#include <utility>

namespace deviceapi {

SharedInformerFactory::SharedInformerFactory(Interface& clientset, SharedInformerFactoryOptions options)
    : clientset_(clientset), options_(std::move(options)) {}

SharedInformerFactory::~SharedInformerFactory() { Shutdown(); }

GpuInformer& SharedInformerFactory::Gpus() {
  absl::MutexLock lock(&mu_);
  if (gpus_ == nullptr) {
    InformerOptions o;
    o.resync_period = options_.default_resync;
    if (options_.tweak) options_.tweak(o);
    gpus_ = std::make_unique<GpuInformer>(clientset_.DeviceV1alpha1().Gpus(options_.ns), std::move(o));
    if (started_ && !shut_down_) gpus_->Start();
  }
  return *gpus_;
}

void SharedInformerFactory::Start() {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  started_ = true;
  if (gpus_ != nullptr) gpus_->Start();
}

bool SharedInformerFactory::WaitForCacheSync(absl::Time deadline) {
  GpuInformer* gpus;
  {
    absl::MutexLock lock(&mu_);
    gpus = gpus_.get();
  }
  return gpus == nullptr || gpus->WaitForCacheSync(deadline);
}

void SharedInformerFactory::Shutdown() {
  GpuInformer* gpus;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    gpus = gpus_.get();
  }
  if (gpus != nullptr) gpus->Stop();
}

}  // namespace deviceapi
