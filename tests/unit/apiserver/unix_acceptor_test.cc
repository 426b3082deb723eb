// UnixAcceptor: the server accepts the socket's connections itself and hands
// them to gRPC by descriptor; a call's ServerContext::peer() then names the
// descriptor ("fd:N"), which finds the connection's credentials.
#include "apiserver/unix_acceptor.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <grpcpp/generic/async_generic_service.h>
#include <gtest/gtest.h>

#include "device/v1alpha1/gpu.grpc.pb.h"

namespace deviceapi::apiserver {
namespace {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

// Answers every call with FAILED_PRECONDITION carrying the call's peer() string.
class PeerEcho final : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    class Reactor final : public grpc::ServerGenericBidiReactor {
     public:
      explicit Reactor(const std::string& peer) {
        Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, peer));
      }
      void OnDone() override { delete this; }
    };
    return new Reactor(ctx->peer());
  }
};

class UnixAcceptorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dapi-acc-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/api.sock";
    grpc::ServerBuilder b;
    b.RegisterCallbackGenericService(&echo_);
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr) << "a server with no listening port must start";
    acceptor_ = std::make_unique<UnixAcceptor>(peers_, window_);
    ASSERT_TRUE(acceptor_->Listen(path_, 0640, server_.get()).ok());
    ASSERT_TRUE(acceptor_->Start().ok());
  }
  void TearDown() override {
    if (acceptor_) acceptor_->Stop();
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    std::filesystem::remove_all(dir_);
  }

  // The peer() string the server saw for a call on a new connection.
  std::string PeerOfNewConnection() {
    grpc::ChannelArguments args;
    args.SetInt("deviceapi.test.channel", seq_++);  // a connection of its own
    auto stub = v1::GpuService::NewStub(
        grpc::CreateCustomChannel("unix://" + path_, grpc::InsecureChannelCredentials(), args));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    v1::GetGpuResponse resp;
    const grpc::Status s = stub->GetGpu(&ctx, v1::GetGpuRequest(), &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
    channels_.push_back(std::move(stub));  // keep the connection open
    return s.error_message();
  }

  std::string dir_, path_;
  PeerEcho echo_;
  std::shared_ptr<PeerTable> peers_ = std::make_shared<PeerTable>();
  std::shared_ptr<FdWindow> window_ = std::make_shared<FdWindow>(900, 50);
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<UnixAcceptor> acceptor_;
  std::vector<std::unique_ptr<v1::GpuService::Stub>> channels_;
  int seq_ = 0;
};

// peer() is "fd:N" with N from the window, and the table knows this process as the peer.
TEST_F(UnixAcceptorTest, PeerNamesTheDescriptor) {
  const std::string peer = PeerOfNewConnection();
  RecordProperty("peer", peer);
  std::optional<int> fd = FdOfPeer(peer);
  ASSERT_TRUE(fd.has_value()) << "peer() of a connection added by descriptor: \"" << peer << "\"";
  EXPECT_GE(*fd, 900);
  EXPECT_LT(*fd, 950);
  const PeerCredentials c = peers_->Lookup(peer);
  ASSERT_TRUE(c.known);
  EXPECT_EQ(c.uid, ::getuid());
  EXPECT_EQ(c.gid, ::getgid());
  EXPECT_EQ(c.pid, ::getpid());
  EXPECT_EQ(acceptor_->accepted(), 1u);
}

// Each new connection gets the next number of the window.
TEST_F(UnixAcceptorTest, ConnectionsGetIncreasingNumbers) {
  const std::optional<int> a = FdOfPeer(PeerOfNewConnection());
  const std::optional<int> b = FdOfPeer(PeerOfNewConnection());
  ASSERT_TRUE(a && b);
  EXPECT_GT(*b, *a);
}

// The socket has the mode asked for before anyone can connect.
TEST_F(UnixAcceptorTest, SocketMode) {
  struct stat st {};
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

// After Stop() connections are refused.
TEST_F(UnixAcceptorTest, StopRefusesConnections) {
  PeerOfNewConnection();
  acceptor_->Stop();
  acceptor_->Stop();  // idempotent
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
  EXPECT_NE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(errno, ECONNREFUSED);
  ::close(fd);
}

}  // namespace
}  // namespace deviceapi::apiserver
