#include "apiserver/fd_window.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/strings.h"

namespace deviceapi::apiserver {

namespace {

constexpr rlim_t kMaxSoftLimit = rlim_t{1} << 20;
constexpr int kPreferredBase = 1024;
constexpr int kMaxWindow = 65536;
constexpr int kMinWindowForPreferredBase = 4096;

}  // namespace

FdWindow::FdWindow(int base, int size) : base_(base), size_(size), next_(base) {}

std::unique_ptr<FdWindow> FdWindow::ForProcess() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    const rlim_t want = rl.rlim_max == RLIM_INFINITY ? kMaxSoftLimit : std::min(rl.rlim_max, kMaxSoftLimit);
    if (rl.rlim_cur < want) {
      rlimit raised = rl;
      raised.rlim_cur = want;
      (void)::setrlimit(RLIMIT_NOFILE, &raised);  // best effort: the window adapts to what we have
    }
    (void)::getrlimit(RLIMIT_NOFILE, &rl);
  }
  const int limit =
      rl.rlim_cur == RLIM_INFINITY ? static_cast<int>(kMaxSoftLimit) : static_cast<int>(rl.rlim_cur);
  if (limit >= kPreferredBase + kMinWindowForPreferredBase) {
    return std::make_unique<FdWindow>(kPreferredBase, std::min(kMaxWindow, limit - kPreferredBase));
  }
  const int base = std::max(3, limit / 4);
  return std::make_unique<FdWindow>(base, std::max(1, limit - base));
}

absl::StatusOr<int> FdWindow::Move(int fd) {
  absl::MutexLock l(&mu_);
  const int end = base_ + size_;
  // At most two scans: from the cursor to the end, then from the start.
  for (int pass = 0; pass < 2; ++pass) {
    const int n = ::fcntl(fd, F_DUPFD_CLOEXEC, next_);
    if (n >= 0 && n < end) {
      next_ = n + 1 >= end ? base_ : n + 1;
      ::close(fd);
      return n;
    }
    if (n >= 0) {
      ::close(n);  // free only past the window
    } else if (errno != EMFILE && errno != EINVAL) {
      return absl::InternalError(common::Cat("fcntl(F_DUPFD_CLOEXEC): ", common::ErrnoString(errno)));
    }
    if (next_ == base_) break;  // the whole window was scanned
    next_ = base_;
  }
  return absl::ResourceExhaustedError(
      common::Cat("every descriptor number in [", base_, ", ", end, ") is in use"));
}

}  // namespace deviceapi::apiserver
