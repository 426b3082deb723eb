#include "apiserver/unix_acceptor.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <grpcpp/server_posix.h>
#include <spdlog/spdlog.h>

#include "common/strings.h"

namespace deviceapi::apiserver {

using common::Cat;
using common::ErrnoString;

namespace {

// After EMFILE/ENFILE the pending connection stays queued; wait this long
// before trying again instead of spinning on it.
constexpr int kOutOfDescriptorsPauseMs = 100;

}  // namespace

UnixAcceptor::UnixAcceptor(std::shared_ptr<PeerTable> peers, std::shared_ptr<FdWindow> window)
    : peers_(std::move(peers)), window_(std::move(window)) {}

UnixAcceptor::~UnixAcceptor() { Stop(); }

absl::Status UnixAcceptor::Listen(const std::string& path, uint32_t mode, grpc::Server* server) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::UnavailableError(Cat("socket(AF_UNIX): ", ErrnoString(errno)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::UnavailableError(Cat("cannot listen on unix://", path, ": bind: ", ErrnoString(err)));
  }
  // The mode is set before listen(): nobody connects through a wider one.
  auto fail = [&](std::string what) {
    const int err = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return absl::FailedPreconditionError(Cat(what, " ", path, ": ", ErrnoString(err)));
  };
  if (::chmod(path.c_str(), mode) != 0) return fail("chmod");
  if (::listen(fd, SOMAXCONN) != 0) return fail("listen on");
  listeners_.push_back(Listener{fd, server, path});
  return absl::OkStatus();
}

absl::Status UnixAcceptor::Start() {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return absl::InternalError(Cat("eventfd: ", ErrnoString(errno)));
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void UnixAcceptor::Stop() {
  {
    absl::MutexLock l(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
  for (Listener& l : listeners_) {
    if (l.fd >= 0) ::close(l.fd);
    l.fd = -1;
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
  wake_fd_ = -1;
}

uint64_t UnixAcceptor::accepted() const {
  absl::MutexLock l(&mu_);
  return accepted_;
}

void UnixAcceptor::Run() {
  std::vector<pollfd> fds;
  fds.push_back(pollfd{wake_fd_, POLLIN, 0});
  for (const Listener& l : listeners_) fds.push_back(pollfd{l.fd, POLLIN, 0});
  while (true) {
    const int n = ::poll(fds.data(), fds.size(), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("accept loop: poll: {}; no more connections are accepted", ErrnoString(errno));
      return;
    }
    if (fds[0].revents != 0) return;  // Stop()
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      if (!AcceptPending(listeners_[i - 1])) {
        // Out of descriptors: let calls end and free some; Stop() still wakes us.
        pollfd wake{wake_fd_, POLLIN, 0};
        if (::poll(&wake, 1, kOutOfDescriptorsPauseMs) > 0) return;
      }
    }
  }
}

bool UnixAcceptor::AcceptPending(const Listener& l) {
  while (true) {
    const int conn = ::accept4(l.fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn < 0) {
      switch (errno) {
        case EAGAIN:
          return true;
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
          continue;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
          spdlog::warn("accept on {}: {}; pausing", l.path, ErrnoString(errno));
          return false;
        default:
          spdlog::error("accept on {}: {}", l.path, ErrnoString(errno));
          return false;
      }
    }
    absl::StatusOr<PeerCredentials> creds = ReadPeerCredentials(conn);
    if (!creds.ok()) {
      spdlog::warn("connection on {} refused: {}", l.path, std::string(creds.status().message()));
      ::close(conn);
      continue;
    }
    absl::StatusOr<int> fd = window_->Move(conn);
    if (!fd.ok()) {
      spdlog::warn("connection on {} from {} refused: {}", l.path, creds->ToString(),
                   std::string(fd.status().message()));
      ::close(conn);
      continue;
    }
    peers_->Add(*fd, *creds);
    spdlog::debug("connection on {} from {} (fd {})", l.path, creds->ToString(), *fd);
    grpc::AddInsecureChannelFromFd(l.server, *fd);  // gRPC owns the descriptor from here
    absl::MutexLock lock(&mu_);
    ++accepted_;
  }
}

}  // namespace deviceapi::apiserver
