// Bad input gets the documented code, a clear message, changes nothing, and
// the server keeps serving.
#include "conformance/fixture.h"

namespace deviceapi::testing {
namespace {

using ::grpc::StatusCode;

class BadInput : public Conformance {
 protected:
  void TearDown() override {
    // Whatever came before, the server still serves.
    v1::GpuList l;
    EXPECT_TRUE(ListGpus(stub(), {}, &l).ok());
  }
};

// Malformed names and path traversal are INVALID_ARGUMENT on every verb.
TEST_P(BadInput, MalformedNames) {
  for (const std::string& name : std::vector<std::string>{
           "", "a/b", "..", "../etc/passwd", "has space", "UPPER", "gpu_under", std::string(254, 'a'),
           "-lead", "GPU-xyz", "gpu-\xc3\xa9", std::string("nul\0byte", 8)}) {
    SCOPED_TRACE(name);
    auto s = CreateGpu(stub(), MakeGpu(name));
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), ::testing::HasSubstr("metadata.name"));
    EXPECT_EQ(GetGpu(stub(), name).error_code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(DeleteGpu(stub(), name).error_code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(PatchGpu(stub(), name, "merge", "{}").error_code(), StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_EQ(CreateGpu(stub(), MakeGpu("gpu-ok", {}, "Bad_NS")).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(MustList().items_size(), 0);
}

// A missing body is INVALID_ARGUMENT "resource body is required".
TEST_P(BadInput, MissingBody) {
  grpc::ClientContext ctx;
  v1::CreateGpuRequest req;
  v1::Gpu out;
  auto s = stub().CreateGpu(&ctx, req, &out);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("body is required"));
}

// Non-numeric resource versions are INVALID_ARGUMENT everywhere.
TEST_P(BadInput, NonNumericResourceVersions) {
  v1::Gpu g = MustCreate("gpu-rv");
  for (const std::string& rv : std::vector<std::string>{"abc", "-1", "1e5", " 1", "18446744073709551616"}) {
    SCOPED_TRACE(rv);
    EXPECT_EQ(GetGpu(stub(), "gpu-rv", nullptr, rv).error_code(), StatusCode::INVALID_ARGUMENT);
    v1::ListOptions o;
    o.set_resource_version(rv);
    v1::GpuList l;
    EXPECT_EQ(ListGpus(stub(), o, &l).error_code(), StatusCode::INVALID_ARGUMENT);
    v1::Gpu u = g;
    u.mutable_metadata()->set_resource_version(rv);
    EXPECT_EQ(UpdateGpu(stub(), u).error_code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(DeleteGpu(stub(), "gpu-rv", "", std::nullopt, rv).error_code(), StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_EQ(MustGet("gpu-rv").metadata().resource_version(), g.metadata().resource_version());
}

// 10,000 labels (well past the 256 KiB metadata bound) are rejected; nothing is stored.
TEST_P(BadInput, TenThousandLabels) {
  std::map<std::string, std::string> labels;
  for (int i = 0; i < 10000; ++i) labels["example.com/label-" + std::to_string(i)] = std::string(20, 'v');
  auto s = CreateGpu(stub(), MakeGpu("gpu-labels", labels));
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("262144"));
  EXPECT_EQ(GetGpu(stub(), "gpu-labels").error_code(), StatusCode::NOT_FOUND);
}

// Invalid label keys and values, bad conditions and too many conditions are rejected.
TEST_P(BadInput, InvalidObjectContents) {
  EXPECT_EQ(CreateGpu(stub(), MakeGpu("gpu-l1", {{"bad key", "v"}})).error_code(),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CreateGpu(stub(), MakeGpu("gpu-l2", {{"k", std::string(64, 'v')}})).error_code(),
            StatusCode::INVALID_ARGUMENT);
  v1::Gpu c = MakeGpu("gpu-c1");
  *c.mutable_status()->add_conditions() = MakeCondition("Ready", "Maybe");
  EXPECT_EQ(CreateGpu(stub(), c).error_code(), StatusCode::INVALID_ARGUMENT);
  v1::Gpu many = MakeGpu("gpu-c2");
  for (int i = 0; i < 65; ++i)
    *many.mutable_status()->add_conditions() = MakeCondition("T" + std::to_string(i), "True");
  auto s = CreateGpu(stub(), many);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("64"));
  v1::Gpu dup = MakeGpu("gpu-c3");
  *dup.mutable_status()->add_conditions() = MakeCondition("Ready", "True");
  *dup.mutable_status()->add_conditions() = MakeCondition("Ready", "False");
  EXPECT_EQ(CreateGpu(stub(), dup).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(MustList().items_size(), 0);
}

// A message over the 4 MiB receive limit is RESOURCE_EXHAUSTED and the server keeps serving.
TEST_P(BadInput, OversizedMessage) {
  v1::Gpu g = MakeGpu("gpu-huge");
  (*g.mutable_metadata()->mutable_annotations())["blob"] = std::string(5 * 1024 * 1024, 'x');
  auto s = CreateGpu(stub(), g);
  EXPECT_EQ(s.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(GetGpu(stub(), "gpu-huge").error_code(), StatusCode::NOT_FOUND);
}

// The object limit is RESOURCE_EXHAUSTED.
TEST_P(BadInput, ObjectLimit) {
  Start([](apiserver::ServerOptions& o) { o.max_objects = 3; });
  for (int i = 0; i < 3; ++i) MustCreate("gpu-" + std::to_string(i));
  EXPECT_EQ(CreateGpu(stub(), MakeGpu("gpu-3")).error_code(), StatusCode::RESOURCE_EXHAUSTED);
  ASSERT_TRUE(DeleteGpu(stub(), "gpu-0").ok());
  EXPECT_TRUE(CreateGpu(stub(), MakeGpu("gpu-3")).ok());
}

// Selectors that do not parse and negative limits are INVALID_ARGUMENT, on List and Watch.
TEST_P(BadInput, BadListAndWatchOptions) {
  for (auto tweak : std::vector<std::function<void(v1::ListOptions&)>>{
           [](v1::ListOptions& o) { o.set_label_selector("a in b"); },
           [](v1::ListOptions& o) { o.set_label_selector("=x"); },
           [](v1::ListOptions& o) { o.set_field_selector("metadata.labels=x"); },
           [](v1::ListOptions& o) { o.set_limit(-1); },
           [](v1::ListOptions& o) { o.set_timeout_seconds(-5); },
       }) {
    v1::ListOptions o;
    tweak(o);
    v1::GpuList l;
    EXPECT_EQ(ListGpus(stub(), o, &l).error_code(), StatusCode::INVALID_ARGUMENT) << o.ShortDebugString();
    if (o.limit() < 0) continue;
    v1::WatchGpusRequest r;
    *r.mutable_opts() = o;
    WatchStream w(stub(), r);
    auto s = w.WaitEnd();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->error_code(), StatusCode::INVALID_ARGUMENT) << o.ShortDebugString();
  }
}

// The read-only socket serves reads and watches; every write is PERMISSION_DENIED and changes nothing.
TEST_P(BadInput, WritesOnReadOnlySocket) {
  v1::Gpu g = MustCreate("gpu-ro");
  auto ro = v1::GpuService::NewStub(server().NewChannel(server().read_only_target()));
  v1::Gpu got;
  ASSERT_TRUE(GetGpu(*ro, "gpu-ro", &got).ok());
  EXPECT_EQ(got.metadata().uid(), g.metadata().uid());
  v1::GpuList l;
  ASSERT_TRUE(ListGpus(*ro, {}, &l).ok());
  EXPECT_EQ(l.items_size(), 1);
  WatchStream w(*ro, "");
  auto ev = w.NextEvent();
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->type(), "ADDED");
  auto s = CreateGpu(*ro, MakeGpu("gpu-ro2"));
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("read-only"));
  v1::Gpu u = g;
  u.mutable_spec()->set_serial("x");
  EXPECT_EQ(UpdateGpu(*ro, u).error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(UpdateGpuStatus(*ro, u).error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(PatchGpu(*ro, "gpu-ro", "merge", "{}").error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(DeleteGpu(*ro, "gpu-ro").error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(MustGet("gpu-ro").metadata().resource_version(), g.metadata().resource_version());
  EXPECT_TRUE(w.Quiet(absl::Milliseconds(100)));
}

// An UpdateStatus whose conditions all carry their transition times takes
// the request's status without copying it: an invalid one is still rejected
// with every problem named, the stored version is left as it was, and a
// valid write after it commits in full.
TEST_P(BadInput, InvalidStatusWithTransitionTimesLosesNothing) {
  v1::Gpu in = MakeGpu("gpu-st");
  *in.mutable_status()->add_conditions() = MakeCondition("Ready", "True");
  in.mutable_spec()->set_product_name("H100");
  v1::Gpu g;
  ASSERT_TRUE(CreateGpu(stub(), in, &g).ok());
  ASSERT_TRUE(g.status().conditions(0).has_last_transition_time());

  v1::Gpu bad = g;
  bad.mutable_status()->mutable_conditions(0)->set_status("Maybe");
  *bad.mutable_status()->add_conditions() = bad.status().conditions(0);  // a duplicate type too
  auto s = UpdateGpuStatus(stub(), bad);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("Maybe"));
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("Duplicate value"));
  v1::Gpu stored = MustGet("gpu-st");
  EXPECT_EQ(stored.metadata().resource_version(), g.metadata().resource_version());
  EXPECT_EQ(stored.status().SerializeAsString(), g.status().SerializeAsString());

  v1::Gpu good = g;
  good.mutable_status()->mutable_conditions(0)->set_status("False");
  good.mutable_status()->mutable_conditions(0)->set_message("xid 79");
  v1::Gpu out;
  ASSERT_TRUE(UpdateGpuStatus(stub(), good, &out).ok());
  EXPECT_NE(out.metadata().resource_version(), g.metadata().resource_version());
  EXPECT_EQ(out.spec().product_name(), "H100");
  EXPECT_EQ(out.status().SerializeAsString(), good.status().SerializeAsString());
  EXPECT_EQ(MustGet("gpu-st").SerializeAsString(), out.SerializeAsString());
}

DEVICEAPI_CONFORMANCE_SUITE(BadInput);

}  // namespace
}  // namespace deviceapi::testing
