// ListGpus: resource version rules, selectors, paging over one snapshot.
#include "conformance/fixture.h"

namespace deviceapi::testing {
namespace {

using ::grpc::StatusCode;

class List : public Conformance {};

std::vector<std::string> Names(const v1::GpuList& l) {
  std::vector<std::string> out;
  for (const auto& g : l.items()) out.push_back(g.metadata().name());
  return out;
}

v1::ListOptions Opts(std::string rv = "", std::string match = "") {
  v1::ListOptions o;
  o.set_resource_version(rv);
  o.set_resource_version_match(match);
  return o;
}

// Every write takes the next global RV; the list RV is the latest one.
TEST_P(List, ResourceVersionIsGlobalAndIncreasing) {
  v1::Gpu a = MustCreate("gpu-a");
  v1::Gpu b = MustCreate("gpu-b", {}, "other");
  EXPECT_EQ(Rv(b), Rv(a) + 1);
  ASSERT_TRUE(DeleteGpu(stub(), "gpu-a").ok());
  v1::GpuList l = MustList();
  EXPECT_EQ(Rv(l.metadata().resource_version()), Rv(b) + 1);
  EXPECT_EQ(Names(l), std::vector<std::string>({"gpu-b"}));
}

// Get: "" and "0" return the latest; an old RV returns the latest; a future RV is UNAVAILABLE.
TEST_P(List, GetResourceVersionRules) {
  v1::Gpu a = MustCreate("gpu-g");
  v1::Gpu upd = a;
  upd.mutable_spec()->set_serial("s");
  ASSERT_TRUE(UpdateGpu(stub(), upd, &upd).ok());
  for (const std::string& rv : std::vector<std::string>{"", "0", a.metadata().resource_version()}) {
    v1::Gpu got;
    ASSERT_TRUE(GetGpu(stub(), "gpu-g", &got, rv).ok()) << rv;
    EXPECT_EQ(got.spec().serial(), "s") << rv;
  }
  auto s = GetGpu(stub(), "gpu-g", nullptr, std::to_string(Rv(upd) + 100));
  EXPECT_EQ(s.error_code(), StatusCode::UNAVAILABLE);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("Too large resource version"));
  EXPECT_EQ(GetGpu(stub(), "gpu-g", nullptr, "abc").error_code(), StatusCode::INVALID_ARGUMENT);
}

// Exact returns the state at that RV; re-listing at the returned RV gives the same result.
TEST_P(List, ExactListIsHistorical) {
  MustCreate("gpu-1");
  v1::GpuList at = MustList();
  MustCreate("gpu-2");
  ASSERT_TRUE(DeleteGpu(stub(), "gpu-1").ok());
  v1::GpuList exact = MustList(Opts(at.metadata().resource_version(), "Exact"));
  EXPECT_EQ(Names(exact), std::vector<std::string>({"gpu-1"}));
  EXPECT_EQ(exact.metadata().resource_version(), at.metadata().resource_version());
  EXPECT_EQ(exact.SerializeAsString(), at.SerializeAsString());
  v1::GpuList latest = MustList(Opts(at.metadata().resource_version(), "NotOlderThan"));
  EXPECT_EQ(Names(latest), std::vector<std::string>({"gpu-2"}));
}

// Exact at an RV that left the history window is OUT_OF_RANGE; a future RV is UNAVAILABLE.
TEST_P(List, ExactOutsideWindow) {
  Start([](apiserver::ServerOptions& o) { o.watch_history_size = 3; });
  v1::Gpu first = MustCreate("gpu-0");
  for (int i = 1; i < 6; ++i) MustCreate("gpu-" + std::to_string(i));
  v1::GpuList l;
  EXPECT_EQ(ListGpus(stub(), Opts(first.metadata().resource_version(), "Exact"), &l).error_code(),
            StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(ListGpus(stub(), Opts("999999999999999999", "Exact"), &l).error_code(), StatusCode::UNAVAILABLE);
  EXPECT_EQ(ListGpus(stub(), Opts("0", "Exact"), &l).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ListGpus(stub(), Opts("", "Exact"), &l).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ListGpus(stub(), Opts("1", "Sometimes"), &l).error_code(), StatusCode::INVALID_ARGUMENT);
}

// Label selectors with the full Kubernetes syntax.
TEST_P(List, LabelSelectors) {
  MustCreate("gpu-x", {{"pool", "a"}, {"tier", "gold"}});
  MustCreate("gpu-y", {{"pool", "b"}});
  MustCreate("gpu-z");
  auto sel = [&](const std::string& s) {
    v1::ListOptions o;
    o.set_label_selector(s);
    return Names(MustList(o));
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(sel("pool=a"), V({"gpu-x"}));
  EXPECT_EQ(sel("pool==b"), V({"gpu-y"}));
  EXPECT_EQ(sel("pool!=a"), V({"gpu-y", "gpu-z"}));
  EXPECT_EQ(sel("pool in (a,b)"), V({"gpu-x", "gpu-y"}));
  EXPECT_EQ(sel("pool notin (a)"), V({"gpu-y", "gpu-z"}));
  EXPECT_EQ(sel("tier"), V({"gpu-x"}));
  EXPECT_EQ(sel("!pool"), V({"gpu-z"}));
  EXPECT_EQ(sel("pool,tier=gold"), V({"gpu-x"}));
  v1::ListOptions bad;
  bad.set_label_selector("pool in (a");
  v1::GpuList l;
  EXPECT_EQ(ListGpus(stub(), bad, &l).error_code(), StatusCode::INVALID_ARGUMENT);
}

// Field selectors on metadata.name and metadata.namespace; namespaces scope lists.
TEST_P(List, FieldSelectorsAndNamespaces) {
  MustCreate("gpu-1", {}, "ns-a");
  MustCreate("gpu-2", {}, "ns-a");
  MustCreate("gpu-1", {}, "ns-b");
  v1::ListOptions o;
  o.set_field_selector("metadata.name=gpu-1");
  EXPECT_EQ(MustList(o).items_size(), 2);
  EXPECT_EQ(MustList(o, "ns-b").items_size(), 1);
  o.set_field_selector("metadata.namespace!=ns-a");
  EXPECT_EQ(MustList(o).items_size(), 1);
  EXPECT_EQ(MustList({}, "ns-a").items_size(), 2);
  o.set_field_selector("spec.uuid=x");
  v1::GpuList l;
  EXPECT_EQ(ListGpus(stub(), o, &l).error_code(), StatusCode::INVALID_ARGUMENT);
}

// limit + continue pages through one snapshot even while writes happen.
TEST_P(List, PagingIsConsistent) {
  for (int i = 0; i < 10; ++i) MustCreate("gpu-" + std::to_string(i));
  v1::ListOptions o;
  o.set_limit(4);
  v1::GpuList page = MustList(o);
  const std::string rv = page.metadata().resource_version();
  EXPECT_EQ(page.items_size(), 4);
  EXPECT_EQ(page.metadata().remaining_item_count(), 6);
  std::vector<std::string> all = Names(page);
  MustCreate("gpu-late");
  ASSERT_TRUE(DeleteGpu(stub(), "gpu-9").ok());
  while (!page.metadata().continue_().empty()) {
    o.set_continue_(page.metadata().continue_());
    page = MustList(o);
    EXPECT_EQ(page.metadata().resource_version(), rv);
    for (auto& n : Names(page)) all.push_back(n);
  }
  EXPECT_EQ(all.size(), 10u);
  EXPECT_EQ(std::count(all.begin(), all.end(), "gpu-9"), 1);
  EXPECT_EQ(std::count(all.begin(), all.end(), "gpu-late"), 0);
}

// A continue token older than the history window is OUT_OF_RANGE; garbage is INVALID_ARGUMENT.
TEST_P(List, ContinueTokens) {
  Start([](apiserver::ServerOptions& o) { o.watch_history_size = 2; });
  for (int i = 0; i < 3; ++i) MustCreate("gpu-" + std::to_string(i));
  v1::ListOptions o;
  o.set_limit(1);
  v1::GpuList page = MustList(o);
  for (int i = 3; i < 8; ++i) MustCreate("gpu-" + std::to_string(i));
  o.set_continue_(page.metadata().continue_());
  v1::GpuList l;
  EXPECT_EQ(ListGpus(stub(), o, &l).error_code(), StatusCode::OUT_OF_RANGE);
  o.set_continue_("garbage!");
  EXPECT_EQ(ListGpus(stub(), o, &l).error_code(), StatusCode::INVALID_ARGUMENT);
  o.set_continue_(page.metadata().continue_());
  o.set_resource_version("5");
  EXPECT_EQ(ListGpus(stub(), o, &l).error_code(), StatusCode::INVALID_ARGUMENT);
}

// A filtered paged list never ends early with an empty page.
TEST_P(List, SparseFilterPaging) {
  for (int i = 0; i < 12; ++i)
    MustCreate("gpu-" + std::to_string(10 + i), {{"rare", i % 5 == 0 ? "yes" : "no"}});
  v1::ListOptions o;
  o.set_limit(1);
  o.set_label_selector("rare=yes");
  std::vector<std::string> all;
  do {
    v1::GpuList page = MustList(o);
    EXPECT_EQ(page.items_size(), 1);
    for (auto& n : Names(page)) all.push_back(n);
    o.set_continue_(page.metadata().continue_());
  } while (!o.continue_().empty());
  EXPECT_EQ(all, std::vector<std::string>({"gpu-10", "gpu-15", "gpu-20"}));
}

DEVICEAPI_CONFORMANCE_SUITE(List);

}  // namespace
}  // namespace deviceapi::testing
