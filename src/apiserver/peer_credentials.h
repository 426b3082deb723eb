// Who is on the other end of a Unix socket connection: the kernel's record of
// the connecting process (SO_PEERCRED, SO_PEERGROUPS), taken when it called
// connect(). The server reads it once per accepted connection and decides
// writes by it (see authorization.h); a process that connected as root and
// then dropped privileges, or that passed the connection on, keeps the
// credentials it connected with.
#ifndef DEVICEAPI_APISERVER_PEER_CREDENTIALS_H_
#define DEVICEAPI_APISERVER_PEER_CREDENTIALS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace deviceapi::apiserver {

struct PeerCredentials {
  uint32_t uid = 0;
  uint32_t gid = 0;
  int32_t pid = 0;
  // Supplementary groups (SO_PEERGROUPS, Linux >= 4.13); empty where the
  // kernel does not report them.
  std::vector<uint32_t> groups;
  // False when the call's connection is not one the server accepted and
  // recorded (or no longer is): then uid/gid/pid mean nothing and every
  // write is refused.
  bool known = false;

  // "uid 1000 (gid 1000, pid 4242)", or "an unknown peer".
  std::string ToString() const;
};

// Reads the credentials of the peer of connected Unix socket `fd`. FAILED_PRECONDITION
// if SO_PEERCRED fails; a kernel without SO_PEERGROUPS (ENOPROTOOPT) leaves `groups` empty.
absl::StatusOr<PeerCredentials> ReadPeerCredentials(int fd);

}  // namespace deviceapi::apiserver

#endif  // DEVICEAPI_APISERVER_PEER_CREDENTIALS_H_
