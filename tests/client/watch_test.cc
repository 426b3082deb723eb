// Watches: pull, callbacks, Stop from another thread, and how the end is classified.
#include <atomic>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "client/backend.h"
#include "deviceapi/errors.h"

namespace client_test {
namespace {

using deviceapi::EventType;
using deviceapi::WatchEndAction;
using deviceapi::testing::MakeGpu;

class WatchTest : public BackendTest {
 protected:
  deviceapi::WatchPtr MustWatch(const deviceapi::ListOptions& o) {
    auto w = gpus_->Watch(o);
    EXPECT_TRUE(w.ok()) << w.status();
    return std::move(*w);
  }
  deviceapi::WatchEvent MustNext(deviceapi::WatchInterface& w) {
    auto ev = w.Next(absl::Seconds(20));
    EXPECT_TRUE(ev.has_value()) << "no event; done=" << w.Done();
    return ev.value_or(deviceapi::WatchEvent{});
  }
};
CLIENT_BACKEND_SUITE(WatchTest);

deviceapi::ListOptions From(const std::string& rv) {
  deviceapi::ListOptions o;
  o.resource_version = rv;
  return o;
}

// Changes after the RV arrive in order as ADDED, MODIFIED, DELETED with increasing RVs.
TEST_P(WatchTest, PullDeliversTypedEventsInOrder) {
  v1::Gpu a = MustCreate("gpu-a");
  auto w = MustWatch(From(a.metadata().resource_version()));
  v1::Gpu b = MustCreate("gpu-b");
  (*b.mutable_metadata()->mutable_labels())["k"] = "v";
  ASSERT_TRUE(gpus_->Update(b).ok());
  ASSERT_TRUE(gpus_->Delete("gpu-b").ok());

  auto e1 = MustNext(*w);
  auto e2 = MustNext(*w);
  auto e3 = MustNext(*w);
  EXPECT_EQ(e1.type, EventType::kAdded);
  EXPECT_EQ(e2.type, EventType::kModified);
  EXPECT_EQ(e2.object.metadata().labels().at("k"), "v");
  EXPECT_EQ(e3.type, EventType::kDeleted);
  EXPECT_LT(Rv(e1.resource_version()), Rv(e2.resource_version()));
  EXPECT_LT(Rv(e2.resource_version()), Rv(e3.resource_version()));  // DELETED carries the deletion's RV
  EXPECT_EQ(w->LastResourceVersion(), e3.resource_version());
  EXPECT_FALSE(w->Next(absl::Milliseconds(50)).has_value());  // timeout, not the end
  EXPECT_FALSE(w->Done());
}

// RV "" starts with synthetic ADDED events; send_initial_events ends them with a marked BOOKMARK.
TEST_P(WatchTest, InitialEventsEndWithBookmark) {
  MustCreate("gpu-a");
  MustCreate("gpu-b");
  deviceapi::ListOptions o;
  o.send_initial_events = true;
  o.allow_watch_bookmarks = true;
  auto w = MustWatch(o);
  EXPECT_EQ(MustNext(*w).type, EventType::kAdded);
  EXPECT_EQ(MustNext(*w).type, EventType::kAdded);
  auto bm = MustNext(*w);
  EXPECT_EQ(bm.type, EventType::kBookmark);
  EXPECT_TRUE(bm.IsInitialEventsEnd());
}

// Callback delivery, then Stop() from another thread ends it with kStopped and on_end runs once.
TEST_P(WatchTest, CallbackAndStopFromAnotherThread) {
  v1::Gpu a = MustCreate("gpu-a");
  auto w = MustWatch(From(a.metadata().resource_version()));
  absl::Mutex mu;
  std::vector<std::string> names;
  std::atomic<int> ends{0};
  absl::Notification ended;
  deviceapi::WatchResult result;
  w->Dispatch(
      [&](const deviceapi::WatchEvent& ev) {
        absl::MutexLock l(&mu);
        names.push_back(ev.object.metadata().name());
      },
      [&](const deviceapi::WatchResult& r) {
        result = r;
        ends++;
        ended.Notify();
      });
  MustCreate("gpu-b");
  MustCreate("gpu-c");
  auto two = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return names.size() >= 2; };
  {
    absl::MutexLock l(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&two), absl::Seconds(20)));
    EXPECT_THAT(names, ::testing::ElementsAre("gpu-b", "gpu-c"));
  }
  std::thread stopper([&] { w->Stop(); });
  stopper.join();
  ASSERT_TRUE(ended.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_EQ(result.action, WatchEndAction::kStopped);
  EXPECT_EQ(result.status.code(), absl::StatusCode::kCancelled);
  w.reset();
  EXPECT_EQ(ends.load(), 1);
}

// Stop() wakes a consumer blocked in Next() promptly.
TEST_P(WatchTest, StopWakesBlockedNext) {
  auto w = MustWatch(From(std::to_string(Rv(MustCreate("gpu-a")))));
  std::thread stopper([&] {
    absl::SleepFor(absl::Milliseconds(100));
    w->Stop();
  });
  const absl::Time start = absl::Now();
  EXPECT_FALSE(w->Next(absl::Seconds(30)).has_value());
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  stopper.join();
  auto r = w->WaitUntil(absl::Now() + absl::Seconds(20));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->action, WatchEndAction::kStopped);
}

// The server's timeout ends the stream with OK: resume.
TEST_P(WatchTest, ServerTimeoutResumes) {
  v1::Gpu a = MustCreate("gpu-a");
  deviceapi::ListOptions o = From(a.metadata().resource_version());
  o.timeout_seconds = 1;
  auto w = MustWatch(o);
  auto r = w->WaitUntil(absl::Now() + absl::Seconds(20));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->status.ok()) << r->status;
  EXPECT_EQ(r->action, WatchEndAction::kResume);
  EXPECT_TRUE(w->Done());
}

// An RV older than the history: OUT_OF_RANGE, relist.
TEST_P(WatchTest, TooOldRvRelists) {
  Restart(Knobs{.history_size = 2});
  v1::Gpu a = MustCreate("gpu-a");
  for (int i = 0; i < 5; ++i) MustCreate("gpu-n" + std::to_string(i));
  auto w = MustWatch(From(a.metadata().resource_version()));
  EXPECT_FALSE(w->Next(absl::Seconds(20)).has_value());
  auto r = w->Result();
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(deviceapi::errors::IsGone(r->status)) << r->status;
  EXPECT_EQ(r->action, WatchEndAction::kRelist);
}

// An RV from the future: UNAVAILABLE, resume (after a backoff).
TEST_P(WatchTest, TooLargeRvResumes) {
  v1::Gpu a = MustCreate("gpu-a");
  auto w = MustWatch(From(std::to_string(Rv(a) + 1000)));
  auto r = w->WaitUntil(absl::Now() + absl::Seconds(20));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(deviceapi::errors::IsUnavailable(r->status)) << r->status;
  EXPECT_EQ(r->action, WatchEndAction::kResume);
}

// A bad selector: the request is wrong, fail.
TEST_P(WatchTest, BadSelectorFails) {
  deviceapi::ListOptions o;
  o.label_selector = "a in (";
  auto w = MustWatch(o);
  auto r = w->WaitUntil(absl::Now() + absl::Seconds(20));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(deviceapi::errors::IsInvalid(r->status)) << r->status;
  EXPECT_EQ(r->action, WatchEndAction::kFail);
}

// Resuming from the last RV after an end misses nothing.
TEST_P(WatchTest, ResumeFromLastRvMissesNothing) {
  v1::Gpu a = MustCreate("gpu-a");
  auto w = MustWatch(From(a.metadata().resource_version()));
  MustCreate("gpu-b");
  EXPECT_EQ(MustNext(*w).object.metadata().name(), "gpu-b");
  w->Stop();
  const std::string last = w->WaitUntil(absl::Now() + absl::Seconds(20))->last_resource_version;
  MustCreate("gpu-c");  // while no watch is open
  auto w2 = MustWatch(From(last));
  EXPECT_EQ(MustNext(*w2).object.metadata().name(), "gpu-c");
}

// The server shutting down ends the watch with UNAVAILABLE: resume (real server only).
TEST(WatchRealOnly, ServerShutdownResumes) {
  auto b = Backend::Make("real");
  auto gpus = b->Gpus();
  auto w = gpus->Watch();
  ASSERT_TRUE(w.ok());
  // The stream is established once it delivered something.
  ASSERT_TRUE(gpus->Create(deviceapi::testing::MakeGpu("gpu-a")).ok());
  ASSERT_TRUE((*w)->Next(absl::Seconds(20)).has_value());
  b->server()->Stop();
  auto r = (*w)->WaitUntil(absl::Now() + absl::Seconds(40));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(deviceapi::errors::IsUnavailable(r->status)) << r->status;
  EXPECT_EQ(r->action, WatchEndAction::kResume);
}

// A watcher that fell behind (RESOURCE_EXHAUSTED) resumes; the fake can end watches on demand.
TEST(WatchFakeOnly, TooSlowResumes) {
  auto b = Backend::Make("fake");
  auto w = b->Gpus()->Watch();
  ASSERT_TRUE(w.ok());
  b->fake()->Tracker().EndWatches(absl::ResourceExhaustedError("watcher too slow"));
  auto r = (*w)->WaitUntil(absl::Now() + absl::Seconds(20));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(deviceapi::errors::IsTooManyRequests(r->status));
  EXPECT_EQ(r->action, WatchEndAction::kResume);
}

// The classification table.
TEST(ClassifyWatchEnd, Table) {
  using deviceapi::ClassifyWatchEnd;
  EXPECT_EQ(ClassifyWatchEnd(absl::OkStatus()), WatchEndAction::kResume);
  EXPECT_EQ(ClassifyWatchEnd(absl::UnavailableError("x")), WatchEndAction::kResume);
  EXPECT_EQ(ClassifyWatchEnd(absl::ResourceExhaustedError("x")), WatchEndAction::kResume);
  EXPECT_EQ(ClassifyWatchEnd(absl::DeadlineExceededError("x")), WatchEndAction::kResume);
  EXPECT_EQ(ClassifyWatchEnd(absl::InternalError("x")), WatchEndAction::kResume);
  EXPECT_EQ(ClassifyWatchEnd(absl::OutOfRangeError("x")), WatchEndAction::kRelist);
  EXPECT_EQ(ClassifyWatchEnd(absl::InvalidArgumentError("x")), WatchEndAction::kFail);
  EXPECT_EQ(ClassifyWatchEnd(absl::PermissionDeniedError("x")), WatchEndAction::kFail);
  EXPECT_EQ(deviceapi::WatchEndActionName(WatchEndAction::kRelist), "relist");
  EXPECT_EQ(deviceapi::ParseEventType("BOOKMARK"), EventType::kBookmark);
  EXPECT_FALSE(deviceapi::ParseEventType("ERROR").has_value());
}

}  // namespace
}  // namespace client_test
