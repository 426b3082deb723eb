// The credentials of every connection the server accepted, by descriptor
// number, for the calls on them: gRPC names a connection that was handed to
// it by descriptor "fd:N" (ServerContext::peer()).
#ifndef DEVICEAPI_APISERVER_PEER_TABLE_H_
#define DEVICEAPI_APISERVER_PEER_TABLE_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "apiserver/peer_credentials.h"

namespace deviceapi::apiserver {

// The descriptor number in a gRPC peer string "fd:N"; nullopt for any other.
std::optional<int> FdOfPeer(std::string_view peer);

// Thread-safe; no method blocks on anything but the table's own lock.
class PeerTable {
 public:
  // Records `creds` for open socket `fd`, replacing what an ended connection
  // with the same number left behind. Entries of ended connections are pruned
  // every kPruneEvery additions.
  void Add(int fd, const PeerCredentials& creds);

  // The credentials of the connection gRPC calls `peer`. known=false when
  // `peer` is not "fd:N", when N was never recorded, or when descriptor N no
  // longer is the socket that was recorded (the connection ended; the number
  // may already belong to another connection or to another file).
  PeerCredentials Lookup(std::string_view peer) const;

  // Entries held (live connections plus ended ones not pruned yet).
  size_t size() const;

  static constexpr uint64_t kPruneEvery = 256;

 private:
  struct Entry {
    PeerCredentials creds;
    dev_t dev = 0;
    ino_t ino = 0;
  };
  void PruneLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<int, Entry> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t adds_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace deviceapi::apiserver

#endif  // DEVICEAPI_APISERVER_PEER_TABLE_H_
