// The etcd:// backend against a real etcd (Debian's etcd-server, started by
// testutil/etcd.h): several servers on one prefix (optimistic concurrency,
// watches fed by etcd), and etcd going away and coming back under a running
// server (health, UNAVAILABLE, no watch gap).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "integration/harness.h"
#include "testutil/etcd.h"
#include "testutil/test_server.h"

namespace deviceapi::testing {
namespace {

using ::grpc::StatusCode;

std::unique_ptr<TestServer> StartOn(const std::string& endpoint, OptionsTweak tweak = {}) {
  return TestServer::Start(endpoint, std::move(tweak));
}

// Two servers on one prefix: each sees the other's writes; a write based on a
// stale object loses with ABORTED; read-modify-write loops from both servers
// lose no update; a name is created once.
TEST(EtcdBackend, TwoServersShareOnePrefixWithOptimisticConcurrency) {
  auto etcd = EtcdServer::Start();
  const std::string ep = etcd->Endpoint("/shared/");
  auto a = StartOn(ep);
  auto b = StartOn(ep);

  v1::Gpu created;
  ASSERT_TRUE(CreateGpu(a->stub(), MakeGpu("gpu-0"), &created).ok());
  // Read-your-writes on A; B sees it once its etcd watch delivers it.
  v1::Gpu on_b;
  ASSERT_TRUE(WaitFor([&] { return GetGpu(b->stub(), "gpu-0", &on_b, "0").ok(); }));
  EXPECT_EQ(on_b.SerializeAsString(), created.SerializeAsString());
  EXPECT_EQ(CreateGpu(b->stub(), MakeGpu("gpu-0")).error_code(), StatusCode::ALREADY_EXISTS);

  // A updates; B's update from the object it read before is a conflict.
  v1::Gpu upd = created;
  upd.mutable_spec()->set_serial("from-a");
  v1::Gpu after_a;
  ASSERT_TRUE(UpdateGpu(a->stub(), upd, &after_a).ok());
  EXPECT_GT(Rv(after_a), Rv(created));
  v1::Gpu stale = on_b;
  stale.mutable_spec()->set_serial("from-b");
  auto s = UpdateGpu(b->stub(), stale);
  EXPECT_EQ(s.error_code(), StatusCode::ABORTED) << s.error_message();
  EXPECT_EQ(
      DeleteGpu(b->stub(), "gpu-0", "", std::nullopt, created.metadata().resource_version()).error_code(),
      StatusCode::ABORTED);
  v1::Gpu got;
  ASSERT_TRUE(
      WaitFor([&] { return GetGpu(b->stub(), "gpu-0", &got).ok() && got.spec().serial() == "from-a"; }));

  // Read-modify-write from both servers at once: every increment lands.
  constexpr int kPerServer = 15;
  std::atomic<int> conflicts{0};
  auto increment = [&](TestServer* srv) {
    auto stub = srv->NewStub();
    for (int done = 0; done < kPerServer;) {
      v1::Gpu cur;
      ASSERT_TRUE(GetGpu(*stub, "gpu-0", &cur).ok());
      const int n = cur.spec().serial() == "from-a" ? 0 : std::stoi(cur.spec().serial());
      cur.mutable_spec()->set_serial(std::to_string(n + 1));
      auto st = UpdateGpu(*stub, cur);
      if (st.ok()) {
        ++done;
      } else {
        ASSERT_EQ(st.error_code(), StatusCode::ABORTED) << st.error_message();
        ++conflicts;
      }
    }
  };
  std::thread ta(increment, a.get());
  std::thread tb(increment, b.get());
  ta.join();
  tb.join();
  ASSERT_TRUE(GetGpu(a->stub(), "gpu-0", &got).ok());
  EXPECT_EQ(got.spec().serial(), std::to_string(2 * kPerServer)) << conflicts << " conflicts";

  // Racing creates of one name: exactly one wins.
  std::atomic<int> won{0}, exists{0};
  auto create = [&](TestServer* srv) {
    auto st = CreateGpu(*srv->NewStub(), MakeGpu("gpu-race"));
    if (st.ok()) ++won;
    if (st.error_code() == StatusCode::ALREADY_EXISTS) ++exists;
  };
  std::thread ca(create, a.get());
  std::thread cb(create, b.get());
  ca.join();
  cb.join();
  EXPECT_EQ(won, 1);
  EXPECT_EQ(exists, 1);
}

// A watch on an in-process server receives, with the writer's RVs, what a
// device-api-server in another process writes to the same prefix, and the
// other way round: the watch hub is fed by etcd's watch.
TEST(EtcdBackend, WatchSeesWritesOfAnotherServerProcess) {
  auto etcd = EtcdServer::Start();
  const std::string ep = etcd->Endpoint("/two-processes/");
  auto local = StartOn(ep);
  itest::TempDir dir;
  itest::ServerProcess::Config cfg;
  cfg.extra_args = {"--datastore-endpoint=" + ep};
  auto remote = itest::ServerProcess::Start(dir, cfg);
  ASSERT_TRUE(remote);
  auto remote_stub = v1::GpuService::NewStub(itest::MakeChannel(remote->target()));

  // Each from its own list RV: a server's history window starts at its own
  // start (an RV from before it is OUT_OF_RANGE, as after a restart).
  v1::GpuList local_list, remote_list;
  ASSERT_TRUE(ListGpus(local->stub(), {}, &local_list).ok());
  ASSERT_TRUE(ListGpus(*remote_stub, {}, &remote_list).ok());
  WatchStream local_watch(local->stub(), local_list.metadata().resource_version());
  WatchStream remote_watch(*remote_stub, remote_list.metadata().resource_version());

  v1::Gpu r1, r2;
  ASSERT_TRUE(CreateGpu(*remote_stub, MakeGpu("gpu-remote", {{"pool", "a"}}), &r1).ok());
  ASSERT_TRUE(PatchGpu(*remote_stub, "gpu-remote", "merge", R"({"spec":{"serial":"x"}})", false, &r2).ok());
  v1::Gpu l1;
  ASSERT_TRUE(CreateGpu(local->stub(), MakeGpu("gpu-local"), &l1).ok());
  // The remote server acts on the object once its etcd watch delivered it.
  ASSERT_TRUE(WaitFor([&] { return GetGpu(*remote_stub, "gpu-local", nullptr, "0").ok(); }));
  ASSERT_TRUE(DeleteGpu(*remote_stub, "gpu-local").ok());

  for (WatchStream* w : {&local_watch, &remote_watch}) {
    auto e1 = w->NextEvent();
    auto e2 = w->NextEvent();
    auto e3 = w->NextEvent();
    auto e4 = w->NextEvent();
    ASSERT_TRUE(e1 && e2 && e3 && e4);
    EXPECT_EQ(e1->type(), "ADDED");
    EXPECT_EQ(e1->object().SerializeAsString(), r1.SerializeAsString());
    EXPECT_EQ(e2->type(), "MODIFIED");
    EXPECT_EQ(Rv(e2->object()), Rv(r2));
    EXPECT_EQ(e3->type(), "ADDED");
    EXPECT_EQ(Rv(e3->object()), Rv(l1));
    EXPECT_EQ(e4->type(), "DELETED");
    EXPECT_EQ(e4->object().metadata().name(), "gpu-local");
    EXPECT_GT(Rv(e4->object()), Rv(l1));
    EXPECT_TRUE(w->Quiet(absl::Milliseconds(200)));
  }
}

int Health(const std::shared_ptr<grpc::Channel>& ch) { return itest::CheckHealth(ch, "").serving_status; }

// etcd killed and started again under a running server: NOT_SERVING while it
// is away, writes and consistent reads UNAVAILABLE (and not applied later),
// then SERVING again, and a watch opened before the outage gets every event
// written afterwards, in RV order, with none missing.
TEST(EtcdBackend, EtcdOutageAndRecovery) {
  auto etcd = EtcdServer::Start();
  auto srv = StartOn(etcd->Endpoint("/outage/"));
  auto health = itest::MakeChannel(srv->target());
  ASSERT_EQ(Health(health), 1);

  v1::Gpu before;
  ASSERT_TRUE(CreateGpu(srv->stub(), MakeGpu("gpu-before"), &before).ok());
  WatchStream w(srv->stub(), before.metadata().resource_version());

  etcd->Kill();
  ASSERT_TRUE(WaitFor([&] { return Health(health) == 2; })) << "health stayed " << Health(health);
  std::set<std::string> failed;
  for (int i = 0; i < 3; ++i) {
    const std::string name = "gpu-down-" + std::to_string(i);
    auto s = CreateGpu(srv->stub(), MakeGpu(name));
    EXPECT_EQ(s.error_code(), StatusCode::UNAVAILABLE) << s.error_message();
    failed.insert(name);
  }
  EXPECT_EQ(PatchGpu(srv->stub(), "gpu-before", "merge", R"({"spec":{"serial":"down"}})").error_code(),
            StatusCode::UNAVAILABLE);
  EXPECT_EQ(DeleteGpu(srv->stub(), "gpu-before").error_code(), StatusCode::UNAVAILABLE);
  auto get = GetGpu(srv->stub(), "gpu-before");
  EXPECT_EQ(get.error_code(), StatusCode::UNAVAILABLE);
  EXPECT_THAT(get.error_message(), ::testing::HasSubstr("etcd"));
  v1::GpuList l;
  EXPECT_EQ(ListGpus(srv->stub(), {}, &l).error_code(), StatusCode::UNAVAILABLE);
  // "Any" reads are served from the server's last view.
  EXPECT_TRUE(GetGpu(srv->stub(), "gpu-before", nullptr, "0").ok());

  etcd->Restart();
  ASSERT_TRUE(WaitFor([&] { return Health(health) == 1; })) << "health stayed " << Health(health);

  std::vector<uint64_t> acked;
  for (int i = 0; i < 10; ++i) {
    v1::Gpu out;
    ASSERT_TRUE(CreateGpu(srv->stub(), MakeGpu("gpu-after-" + std::to_string(i)), &out).ok());
    acked.push_back(Rv(out));
    ASSERT_TRUE(PatchGpu(srv->stub(), "gpu-before", "merge",
                         R"({"spec":{"serial":")" + std::to_string(i) + R"("}})", false, &out)
                    .ok());
    acked.push_back(Rv(out));
  }
  v1::Gpu gone;
  ASSERT_TRUE(DeleteGpu(srv->stub(), "gpu-after-0").ok());
  ASSERT_TRUE(
      WaitFor([&] { return GetGpu(srv->stub(), "gpu-after-0").error_code() == StatusCode::NOT_FOUND; }));

  std::vector<uint64_t> got;
  for (size_t i = 0; i < acked.size(); ++i) {
    auto ev = w.NextEvent();
    ASSERT_TRUE(ev) << "watch ended or stalled after " << got.size() << " of " << acked.size() << " events";
    got.push_back(Rv(ev->object()));
  }
  EXPECT_EQ(got, acked);
  auto del = w.NextEvent();
  ASSERT_TRUE(del);
  EXPECT_EQ(del->type(), "DELETED");
  EXPECT_GT(Rv(del->object()), acked.back());
  EXPECT_TRUE(w.Quiet(absl::Milliseconds(200)));
  // What failed during the outage was not written later.
  for (const auto& name : failed)
    EXPECT_EQ(GetGpu(srv->stub(), name).error_code(), StatusCode::NOT_FOUND) << name;
}

// Bad etcd endpoints stop start-up with a message naming what is wrong.
TEST(EtcdBackend, BadEndpointsFailStartWithClearErrors) {
  struct Case {
    std::string endpoint;
    std::string want;
  };
  for (const Case& c : std::vector<Case>{
           {"etcd://?prefix=/a/", "no etcd address"},
           {"etcd://host:notaport", "port \"notaport\" of \"host:notaport\" is not a number in 1-65535"},
           {"etcd://127.0.0.1", "has no port"},
           {"etcd://127.0.0.1:2379?prefx=/a/", "unknown parameter \"prefx\""},
           {"etcd://127.0.0.1:2379?prefix=a/", "prefix \"a/\" must start with '/'"},
           {"etcd://127.0.0.1:2379,:2380", "address \":2380\" has no host"},
           // Nothing listens there: start-up gives up after the request timeout.
           {"etcd://127.0.0.1:" + std::to_string(itest::PickFreePort()), "cannot reach etcd at 127.0.0.1:"},
       }) {
    try {
      StartOn(c.endpoint);
      ADD_FAILURE() << c.endpoint << " started";
    } catch (const std::runtime_error& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr(c.want)) << c.endpoint;
    }
  }
}

}  // namespace
}  // namespace deviceapi::testing
