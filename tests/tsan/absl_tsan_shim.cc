// Makes ThreadSanitizer see absl::Mutex, absl::CondVar and absl::Notification from Debian's
// uninstrumented libabsl, for the TSan test binaries only (tests/tsan/CMakeLists.txt).
//
// Why this exists
// ---------------
// TSan learns about synchronization in two ways: it intercepts the libc/pthread calls
// (pthread_mutex_lock, pthread_create, ...), and instrumented code reports its atomics and its
// annotations (__tsan_mutex_*, __tsan_acquire/__tsan_release) to it. absl::Mutex is neither: it is
// a word of atomics and a futex, and Debian builds libabsl_synchronization.so without
// -fsanitize=thread, so its atomics are invisible and the __tsan_mutex_* annotations abseil has in
// mutex.cc for TSan builds are compiled out. Every access our code makes under an absl::Mutex
// then looks unsynchronized, and TSan reports a data race for each of them (this is why CI had no
// TSan step; see docs/reliability.md, "Thread sanitizing").
//
// What it does
// ------------
// The TSan test binaries are linked with -Wl,--wrap=SYMBOL for the out-of-line member functions
// our code (and abseil's inline code: MutexLock, ReaderMutexLock, ...) calls. The linker then
// sends every call from our objects to SYMBOL to __wrap_SYMBOL, defined here, and __real_SYMBOL
// to the library's function. Each wrapper calls the real function inside the annotations that
// abseil's own TSan build makes (absl/synchronization/mutex.cc, ABSL_TSAN_MUTEX_*):
//
//   lock:    __tsan_mutex_pre_lock;   real lock;   __tsan_mutex_post_lock   (acquire)
//   unlock:  __tsan_mutex_pre_unlock; real unlock; __tsan_mutex_post_unlock (release)
//   Await, CondVar::Wait (drop and retake the lock): pre_unlock + post_unlock, then
//            pre_lock; real wait; post_lock, in the mode (shared or exclusive) the lock is held.
//   Notification: a release before Notify(), an acquire after a wait that saw it notified, both
//            on the address of the notified flag, so the inline HasBeenNotified() (an
//            instrumented atomic acquire load of that flag) also synchronizes with Notify().
//
//   absl::Status: a non-inlined Status shares a heap rep with a reference count. The increment is
//            inline (instrumented), but the decrement, and the delete of the last reference, are
//            in libabsl_status.so (Status::UnrefNonInlined), so TSan saw a thread free a rep that
//            another thread had copied and released, with nothing ordering the two (found by
//            tsan_test: a watcher's end status copied by its reader while the thread that ended
//            it dropped its copy). The wrapper runs each decrement under a pthread mutex (one of
//            64, picked by the rep's address) that TSan sees, so the last one, which deletes, is
//            ordered after every earlier one and, through them, after every use of the rep.
//
// Using the __tsan_mutex_* API rather than bare __tsan_acquire/__tsan_release makes TSan model
// each absl::Mutex as a mutex: it reports lock misuse (unlock of an unlocked mutex, double lock)
// and lock-order inversions (its deadlock detector), and it ignores the memory accesses and
// synchronization made between pre_* and post_*. That last point matters: inside Unlock() and
// Await(), abseil evaluates the absl::Condition of waiters (our instrumented lambdas reading
// guarded state) on whatever thread happens to unlock, after the release was annotated. Abseil's
// own TSan build ignores those reads (EvalConditionIgnored); the pre/post brackets do the same
// here. So a race inside a Condition's function is not reported: a condition only reads state
// guarded by the mutex it waits on, which -Wthread-safety checks statically.
//
// What it does not cover: calls made inside libabsl itself (an absl::Status released inside
// libabsl_status.so, say) (they do not go through --wrap: absl::Notification's own mutex,
// ReleasableMutexLock's unlock, absl::call_once, SpinLock) and anything in gRPC, whose locks are abseil's and
// its own. The TSan binaries therefore run our storage, watch hub and client code in process, never through
// gRPC. tsan_canary proves both directions: an unsynchronized write/write is reported, the same writes under
// absl::MutexLock are not with this shim, and are without it.
//
// The names are the Itanium-mangled ones of Debian's abseil 20220623, whose inline namespace is
// "debian3" (ABSL_OPTION_INLINE_NAMESPACE_NAME; CMake refuses another). The list of wrapped
// symbols lives in tests/tsan/CMakeLists.txt (DEVICEAPI_TSAN_WRAPPED): a symbol listed there
// without its __wrap_ here fails the link, so the two cannot drift apart silently in that
// direction. A __real_ symbol that the library lacks fails the link too.
//
// The wrappers are extern "C" functions whose first parameter is the object (`this`): on x86-64
// and aarch64 a member function is called exactly as a free function taking `this` first, and
// the other parameters keep their C++ types, so they are passed the same way.
#include <sanitizer/tsan_interface.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

#if !defined(__SANITIZE_THREAD__) && !(defined(__has_feature) && __has_feature(thread_sanitizer))
#error "absl_tsan_shim.cc belongs only in a -fsanitize=thread build"
#endif

namespace {

using absl::Condition;
using absl::CondVar;
using absl::Duration;
using absl::Mutex;
using absl::Notification;
using absl::Time;

// absl::Mutex is one intptr_t word of state; kMuWriter (absl/synchronization/mutex.cc) is set
// while a writer holds it. The holder reads it to learn its own mode, as abseil's AwaitCommon
// and CondVar::WaitCommon do.
static_assert(sizeof(Mutex) == sizeof(intptr_t), "absl::Mutex layout changed: review the TSan shim");
constexpr intptr_t kMuWriter = 0x0008;

unsigned HeldMode(const Mutex* mu) {
  const auto* word = reinterpret_cast<const std::atomic<intptr_t>*>(mu);
  return (word->load(std::memory_order_relaxed) & kMuWriter) != 0 ? 0u : __tsan_mutex_read_lock;
}

// absl::Notification is { Mutex mutex_; std::atomic<bool> notified_yet_; }.
struct NotificationLayout {
  Mutex mutex;
  std::atomic<bool> notified_yet;
};
static_assert(sizeof(NotificationLayout) == sizeof(Notification), "absl::Notification layout changed");

void* NotifiedFlag(const Notification* n) {
  return const_cast<char*>(reinterpret_cast<const char*>(n)) + offsetof(NotificationLayout, notified_yet);
}

// The lock is held (in `mode`) on entry and on return; in between it may be dropped and retaken.
template <typename F>
auto AroundWait(Mutex* mu, F&& wait) {
  const unsigned mode = HeldMode(mu);
  __tsan_mutex_pre_unlock(mu, mode);
  __tsan_mutex_post_unlock(mu, mode);
  __tsan_mutex_pre_lock(mu, mode);
  auto result = wait();
  __tsan_mutex_post_lock(mu, mode, 0);
  return result;
}

template <typename F>
auto Locking(Mutex* mu, unsigned mode, F&& lock) {
  __tsan_mutex_pre_lock(mu, mode);
  auto result = lock();
  __tsan_mutex_post_lock(mu, mode, 0);
  return result;
}

struct Unit {};

std::mutex& StatusRepStripe(uintptr_t rep) {
  static std::mutex stripes[64];
  return stripes[(rep >> 4) % 64];
}

}  // namespace

// NOLINTBEGIN(bugprone-reserved-identifier,readability-identifier-naming)
extern "C" {

// ---- the real functions (the linker's __real_ aliases) ----
void __real__ZN4absl7debian35Mutex4LockEv(Mutex*);
void __real__ZN4absl7debian35Mutex6UnlockEv(Mutex*);
void __real__ZN4absl7debian35Mutex10ReaderLockEv(Mutex*);
void __real__ZN4absl7debian35Mutex12ReaderUnlockEv(Mutex*);
bool __real__ZN4absl7debian35Mutex7TryLockEv(Mutex*);
bool __real__ZN4absl7debian35Mutex13ReaderTryLockEv(Mutex*);
void __real__ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(Mutex*, const Condition&);
bool __real__ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(Mutex*, const Condition&,
                                                                                     Duration);
bool __real__ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE(Mutex*, const Condition&,
                                                                                  Time);
void __real__ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE(Mutex*, const Condition&);
void __real__ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE(Mutex*, const Condition&);
bool __real__ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE(Mutex*,
                                                                                        const Condition&,
                                                                                        Duration);
bool __real__ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE(Mutex*, const Condition&,
                                                                                     Time);
bool __real__ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    Mutex*, const Condition&, Duration);
bool __real__ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE(Mutex*,
                                                                                           const Condition&,
                                                                                           Time);
void __real__ZN4absl7debian35MutexD1Ev(Mutex*);
void __real__ZN4absl7debian35MutexD2Ev(Mutex*);
void __real__ZN4absl7debian37CondVar4WaitEPNS0_5MutexE(CondVar*, Mutex*);
bool __real__ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE(CondVar*, Mutex*, Duration);
bool __real__ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE(CondVar*, Mutex*, Time);
void __real__ZN4absl7debian312Notification6NotifyEv(Notification*);
void __real__ZNK4absl7debian312Notification19WaitForNotificationEv(const Notification*);
bool __real__ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(
    const Notification*, Duration);
bool __real__ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE(const Notification*,
                                                                                        Time);
void __real__ZN4absl7debian36Status15UnrefNonInlinedEm(uintptr_t rep);

// ---- Mutex: lock and unlock ----
void __wrap__ZN4absl7debian35Mutex4LockEv(Mutex* mu) {
  Locking(mu, 0, [&] {
    __real__ZN4absl7debian35Mutex4LockEv(mu);
    return Unit{};
  });
}

void __wrap__ZN4absl7debian35Mutex10ReaderLockEv(Mutex* mu) {
  Locking(mu, __tsan_mutex_read_lock, [&] {
    __real__ZN4absl7debian35Mutex10ReaderLockEv(mu);
    return Unit{};
  });
}

void __wrap__ZN4absl7debian35Mutex6UnlockEv(Mutex* mu) {
  __tsan_mutex_pre_unlock(mu, 0);
  __real__ZN4absl7debian35Mutex6UnlockEv(mu);
  __tsan_mutex_post_unlock(mu, 0);
}

void __wrap__ZN4absl7debian35Mutex12ReaderUnlockEv(Mutex* mu) {
  __tsan_mutex_pre_unlock(mu, __tsan_mutex_read_lock);
  __real__ZN4absl7debian35Mutex12ReaderUnlockEv(mu);
  __tsan_mutex_post_unlock(mu, __tsan_mutex_read_lock);
}

bool __wrap__ZN4absl7debian35Mutex7TryLockEv(Mutex* mu) {
  __tsan_mutex_pre_lock(mu, __tsan_mutex_try_lock);
  const bool locked = __real__ZN4absl7debian35Mutex7TryLockEv(mu);
  __tsan_mutex_post_lock(
      mu, locked ? __tsan_mutex_try_lock : __tsan_mutex_try_lock | __tsan_mutex_try_lock_failed, 0);
  return locked;
}

bool __wrap__ZN4absl7debian35Mutex13ReaderTryLockEv(Mutex* mu) {
  __tsan_mutex_pre_lock(mu, __tsan_mutex_try_read_lock);
  const bool locked = __real__ZN4absl7debian35Mutex13ReaderTryLockEv(mu);
  __tsan_mutex_post_lock(mu, locked ? __tsan_mutex_try_read_lock : __tsan_mutex_try_read_lock_failed, 0);
  return locked;
}

// ---- Mutex: lock when a condition holds (the lock is held on return, even after a timeout) ----
void __wrap__ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE(Mutex* mu, const Condition& c) {
  Locking(mu, 0, [&] {
    __real__ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE(mu, c);
    return Unit{};
  });
}

void __wrap__ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE(Mutex* mu, const Condition& c) {
  Locking(mu, __tsan_mutex_read_lock, [&] {
    __real__ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE(mu, c);
    return Unit{};
  });
}

bool __wrap__ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE(Mutex* mu,
                                                                                        const Condition& c,
                                                                                        Duration t) {
  return Locking(mu, 0, [&] {
    return __real__ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE(mu, c, t);
  });
}

bool __wrap__ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE(Mutex* mu,
                                                                                     const Condition& c,
                                                                                     Time d) {
  return Locking(mu, 0, [&] {
    return __real__ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE(mu, c, d);
  });
}

bool __wrap__ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    Mutex* mu, const Condition& c, Duration t) {
  return Locking(mu, __tsan_mutex_read_lock, [&] {
    return __real__ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE(mu, c, t);
  });
}

bool __wrap__ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE(Mutex* mu,
                                                                                           const Condition& c,
                                                                                           Time d) {
  return Locking(mu, __tsan_mutex_read_lock, [&] {
    return __real__ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE(mu, c, d);
  });
}

// ---- Mutex: wait with the lock held ----
void __wrap__ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(Mutex* mu, const Condition& c) {
  AroundWait(mu, [&] {
    __real__ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(mu, c);
    return Unit{};
  });
}

bool __wrap__ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(Mutex* mu,
                                                                                     const Condition& c,
                                                                                     Duration t) {
  return AroundWait(mu, [&] {
    return __real__ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(mu, c, t);
  });
}

bool __wrap__ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE(Mutex* mu,
                                                                                  const Condition& c,
                                                                                  Time d) {
  return AroundWait(mu, [&] {
    return __real__ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE(mu, c, d);
  });
}

// ---- Mutex: destruction (TSan forgets the mutex; a later one at the same address is new) ----
void __wrap__ZN4absl7debian35MutexD1Ev(Mutex* mu) {
  __tsan_mutex_destroy(mu, __tsan_mutex_not_static);
  __real__ZN4absl7debian35MutexD1Ev(mu);
}

void __wrap__ZN4absl7debian35MutexD2Ev(Mutex* mu) {
  __tsan_mutex_destroy(mu, __tsan_mutex_not_static);
  __real__ZN4absl7debian35MutexD2Ev(mu);
}

// ---- CondVar: wait (drops and retakes `mu`) ----
void __wrap__ZN4absl7debian37CondVar4WaitEPNS0_5MutexE(CondVar* cv, Mutex* mu) {
  AroundWait(mu, [&] {
    __real__ZN4absl7debian37CondVar4WaitEPNS0_5MutexE(cv, mu);
    return Unit{};
  });
}

bool __wrap__ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE(CondVar* cv, Mutex* mu,
                                                                                 Duration t) {
  return AroundWait(mu, [&] {
    return __real__ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE(cv, mu, t);
  });
}

bool __wrap__ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE(CondVar* cv, Mutex* mu,
                                                                              Time d) {
  return AroundWait(mu, [&] {
    return __real__ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE(cv, mu, d);
  });
}

// ---- Notification ----
void __wrap__ZN4absl7debian312Notification6NotifyEv(Notification* n) {
  __tsan_release(NotifiedFlag(n));
  __real__ZN4absl7debian312Notification6NotifyEv(n);
}

void __wrap__ZNK4absl7debian312Notification19WaitForNotificationEv(const Notification* n) {
  __real__ZNK4absl7debian312Notification19WaitForNotificationEv(n);
  __tsan_acquire(NotifiedFlag(n));
}

bool __wrap__ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(
    const Notification* n, Duration t) {
  const bool notified =
      __real__ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(n, t);
  if (notified) __tsan_acquire(NotifiedFlag(n));
  return notified;
}

bool __wrap__ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE(const Notification* n,
                                                                                        Time d) {
  const bool notified =
      __real__ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE(n, d);
  if (notified) __tsan_acquire(NotifiedFlag(n));
  return notified;
}

// ---- Status: the reference count's decrement (and the delete of the last reference) ----
void __wrap__ZN4absl7debian36Status15UnrefNonInlinedEm(uintptr_t rep) {
  std::lock_guard<std::mutex> l(StatusRepStripe(rep));
  __real__ZN4absl7debian36Status15UnrefNonInlinedEm(rep);
}

}  // extern "C"
// NOLINTEND(bugprone-reserved-identifier,readability-identifier-naming)
