// RetryOnConflict under contention: every write lands exactly once.
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "client/backend.h"
#include "deviceapi/errors.h"
#include "deviceapi/retry.h"

namespace client_test {
namespace {

class RetryTest : public BackendTest {};
CLIENT_BACKEND_SUITE(RetryTest);

constexpr int kWriters = 8;
constexpr int kIncrements = 20;

// 8 writers each increment a counter label 20 times with read-modify-write: the counter ends at
// exactly 160, each successful write has its own RV, and a watch sees every value 1..160 once.
TEST_P(RetryTest, ConcurrentWritersEachLandOnce) {
  v1::Gpu g = MustCreate("gpu-counter", {{"count", "0"}});
  deviceapi::ListOptions wo;
  wo.resource_version = g.metadata().resource_version();
  auto watch = gpus_->Watch(wo);
  ASSERT_TRUE(watch.ok());

  deviceapi::Backoff backoff{
      .steps = 10000, .duration = absl::Microseconds(100), .factor = 1.0, .jitter = 1.0};
  absl::Mutex mu;
  std::vector<uint64_t> landed;  // RVs of the successful updates
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&] {
      auto gpus = backend_->Gpus();
      for (int i = 0; i < kIncrements; ++i) {
        uint64_t rv = 0;
        absl::Status s = deviceapi::RetryOnConflict(backoff, [&]() -> absl::Status {
          auto cur = gpus->Get("gpu-counter");
          if (!cur.ok()) return cur.status();
          auto& labels = *cur->mutable_metadata()->mutable_labels();
          labels["count"] = std::to_string(std::stoi(labels["count"]) + 1);
          auto up = gpus->Update(*cur);
          if (up.ok()) rv = Rv(*up);
          return up.status();
        });
        if (!s.ok()) {
          failures++;
          continue;
        }
        absl::MutexLock l(&mu);
        landed.push_back(rv);
      }
    });
  }
  for (auto& t : writers) t.join();
  ASSERT_EQ(failures.load(), 0);

  auto final = gpus_->Get("gpu-counter");
  ASSERT_TRUE(final.ok());
  EXPECT_EQ(final->metadata().labels().at("count"), std::to_string(kWriters * kIncrements));
  EXPECT_EQ(landed.size(), static_cast<size_t>(kWriters * kIncrements));
  EXPECT_EQ(std::set<uint64_t>(landed.begin(), landed.end()).size(), landed.size());

  std::set<int> seen;
  for (int i = 0; i < kWriters * kIncrements; ++i) {
    auto ev = (*watch)->Next(absl::Seconds(20));
    ASSERT_TRUE(ev.has_value()) << "after " << i << " events";
    ASSERT_EQ(ev->type, deviceapi::EventType::kModified);
    EXPECT_TRUE(seen.insert(std::stoi(ev->object.metadata().labels().at("count"))).second);
  }
  EXPECT_EQ(*seen.begin(), 1);
  EXPECT_EQ(*seen.rbegin(), kWriters * kIncrements);
}

// OnError stops at the first non-retriable error, and after `steps` attempts.
TEST(OnError, StopsOnSuccessNonRetriableOrSteps) {
  int calls = 0;
  deviceapi::Backoff b{.steps = 3, .duration = absl::Milliseconds(1)};
  absl::Status s = deviceapi::RetryOnConflict(b, [&] {
    ++calls;
    return absl::AbortedError("conflict");
  });
  EXPECT_TRUE(deviceapi::errors::IsConflict(s));
  EXPECT_EQ(calls, 3);
  calls = 0;
  s = deviceapi::RetryOnConflict(b, [&] {
    ++calls;
    return calls == 1 ? absl::AbortedError("conflict") : absl::NotFoundError("gone");
  });
  EXPECT_TRUE(deviceapi::errors::IsNotFound(s));
  EXPECT_EQ(calls, 2);
  calls = 0;
  EXPECT_TRUE(deviceapi::RetryOnConflict(deviceapi::kDefaultRetry, [&] {
                ++calls;
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace client_test
