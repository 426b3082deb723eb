// SharedInformerFactory: one informer per resource for a whole program, started and stopped
// together (client-go SharedInformerFactory). Every consumer that asks for the GPU informer gets
// the same instance, so the program keeps one cache and one watch however many controllers it
// runs.
//
// Thread-safe. The factory owns its informers: they live until Shutdown() or the factory's
// destruction (references from Gpus() must not be used after that).
#ifndef DEVICEAPI_INFORMER_FACTORY_H_
#define DEVICEAPI_INFORMER_FACTORY_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "deviceapi/clientset.h"
#include "deviceapi/informer.h"

namespace deviceapi {

struct SharedInformerFactoryOptions {
  std::string ns;  // "" = all namespaces (upstream WithNamespace)
  absl::Duration default_resync = absl::ZeroDuration();
  // Adjusts the informers' options before they are built (upstream WithTweakListOptions;
  // selectors, reflector knobs, indexers).
  std::function<void(InformerOptions&)> tweak;
};

class SharedInformerFactory {
 public:
  // `clientset` must outlive the calls to Gpus() (the informers keep their own client).
  explicit SharedInformerFactory(Interface& clientset, SharedInformerFactoryOptions options = {});
  ~SharedInformerFactory();  // Shutdown()
  SharedInformerFactory(const SharedInformerFactory&) = delete;
  SharedInformerFactory& operator=(const SharedInformerFactory&) = delete;

  // The GPU informer, created on first use (and started at once if Start() was called before).
  GpuInformer& Gpus();

  // Starts every informer created so far and every one created later. Non-blocking.
  void Start();
  // Blocks until every informer created so far has synced, or `deadline`; true when all have.
  bool WaitForCacheSync(absl::Time deadline);
  // Stops and joins every informer. Blocking; idempotent. Informers stay readable afterwards.
  void Shutdown();

 private:
  Interface& clientset_;
  const SharedInformerFactoryOptions options_;
  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<GpuInformer> gpus_ ABSL_GUARDED_BY(mu_);
};

}  // namespace deviceapi

#endif  // DEVICEAPI_INFORMER_FACTORY_H_
