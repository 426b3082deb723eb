// Accepts the API sockets' connections itself, so that the server knows who
// is calling: for each connection it reads the peer's credentials
// (peer_credentials.h), moves the descriptor into the FdWindow, records it in
// the PeerTable and hands it to a grpc::Server (grpc::AddInsecureChannelFromFd).
// gRPC then owns the descriptor and closes it when the connection ends.
#ifndef DEVICEAPI_APISERVER_UNIX_ACCEPTOR_H_
#define DEVICEAPI_APISERVER_UNIX_ACCEPTOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "apiserver/fd_window.h"
#include "apiserver/peer_table.h"

namespace deviceapi::apiserver {

class UnixAcceptor {
 public:
  // `peers` and `window` are shared with the calls that look peers up.
  UnixAcceptor(std::shared_ptr<PeerTable> peers, std::shared_ptr<FdWindow> window);
  ~UnixAcceptor();  // Stop()
  UnixAcceptor(const UnixAcceptor&) = delete;
  UnixAcceptor& operator=(const UnixAcceptor&) = delete;

  // Binds `path` (made ready by PrepareSocketPath), gives it `mode` before it
  // listens, and listens; its connections go to `server` (built and started,
  // no listening port of its own) once Start() has run. The caller removes
  // the socket file when done serving (a failed Listen removes it itself).
  // Call before Start().
  absl::Status Listen(const std::string& path, uint32_t mode, grpc::Server* server);

  // Starts the accept thread. Call once, after every Listen().
  absl::Status Start();

  // Stops accepting and closes the listening sockets: connections arriving
  // from now on are refused. Blocks until the accept thread has exited.
  // Connections already handed to gRPC are gRPC's to close. Idempotent.
  void Stop();

  // Connections accepted and handed to gRPC so far.
  uint64_t accepted() const;

 private:
  struct Listener {
    int fd = -1;
    grpc::Server* server = nullptr;
    std::string path;
  };
  void Run();
  // Accepts what is pending on `l` (non-blocking). False on an error that
  // calls for a pause (out of descriptors).
  bool AcceptPending(const Listener& l);

  const std::shared_ptr<PeerTable> peers_;
  const std::shared_ptr<FdWindow> window_;
  // Written by Listen() before the thread starts, read by it afterwards.
  std::vector<Listener> listeners_;
  int wake_fd_ = -1;  // eventfd: Stop() wakes the thread through it
  std::thread thread_;

  mutable absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t accepted_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace deviceapi::apiserver

#endif  // DEVICEAPI_APISERVER_UNIX_ACCEPTOR_H_
