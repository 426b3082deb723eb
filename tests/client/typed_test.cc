// The typed client's CRUD and error contract, on the real server and on the fake alike.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "client/backend.h"
#include "deviceapi/conditions.h"
#include "deviceapi/errors.h"

namespace client_test {
namespace {

namespace errors = deviceapi::errors;
using deviceapi::testing::MakeCondition;
using deviceapi::testing::MakeGpu;
using ::testing::ElementsAre;

class TypedTest : public BackendTest {};
CLIENT_BACKEND_SUITE(TypedTest);

std::vector<std::string> Names(const v1::GpuList& list) {
  std::vector<std::string> out;
  for (const auto& g : list.items()) out.push_back(g.metadata().name());
  return out;
}

// Create fills in server fields; Get returns the same object.
TEST_P(TypedTest, CreateThenGet) {
  v1::Gpu created = MustCreate("gpu-a");
  EXPECT_EQ(created.metadata().namespace_(), "default");
  EXPECT_FALSE(created.metadata().uid().empty());
  EXPECT_EQ(created.metadata().generation(), 1);
  EXPECT_GT(Rv(created), 0u);
  auto got = gpus_->Get("gpu-a");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->SerializeAsString(), created.SerializeAsString());
}

// A taken name is AlreadyExists.
TEST_P(TypedTest, CreateDuplicateIsAlreadyExists) {
  MustCreate("gpu-a");
  auto r = gpus_->Create(MakeGpu("gpu-a"));
  EXPECT_TRUE(errors::IsAlreadyExists(r.status())) << r.status();
  EXPECT_EQ(errors::HttpStatusCode(r.status()), 409);
}

// Missing objects are NotFound for every verb that names one.
TEST_P(TypedTest, MissingIsNotFound) {
  EXPECT_TRUE(errors::IsNotFound(gpus_->Get("nope").status()));
  EXPECT_TRUE(errors::IsNotFound(gpus_->Delete("nope")));
  EXPECT_TRUE(errors::IsNotFound(gpus_->Update(MakeGpu("nope")).status()));
  v1::Gpu with_status = MakeGpu("nope");
  *with_status.mutable_status()->add_conditions() = MakeCondition("Ready", "True");
  EXPECT_TRUE(errors::IsNotFound(gpus_->UpdateStatus(with_status).status()));
  EXPECT_TRUE(errors::IsNotFound(gpus_->Patch("nope", deviceapi::kMergePatchType, "{}").status()));
  EXPECT_THAT(std::string(gpus_->Get("nope").status().message()), ::testing::HasSubstr("not found"));
}

// A stale RV is a Conflict; an empty RV updates unconditionally.
TEST_P(TypedTest, UpdateWithStaleRvIsConflict) {
  v1::Gpu g = MustCreate("gpu-a");
  (*g.mutable_metadata()->mutable_labels())["a"] = "1";
  auto u1 = gpus_->Update(g);
  ASSERT_TRUE(u1.ok()) << u1.status();
  EXPECT_GT(Rv(*u1), Rv(g));
  (*g.mutable_metadata()->mutable_labels())["a"] = "2";
  auto u2 = gpus_->Update(g);  // still carries the first RV
  EXPECT_TRUE(errors::IsConflict(u2.status())) << u2.status();
  g.mutable_metadata()->clear_resource_version();
  auto u3 = gpus_->Update(g);
  ASSERT_TRUE(u3.ok()) << u3.status();
  EXPECT_EQ(u3->metadata().labels().at("a"), "2");
}

// Update ignores status; UpdateStatus replaces only status.
TEST_P(TypedTest, UpdateStatusTouchesOnlyStatus) {
  v1::Gpu g = MustCreate("gpu-a");
  v1::Gpu s = g;
  *s.mutable_status()->add_conditions() = MakeCondition("Ready", "False", "Broken");
  (*s.mutable_metadata()->mutable_labels())["ignored"] = "yes";
  auto r = gpus_->UpdateStatus(s);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status().conditions_size(), 1);
  EXPECT_EQ(r->metadata().labels().count("ignored"), 0u);
  EXPECT_EQ(deviceapi::GpuHealth(*r), deviceapi::Health::kUnhealthy);
  v1::Gpu u = *r;
  u.mutable_status()->clear_conditions();
  u.mutable_spec()->set_product_name("changed");
  auto r2 = gpus_->Update(u);
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->status().conditions_size(), 1);
  EXPECT_EQ(r2->metadata().generation(), 2);
}

// Merge and JSON patches, on the main resource and the status; bad types are Invalid.
TEST_P(TypedTest, Patch) {
  MustCreate("gpu-a");
  auto p1 = gpus_->Patch("gpu-a", deviceapi::kMergePatchType, R"({"metadata":{"labels":{"x":"y"}}})");
  ASSERT_TRUE(p1.ok()) << p1.status();
  EXPECT_EQ(p1->metadata().labels().at("x"), "y");
  auto p2 =
      gpus_->Patch("gpu-a", deviceapi::kJsonPatchType,
                   R"([{"op":"add","path":"/status/recommendedAction","value":"RESET"}])", {}, {"status"});
  ASSERT_TRUE(p2.ok()) << p2.status();
  EXPECT_EQ(p2->status().recommended_action(), "RESET");
  auto bad = gpus_->Patch("gpu-a", "application/strategic-merge-patch+json", "{}");
  EXPECT_TRUE(errors::IsInvalid(bad.status())) << bad.status();
  auto stale = gpus_->Patch("gpu-a", deviceapi::kMergePatchType, R"({"metadata":{"resourceVersion":"1"}})");
  EXPECT_TRUE(errors::IsConflict(stale.status())) << stale.status();
}

// Delete preconditions: a mismatch is a Conflict; then the object is gone.
TEST_P(TypedTest, DeleteWithPreconditions) {
  v1::Gpu g = MustCreate("gpu-a");
  deviceapi::DeleteOptions wrong;
  wrong.preconditions.uid = "not-the-uid";
  EXPECT_TRUE(errors::IsConflict(gpus_->Delete("gpu-a", wrong)));
  deviceapi::DeleteOptions right;
  right.preconditions.uid = g.metadata().uid();
  right.preconditions.resource_version = g.metadata().resource_version();
  EXPECT_TRUE(gpus_->Delete("gpu-a", right).ok());
  EXPECT_TRUE(errors::IsNotFound(gpus_->Get("gpu-a").status()));
}

// Invalid names and objects are Invalid (422).
TEST_P(TypedTest, InvalidObjectIsInvalid) {
  auto r = gpus_->Create(MakeGpu("Bad_Name"));
  EXPECT_TRUE(errors::IsInvalid(r.status())) << r.status();
  EXPECT_EQ(errors::Reason(r.status()), "Invalid");
  v1::Gpu rv_set = MakeGpu("gpu-b");
  rv_set.mutable_metadata()->set_resource_version("5");
  EXPECT_TRUE(errors::IsInvalid(gpus_->Create(rv_set).status()));
  deviceapi::ListOptions lo;
  lo.label_selector = "a in (";
  EXPECT_TRUE(errors::IsInvalid(gpus_->List(lo).status()));
}

// Label and field selectors, and paging through one snapshot.
TEST_P(TypedTest, ListSelectorsAndPaging) {
  MustCreate("gpu-a", {{"tier", "x"}});
  MustCreate("gpu-b", {{"tier", "y"}});
  MustCreate("gpu-c", {{"tier", "x"}});
  deviceapi::ListOptions sel;
  sel.label_selector = "tier=x";
  auto l1 = gpus_->List(sel);
  ASSERT_TRUE(l1.ok()) << l1.status();
  EXPECT_THAT(Names(*l1), ElementsAre("gpu-a", "gpu-c"));
  deviceapi::ListOptions fs;
  fs.field_selector = "metadata.name=gpu-b";
  EXPECT_THAT(Names(*gpus_->List(fs)), ElementsAre("gpu-b"));

  deviceapi::ListOptions page;
  page.limit = 2;
  auto p1 = gpus_->List(page);
  ASSERT_TRUE(p1.ok()) << p1.status();
  EXPECT_THAT(Names(*p1), ElementsAre("gpu-a", "gpu-b"));
  ASSERT_FALSE(p1->metadata().continue_().empty());
  MustCreate("gpu-d");  // not in the first page's snapshot
  page.continue_token = p1->metadata().continue_();
  auto p2 = gpus_->List(page);
  ASSERT_TRUE(p2.ok()) << p2.status();
  EXPECT_THAT(Names(*p2), ElementsAre("gpu-c"));
  EXPECT_TRUE(p2->metadata().continue_().empty());
  EXPECT_EQ(p2->metadata().resource_version(), p1->metadata().resource_version());
}

// Gpus(ns) scopes calls; Gpus("") lists every namespace.
TEST_P(TypedTest, Namespaces) {
  MustCreate("gpu-a", {}, "ns1");
  MustCreate("gpu-a", {}, "ns2");
  auto ns1 = backend_->Gpus("ns1");
  auto got = ns1->Get("gpu-a");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->metadata().namespace_(), "ns1");
  EXPECT_EQ(ns1->List()->items_size(), 1);
  EXPECT_EQ(gpus_->List()->items_size(), 2);
  EXPECT_TRUE(errors::IsNotFound(gpus_->Get("gpu-a").status()));  // "" = default for named calls
}

// An RV from the future is Unavailable (retry), not an error of the request.
TEST_P(TypedTest, TooLargeRvIsUnavailable) {
  v1::Gpu g = MustCreate("gpu-a");
  deviceapi::GetOptions o;
  o.resource_version = std::to_string(Rv(g) + 1000);
  auto r = gpus_->Get("gpu-a", o);
  EXPECT_TRUE(errors::IsUnavailable(r.status())) << r.status();
  EXPECT_EQ(errors::HttpStatusCode(r.status()), 503);
}

// An exact list at an RV the history no longer holds is Gone (relist).
TEST_P(TypedTest, ExpiredRvIsGone) {
  Restart(Knobs{.history_size = 2});
  v1::Gpu g = MustCreate("gpu-a");
  for (int i = 0; i < 5; ++i) MustCreate("gpu-n" + std::to_string(i));
  deviceapi::ListOptions o;
  o.resource_version = g.metadata().resource_version();
  o.resource_version_match = std::string(deviceapi::kResourceVersionMatchExact);
  auto r = gpus_->List(o);
  EXPECT_TRUE(errors::IsGone(r.status())) << r.status();
  EXPECT_TRUE(errors::IsResourceExpired(r.status()));
  EXPECT_EQ(errors::Reason(r.status()), "Expired");
}

// The object limit is TooManyRequests.
TEST_P(TypedTest, ObjectLimitIsTooManyRequests) {
  Restart(Knobs{.max_objects = 2});
  MustCreate("gpu-a");
  MustCreate("gpu-b");
  auto r = gpus_->Create(MakeGpu("gpu-c"));
  EXPECT_TRUE(errors::IsTooManyRequests(r.status())) << r.status();
  EXPECT_EQ(errors::HttpStatusCode(r.status()), 429);
}

// A per-call deadline overrides the config's (both backends accept it).
TEST_P(TypedTest, PerCallTimeoutAccepted) {
  MustCreate("gpu-a");
  deviceapi::GetOptions o;
  o.call_timeout = absl::Seconds(5);
  EXPECT_TRUE(gpus_->Get("gpu-a", o).ok());
}

}  // namespace
}  // namespace client_test
