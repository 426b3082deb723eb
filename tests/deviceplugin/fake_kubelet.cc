#include "fake_kubelet.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

namespace deviceapi::dptest {

class FakeKubelet::Registration : public v1beta1::Registration::Service {
 public:
  explicit Registration(FakeKubelet* k) : k_(k) {}
  grpc::Status Register(grpc::ServerContext*, const v1beta1::RegisterRequest* req, v1beta1::Empty*) override {
    return k_->HandleRegister(*req);
  }

 private:
  FakeKubelet* k_;
};

FakeKubelet::FakeKubelet(std::string dir) : dir_(std::move(dir)) {}

FakeKubelet::~FakeKubelet() { Stop(); }

void FakeKubelet::Start() {
  ::unlink(socket_path().c_str());
  service_ = std::make_unique<Registration>(this);
  grpc::ServerBuilder b;
  b.AddListeningPort("unix:" + socket_path(), grpc::InsecureServerCredentials());
  b.RegisterService(service_.get());
  server_ = b.BuildAndStart();
}

void FakeKubelet::Stop() {
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server_->Wait();
    server_.reset();
  }
  std::map<std::string, std::unique_ptr<Endpoint>> eps;
  {
    absl::MutexLock l(&mu_);
    eps.swap(endpoints_);
  }
  for (auto& [_, ep] : eps) CloseEndpoint(std::move(ep));
  ::unlink(socket_path().c_str());
}

void FakeKubelet::Restart() {
  Stop();
  // The kubelet's registration server removes every socket in the directory when it starts.
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    struct stat st {};
    if (::lstat(entry.path().c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(entry.path().c_str());
  }
  Start();
}

grpc::Status FakeKubelet::HandleRegister(const v1beta1::RegisterRequest& req) {
  if (req.version() != "v1beta1") {
    return grpc::Status(grpc::StatusCode::UNKNOWN, "requested API version \"" + req.version() +
                                                       "\" is not supported by kubelet. Supported version is "
                                                       "\"v1beta1\"");
  }
  const std::string& name = req.resource_name();
  if (name.find('/') == std::string::npos || name.rfind("kubernetes.io/", 0) == 0) {
    return grpc::Status(grpc::StatusCode::UNKNOWN, "the ResourceName \"" + name + "\" is invalid");
  }
  if (req.endpoint().find('/') != std::string::npos) {
    return grpc::Status(grpc::StatusCode::UNKNOWN, "endpoint must be a file name: " + req.endpoint());
  }
  // The real kubelet drops both servers when a second one registers while the first still runs.
  {
    absl::MutexLock l(&mu_);
    auto old_running = [this, &name]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      auto it = endpoints_.find(name);
      return it == endpoints_.end() || it->second->ended;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&old_running), absl::Seconds(1))) {
      violations_.push_back("a second server for " + name + " registered while the first still streams");
    }
  }
  auto ep = std::make_unique<Endpoint>();
  ep->resource = name;
  ep->path = dir_ + "/" + req.endpoint();
  ep->stub = v1beta1::DevicePlugin::NewStub(
      grpc::CreateChannel("unix:" + ep->path, grpc::InsecureChannelCredentials()));
  {
    // Dial back and ask for the options before answering, as the kubelet's device manager does.
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ctx.set_wait_for_ready(true);
    v1beta1::Empty empty;
    grpc::Status s = ep->stub->GetDevicePluginOptions(&ctx, empty, &ep->options);
    if (!s.ok()) {
      return grpc::Status(grpc::StatusCode::UNKNOWN,
                          "failed to get device plugin options: " + s.error_message());
    }
  }
  ep->ctx = std::make_unique<grpc::ClientContext>();
  Endpoint* raw = ep.get();
  std::unique_ptr<Endpoint> old;
  {
    absl::MutexLock l(&mu_);
    auto it = endpoints_.find(name);
    if (it != endpoints_.end()) old = std::move(it->second);
    endpoints_[name] = std::move(ep);
    registrations_.push_back(req);
  }
  raw->reader = std::thread([this, raw] { ReadStream(raw); });
  if (old != nullptr) CloseEndpoint(std::move(old));
  return grpc::Status::OK;
}

void FakeKubelet::ReadStream(Endpoint* ep) {
  v1beta1::Empty empty;
  auto reader = ep->stub->ListAndWatch(ep->ctx.get(), empty);
  v1beta1::ListAndWatchResponse msg;
  while (reader->Read(&msg)) {
    absl::MutexLock l(&mu_);
    ep->lists.emplace_back(absl::Now(), msg);
  }
  reader->Finish().ok();
  absl::MutexLock l(&mu_);
  ep->ended = true;
}

void FakeKubelet::CloseEndpoint(std::unique_ptr<Endpoint> ep) {
  if (ep == nullptr) return;
  if (ep->ctx != nullptr) ep->ctx->TryCancel();
  if (ep->reader.joinable()) ep->reader.join();
}

std::vector<v1beta1::RegisterRequest> FakeKubelet::registrations() const {
  absl::MutexLock l(&mu_);
  return registrations_;
}

bool FakeKubelet::WaitRegistrations(size_t n, absl::Duration deadline) const {
  absl::MutexLock l(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return registrations_.size() >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), deadline);
}

std::vector<std::string> FakeKubelet::violations() const {
  absl::MutexLock l(&mu_);
  return violations_;
}

std::optional<v1beta1::ListAndWatchResponse> FakeKubelet::Latest(const std::string& resource) const {
  absl::MutexLock l(&mu_);
  auto it = endpoints_.find(resource);
  if (it == endpoints_.end() || it->second->lists.empty()) return std::nullopt;
  return it->second->lists.back().second;
}

bool FakeKubelet::WaitList(const std::string& resource,
                           const std::function<bool(const v1beta1::ListAndWatchResponse&)>& pred,
                           absl::Duration deadline) const {
  absl::MutexLock l(&mu_);
  auto ok = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = endpoints_.find(resource);
    return it != endpoints_.end() && !it->second->lists.empty() && pred(it->second->lists.back().second);
  };
  return mu_.AwaitWithTimeout(absl::Condition(&ok), deadline);
}

std::vector<std::pair<absl::Time, v1beta1::ListAndWatchResponse>> FakeKubelet::History(
    const std::string& resource) const {
  absl::MutexLock l(&mu_);
  auto it = endpoints_.find(resource);
  if (it == endpoints_.end()) return {};
  return it->second->lists;
}

std::optional<v1beta1::DevicePluginOptions> FakeKubelet::Options(const std::string& resource) const {
  absl::MutexLock l(&mu_);
  auto it = endpoints_.find(resource);
  if (it == endpoints_.end()) return std::nullopt;
  return it->second->options;
}

bool FakeKubelet::StreamEnded(const std::string& resource) const {
  absl::MutexLock l(&mu_);
  auto it = endpoints_.find(resource);
  return it == endpoints_.end() || it->second->ended;
}

v1beta1::DevicePlugin::Stub* FakeKubelet::StubFor(const std::string& resource) const {
  absl::MutexLock l(&mu_);
  auto it = endpoints_.find(resource);
  return it == endpoints_.end() ? nullptr : it->second->stub.get();
}

grpc::Status FakeKubelet::Allocate(const std::string& resource, const std::vector<std::string>& ids,
                                   v1beta1::AllocateResponse* out) {
  v1beta1::DevicePlugin::Stub* stub = StubFor(resource);
  if (stub == nullptr) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no endpoint for " + resource);
  v1beta1::AllocateRequest req;
  auto* c = req.add_container_requests();  // one container per call, as the kubelet does
  for (const std::string& id : ids) c->add_devices_ids(id);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return stub->Allocate(&ctx, req, out);
}

grpc::Status FakeKubelet::Preferred(const std::string& resource, const std::vector<std::string>& available,
                                    const std::vector<std::string>& must_include, int size,
                                    v1beta1::PreferredAllocationResponse* out) {
  v1beta1::DevicePlugin::Stub* stub = StubFor(resource);
  if (stub == nullptr) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no endpoint for " + resource);
  v1beta1::PreferredAllocationRequest req;
  auto* c = req.add_container_requests();
  for (const std::string& id : available) c->add_available_deviceids(id);
  for (const std::string& id : must_include) c->add_must_include_deviceids(id);
  c->set_allocation_size(size);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return stub->GetPreferredAllocation(&ctx, req, out);
}

int FakeKubelet::Healthy(const v1beta1::ListAndWatchResponse& list) {
  int n = 0;
  for (const auto& d : list.devices()) n += d.health() == "Healthy" ? 1 : 0;
  return n;
}

}  // namespace deviceapi::dptest
