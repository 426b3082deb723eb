// Durable backends only: acknowledged writes survive a restart, and RVs keep
// increasing across it (API.md). The history ring is in memory, so a watch
// from before the restart is OUT_OF_RANGE (see watch_test.cc).
#include "conformance/fixture.h"

namespace deviceapi::testing {
namespace {

using ::grpc::StatusCode;

std::vector<std::string> DurableEndpoints() {
  std::vector<std::string> out;
  for (const auto& e : ConformanceEndpoints()) {
    if (e.rfind("memory:", 0) != 0) out.push_back(e);
  }
  return out;
}

class Durability : public Conformance {};

std::vector<std::string> Items(const v1::GpuList& l) {
  std::vector<std::string> out;
  for (const auto& g : l.items()) out.push_back(g.SerializeAsString());
  return out;
}

// Create, update, update status and delete; restart; the list is the same,
// byte for byte (RVs included), and new writes get larger RVs.
TEST_P(Durability, ObjectsAndRvSurviveRestart) {
  MustCreate("gpu-a");
  v1::Gpu b = MustCreate("gpu-b", {{"pool", "x"}});
  MustCreate("gpu-c", {}, "other");
  (*b.mutable_metadata()->mutable_labels())["pool"] = "y";
  v1::Gpu b2;
  ASSERT_TRUE(UpdateGpu(stub(), b, &b2).ok());
  *b2.mutable_status()->add_conditions() = MakeCondition("Ready", "True");
  v1::Gpu b3;
  ASSERT_TRUE(UpdateGpuStatus(stub(), b2, &b3).ok());
  ASSERT_TRUE(DeleteGpu(stub(), "gpu-a").ok());
  const v1::GpuList before = MustList();
  ASSERT_EQ(before.items_size(), 2);

  server().Restart();

  const v1::GpuList after = MustList();
  EXPECT_EQ(Items(after), Items(before));
  EXPECT_GE(Rv(after.metadata().resource_version()), Rv(before.metadata().resource_version()));
  v1::Gpu got;
  ASSERT_TRUE(GetGpu(stub(), "gpu-b", &got).ok());
  EXPECT_EQ(got.SerializeAsString(), b3.SerializeAsString());
  EXPECT_EQ(GetGpu(stub(), "gpu-a").error_code(), StatusCode::NOT_FOUND);
  // Optimistic concurrency still works against the reloaded RV.
  got.mutable_metadata()->mutable_labels()->erase("pool");
  v1::Gpu b4;
  ASSERT_TRUE(UpdateGpu(stub(), got, &b4).ok());
  EXPECT_GT(Rv(b4), Rv(before.metadata().resource_version()));
  EXPECT_EQ(UpdateGpu(stub(), b3).error_code(), StatusCode::ABORTED);
  v1::Gpu d = MustCreate("gpu-d");
  EXPECT_GT(Rv(d), Rv(b4));
  EXPECT_EQ(CreateGpu(stub(), MakeGpu("gpu-c", {}, "other")).error_code(), StatusCode::ALREADY_EXISTS);
}

// Several restarts in a row: nothing is lost, the RV never goes back.
TEST_P(Durability, RepeatedRestarts) {
  uint64_t last = 0;
  for (int i = 0; i < 3; ++i) {
    v1::Gpu g = MustCreate("gpu-" + std::to_string(i));
    EXPECT_GT(Rv(g), last);
    last = Rv(g);
    server().Restart();
    EXPECT_EQ(MustList().items_size(), i + 1);
    EXPECT_GE(Rv(MustList().metadata().resource_version()), last);
  }
}

// A watch started after the restart sees the reloaded objects as ADDED.
TEST_P(Durability, WatchAfterRestartListsReloadedObjects) {
  MustCreate("gpu-w");
  server().Restart();
  WatchStream w(stub(), "");
  auto ev = w.NextEvent();
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->type(), "ADDED");
  EXPECT_EQ(ev->object().metadata().name(), "gpu-w");
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Durability);
INSTANTIATE_TEST_SUITE_P(Backends, Durability, ::testing::ValuesIn(DurableEndpoints()), EndpointName);

}  // namespace
}  // namespace deviceapi::testing
