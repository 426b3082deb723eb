#include "testutil/test_server.h"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "testutil/etcd.h"

namespace deviceapi::testing {

TempDir::TempDir() {
  char tmpl[] = "/tmp/dapi-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

// "sqlite://" (no path) stands for a database file in each TestServer's own
// temp dir, "etcd://" (no address) for a prefix of its own on this process's
// shared etcd (see TestServer::Start).
std::vector<std::string> ConformanceEndpoints() { return {"memory://", "sqlite://", "etcd://"}; }

std::unique_ptr<TestServer> TestServer::Start(const std::string& endpoint, OptionsTweak tweak) {
  std::unique_ptr<TestServer> t(new TestServer());
  apiserver::ServerOptions o = apiserver::DefaultServerOptions();
  o.socket_path = t->dir_.path() + "/api.sock";
  o.bind_address = "unix://" + o.socket_path;
  o.read_only_socket_path = t->dir_.path() + "/ro.sock";
  o.read_only_bind_address = "unix://" + o.read_only_socket_path;
  o.health_host = "127.0.0.1";
  o.health_port = 0;
  o.health_probe_bind_address = "127.0.0.1:0";
  o.metrics_host = "127.0.0.1";
  o.metrics_port = 0;
  o.metrics_bind_address = "127.0.0.1:0";
  o.shutdown_grace_period = absl::Seconds(5);
  // A bare "sqlite://" gets a database of its own, a bare "etcd://" a prefix
  // of its own on the shared etcd; both are kept across Restart().
  if (endpoint == "sqlite://") {
    o.datastore_endpoint = "sqlite://" + t->dir_.path() + "/state.db";
  } else if (endpoint == "etcd://") {
    o.datastore_endpoint = SharedEtcd().Endpoint(UniqueEtcdPrefix());
  } else {
    o.datastore_endpoint = endpoint;
  }
  o.datastore_scheme = endpoint.substr(0, endpoint.find(':'));
  if (tweak) tweak(o);
  t->options_ = o;
  auto s = apiserver::DeviceApiServer::Start(o);
  if (!s.ok()) throw std::runtime_error("server start: " + s.status().ToString());
  t->server_ = std::move(*s);
  t->Connect();
  return t;
}

TestServer::~TestServer() { Stop(); }

void TestServer::Stop() {
  if (server_) server_->Shutdown();
  server_.reset();
}

void TestServer::Restart() {
  Stop();
  auto s = apiserver::DeviceApiServer::Start(options_);
  if (!s.ok()) throw std::runtime_error("server restart: " + s.status().ToString());
  server_ = std::move(*s);
  Connect();
}

std::shared_ptr<grpc::Channel> TestServer::NewChannel() const { return NewChannel(target()); }

std::shared_ptr<grpc::Channel> TestServer::NewChannel(const std::string& target) const {
  static std::atomic<int> seq{0};
  grpc::ChannelArguments args;
  // A distinct argument keeps gRPC from sharing the subchannel (connection).
  args.SetInt("deviceapi.test.channel", seq++);
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<v1::GpuService::Stub> TestServer::NewStub() const {
  return v1::GpuService::NewStub(NewChannel());
}

void TestServer::Connect() {
  channel_ = NewChannel();
  stub_ = v1::GpuService::NewStub(channel_);
}

v1::Gpu MakeGpu(const std::string& name, const std::map<std::string, std::string>& labels,
                const std::string& ns) {
  v1::Gpu g;
  g.mutable_metadata()->set_name(name);
  if (!ns.empty()) g.mutable_metadata()->set_namespace_(ns);
  for (const auto& [k, v] : labels) (*g.mutable_metadata()->mutable_labels())[k] = v;
  g.mutable_spec()->set_uuid("GPU-" + name);
  return g;
}

v1::Condition MakeCondition(const std::string& type, const std::string& status, const std::string& reason) {
  v1::Condition c;
  c.set_type(type);
  c.set_status(status);
  c.set_reason(reason);
  c.set_message("set by test");
  return c;
}

namespace {
std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return ctx;
}
}  // namespace

grpc::Status CreateGpu(v1::GpuService::Stub& stub, const v1::Gpu& gpu, v1::Gpu* out) {
  v1::CreateGpuRequest req;
  *req.mutable_gpu() = gpu;
  v1::Gpu resp;
  auto s = stub.CreateGpu(Ctx().get(), req, &resp);
  if (out) *out = resp;
  return s;
}

grpc::Status GetGpu(v1::GpuService::Stub& stub, const std::string& name, v1::Gpu* out, const std::string& rv,
                    const std::string& ns) {
  v1::GetGpuRequest req;
  req.set_name(name);
  req.set_namespace_(ns);
  req.mutable_opts()->set_resource_version(rv);
  v1::GetGpuResponse resp;
  auto s = stub.GetGpu(Ctx().get(), req, &resp);
  if (out) *out = resp.gpu();
  return s;
}

grpc::Status UpdateGpu(v1::GpuService::Stub& stub, const v1::Gpu& gpu, v1::Gpu* out) {
  v1::UpdateGpuRequest req;
  *req.mutable_gpu() = gpu;
  v1::Gpu resp;
  auto s = stub.UpdateGpu(Ctx().get(), req, &resp);
  if (out) *out = resp;
  return s;
}

grpc::Status UpdateGpuStatus(v1::GpuService::Stub& stub, const v1::Gpu& gpu, v1::Gpu* out) {
  v1::UpdateGpuStatusRequest req;
  *req.mutable_gpu() = gpu;
  v1::Gpu resp;
  auto s = stub.UpdateGpuStatus(Ctx().get(), req, &resp);
  if (out) *out = resp;
  return s;
}

grpc::Status DeleteGpu(v1::GpuService::Stub& stub, const std::string& name, const std::string& ns,
                       std::optional<std::string> uid, std::optional<std::string> rv) {
  v1::DeleteGpuRequest req;
  req.set_name(name);
  req.set_namespace_(ns);
  if (uid) req.mutable_opts()->mutable_preconditions()->set_uid(*uid);
  if (rv) req.mutable_opts()->mutable_preconditions()->set_resource_version(*rv);
  google::protobuf::Empty resp;
  return stub.DeleteGpu(Ctx().get(), req, &resp);
}

grpc::Status PatchGpu(v1::GpuService::Stub& stub, const std::string& name, const std::string& type,
                      const std::string& data, bool status, v1::Gpu* out) {
  v1::PatchGpuRequest req;
  req.set_name(name);
  req.set_patch_type(type);
  req.set_data(data);
  if (status) req.add_subresources("status");
  v1::Gpu resp;
  auto s = stub.PatchGpu(Ctx().get(), req, &resp);
  if (out) *out = resp;
  return s;
}

grpc::Status ListGpus(v1::GpuService::Stub& stub, const v1::ListOptions& opts, v1::GpuList* out,
                      const std::string& ns) {
  v1::ListGpusRequest req;
  req.set_namespace_(ns);
  *req.mutable_opts() = opts;
  v1::ListGpusResponse resp;
  auto s = stub.ListGpus(Ctx().get(), req, &resp);
  if (out) *out = resp.gpu_list();
  return s;
}

uint64_t Rv(const std::string& rv) { return rv.empty() ? 0 : std::stoull(rv); }
uint64_t Rv(const v1::Gpu& gpu) { return Rv(gpu.metadata().resource_version()); }

WatchStream::WatchStream(v1::GpuService::Stub& stub, const v1::WatchGpusRequest& req) {
  reader_ = std::thread([this, s = &stub, req] { Run(s, req); });
}

WatchStream::WatchStream(v1::GpuService::Stub& stub, const std::string& rv, bool bookmarks,
                         const std::string& label_selector) {
  v1::WatchGpusRequest req;
  req.mutable_opts()->set_resource_version(rv);
  req.mutable_opts()->set_allow_watch_bookmarks(bookmarks);
  req.mutable_opts()->set_label_selector(label_selector);
  reader_ = std::thread([this, s = &stub, req] { Run(s, req); });
}

WatchStream::~WatchStream() {
  Cancel();
  if (reader_.joinable()) reader_.join();
}

void WatchStream::Run(v1::GpuService::Stub* stub, v1::WatchGpusRequest req) {
  auto reader = stub->WatchGpus(&ctx_, req);
  v1::WatchGpusResponse ev;
  while (reader->Read(&ev)) {
    absl::MutexLock l(&mu_);
    events_.push_back(ev);
  }
  grpc::Status s = reader->Finish();
  absl::MutexLock l(&mu_);
  status_ = s;
}

std::optional<v1::WatchGpusResponse> WatchStream::Next(absl::Duration timeout) {
  absl::MutexLock l(&mu_);
  auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !events_.empty() || status_.has_value(); };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (events_.empty()) return std::nullopt;
  auto ev = events_.front();
  events_.pop_front();
  return ev;
}

std::optional<v1::WatchGpusResponse> WatchStream::NextEvent(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    auto ev = Next(deadline - absl::Now());
    if (!ev || ev->type() != "BOOKMARK") return ev;
  }
}

std::optional<grpc::Status> WatchStream::WaitEnd(absl::Duration timeout) {
  absl::MutexLock l(&mu_);
  auto done = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return status_.has_value(); };
  mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  return status_;
}

bool WatchStream::Quiet(absl::Duration quiet) {
  absl::MutexLock l(&mu_);
  auto any = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !events_.empty(); };
  return !mu_.AwaitWithTimeout(absl::Condition(&any), quiet);
}

void WatchStream::Cancel() { ctx_.TryCancel(); }

bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return cond();
}

}  // namespace deviceapi::testing
