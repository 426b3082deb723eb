// The canary of the TSan build: proves that ThreadSanitizer sees what tsan_test relies on it to see.
//
// Built twice from this file: tsan_canary (with absl_tsan_shim.cc and its --wrap options) and
// tsan_canary_noshim (without). Run with "--child MODE" the binary does one thing and exits;
// run as a gtest it starts itself (and the other build) as children and reads TSan's report:
//
//   race         two threads write a plain int with no synchronization    -> reported (both builds)
//   mutex        the same writes, each under absl::MutexLock                -> not reported with the
//                shim; reported without it (Debian's libabsl is uninstrumented: TSan is blind)
//   reader       writes under MutexLock, reads under ReaderMutexLock        -> same as mutex
//   await        a hand-off through Mutex::Await / AwaitWithTimeout       -> not reported (shim)
//   condvar      a hand-off through CondVar::Wait / Signal                  -> not reported (shim)
//   notification a hand-off through Notification::Notify / WaitForNotification and
//                HasBeenNotified (inline, an atomic load)                   -> not reported (shim)
//   status       an absl::Status copied and released by one thread, its last reference dropped by
//                another (the reference count's decrement is in libabsl_status.so) -> not reported
//                with the shim
//   unlock_twice Unlock() of a mutex not held: lock misuse, which the shim's __tsan_mutex_*
//                annotations make TSan report (abseil's own debug check is off in release builds)
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace {

// Kept out of line and visible so TSan's report names them.
int shared_value = 0;

__attribute__((noinline)) void RacyWrite(int v) { shared_value = v; }

int RunRace() {
  std::thread a([] { RacyWrite(1); });
  std::thread b([] { RacyWrite(2); });
  a.join();
  b.join();
  return 0;
}

int RunMutex() {
  absl::Mutex mu;
  auto writer = [&mu](int v) {
    for (int i = 0; i < 1000; ++i) {
      absl::MutexLock l(&mu);
      RacyWrite(v + i);
    }
  };
  std::thread a(writer, 1);
  std::thread b(writer, 2);
  a.join();
  b.join();
  return 0;
}

int RunReader() {
  absl::Mutex mu;
  std::atomic<int> sum{0};
  std::thread w([&] {
    for (int i = 0; i < 1000; ++i) {
      absl::MutexLock l(&mu);
      RacyWrite(i);
    }
  });
  std::thread r([&] {
    for (int i = 0; i < 1000; ++i) {
      absl::ReaderMutexLock l(&mu);
      sum += shared_value;
    }
  });
  w.join();
  r.join();
  return sum.load() >= 0 ? 0 : 1;
}

int RunAwait() {
  absl::Mutex mu;
  bool ready = false;  // guarded by mu
  std::thread producer([&] {
    RacyWrite(42);  // published by the unlock below, read after the Await
    absl::MutexLock l(&mu);
    ready = true;
  });
  std::thread timed([&] {
    absl::MutexLock l(&mu);
    while (!mu.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(10))) {
    }
  });
  {
    absl::MutexLock l(&mu);
    mu.Await(absl::Condition(&ready));
  }
  const int v = shared_value;
  producer.join();
  timed.join();
  return v == 42 ? 0 : 1;
}

int RunCondVar() {
  absl::Mutex mu;
  absl::CondVar cv;
  bool ready = false;
  std::thread producer([&] {
    RacyWrite(7);
    absl::MutexLock l(&mu);
    ready = true;
    cv.SignalAll();
  });
  {
    absl::MutexLock l(&mu);
    while (!ready) cv.Wait(&mu);
  }
  RacyWrite(8);  // after the hand-off: ordered after the producer's write
  producer.join();
  return shared_value == 8 ? 0 : 1;
}

int RunNotification() {
  absl::Notification done, done2;
  std::thread producer([&] {
    RacyWrite(5);
    done.Notify();
  });
  done.WaitForNotification();
  RacyWrite(6);
  std::thread second([&] {
    RacyWrite(9);
    done2.Notify();
  });
  while (!done2.HasBeenNotified()) std::this_thread::yield();
  const int v = shared_value;  // HasBeenNotified() synchronizes too
  producer.join();
  second.join();
  return v == 9 ? 0 : 1;
}

int RunStatus() {
  // A heap-held status shared by two threads; the last reference is dropped by main. The reference
  // count orders the delete after the other thread's use (its decrement is acq_rel), but the
  // decrement is in libabsl_status.so. The flag is relaxed: it orders nothing for TSan.
  auto s = std::make_unique<absl::Status>(absl::UnavailableError("shared status"));
  std::atomic<bool> dropped{false};
  // The thread gets the Status's address, not the unique_ptr: main's reset() writes the unique_ptr,
  // and only the Status is under test (the Debug build of CI reports the unique_ptr otherwise).
  absl::Status* shared = s.get();
  std::thread t([&dropped, shared] {
    absl::Status copy = *shared;  // the inline increment: an instrumented atomic write to the rep
    if (copy.message().empty()) abort();
    copy = absl::OkStatus();  // its decrement
    dropped.store(true, std::memory_order_relaxed);
  });
  while (!dropped.load(std::memory_order_relaxed)) std::this_thread::yield();
  s.reset();  // the last reference: the rep is deleted
  t.join();
  return 0;
}

// The misuse is deliberate: clang's lock analysis (the CI build is both -Wthread-safety and TSan)
// would refuse it at compile time, so it is told not to look here.
int RunUnlockTwice() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  absl::Mutex mu;
  mu.Lock();
  mu.Unlock();
  mu.Unlock();  // NOLINT: the misuse under test
  return 0;
}

int RunChild(const std::string& mode) {
  if (mode == "race") return RunRace();
  if (mode == "mutex") return RunMutex();
  if (mode == "reader") return RunReader();
  if (mode == "await") return RunAwait();
  if (mode == "condvar") return RunCondVar();
  if (mode == "notification") return RunNotification();
  if (mode == "status") return RunStatus();
  if (mode == "unlock_twice") return RunUnlockTwice();
  fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}

struct ChildResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs `binary --child mode` with its own TSAN_OPTIONS (exitcode 66 on a report) and returns its
// exit code and output.
ChildResult RunChildProcess(const std::string& binary, const std::string& mode) {
  const std::string cmd = absl::StrCat("TSAN_OPTIONS='halt_on_error=0 exitcode=66 report_bugs=1' '", binary,
                                       "' --child ", mode, " 2>&1");
  ChildResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// This binary's path (popen runs a shell: /proc/self/exe would be the shell).
std::string Self() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kTsanExit = 66;

// The unsynchronized write/write is reported, naming the racing function.
TEST(TsanCanary, UnsynchronizedWritesAreReported) {
  const ChildResult r = RunChildProcess(Self(), "race");
  EXPECT_EQ(r.exit_code, kTsanExit) << r.output;
  EXPECT_THAT(r.output, HasSubstr("WARNING: ThreadSanitizer: data race"));
  EXPECT_THAT(r.output, HasSubstr("RacyWrite"));
}

// With the shim, each way our code synchronizes through abseil is seen: no report, and the hand-off
// delivered the value (the child's exit code 0).
TEST(TsanCanary, AbslSynchronizationIsSeenWithTheShim) {
  for (const char* mode : {"mutex", "reader", "await", "condvar", "notification", "status"}) {
    const ChildResult r = RunChildProcess(Self(), mode);
    EXPECT_EQ(r.exit_code, 0) << mode << "\n" << r.output;
    EXPECT_THAT(r.output, Not(HasSubstr("ThreadSanitizer"))) << mode;
  }
}

// Lock misuse is reported through the shim's __tsan_mutex_* annotations.
TEST(TsanCanary, UnlockOfAnUnlockedMutexIsReported) {
  // abseil may abort afterwards (its own check): only the report matters here.
  const ChildResult r = RunChildProcess(Self(), "unlock_twice");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("unlock of an unlocked mutex"));
}

#ifdef DEVICEAPI_TSAN_CANARY_NOSHIM
// Without the shim TSan is blind to abseil: every hand-off above is reported as a race.
// This is what the shim fixes, and what would happen to tsan_test if the --wrap options got lost.
TEST(TsanCanary, WithoutTheShimLockedWritesAreReported) {
  for (const char* mode : {"mutex", "reader", "await", "condvar", "notification", "status"}) {
    const ChildResult r = RunChildProcess(DEVICEAPI_TSAN_CANARY_NOSHIM, mode);
    EXPECT_EQ(r.exit_code, kTsanExit) << mode << "\n" << r.output;
    EXPECT_THAT(r.output, HasSubstr("WARNING: ThreadSanitizer: data race")) << mode;
  }
  const ChildResult race = RunChildProcess(DEVICEAPI_TSAN_CANARY_NOSHIM, "race");
  EXPECT_EQ(race.exit_code, kTsanExit) << race.output;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--child") return RunChild(argv[2]);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
