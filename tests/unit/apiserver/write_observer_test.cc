// GpuService reports every write call, allowed or refused, to its WriteObserver with the caller's
// credentials (read from the connection by UnixAcceptor) and the outcome; denials are counted.
#include <unistd.h>

#include <filesystem>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "apiserver/authorization.h"
#include "apiserver/gpu_registry.h"
#include "apiserver/gpu_service.h"
#include "apiserver/metrics.h"
#include "apiserver/unix_acceptor.h"
#include "storage/store.h"

namespace deviceapi::apiserver {
namespace {

using ::testing::HasSubstr;

struct Seen {
  PeerCredentials peer;
  std::string verb, ns, name, rv, reason;
  grpc::StatusCode code;
};

class WriteObserverTest : public ::testing::Test {
 protected:
  void Start(AuthorizationPolicy policy) {
    char tmpl[] = "/tmp/dapi-obs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto store = storage::OpenStore("memory://", storage::StoreConfig{});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *store;
    registry_ = std::make_shared<GpuRegistry>(store_, RegistryOptions{});
    GpuServiceOptions so;
    so.peers = peers_;
    so.authorization = std::make_shared<const AuthorizationPolicy>(std::move(policy));
    so.observer = [this](const WriteEvent& e) {
      absl::MutexLock l(&mu_);
      seen_.push_back(Seen{e.peer, std::string(e.verb), std::string(e.ns), std::string(e.name),
                           std::string(e.resource_version), std::string(e.denied_reason),
                           e.status.error_code()});
    };
    service_ = std::make_unique<GpuService>(registry_, &metrics_, std::move(so));
    grpc::ServerBuilder b;
    b.RegisterService(service_.get());
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    acceptor_ = std::make_unique<UnixAcceptor>(peers_, std::make_shared<FdWindow>(800, 64));
    ASSERT_TRUE(acceptor_->Listen(dir_ + "/api.sock", 0600, server_.get()).ok());
    ASSERT_TRUE(acceptor_->Start().ok());
    stub_ = v1::GpuService::NewStub(
        grpc::CreateChannel("unix://" + dir_ + "/api.sock", grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (acceptor_) acceptor_->Stop();
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    if (store_) store_->Shutdown();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  grpc::Status Create(const std::string& name) {
    grpc::ClientContext ctx;
    v1::CreateGpuRequest req;
    req.mutable_gpu()->mutable_metadata()->set_name(name);
    req.mutable_gpu()->mutable_spec()->set_uuid("GPU-" + name);
    v1::Gpu out;
    return stub_->CreateGpu(&ctx, req, &out);
  }
  std::vector<Seen> seen() {
    absl::MutexLock l(&mu_);
    return seen_;
  }

  std::string dir_;
  std::shared_ptr<PeerTable> peers_ = std::make_shared<PeerTable>();
  storage::StorePtr store_;
  std::shared_ptr<GpuRegistry> registry_;
  ServerMetrics metrics_;
  std::unique_ptr<GpuService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<UnixAcceptor> acceptor_;
  std::unique_ptr<v1::GpuService::Stub> stub_;
  absl::Mutex mu_;
  std::vector<Seen> seen_ ABSL_GUARDED_BY(mu_);
};

// An allowed write: this process's credentials, the verb, the object and its new resourceVersion.
TEST_F(WriteObserverTest, AllowedWriteIsReported) {
  Start(AuthorizationPolicy{.writers = {.uids = {::geteuid()}}});
  ASSERT_TRUE(Create("gpu-1").ok());
  const std::vector<Seen> s = seen();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_TRUE(s[0].peer.known);
  EXPECT_EQ(s[0].peer.uid, ::geteuid());
  EXPECT_EQ(s[0].peer.pid, ::getpid());
  EXPECT_EQ(s[0].verb, "create");
  EXPECT_EQ(s[0].ns, "default");
  EXPECT_EQ(s[0].name, "gpu-1");
  EXPECT_FALSE(s[0].rv.empty());
  EXPECT_EQ(s[0].code, grpc::StatusCode::OK);
  EXPECT_EQ(s[0].reason, "");
}

// A refused write: PERMISSION_DENIED, reason not_writer, no resourceVersion, counted by uid.
TEST_F(WriteObserverTest, DeniedWriteIsReportedAndCounted) {
  Start(AuthorizationPolicy{.writers = {.uids = {::geteuid() + 1}}});
  const grpc::Status st = Create("gpu-2");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(st.error_message(), HasSubstr("writes are not allowed for uid " + std::to_string(::geteuid())));
  const std::vector<Seen> s = seen();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].code, grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(s[0].reason, "not_writer");
  EXPECT_EQ(s[0].name, "gpu-2");
  EXPECT_TRUE(s[0].rv.empty());
  EXPECT_THAT(metrics_.Serialize(),
              HasSubstr("device_api_server_writes_denied_total{reason=\"not_writer\",uid=\"" +
                        std::to_string(::geteuid()) + "\"} 1"));
}

}  // namespace
}  // namespace deviceapi::apiserver
