// Provider liveness: a condition whose lastHeartbeatTime goes stale turns
// Unknown (ProviderHeartbeatTimeout); fresh ones and ones without heartbeats
// are left alone.
#include <atomic>
#include <thread>

#include "apiserver/heartbeat_monitor.h"
#include "conformance/fixture.h"

namespace deviceapi::testing {
namespace {

class Heartbeat : public Conformance {};

google::protobuf::Timestamp Now() {
  const int64_t ns = absl::ToUnixNanos(absl::Now());
  google::protobuf::Timestamp ts;
  ts.set_seconds(ns / 1000000000);
  ts.set_nanos(static_cast<int32_t>(ns % 1000000000));
  return ts;
}

const v1::Condition* Find(const v1::Gpu& g, const std::string& type) {
  for (const auto& c : g.status().conditions()) {
    if (c.type() == type) return &c;
  }
  return nullptr;
}

// A silent provider's condition goes Unknown; a live one's and an un-heartbeated one stay True.
TEST_P(Heartbeat, StaleConditionsTurnUnknown) {
  Start([](apiserver::ServerOptions& o) { o.condition_heartbeat_timeout = absl::Milliseconds(800); });
  v1::Gpu in = MakeGpu("gpu-hb");
  for (const char* t : {"DeadProvider", "LiveProvider", "NoHeartbeat"}) {
    v1::Condition c = MakeCondition(t, "True");
    if (std::string(t) != "NoHeartbeat") *c.mutable_last_heartbeat_time() = Now();
    *in.mutable_status()->add_conditions() = c;
  }
  v1::Gpu created;
  ASSERT_TRUE(CreateGpu(stub(), in, &created).ok());
  WatchStream w(stub(), created.metadata().resource_version());
  std::atomic<bool> stop{false};
  auto live_stub = server().NewStub();
  std::thread live([&] {
    while (!stop) {
      v1::Gpu cur;
      if (GetGpu(*live_stub, "gpu-hb", &cur).ok()) {
        for (auto& c : *cur.mutable_status()->mutable_conditions()) {
          if (c.type() == "LiveProvider") *c.mutable_last_heartbeat_time() = Now();
        }
        UpdateGpuStatus(*live_stub, cur);  // a conflict just means: try again next round
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
  });
  const bool expired = WaitFor([&] {
    v1::Gpu g;
    return GetGpu(stub(), "gpu-hb", &g).ok() && Find(g, "DeadProvider")->status() == "Unknown";
  });
  stop = true;
  live.join();
  ASSERT_TRUE(expired);
  v1::Gpu g = MustGet("gpu-hb");
  EXPECT_EQ(Find(g, "DeadProvider")->reason(), apiserver::kHeartbeatTimeoutReason);
  EXPECT_EQ(Find(g, "LiveProvider")->status(), "True");
  EXPECT_EQ(Find(g, "NoHeartbeat")->status(), "True");
  // Watchers saw the server's own write as a MODIFIED event.
  bool saw_unknown = false;
  for (auto ev = w.NextEvent(absl::Seconds(5)); ev && !saw_unknown;
       ev = w.NextEvent(absl::Milliseconds(200))) {
    saw_unknown = Find(ev->object(), "DeadProvider")->status() == "Unknown";
  }
  EXPECT_TRUE(saw_unknown);
}

// The expiry rule itself: only heartbeated, not already Unknown, older than the timeout.
TEST(HeartbeatRule, ExpireStaleConditions) {
  const absl::Time now = absl::FromUnixSeconds(1000);
  v1::GpuStatus s;
  auto add = [&](const std::string& type, const std::string& status, int64_t beat) {
    v1::Condition* c = s.add_conditions();
    c->set_type(type);
    c->set_status(status);
    if (beat >= 0) c->mutable_last_heartbeat_time()->set_seconds(beat);
  };
  add("Old", "True", 900);
  add("OldFalse", "False", 900);
  add("Fresh", "True", 990);
  add("AlreadyUnknown", "Unknown", 900);
  add("None", "True", -1);
  EXPECT_EQ(apiserver::ExpireStaleConditions(&s, now, absl::Seconds(40)), 2);
  EXPECT_EQ(s.conditions(0).status(), "Unknown");
  EXPECT_EQ(s.conditions(0).last_transition_time().seconds(), 1000);
  EXPECT_EQ(s.conditions(1).status(), "Unknown");
  EXPECT_EQ(s.conditions(2).status(), "True");
  EXPECT_EQ(s.conditions(3).reason(), "");
  EXPECT_EQ(s.conditions(4).status(), "True");
}

DEVICEAPI_CONFORMANCE_SUITE(Heartbeat);

}  // namespace
}  // namespace deviceapi::testing
