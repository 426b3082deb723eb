// The fake clientset's own features: seeded objects, injected errors, reactors, actions, tracker.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "deviceapi/errors.h"
#include "deviceapi/fake/clientset.h"
#include "testutil/test_server.h"

namespace {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;
namespace errors = deviceapi::errors;
using deviceapi::testing::MakeGpu;

// NewSimpleClientset(objects) serves them at once, with server-set metadata.
TEST(Fake, SeededObjects) {
  auto cs = deviceapi::fake::NewSimpleClientset({MakeGpu("gpu-a"), MakeGpu("gpu-b", {}, "ns1")});
  auto a = cs->DeviceV1alpha1().Gpus()->Get("gpu-a");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_FALSE(a->metadata().uid().empty());
  EXPECT_EQ(cs->DeviceV1alpha1().Gpus()->List()->items_size(), 2);
  EXPECT_EQ(cs->DeviceV1alpha1().Gpus("ns1")->List()->items_size(), 1);
}

// InjectError fails the next matching call(s) only.
TEST(Fake, InjectErrorOnce) {
  auto cs = deviceapi::fake::NewSimpleClientset({MakeGpu("gpu-a")});
  auto gpus = cs->DeviceV1alpha1().Gpus();
  cs->InjectError("get", "gpu-a", absl::UnavailableError("injected"));
  auto r1 = gpus->Get("gpu-a");
  EXPECT_TRUE(errors::IsUnavailable(r1.status()));
  EXPECT_EQ(r1.status().message(), "injected");
  EXPECT_TRUE(gpus->Get("gpu-a").ok());
}

// Wildcards and "always"; a conflict injected into updates drives RetryOnConflict callers.
TEST(Fake, InjectErrorWildcardsAndAlways) {
  auto cs = deviceapi::fake::NewSimpleClientset({MakeGpu("gpu-a")});
  auto gpus = cs->DeviceV1alpha1().Gpus();
  cs->InjectError("*", "*", absl::PermissionDeniedError("read-only"), -1);
  EXPECT_TRUE(errors::IsForbidden(gpus->Get("gpu-a").status()));
  EXPECT_TRUE(errors::IsForbidden(gpus->List().status()));
  EXPECT_TRUE(errors::IsForbidden(gpus->Delete("gpu-a")));
  EXPECT_TRUE(errors::IsForbidden(gpus->Watch().status()));
  cs->ClearReactors();
  EXPECT_TRUE(gpus->Get("gpu-a").ok());
  cs->InjectError("update", "*", absl::AbortedError("conflict"), 2);
  v1::Gpu g = *gpus->Get("gpu-a");
  EXPECT_TRUE(errors::IsConflict(gpus->Update(g).status()));
  EXPECT_TRUE(errors::IsConflict(gpus->UpdateStatus(g).status()));
  EXPECT_TRUE(gpus->Update(g).ok());
}

// A reactor sees the action and may decide per call; newest reactors run first.
TEST(Fake, PrependReactorSeesActions) {
  auto cs = deviceapi::fake::NewSimpleClientset();
  auto gpus = cs->DeviceV1alpha1().Gpus("ns1");
  std::vector<std::string> seen;
  cs->PrependReactor("create", "*", [&](const deviceapi::fake::Action& a) -> std::optional<absl::Status> {
    seen.push_back(a.ns + "/" + a.name);
    return std::nullopt;
  });
  cs->PrependReactor("create", "gpu-bad", [](const deviceapi::fake::Action&) -> std::optional<absl::Status> {
    return absl::ResourceExhaustedError("full");
  });
  EXPECT_TRUE(gpus->Create(MakeGpu("gpu-a")).ok());
  EXPECT_TRUE(errors::IsTooManyRequests(gpus->Create(MakeGpu("gpu-bad")).status()));
  EXPECT_THAT(seen, ::testing::ElementsAre("ns1/gpu-a"));
}

// Every call is recorded with verb, subresource, namespace and name.
TEST(Fake, ActionsRecorded) {
  auto cs = deviceapi::fake::NewSimpleClientset({MakeGpu("gpu-a")});
  auto gpus = cs->DeviceV1alpha1().Gpus();
  (void)gpus->Get("gpu-a");
  v1::Gpu g = *gpus->Get("gpu-a");
  (void)gpus->UpdateStatus(g);
  (void)gpus->Patch("gpu-a", deviceapi::kMergePatchType, "{}", {}, {"status"});
  (void)gpus->List();
  (void)gpus->Delete("gpu-a");
  std::vector<std::string> got;
  for (const auto& a : cs->Actions()) got.push_back(a.verb + ":" + a.subresource + ":" + a.name);
  EXPECT_THAT(got, ::testing::ElementsAre("get::gpu-a", "get::gpu-a", "update:status:gpu-a",
                                          "patch:status:gpu-a", "list::", "delete::gpu-a"));
  cs->ClearActions();
  EXPECT_TRUE(cs->Actions().empty());
}

// The tracker bypasses reactors and shares the same objects and RVs; changes reach watches.
TEST(Fake, TrackerSharesStateWithClients) {
  deviceapi::fake::Clientset cs;
  auto gpus = cs.DeviceV1alpha1().Gpus();
  auto w = gpus->Watch();
  ASSERT_TRUE(w.ok());
  cs.InjectError("*", "*", absl::UnavailableError("down"), -1);
  auto added = cs.Tracker().Add(MakeGpu("gpu-a"));
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(std::to_string(cs.Tracker().CurrentResourceVersion()), added->metadata().resource_version());
  v1::Gpu g = *added;
  (*g.mutable_metadata()->mutable_labels())["x"] = "1";
  g.mutable_status()->set_recommended_action("NONE");
  auto updated = cs.Tracker().Update(g);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->status().recommended_action(), "NONE");
  EXPECT_EQ(cs.Tracker().List().size(), 1u);
  EXPECT_TRUE(cs.Tracker().Get("default", "gpu-a").ok());
  EXPECT_TRUE(cs.Tracker().Delete("default", "gpu-a").ok());
  std::vector<deviceapi::EventType> types;
  for (int i = 0; i < 4; ++i) {  // ADDED, MODIFIED (labels), MODIFIED (status), DELETED
    auto ev = (*w)->Next(absl::Seconds(10));
    ASSERT_TRUE(ev.has_value());
    types.push_back(ev->type);
  }
  EXPECT_THAT(types, ::testing::ElementsAre(deviceapi::EventType::kAdded, deviceapi::EventType::kModified,
                                            deviceapi::EventType::kModified, deviceapi::EventType::kDeleted));
}

// Watches survive the clientset that made them until they end.
TEST(Fake, WatchOutlivesClientset) {
  auto cs = deviceapi::fake::NewSimpleClientset();
  auto w = cs->DeviceV1alpha1().Gpus()->Watch();
  ASSERT_TRUE(w.ok());
  cs.reset();
  auto r = (*w)->WaitUntil(absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(errors::IsUnavailable(r->status)) << r->status;  // the store shut down
}

}  // namespace
