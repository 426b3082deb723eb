#include "testutil/etcd.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "absl/time/clock.h"
#include "etcd/etcdserverpb/rpc.grpc.pb.h"

namespace deviceapi::testing {

namespace {

int PickFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot pick a free port on 127.0.0.1");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

bool Accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

std::string Tail(const std::string& path, size_t bytes = 2000) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

}  // namespace

std::unique_ptr<EtcdServer> EtcdServer::Start() {
  if (::access(kEtcdBin, X_OK) != 0) {
    throw std::runtime_error(std::string("etcd tests need ") + kEtcdBin +
                             " (Debian package etcd-server; scripts/install-deps.sh installs it)");
  }
  std::unique_ptr<EtcdServer> e(new EtcdServer());
  e->client_port_ = PickFreePort();
  do {
    e->peer_port_ = PickFreePort();
  } while (e->peer_port_ == e->client_port_);
  e->address_ = "127.0.0.1:" + std::to_string(e->client_port_);
  e->Spawn();
  e->WaitReady();
  return e;
}

EtcdServer::~EtcdServer() { Kill(); }

std::string EtcdServer::Endpoint(const std::string& prefix) const {
  return "etcd://" + address_ + "?prefix=" + prefix;
}

void EtcdServer::Spawn() {
  const std::string curl = "http://" + address_;
  const std::string purl = "http://127.0.0.1:" + std::to_string(peer_port_);
  const std::string log = dir_.path() + "/etcd.log";
  std::vector<std::string> args = {
      kEtcdBin, "--name", "test", "--data-dir", dir_.path() + "/data", "--listen-client-urls", curl,
      "--advertise-client-urls", curl, "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
      "--initial-cluster", "test=" + purl, "--initial-cluster-state", "new",
      // One member: elect it at once rather than after a second.
      "--heartbeat-interval", "10", "--election-timeout", "100", "--logger", "zap", "--log-level", "warn"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) throw std::runtime_error("cannot open " + log);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out);
    throw std::runtime_error("fork failed");
  }
  if (pid == 0) {
    // Dies with the test process, even when that one is killed.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out);
  pid_ = pid;
}

void EtcdServer::WaitReady() {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  std::string last = "not listening";
  // First until the port accepts connections: a gRPC channel that met a
  // refused connect backs off for seconds.
  while (absl::Now() < deadline && !Accepts(client_port_)) {
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("etcd exited at start; its log ends with:\n" +
                               Tail(dir_.path() + "/etcd.log"));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  // A fresh channel (no backoff), then until etcd answers (leader elected).
  channel_ = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
  auto kv = etcdserverpb::KV::NewStub(channel_);
  while (absl::Now() < deadline) {
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("etcd exited at start; its log ends with:\n" +
                               Tail(dir_.path() + "/etcd.log"));
    }
    grpc::ClientContext ctx;
    ctx.set_wait_for_ready(true);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    etcdserverpb::RangeRequest req;
    req.set_key("ready-probe");
    etcdserverpb::RangeResponse resp;
    grpc::Status s = kv->Range(&ctx, req, &resp);
    if (s.ok()) return;
    last = s.error_message();
    absl::SleepFor(absl::Milliseconds(20));
  }
  throw std::runtime_error("etcd at " + address_ + " not ready within 30s (" + last +
                           "); its log ends with:\n" + Tail(dir_.path() + "/etcd.log"));
}

void EtcdServer::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int st = 0;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
}

void EtcdServer::Restart() {
  Kill();
  Spawn();
  WaitReady();
}

void EtcdServer::RestartEmpty() {
  Kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_.path() + "/data", ec);
  Spawn();
  WaitReady();
}

std::unique_ptr<grpc::ClientContext> EtcdServer::Ctx() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

void EtcdServer::Compact(int64_t revision) {
  auto kv = etcdserverpb::KV::NewStub(channel_);
  etcdserverpb::CompactionRequest req;
  req.set_revision(revision);
  req.set_physical(true);
  etcdserverpb::CompactionResponse resp;
  grpc::Status s = kv->Compact(Ctx().get(), req, &resp);
  if (!s.ok())
    throw std::runtime_error("etcd compact " + std::to_string(revision) + ": " + s.error_message());
}

int64_t EtcdServer::Revision() {
  auto kv = etcdserverpb::KV::NewStub(channel_);
  etcdserverpb::RangeRequest req;
  req.set_key("revision-probe");
  etcdserverpb::RangeResponse resp;
  grpc::Status s = kv->Range(Ctx().get(), req, &resp);
  if (!s.ok()) throw std::runtime_error("etcd range: " + s.error_message());
  return resp.header().revision();
}

int64_t EtcdServer::Put(const std::string& key, const std::string& value) {
  auto kv = etcdserverpb::KV::NewStub(channel_);
  etcdserverpb::PutRequest req;
  req.set_key(key);
  req.set_value(value);
  etcdserverpb::PutResponse resp;
  grpc::Status s = kv->Put(Ctx().get(), req, &resp);
  if (!s.ok()) throw std::runtime_error("etcd put: " + s.error_message());
  return resp.header().revision();
}

int64_t EtcdServer::Delete(const std::string& key) {
  auto kv = etcdserverpb::KV::NewStub(channel_);
  etcdserverpb::DeleteRangeRequest req;
  req.set_key(key);
  etcdserverpb::DeleteRangeResponse resp;
  grpc::Status s = kv->DeleteRange(Ctx().get(), req, &resp);
  if (!s.ok()) throw std::runtime_error("etcd delete: " + s.error_message());
  return resp.header().revision();
}

namespace {
// Deliberately never destroyed by static destruction (gRPC may be gone by
// then): an atexit hook kills the process and removes its directory.
EtcdServer* g_shared = nullptr;
void KillShared() {
  EtcdServer* e = g_shared;
  g_shared = nullptr;
  delete e;
}
}  // namespace

EtcdServer& SharedEtcd() {
  static EtcdServer* shared = [] {
    g_shared = EtcdServer::Start().release();
    std::atexit(KillShared);
    return g_shared;
  }();
  return *shared;
}

std::string UniqueEtcdPrefix() {
  static std::atomic<int> seq{0};
  return "/t" + std::to_string(::getpid()) + "-" + std::to_string(seq++) + "/";
}

}  // namespace deviceapi::testing
