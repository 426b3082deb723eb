#include "apiserver/peer_credentials.h"

#include <sys/socket.h>

#include <cerrno>

#include "common/strings.h"

namespace deviceapi::apiserver {

using common::Cat;

std::string PeerCredentials::ToString() const {
  if (!known) return "an unknown peer";
  return Cat("uid ", uid, " (gid ", gid, ", pid ", pid, ")");
}

absl::StatusOr<PeerCredentials> ReadPeerCredentials(int fd) {
  PeerCredentials p;
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return absl::FailedPreconditionError(Cat("SO_PEERCRED: ", common::ErrnoString(errno)));
  }
  p.uid = cred.uid;
  p.gid = cred.gid;
  p.pid = cred.pid;
  p.known = true;
#ifdef SO_PEERGROUPS
  // Most processes have a handful of groups; the kernel says how many bytes
  // it needs (ERANGE) when there are more.
  std::vector<gid_t> groups(16);
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) == 0) {
      groups.resize(glen / sizeof(gid_t));
      p.groups.assign(groups.begin(), groups.end());
      break;
    }
    if (errno != ERANGE) break;  // ENOPROTOOPT (kernel < 4.13): no supplementary groups
    groups.resize(glen / sizeof(gid_t) + 1);
  }
#endif
  return p;
}

}  // namespace deviceapi::apiserver
