// FdWindow: accepted connections' descriptors are numbered in turn through a
// window, so a number closed by gRPC is not handed out again right away.
#include "apiserver/fd_window.h"

#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include <gtest/gtest.h>

namespace deviceapi::apiserver {
namespace {

// A descriptor to move: a fresh /dev/null.
int Fresh() {
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  return fd;
}

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }

// Well above what a test process has open, below the default soft limit of 1024.
constexpr int kBase = 700;

// Numbers go up one by one, each closed number is skipped until the window wraps.
TEST(FdWindowTest, MonotonicNotLowestFree) {
  FdWindow w(kBase, 8);
  const int a = *w.Move(Fresh());
  EXPECT_EQ(a, kBase);
  ::close(a);  // gRPC closed the connection: its number is free again
  const int b = *w.Move(Fresh());
  EXPECT_EQ(b, kBase + 1) << "a freed number must not be reused before the window wraps";
  const int c = *w.Move(Fresh());
  EXPECT_EQ(c, kBase + 2);
  EXPECT_TRUE(FD_CLOEXEC & ::fcntl(c, F_GETFD));
  ::close(b);
  ::close(c);
}

// The original descriptor is closed: only the moved one stays open.
TEST(FdWindowTest, ClosesTheOriginal) {
  FdWindow w(kBase + 10, 4);
  const int orig = Fresh();
  const int moved = *w.Move(orig);
  EXPECT_FALSE(IsOpen(orig));
  EXPECT_TRUE(IsOpen(moved));
  ::close(moved);
}

// Past the end the cursor wraps to the base, skipping numbers still open.
TEST(FdWindowTest, WrapsAndSkipsOpenNumbers) {
  FdWindow w(kBase + 20, 4);
  std::vector<int> got;
  for (int i = 0; i < 4; ++i) got.push_back(*w.Move(Fresh()));
  EXPECT_EQ(got, (std::vector<int>{kBase + 20, kBase + 21, kBase + 22, kBase + 23}));
  ::close(kBase + 21);  // only this one ended
  EXPECT_EQ(*w.Move(Fresh()), kBase + 21) << "wraps, skipping 20 (still open)";
  ::close(kBase + 20);
  ::close(kBase + 23);
  EXPECT_EQ(*w.Move(Fresh()), kBase + 23) << "continues after the last number handed out";
  EXPECT_EQ(*w.Move(Fresh()), kBase + 20);
  for (int fd = kBase + 20; fd < kBase + 24; ++fd) ::close(fd);
}

// Every number of the window open: RESOURCE_EXHAUSTED, the descriptor left to the caller.
TEST(FdWindowTest, FullWindowIsAnError) {
  FdWindow w(kBase + 30, 2);
  const int a = *w.Move(Fresh());
  const int b = *w.Move(Fresh());
  const int c = Fresh();
  absl::StatusOr<int> r = w.Move(c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_TRUE(IsOpen(c));
  EXPECT_FALSE(IsOpen(kBase + 32)) << "nothing past the window is left open";
  ::close(a);
  ::close(b);
  ::close(c);
}

// The process window lies within the (raised) descriptor limit.
TEST(FdWindowTest, ForProcessFitsTheLimit) {
  auto w = FdWindow::ForProcess();
  EXPECT_GT(w->base(), 2);
  EXPECT_GE(w->size(), 1);
  const int fd = *w->Move(Fresh());
  EXPECT_GE(fd, w->base());
  EXPECT_LT(fd, w->base() + w->size());
  ::close(fd);
}

}  // namespace
}  // namespace deviceapi::apiserver
