// Create, Get, Update, UpdateStatus, Delete: defaults, immutability,
// optimistic concurrency and the error codes of the contract.
#include "conformance/fixture.h"

namespace deviceapi::testing {
namespace {

using ::grpc::StatusCode;

class Crud : public Conformance {};

// Create sets uid, creation time, generation 1, the default namespace and an RV.
TEST_P(Crud, CreateSetsDefaults) {
  v1::Gpu g = MustCreate("gpu-a1");
  EXPECT_EQ(g.metadata().namespace_(), "default");
  EXPECT_EQ(g.metadata().generation(), 1);
  EXPECT_THAT(g.metadata().uid(),
              ::testing::MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"));
  EXPECT_GT(g.metadata().creation_timestamp().seconds(), 1600000000);
  EXPECT_GT(Rv(g), 0u);
  v1::Gpu got = MustGet("gpu-a1");
  EXPECT_EQ(got.SerializeAsString(), g.SerializeAsString());
}

// Create keeps the status sent with it and stamps conditions lacking a transition time.
TEST_P(Crud, CreateKeepsStatus) {
  v1::Gpu in = MakeGpu("gpu-s1");
  *in.mutable_status()->add_conditions() = MakeCondition("NVMLReady", "True", "Initialized");
  in.mutable_status()->set_recommended_action("none");
  v1::Gpu out;
  ASSERT_TRUE(CreateGpu(stub(), in, &out).ok());
  ASSERT_EQ(out.status().conditions_size(), 1);
  EXPECT_EQ(out.status().conditions(0).reason(), "Initialized");
  EXPECT_GT(out.status().conditions(0).last_transition_time().seconds(), 0);
  EXPECT_EQ(out.status().recommended_action(), "none");
}

// A second create of the same name is ALREADY_EXISTS; another namespace is fine.
TEST_P(Crud, CreateDuplicate) {
  MustCreate("gpu-dup");
  EXPECT_EQ(CreateGpu(stub(), MakeGpu("gpu-dup")).error_code(), StatusCode::ALREADY_EXISTS);
  EXPECT_TRUE(CreateGpu(stub(), MakeGpu("gpu-dup", {}, "other")).ok());
}

// Create with a resource version set is invalid.
TEST_P(Crud, CreateWithResourceVersion) {
  v1::Gpu g = MakeGpu("gpu-rv");
  g.mutable_metadata()->set_resource_version("5");
  auto s = CreateGpu(stub(), g);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("resourceVersion"));
}

// Get of a missing object is NOT_FOUND with the Kubernetes message.
TEST_P(Crud, GetNotFound) {
  auto s = GetGpu(stub(), "gpu-missing");
  EXPECT_EQ(s.error_code(), StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("\"gpu-missing\" not found"));
}

// A spec change bumps generation and RV; labels alone bump only the RV.
TEST_P(Crud, UpdateGeneration) {
  v1::Gpu g = MustCreate("gpu-u1");
  g.mutable_spec()->set_product_name("H100");
  v1::Gpu u1;
  ASSERT_TRUE(UpdateGpu(stub(), g, &u1).ok());
  EXPECT_EQ(u1.metadata().generation(), 2);
  EXPECT_GT(Rv(u1), Rv(g));
  (*u1.mutable_metadata()->mutable_labels())["pool"] = "a";
  v1::Gpu u2;
  ASSERT_TRUE(UpdateGpu(stub(), u1, &u2).ok());
  EXPECT_EQ(u2.metadata().generation(), 2);
  EXPECT_EQ(u2.metadata().labels().at("pool"), "a");
  EXPECT_GT(Rv(u2), Rv(u1));
}

// An update that changes nothing commits nothing: same RV, no event.
TEST_P(Crud, NoOpUpdate) {
  v1::Gpu g = MustCreate("gpu-noop");
  WatchStream w(stub(), g.metadata().resource_version());
  v1::Gpu out;
  ASSERT_TRUE(UpdateGpu(stub(), g, &out).ok());
  EXPECT_EQ(out.metadata().resource_version(), g.metadata().resource_version());
  ASSERT_TRUE(UpdateGpuStatus(stub(), g, &out).ok());
  EXPECT_EQ(out.metadata().resource_version(), g.metadata().resource_version());
  EXPECT_TRUE(w.Quiet(absl::Milliseconds(300)));
}

// An UpdateStatus that changes nothing commits nothing, whether the request
// carries the transition times (compared as stored bytes) or leaves them to
// be kept from the stored conditions (compared after defaulting).
TEST_P(Crud, NoOpUpdateStatusWithConditions) {
  v1::Gpu in = MakeGpu("gpu-noop-status");
  *in.mutable_status()->add_conditions() = MakeCondition("Ready", "True");
  *in.mutable_status()->add_conditions() = MakeCondition("MemoryHealthy", "False");
  in.mutable_spec()->set_product_name("H100");
  v1::Gpu g;
  ASSERT_TRUE(CreateGpu(stub(), in, &g).ok());
  WatchStream w(stub(), g.metadata().resource_version());
  v1::Gpu out;
  ASSERT_TRUE(UpdateGpuStatus(stub(), g, &out).ok());
  EXPECT_EQ(out.metadata().resource_version(), g.metadata().resource_version());
  v1::Gpu no_times = g;
  for (auto& c : *no_times.mutable_status()->mutable_conditions()) c.clear_last_transition_time();
  ASSERT_TRUE(UpdateGpuStatus(stub(), no_times, &out).ok());
  EXPECT_EQ(out.metadata().resource_version(), g.metadata().resource_version());
  EXPECT_TRUE(w.Quiet(absl::Milliseconds(300)));
  // A real change still commits, and keeps the spec.
  v1::Gpu changed = g;
  changed.mutable_status()->mutable_conditions(1)->set_message("ECC errors");
  ASSERT_TRUE(UpdateGpuStatus(stub(), changed, &out).ok());
  EXPECT_NE(out.metadata().resource_version(), g.metadata().resource_version());
  EXPECT_EQ(out.spec().product_name(), "H100");
  EXPECT_EQ(out.status().conditions(1).message(), "ECC errors");
}

// Update ignores status; UpdateStatus ignores spec and metadata.
TEST_P(Crud, MainAndStatusAreSeparate) {
  v1::Gpu g = MustCreate("gpu-sep");
  v1::Gpu in = g;
  *in.mutable_status()->add_conditions() = MakeCondition("Ready", "True");
  in.mutable_spec()->set_product_name("A100");
  v1::Gpu u;
  ASSERT_TRUE(UpdateGpu(stub(), in, &u).ok());
  EXPECT_EQ(u.status().conditions_size(), 0);
  EXPECT_EQ(u.spec().product_name(), "A100");
  in = u;
  in.mutable_spec()->set_product_name("ignored");
  (*in.mutable_metadata()->mutable_labels())["ignored"] = "yes";
  *in.mutable_status()->add_conditions() = MakeCondition("Ready", "False");
  v1::Gpu s;
  ASSERT_TRUE(UpdateGpuStatus(stub(), in, &s).ok());
  EXPECT_EQ(s.spec().product_name(), "A100");
  EXPECT_EQ(s.metadata().labels_size(), 0);
  ASSERT_EQ(s.status().conditions_size(), 1);
  EXPECT_EQ(s.status().conditions(0).status(), "False");
  EXPECT_EQ(s.metadata().generation(), u.metadata().generation());
}

// A stale RV on Update or UpdateStatus is ABORTED with the Kubernetes message.
TEST_P(Crud, StaleResourceVersionConflicts) {
  v1::Gpu g = MustCreate("gpu-stale");
  v1::Gpu fresh = g;
  fresh.mutable_spec()->set_product_name("x");
  ASSERT_TRUE(UpdateGpu(stub(), fresh).ok());
  g.mutable_spec()->set_product_name("y");
  auto s = UpdateGpu(stub(), g);
  EXPECT_EQ(s.error_code(), StatusCode::ABORTED);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("the object has been modified"));
  *g.mutable_status()->add_conditions() = MakeCondition("Ready", "True");
  EXPECT_EQ(UpdateGpuStatus(stub(), g).error_code(), StatusCode::ABORTED);
  g.mutable_metadata()->clear_resource_version();  // unconditional
  EXPECT_TRUE(UpdateGpuStatus(stub(), g).ok());
}

// uid and creation timestamp are immutable.
TEST_P(Crud, ImmutableFields) {
  v1::Gpu g = MustCreate("gpu-imm");
  v1::Gpu in = g;
  in.mutable_metadata()->set_uid("00000000-0000-4000-8000-000000000000");
  EXPECT_EQ(UpdateGpu(stub(), in).error_code(), StatusCode::INVALID_ARGUMENT);
  in = g;
  in.mutable_metadata()->mutable_creation_timestamp()->set_seconds(1);
  EXPECT_EQ(UpdateGpu(stub(), in).error_code(), StatusCode::INVALID_ARGUMENT);
}

// Update, UpdateStatus and Delete of a missing object are NOT_FOUND.
TEST_P(Crud, WritesToMissingObject) {
  EXPECT_EQ(UpdateGpu(stub(), MakeGpu("gpu-none")).error_code(), StatusCode::NOT_FOUND);
  v1::Gpu g = MakeGpu("gpu-none");
  g.mutable_status();
  EXPECT_EQ(UpdateGpuStatus(stub(), g).error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(DeleteGpu(stub(), "gpu-none").error_code(), StatusCode::NOT_FOUND);
}

// UpdateStatus without a status is invalid; with an empty one it clears conditions.
TEST_P(Crud, UpdateStatusNilAndEmpty) {
  v1::Gpu in = MakeGpu("gpu-nil");
  *in.mutable_status()->add_conditions() = MakeCondition("Ready", "True");
  v1::Gpu g;
  ASSERT_TRUE(CreateGpu(stub(), in, &g).ok());
  v1::Gpu nil = g;
  nil.clear_status();
  EXPECT_EQ(UpdateGpuStatus(stub(), nil).error_code(), StatusCode::INVALID_ARGUMENT);
  v1::Gpu empty = g;
  empty.mutable_status()->clear_conditions();
  v1::Gpu out;
  ASSERT_TRUE(UpdateGpuStatus(stub(), empty, &out).ok());
  EXPECT_EQ(out.status().conditions_size(), 0);
}

// A condition keeps its transition time while its status stays the same.
TEST_P(Crud, TransitionTimeMovesOnlyOnChange) {
  v1::Gpu in = MakeGpu("gpu-tt");
  *in.mutable_status()->add_conditions() = MakeCondition("Ready", "True");
  v1::Gpu g;
  ASSERT_TRUE(CreateGpu(stub(), in, &g).ok());
  const auto t0 = g.status().conditions(0).last_transition_time();
  absl::SleepFor(absl::Milliseconds(20));
  v1::Gpu again = g;
  again.mutable_status()->mutable_conditions(0)->clear_last_transition_time();
  again.mutable_status()->mutable_conditions(0)->set_message("still fine");
  v1::Gpu out;
  ASSERT_TRUE(UpdateGpuStatus(stub(), again, &out).ok());
  EXPECT_EQ(out.status().conditions(0).last_transition_time().SerializeAsString(), t0.SerializeAsString());
  again = out;
  again.mutable_status()->mutable_conditions(0)->set_status("False");
  again.mutable_status()->mutable_conditions(0)->clear_last_transition_time();
  ASSERT_TRUE(UpdateGpuStatus(stub(), again, &out).ok());
  const auto t1 = out.status().conditions(0).last_transition_time();
  EXPECT_TRUE(t1.seconds() > t0.seconds() || (t1.seconds() == t0.seconds() && t1.nanos() > t0.nanos()));
}

// Delete honours uid and RV preconditions, then the object is gone.
TEST_P(Crud, DeletePreconditions) {
  v1::Gpu g = MustCreate("gpu-del");
  EXPECT_EQ(DeleteGpu(stub(), "gpu-del", "", std::string("wrong-uid")).error_code(), StatusCode::ABORTED);
  EXPECT_EQ(DeleteGpu(stub(), "gpu-del", "", std::nullopt, std::string("1")).error_code(),
            StatusCode::ABORTED);
  EXPECT_TRUE(DeleteGpu(stub(), "gpu-del", "", g.metadata().uid(), g.metadata().resource_version()).ok());
  EXPECT_EQ(GetGpu(stub(), "gpu-del").error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(DeleteGpu(stub(), "gpu-del").error_code(), StatusCode::NOT_FOUND);
}

// Named calls with an empty namespace address "default".
TEST_P(Crud, EmptyNamespaceMeansDefault) {
  MustCreate("gpu-ns", {}, "default");
  EXPECT_TRUE(GetGpu(stub(), "gpu-ns", nullptr, "", "").ok());
  EXPECT_TRUE(GetGpu(stub(), "gpu-ns", nullptr, "", "default").ok());
  EXPECT_EQ(GetGpu(stub(), "gpu-ns", nullptr, "", "kube-system").error_code(), StatusCode::NOT_FOUND);
}

// Upstream GPU-UUID names are accepted as they are.
TEST_P(Crud, UpstreamUuidNames) {
  EXPECT_TRUE(CreateGpu(stub(), MakeGpu("GPU-6a0b7c5d-1e2f-4a3b-8c4d-5e6f7a8b9c0d")).ok());
  EXPECT_TRUE(GetGpu(stub(), "GPU-6a0b7c5d-1e2f-4a3b-8c4d-5e6f7a8b9c0d").ok());
}

DEVICEAPI_CONFORMANCE_SUITE(Crud);

}  // namespace
}  // namespace deviceapi::testing
