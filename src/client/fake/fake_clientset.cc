// The fake clientset: the server's GpuRegistry over a ServingStore, in process.
#include "deviceapi/fake/clientset.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "apiserver/gpu_registry.h"
#include "client/queue_watch.h"
#include "client/requests.h"
#include "storage/serving/serving_store.h"

namespace deviceapi::fake {
namespace {

v1::Gpu Copy(const storage::StoredPtr& obj) { return *obj->Object(); }

absl::StatusOr<v1::Gpu> Copy(const absl::StatusOr<storage::StoredPtr>& r) {
  if (!r.ok()) return r.status();
  return Copy(*r);
}

bool Matches(const std::string& pattern, const std::string& value) {
  return pattern == "*" || pattern == value;
}

// What EndWatches() reaches: one per open fake watch.
struct WatchControl {
  absl::Mutex mu;
  bool notified ABSL_GUARDED_BY(mu) = false;
  bool interrupted ABSL_GUARDED_BY(mu) = false;
  std::optional<absl::Status> forced_end ABSL_GUARDED_BY(mu);

  // Something for the watch loop to look at.
  bool Woken() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return notified || interrupted || forced_end.has_value();
  }
};

}  // namespace

class Clientset::Impl final : public ObjectTracker, public std::enable_shared_from_this<Clientset::Impl> {
 public:
  explicit Impl(const Options& o) {
    storage::StoreConfig sc;
    sc.history_size = o.history_size;
    sc.watch_queue_size = o.watch_queue_size;
    sc.bookmark_interval = o.bookmark_interval;
    sc.max_objects = o.max_objects;
    store_ = storage::ServingStore::Create(sc, o.start_resource_version);
    registry_ = std::make_unique<apiserver::GpuRegistry>(store_, apiserver::RegistryOptions{});
  }
  ~Impl() override { store_->Shutdown(); }

  // The clientset is gone: end open watches with UNAVAILABLE, as a server shutting down would.
  void Shutdown() { store_->Shutdown(); }

  apiserver::GpuRegistry& registry() { return *registry_; }

  // Records the call and runs the reactors; a non-OK status fails the call.
  absl::Status Begin(Action action) {
    std::vector<Reactor> reactors;
    {
      absl::MutexLock lock(&mu_);
      actions_.push_back(action);
      for (const auto& r : reactors_) {
        if (Matches(r.verb, action.verb) && Matches(r.name, action.name)) reactors.push_back(r.fn);
      }
    }
    // Called without mu_ so a reactor may use the clientset.
    for (const auto& fn : reactors) {
      std::optional<absl::Status> s = fn(action);
      if (s.has_value() && !s->ok()) return *s;
    }
    return absl::OkStatus();
  }

  void Prepend(std::string verb, std::string name, Reactor fn) {
    absl::MutexLock lock(&mu_);
    reactors_.insert(reactors_.begin(), ReactorEntry{std::move(verb), std::move(name), std::move(fn)});
  }
  void ClearReactors() {
    absl::MutexLock lock(&mu_);
    reactors_.clear();
  }
  std::vector<Action> Actions() {
    absl::MutexLock lock(&mu_);
    return actions_;
  }
  void ClearActions() {
    absl::MutexLock lock(&mu_);
    actions_.clear();
  }
  void Register(const std::shared_ptr<WatchControl>& c) {
    absl::MutexLock lock(&mu_);
    std::erase_if(watches_, [](const std::weak_ptr<WatchControl>& w) { return w.expired(); });
    watches_.push_back(c);
  }

  // ---- ObjectTracker ----
  absl::StatusOr<v1::Gpu> Add(const v1::Gpu& gpu) override {
    return Copy(registry_->Create(client::MakeCreateRequest("", gpu)));
  }
  absl::StatusOr<v1::Gpu> Get(std::string_view ns, std::string_view name) override {
    return Copy(registry_->Get(client::MakeGetRequest(ns, name, {})));
  }
  std::vector<v1::Gpu> List(std::string_view ns) override {
    std::vector<v1::Gpu> out;
    auto r = registry_->List(client::MakeListRequest(ns, {}));
    if (r.ok()) {
      for (const auto& o : r->items) out.push_back(Copy(o));
    }
    return out;
  }
  absl::StatusOr<v1::Gpu> Update(const v1::Gpu& gpu) override {
    v1::Gpu g = gpu;
    g.mutable_metadata()->clear_resource_version();
    auto r = registry_->Update(client::MakeUpdateRequest("", g));
    if (!r.ok()) return r.status();
    return Copy(registry_->UpdateStatus(client::MakeUpdateStatusRequest("", g)));
  }
  absl::Status Delete(std::string_view ns, std::string_view name) override {
    return registry_->Delete(client::MakeDeleteRequest(ns, name, {})).status();
  }
  uint64_t CurrentResourceVersion() override { return store_->CurrentResourceVersion(); }
  void EndWatches(const absl::Status& status) override {
    std::vector<std::shared_ptr<WatchControl>> open;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& w : watches_) {
        if (auto c = w.lock()) open.push_back(std::move(c));
      }
    }
    for (const auto& c : open) {
      absl::MutexLock lock(&c->mu);
      if (!c->forced_end.has_value()) c->forced_end = status;
    }
  }

 private:
  struct ReactorEntry {
    std::string verb;
    std::string name;
    Reactor fn;
  };

  std::shared_ptr<storage::ServingStore> store_;
  std::unique_ptr<apiserver::GpuRegistry> registry_;

  absl::Mutex mu_;
  std::vector<ReactorEntry> reactors_ ABSL_GUARDED_BY(mu_);
  std::vector<Action> actions_ ABSL_GUARDED_BY(mu_);
  std::vector<std::weak_ptr<WatchControl>> watches_ ABSL_GUARDED_BY(mu_);
};

namespace {

// Feeds a storage Watcher (the same one the server streams from) into a client watch.
class FakeEventSource final : public client::EventSource, public storage::WatchConsumer {
 public:
  FakeEventSource(std::shared_ptr<Clientset::Impl> impl, v1::WatchGpusRequest req)
      : impl_(std::move(impl)), req_(std::move(req)), control_(std::make_shared<WatchControl>()) {
    impl_->Register(control_);
  }
  ~FakeEventSource() override {
    if (handle_ != nullptr) handle_->watcher().Cancel();
  }

  // Registers the watch with the store on the caller's thread, so that a fake watch observes
  // exactly the writes that follow the Watch() call (deterministic unit tests).
  void Start() {
    auto opts = impl_->registry().WatchOptionsFor(req_);
    if (!opts.ok()) {
      start_error_ = opts.status();
      return;
    }
    auto handle = impl_->registry().store().Watch(std::move(*opts), this);
    if (!handle.ok()) {
      start_error_ = handle.status();
      return;
    }
    handle_ = std::move(*handle);
  }

  absl::Status Run(client::EventSink& sink) override {
    if (!start_error_.ok()) return start_error_;
    storage::Watcher& w = handle_->watcher();
    for (;;) {
      {
        absl::MutexLock lock(&control_->mu);
        if (control_->interrupted) return absl::CancelledError("watch stopped");
        if (control_->forced_end.has_value()) return *control_->forced_end;
        control_->notified = false;
      }
      if (std::optional<storage::WatchItem> item = w.Next()) {
        WatchEvent ev;
        ev.type = item->as;  // one EventType for client and server (deviceapi/event_type.h)
        ev.object = Copy(item->event->object);
        if (!sink.Push(std::move(ev))) return absl::CancelledError("watch stopped");
        continue;
      }
      if (std::optional<absl::Status> end = w.ended()) return *end;
      absl::MutexLock lock(&control_->mu);
      control_->mu.Await(absl::Condition(control_.get(), &WatchControl::Woken));
    }
  }

  void Interrupt() override {
    absl::MutexLock lock(&control_->mu);
    control_->interrupted = true;
  }

  void OnWatchReady() override {
    absl::MutexLock lock(&control_->mu);
    control_->notified = true;
  }

 private:
  std::shared_ptr<Clientset::Impl> impl_;
  v1::WatchGpusRequest req_;
  std::shared_ptr<WatchControl> control_;
  absl::Status start_error_;
  std::unique_ptr<storage::WatchHandle> handle_;  // set by Start(), before the producer thread runs
};

class FakeGpuClient final : public GpuInterface {
 public:
  FakeGpuClient(std::shared_ptr<Clientset::Impl> impl, std::string ns)
      : GpuInterface(std::move(ns)), impl_(std::move(impl)) {}

 protected:
  absl::StatusOr<v1::Gpu> DoGet(std::string_view name, const GetOptions& opts) override {
    if (auto s = Begin("get", "", ns(), name); !s.ok()) return s;
    return Copy(impl_->registry().Get(client::MakeGetRequest(ns(), name, opts)));
  }
  absl::StatusOr<v1::GpuList> DoList(const ListOptions& opts) override {
    if (auto s = Begin("list", "", ns(), ""); !s.ok()) return s;
    auto r = impl_->registry().List(client::MakeListRequest(ns(), opts));
    if (!r.ok()) return r.status();
    v1::GpuList list;
    list.mutable_metadata()->set_resource_version(std::to_string(r->rv));
    list.mutable_metadata()->set_continue_(r->continue_token);
    if (r->remaining >= 0) list.mutable_metadata()->set_remaining_item_count(r->remaining);
    for (const auto& o : r->items) *list.add_items() = Copy(o);
    return list;
  }
  absl::StatusOr<WatchPtr> DoWatch(const ListOptions& opts) override {
    if (auto s = Begin("watch", "", ns(), ""); !s.ok()) return s;
    auto source = std::make_unique<FakeEventSource>(impl_, client::MakeWatchRequest(ns(), opts));
    source->Start();
    return WatchPtr(std::make_unique<client::QueueWatch>(std::move(source)));
  }
  absl::StatusOr<v1::Gpu> DoCreate(const v1::Gpu& gpu, const CreateOptions&) override {
    auto req = client::MakeCreateRequest(ns(), gpu);
    if (auto s = Begin("create", "", req.gpu().metadata().namespace_(), gpu.metadata().name()); !s.ok())
      return s;
    return Copy(impl_->registry().Create(req));
  }
  absl::StatusOr<v1::Gpu> DoUpdate(const v1::Gpu& gpu, const UpdateOptions&) override {
    auto req = client::MakeUpdateRequest(ns(), gpu);
    if (auto s = Begin("update", "", req.gpu().metadata().namespace_(), gpu.metadata().name()); !s.ok())
      return s;
    return Copy(impl_->registry().Update(req));
  }
  absl::StatusOr<v1::Gpu> DoUpdateStatus(const v1::Gpu& gpu, const UpdateOptions&) override {
    auto req = client::MakeUpdateStatusRequest(ns(), gpu);
    if (auto s = Begin("update", "status", req.gpu().metadata().namespace_(), gpu.metadata().name());
        !s.ok()) {
      return s;
    }
    return Copy(impl_->registry().UpdateStatus(req));
  }
  absl::StatusOr<v1::Gpu> DoPatch(std::string_view name, std::string_view patch_type, std::string_view data,
                                  const PatchOptions&,
                                  const std::vector<std::string>& subresources) override {
    bool status = false;
    for (const auto& s : subresources) status = status || s == "status";
    if (auto s = Begin("patch", status ? "status" : "", ns(), name); !s.ok()) return s;
    return Copy(
        impl_->registry().Patch(client::MakePatchRequest(ns(), name, patch_type, data, subresources)));
  }
  absl::Status DoDelete(std::string_view name, const DeleteOptions& opts) override {
    if (auto s = Begin("delete", "", ns(), name); !s.ok()) return s;
    return impl_->registry().Delete(client::MakeDeleteRequest(ns(), name, opts)).status();
  }

 private:
  absl::Status Begin(std::string verb, std::string sub, std::string_view ns, std::string_view name) {
    return impl_->Begin(Action{std::move(verb), std::move(sub), std::string(ns), std::string(name)});
  }

  std::shared_ptr<Clientset::Impl> impl_;
};

class FakeDeviceV1alpha1 final : public DeviceV1alpha1Interface {
 public:
  explicit FakeDeviceV1alpha1(std::shared_ptr<Clientset::Impl> impl) : impl_(std::move(impl)) {}
  GpuInterfacePtr Gpus(std::string_view ns) override {
    return std::make_unique<FakeGpuClient>(impl_, std::string(ns));
  }

 private:
  std::shared_ptr<Clientset::Impl> impl_;
};

}  // namespace

Clientset::Clientset(const std::vector<v1::Gpu>& objects, const Options& options)
    : impl_(std::make_shared<Impl>(options)), device_(std::make_unique<FakeDeviceV1alpha1>(impl_)) {
  for (const auto& o : objects) {
    absl::StatusOr<v1::Gpu> r = impl_->Add(o);
    if (!r.ok()) {
      std::fprintf(stderr, "deviceapi::fake::Clientset: cannot add object %s: %s\n",
                   o.metadata().name().c_str(), std::string(r.status().message()).c_str());
      std::abort();
    }
  }
}

Clientset::~Clientset() { impl_->Shutdown(); }

DeviceV1alpha1Interface& Clientset::DeviceV1alpha1() { return *device_; }
ObjectTracker& Clientset::Tracker() { return *impl_; }

void Clientset::PrependReactor(std::string verb, std::string name, Reactor reactor) {
  impl_->Prepend(std::move(verb), std::move(name), std::move(reactor));
}

void Clientset::InjectError(std::string verb, std::string name, absl::Status status, int times) {
  auto remaining = std::make_shared<std::atomic<int>>(times);
  impl_->Prepend(std::move(verb), std::move(name),
                 [remaining, status](const Action&) -> std::optional<absl::Status> {
                   if (remaining->load() < 0) return status;
                   for (int n = remaining->load(); n > 0;) {
                     if (remaining->compare_exchange_weak(n, n - 1)) return status;
                   }
                   return std::nullopt;
                 });
}

void Clientset::ClearReactors() { impl_->ClearReactors(); }
std::vector<Action> Clientset::Actions() const { return impl_->Actions(); }
void Clientset::ClearActions() { impl_->ClearActions(); }

std::unique_ptr<Clientset> NewSimpleClientset(const std::vector<v1::Gpu>& objects) {
  return std::make_unique<Clientset>(objects);
}

}  // namespace deviceapi::fake
