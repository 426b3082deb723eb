// Descriptor numbers for accepted connections, taken in turn from a window.
//
// The server knows a connection's peer by the number of its descriptor
// (gRPC names a connection handed to it by descriptor "fd:N"). gRPC closes
// that descriptor when the connection ends, and the kernel hands out the
// lowest free number, so the next accepted connection would usually get the
// same number while a call of the ended connection may still be running:
// that call would then be judged by the new peer's credentials. Moving every
// accepted descriptor to the next number of a large window instead (after
// the one used last, skipping numbers still open, wrapping at the end) keeps
// a number unused until R later connections have been accepted. PeerTable
// also checks that the number still names the same socket (its inode), so a
// call of a connection that is gone is refused rather than misattributed.
#ifndef DEVICEAPI_APISERVER_FD_WINDOW_H_
#define DEVICEAPI_APISERVER_FD_WINDOW_H_

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace deviceapi::apiserver {

class FdWindow {
 public:
  // The window [base, base + size); base > 2, size >= 1. Thread-safe.
  FdWindow(int base, int size);

  // A window for this process: raises the soft RLIMIT_NOFILE to the hard
  // limit (at most 2^20), then takes [1024, 1024 + min(65536, limit - 1024))
  // (above the descriptors a process normally has: gRPC's, the datastore's)
  // or, under a limit below 5120, the upper three quarters of what there is.
  static std::unique_ptr<FdWindow> ForProcess();

  // Moves `fd` to the lowest free number at or after the one following the
  // number handed out last, wrapping to `base` past the end; the new
  // descriptor is close-on-exec and `fd` is closed. RESOURCE_EXHAUSTED when
  // every number of the window is open (then `fd` is left open, the caller
  // closes it); another error if fcntl fails otherwise.
  absl::StatusOr<int> Move(int fd);

  int base() const { return base_; }
  int size() const { return size_; }

 private:
  const int base_;
  const int size_;
  absl::Mutex mu_;
  int next_ ABSL_GUARDED_BY(mu_);
};

}  // namespace deviceapi::apiserver

#endif  // DEVICEAPI_APISERVER_FD_WINDOW_H_
