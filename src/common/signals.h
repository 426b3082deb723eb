// Shutdown signals for the binaries' mains: block SIGTERM and SIGINT (and SIGHUP for a binary
// that reloads its config on it) in every thread (call before any thread starts), then wait for
// one on the main thread.
#ifndef DEVICEAPI_COMMON_SIGNALS_H_
#define DEVICEAPI_COMMON_SIGNALS_H_

#include <csignal>

#include <pthread.h>

namespace deviceapi::common {

class ShutdownSignals {
 public:
  // Blocks SIGTERM/SIGINT for this thread and every thread it starts later;
  // ignores SIGPIPE (a client hanging up must not kill the process).
  explicit ShutdownSignals(bool with_hangup = false) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    if (with_hangup) sigaddset(&set_, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
  }
  // Blocks until SIGTERM or SIGINT (or SIGHUP when asked for) arrives; returns it.
  int Wait() const {
    int sig = 0;
    sigwait(&set_, &sig);
    return sig;
  }
  static const char* Name(int sig) {
    return sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "SIGINT";
  }

 private:
  sigset_t set_;
};

}  // namespace deviceapi::common

#endif  // DEVICEAPI_COMMON_SIGNALS_H_
