// The one WatchInterface implementation behind both the gRPC client and the fake: a producer
// thread pulls events from an EventSource into a bounded queue; the consumer pulls them with
// Next() or has them dispatched to callbacks.
#ifndef DEVICEAPI_CLIENT_QUEUE_WATCH_H_
#define DEVICEAPI_CLIENT_QUEUE_WATCH_H_

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "deviceapi/watch.h"

namespace deviceapi::client {

// Where the producer thread puts events. Push blocks while the queue is full (so a slow consumer
// pushes back on the stream and, through flow control, on the server, which ends a watcher that
// falls too far behind with RESOURCE_EXHAUSTED). Returns false once the watch was stopped.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual bool Push(WatchEvent event) = 0;
};

// A stream of events. Run() is called once, on the watch's producer thread; it delivers events
// until the stream ends and returns the end status. Interrupt() (any thread, at most once, maybe
// before Run starts) makes Run() return soon.
class EventSource {
 public:
  virtual ~EventSource() = default;
  virtual absl::Status Run(EventSink& sink) = 0;
  virtual void Interrupt() = 0;
};

class QueueWatch final : public WatchInterface, private EventSink {
 public:
  static constexpr size_t kDefaultCapacity = 1024;

  // Starts the producer thread at once.
  QueueWatch(std::unique_ptr<EventSource> source, size_t capacity = kDefaultCapacity);
  ~QueueWatch() override;

  std::optional<WatchEvent> NextUntil(absl::Time deadline) override;
  void Dispatch(EventHandler on_event, EndHandler on_end) override;
  void Stop() override;
  bool Done() const override;
  std::optional<WatchResult> Result() const override;
  std::optional<WatchResult> WaitUntil(absl::Time deadline) override;
  std::string LastResourceVersion() const override;

 private:
  bool Push(WatchEvent event) override;
  void Produce();
  bool DoneLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  WatchResult ResultLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::unique_ptr<EventSource> source_;
  const size_t capacity_;

  mutable absl::Mutex mu_;
  std::deque<WatchEvent> queue_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> end_ ABSL_GUARDED_BY(mu_);  // set when the producer returned
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::string last_rv_ ABSL_GUARDED_BY(mu_);

  std::thread producer_;
  std::thread dispatcher_;  // only after Dispatch()
};

}  // namespace deviceapi::client

#endif  // DEVICEAPI_CLIENT_QUEUE_WATCH_H_
