// WatchGpus: initial state, resumption, history window, bookmarks, selectors,
// slow watchers, timeouts, and no gaps while writers run.
#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "conformance/fixture.h"
#include "storage/store.h"
#include "testutil/watch_validator.h"

namespace deviceapi::testing {
namespace {

using ::grpc::StatusCode;

class Watch : public Conformance {};

v1::WatchGpusRequest Req(const std::string& rv) {
  v1::WatchGpusRequest r;
  r.mutable_opts()->set_resource_version(rv);
  return r;
}

// RV "" and "0" start with a synthetic ADDED per object, then live events.
TEST_P(Watch, InitialStateThenLive) {
  MustCreate("gpu-1");
  MustCreate("gpu-2");
  for (const std::string& rv : std::vector<std::string>{"", "0"}) {
    WatchStream w(stub(), rv);
    std::set<std::string> seen;
    for (int i = 0; i < 2; ++i) {
      auto ev = w.NextEvent();
      ASSERT_TRUE(ev);
      EXPECT_EQ(ev->type(), "ADDED");
      seen.insert(ev->object().metadata().name());
    }
    EXPECT_EQ(seen, std::set<std::string>({"gpu-1", "gpu-2"}));
    EXPECT_TRUE(w.Quiet(absl::Milliseconds(100)));
  }
  WatchStream w(stub(), "");
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(w.NextEvent());
  MustCreate("gpu-3");
  auto ev = w.NextEvent();
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->type(), "ADDED");
  EXPECT_EQ(ev->object().metadata().name(), "gpu-3");
}

// ADDED, MODIFIED, DELETED in order; DELETED carries the deletion's RV.
TEST_P(Watch, EventSequenceAndDeleteRv) {
  v1::Gpu g = MustCreate("gpu-e");
  WatchStream w(stub(), g.metadata().resource_version());
  v1::Gpu m = g;
  m.mutable_spec()->set_serial("1");
  ASSERT_TRUE(UpdateGpu(stub(), m, &m).ok());
  ASSERT_TRUE(DeleteGpu(stub(), "gpu-e").ok());
  v1::GpuList after = MustList();
  auto e1 = w.NextEvent();
  auto e2 = w.NextEvent();
  ASSERT_TRUE(e1 && e2);
  EXPECT_EQ(e1->type(), "MODIFIED");
  EXPECT_EQ(Rv(e1->object()), Rv(m));
  EXPECT_EQ(e2->type(), "DELETED");
  EXPECT_EQ(Rv(e2->object()), Rv(after.metadata().resource_version()));
  EXPECT_GT(Rv(e2->object()), Rv(m));
  EXPECT_EQ(e2->object().spec().serial(), "1");
}

// Watching from a list RV replays exactly the changes after it (no List+Watch gap).
TEST_P(Watch, ResumeFromListRvReplaysGap) {
  MustCreate("gpu-before");
  v1::GpuList l = MustList();
  MustCreate("gpu-gap");
  WatchStream w(stub(), l.metadata().resource_version());
  auto ev = w.NextEvent(absl::Seconds(5));
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->type(), "ADDED");
  EXPECT_EQ(ev->object().metadata().name(), "gpu-gap");
  EXPECT_TRUE(w.Quiet(absl::Milliseconds(100)));
}

// List-then-watch while a writer runs: every acknowledged write after the list RV arrives once, in order.
TEST_P(Watch, ListThenWatchMissesNothingUnderConcurrentWrites) {
  std::atomic<bool> stop{false};
  std::vector<uint64_t> acked;
  absl::Mutex acked_mu;
  auto writer_stub = server().NewStub();
  std::thread writer([&] {
    int i = 0;
    while (!stop) {
      v1::Gpu out;
      const std::string name = "gpu-w" + std::to_string(i % 20);
      grpc::Status s = (i < 20)
                           ? CreateGpu(*writer_stub, MakeGpu(name), &out)
                           : PatchGpu(*writer_stub, name, "merge",
                                      R"({"spec":{"serial":")" + std::to_string(i) + R"("}})", false, &out);
      if (s.ok()) {
        absl::MutexLock l(&acked_mu);
        acked.push_back(Rv(out));
      }
      ++i;
    }
  });
  WaitFor([&] {
    absl::MutexLock l(&acked_mu);
    return acked.size() > 30;
  });
  v1::GpuList list = MustList();
  const uint64_t list_rv = Rv(list.metadata().resource_version());
  WatchStream w(stub(), list.metadata().resource_version());
  WaitFor([&] {
    absl::MutexLock l(&acked_mu);
    return acked.size() > 200;
  });
  stop = true;
  writer.join();
  std::vector<uint64_t> want;
  for (uint64_t rv : acked) {
    if (rv > list_rv) want.push_back(rv);
  }
  std::vector<uint64_t> got;
  while (got.size() < want.size()) {
    auto ev = w.NextEvent(absl::Seconds(20));
    ASSERT_TRUE(ev) << "missing events after " << got.size() << " of " << want.size();
    got.push_back(Rv(ev->object()));
  }
  EXPECT_EQ(got, want);
  EXPECT_TRUE(w.Quiet(absl::Milliseconds(100)));
}

// A stream broken mid-way resumes from the last RV seen with nothing lost or repeated.
TEST_P(Watch, ResumeAfterDisconnect) {
  v1::Gpu g = MustCreate("gpu-r");
  std::string last = g.metadata().resource_version();
  {
    WatchStream w(stub(), last);
    PatchGpu(stub(), "gpu-r", "merge", R"({"spec":{"serial":"1"}})");
    auto ev = w.NextEvent();
    ASSERT_TRUE(ev);
    last = ev->object().metadata().resource_version();
    w.Cancel();
  }
  PatchGpu(stub(), "gpu-r", "merge", R"({"spec":{"serial":"2"}})");
  PatchGpu(stub(), "gpu-r", "merge", R"({"spec":{"serial":"3"}})");
  WatchStream w(stub(), last);
  auto e2 = w.NextEvent();
  auto e3 = w.NextEvent();
  ASSERT_TRUE(e2 && e3);
  EXPECT_EQ(e2->object().spec().serial(), "2");
  EXPECT_EQ(e3->object().spec().serial(), "3");
  EXPECT_TRUE(w.Quiet(absl::Milliseconds(100)));
}

// An RV that left the history window ends the watch with OUT_OF_RANGE "too old resource version".
TEST_P(Watch, TooOldResourceVersion) {
  Start([](apiserver::ServerOptions& o) { o.watch_history_size = 2; });
  v1::Gpu first = MustCreate("gpu-0");
  for (int i = 1; i < 5; ++i) MustCreate("gpu-" + std::to_string(i));
  WatchStream w(stub(), first.metadata().resource_version());
  auto s = w.WaitEnd();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->error_code(), StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(s->error_message(), ::testing::HasSubstr("too old resource version"));
}

// An RV issued before a restart: with a persisted history (sqlite) the watch
// resumes from it; otherwise it is OUT_OF_RANGE. New RVs are above it either way.
TEST_P(Watch, ResourceVersionFromBeforeRestart) {
  v1::Gpu g = MustCreate("gpu-old");
  v1::Gpu g2 = MustCreate("gpu-old-2");
  server().Restart();
  const bool persisted_history = std::string(GetParam()).rfind("sqlite", 0) == 0;
  WatchStream w(stub(), g.metadata().resource_version());
  if (!persisted_history) {
    auto s = w.WaitEnd();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->error_code(), StatusCode::OUT_OF_RANGE);
  }
  v1::Gpu n = MustCreate("gpu-new");
  EXPECT_GT(Rv(n), Rv(g2));
  if (persisted_history) {
    // Replays what came after g (from the persisted history), then goes live.
    auto first = w.NextEvent();
    ASSERT_TRUE(first) << "no replayed event after the restart";
    EXPECT_EQ(first->type(), "ADDED");
    EXPECT_EQ(first->object().metadata().name(), "gpu-old-2");
    auto second = w.NextEvent();
    ASSERT_TRUE(second);
    EXPECT_EQ(second->object().metadata().name(), "gpu-new");
  }
}

// A future RV is UNAVAILABLE (retryable); a non-numeric one INVALID_ARGUMENT.
TEST_P(Watch, BadResourceVersions) {
  v1::Gpu g = MustCreate("gpu-f");
  {
    WatchStream w(stub(), std::to_string(Rv(g) + 1000));
    auto s = w.WaitEnd();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->error_code(), StatusCode::UNAVAILABLE);
  }
  WatchStream w(stub(), "12abc");
  auto s = w.WaitEnd();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->error_code(), StatusCode::INVALID_ARGUMENT);
}

// Bookmarks arrive only when asked, carry only an RV, and never go backwards.
TEST_P(Watch, Bookmarks) {
  Start([](apiserver::ServerOptions& o) { o.watch_bookmark_interval = absl::Milliseconds(100); });
  v1::Gpu g = MustCreate("gpu-b");
  WatchStream plain(stub(), g.metadata().resource_version(), false);
  WatchStream w(stub(), g.metadata().resource_version(), true);
  uint64_t last = Rv(g);
  int bookmarks = 0;
  for (int i = 0; bookmarks < 4; ++i) {
    if (i % 3 == 0)
      PatchGpu(stub(), "gpu-b", "merge", R"({"spec":{"serial":")" + std::to_string(i) + R"("}})");
    auto ev = w.Next(absl::Seconds(20));
    ASSERT_TRUE(ev);
    const uint64_t rv = Rv(ev->object());
    if (ev->type() == "BOOKMARK") {
      ++bookmarks;
      EXPECT_GE(rv, last);
      EXPECT_TRUE(ev->object().metadata().name().empty());
      EXPECT_FALSE(ev->object().has_spec());
    } else {
      EXPECT_GT(rv, last);
    }
    last = rv;
  }
  for (auto ev = plain.Next(absl::Milliseconds(200)); ev; ev = plain.Next(absl::Milliseconds(200))) {
    EXPECT_NE(ev->type(), "BOOKMARK");
  }
}

// send_initial_events ends the initial ADDED events with the annotated bookmark at the global RV.
TEST_P(Watch, InitialEventsEndBookmark) {
  MustCreate("gpu-i1", {{"x", "1"}});
  MustCreate("gpu-i2");
  v1::Gpu last = MustCreate("gpu-other", {{"x", "2"}}, "elsewhere");
  v1::WatchGpusRequest r;
  r.set_namespace_("default");
  r.mutable_opts()->set_send_initial_events(true);
  r.mutable_opts()->set_allow_watch_bookmarks(true);
  r.mutable_opts()->set_resource_version_match("NotOlderThan");
  WatchStream w(stub(), r);
  auto a = w.Next();
  auto b = w.Next();
  auto end = w.Next();
  ASSERT_TRUE(a && b && end);
  EXPECT_EQ(a->type(), "ADDED");
  EXPECT_EQ(b->type(), "ADDED");
  EXPECT_EQ(end->type(), "BOOKMARK");
  EXPECT_EQ(end->object().metadata().annotations().at("k8s.io/initial-events-end"), "true");
  EXPECT_EQ(Rv(end->object()), Rv(last));
  r.mutable_opts()->set_resource_version_match("Exact");
  WatchStream bad(stub(), r);
  auto s = bad.WaitEnd();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->error_code(), StatusCode::INVALID_ARGUMENT);
}

// Objects entering a label selector arrive as ADDED, leaving it as DELETED.
TEST_P(Watch, SelectorEnterAndLeave) {
  v1::Gpu g = MustCreate("gpu-s", {{"pool", "b"}});
  MustCreate("gpu-t", {{"pool", "a"}});
  WatchStream w(stub(), g.metadata().resource_version(), false, "pool=a");
  ASSERT_TRUE(PatchGpu(stub(), "gpu-s", "merge", R"({"metadata":{"labels":{"pool":"a"}}})").ok());
  ASSERT_TRUE(PatchGpu(stub(), "gpu-s", "merge", R"({"spec":{"serial":"9"}})").ok());
  ASSERT_TRUE(PatchGpu(stub(), "gpu-s", "merge", R"({"metadata":{"labels":{"pool":"c"}}})").ok());
  ASSERT_TRUE(PatchGpu(stub(), "gpu-s", "merge", R"({"spec":{"serial":"10"}})").ok());
  std::vector<std::string> types;
  std::vector<std::string> names;
  for (int i = 0; i < 4; ++i) {
    auto ev = w.NextEvent();
    ASSERT_TRUE(ev);
    types.push_back(ev->type());
    names.push_back(ev->object().metadata().name());
  }
  EXPECT_EQ(types, std::vector<std::string>({"ADDED", "ADDED", "MODIFIED", "DELETED"}));
  EXPECT_EQ(names, std::vector<std::string>({"gpu-t", "gpu-s", "gpu-s", "gpu-s"}));
  EXPECT_TRUE(w.Quiet(absl::Milliseconds(200)));
}

// Writes in other namespaces are not delivered to a namespaced watch.
TEST_P(Watch, NamespaceScope) {
  v1::WatchGpusRequest r;
  r.set_namespace_("ns-a");
  r.mutable_opts()->set_resource_version(MustList().metadata().resource_version());
  WatchStream w(stub(), r);
  MustCreate("gpu-1", {}, "ns-b");
  MustCreate("gpu-2", {}, "ns-a");
  auto ev = w.NextEvent();
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->object().metadata().namespace_(), "ns-a");
  EXPECT_TRUE(w.Quiet(absl::Milliseconds(200)));
}

// timeout_seconds ends the stream with OK.
TEST_P(Watch, TimeoutSeconds) {
  v1::WatchGpusRequest r;
  r.mutable_opts()->set_timeout_seconds(1);
  const absl::Time start = absl::Now();
  WatchStream w(stub(), r);
  auto s = w.WaitEnd(absl::Seconds(20));
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->ok()) << s->error_message();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(900));
}

// 50 watchers that never read do not hold back one that does; they are ended with RESOURCE_EXHAUSTED.
TEST_P(Watch, SlowWatchersAreEvictedWithoutDelayingOthers) {
  Start([](apiserver::ServerOptions& o) { o.watch_queue_size = 8; });
  v1::Gpu g = MustCreate("gpu-big");
  const std::string rv = g.metadata().resource_version();
  // Stalled watchers: each on its own connection, never reading.
  struct Stalled {
    std::unique_ptr<v1::GpuService::Stub> stub;
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<v1::WatchGpusResponse>> reader;
  };
  std::vector<std::unique_ptr<Stalled>> stalled;
  for (int i = 0; i < 50; ++i) {
    auto s = std::make_unique<Stalled>();
    s->stub = server().NewStub();
    s->reader = s->stub->WatchGpus(&s->ctx, Req(rv));
    stalled.push_back(std::move(s));
  }
  ASSERT_TRUE(WaitFor([&] { return server().server().store().Stats().watchers >= 51 - 1; }));
  WatchStream fast(stub(), rv);
  const std::string blob(32 * 1024, 'x');
  const int kWrites = 300;
  for (int i = 0; i < kWrites; ++i) {
    ASSERT_TRUE(PatchGpu(stub(), "gpu-big", "merge",
                         R"({"metadata":{"annotations":{"blob":")" + blob + std::to_string(i) + R"("}}})")
                    .ok());
  }
  uint64_t last = Rv(g);
  for (int i = 0; i < kWrites; ++i) {
    auto ev = fast.NextEvent(absl::Seconds(30));
    ASSERT_TRUE(ev) << "fast watcher starved at event " << i;
    EXPECT_GT(Rv(ev->object()), last);
    last = Rv(ev->object());
  }
  int exhausted = 0;
  for (auto& s : stalled) {
    v1::WatchGpusResponse ev;
    int n = 0;
    while (s->reader->Read(&ev)) ++n;
    grpc::Status st = s->reader->Finish();
    EXPECT_LT(n, kWrites);
    if (st.error_code() == StatusCode::RESOURCE_EXHAUSTED) ++exhausted;
  }
  EXPECT_EQ(exhausted, 50);
}

// Two read-modify-write updaters racing on one RV both land, with one retry.
TEST_P(Watch, ConcurrentReadModifyWrite) {
  MustCreate("gpu-rmw");
  v1::Gpu base = MustGet("gpu-rmw");
  std::atomic<int> conflicts{0};
  auto updater = [&](const std::string& key) {
    auto my = server().NewStub();
    v1::Gpu cur = base;  // both start from the same RV
    for (;;) {
      (*cur.mutable_metadata()->mutable_labels())[key] = "set";
      grpc::Status s = UpdateGpu(*my, cur);
      if (s.ok()) return;
      ASSERT_EQ(s.error_code(), StatusCode::ABORTED);
      ++conflicts;
      ASSERT_TRUE(GetGpu(*my, "gpu-rmw", &cur).ok());
    }
  };
  std::thread a(updater, "a"), b(updater, "b");
  a.join();
  b.join();
  EXPECT_EQ(conflicts.load(), 1);
  v1::Gpu final = MustGet("gpu-rmw");
  EXPECT_EQ(final.metadata().labels().at("a"), "set");
  EXPECT_EQ(final.metadata().labels().at("b"), "set");
  EXPECT_EQ(Rv(final), Rv(base) + 2);
}

// Three writers (creates, spec patches, status updates) race while a watch with bookmarks is
// cancelled and resumed from its last RV seen, three times; a second watch uses a label
// selector. The recorded streams must pass the watch validators (testutil/watch_validator.h):
// ordered, unique, no gaps, each object as written, resumed exactly where it stopped.
TEST_P(Watch, StreamsUnderConcurrentWritersPassTheValidator) {
  WriteHistory history;
  std::atomic<bool> stop{false};
  std::atomic<int> acked{0};
  auto writer = [&](int w) {
    auto my = server().NewStub();
    for (int i = 0; !stop; ++i) {
      const std::string name = absl::StrCat("gpu-v", w, "-", i % 5);
      v1::Gpu out;
      const uint64_t t = history.BeginWrite();
      WriteKind kind = WriteKind::kUpdate;
      grpc::Status s;
      if (i < 5) {
        kind = WriteKind::kCreate;
        s = CreateGpu(*my, MakeGpu(name, {{"pool", w % 2 ? "odd" : "even"}}), &out);
      } else if (i % 2) {
        s = PatchGpu(*my, name, "merge", absl::StrCat(R"({"spec":{"serial":")", i, R"("}})"), false, &out);
      } else {
        v1::Gpu g = MakeGpu(name);
        *g.mutable_status()->add_conditions() = MakeCondition("Ready", i % 4 ? "True" : "False");
        g.mutable_status()->mutable_conditions(0)->set_message(absl::StrCat("w", w, " #", i));
        s = UpdateGpuStatus(*my, g, &out);
      }
      if (s.ok()) {
        history.RecordAck(t, kind, out);
        ++acked;
      } else {
        history.RecordFailure(t);
        ADD_FAILURE() << name << ": " << s.error_message();
        return;
      }
    }
  };
  const uint64_t start = Rv(MustList().metadata().resource_version());
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) writers.emplace_back(writer, w);

  RecordedWatch all{"all", {}, {}};
  RecordedWatch even{"even", WatchFilter{"", "pool=even", ""}, {}};
  auto record = [](WatchStream& stream, WatchSegment& seg, int events) {
    for (int n = 0; n < events;) {
      auto ev = stream.Next(absl::Seconds(30));
      ASSERT_TRUE(ev) << "no event after " << n;
      const auto type = ParseEventType(ev->type());
      ASSERT_TRUE(type) << ev->type();
      seg.events.push_back(RecordedEvent{*type, Rv(ev->object()), ev->object()});
      if (*type != EventType::kBookmark) ++n;
    }
  };
  uint64_t from = start;
  v1::WatchGpusRequest even_req = Req(std::to_string(start));
  even_req.mutable_opts()->set_label_selector("pool=even");
  WatchStream even_stream(stub(), even_req);
  for (int segment = 0; segment < 4; ++segment) {
    WatchStream w(stub(), std::to_string(from), /*bookmarks=*/true);
    WatchSegment seg{from, segment > 0, {}};
    record(w, seg, 60);
    w.Cancel();
    from = std::max(from, seg.LastSeen());
    all.segments.push_back(std::move(seg));
  }
  stop = true;
  for (auto& t : writers) t.join();
  ASSERT_GT(acked.load(), 200);
  // The label-selected watch: read up to the last write, then check.
  const uint64_t last = Rv(MustList().metadata().resource_version());
  WatchSegment seg{start, false, {}};
  while (seg.LastSeen() < last) {
    auto ev = even_stream.Next(absl::Seconds(5));
    if (!ev) break;  // the last writes may all be odd; the gap check still covers what was seen
    seg.events.push_back(RecordedEvent{*ParseEventType(ev->type()), Rv(ev->object()), ev->object()});
  }
  even.segments.push_back(std::move(seg));

  WatchCheckStats stats;
  const auto violations = ValidateWatches(history, {all, even}, &stats);
  for (const auto& v : violations) ADD_FAILURE() << v.ToString();
  EXPECT_EQ(stats.segments, 5u);
  EXPECT_GE(stats.covered_events, 240u);
  EXPECT_EQ(stats.foreign_events, 0u);
  EXPECT_GT(stats.gap_checked, 240u);

  // The validator is not blind: the same stream with one event dropped has a gap.
  auto& events = all.segments[1].events;
  events.erase(std::find_if(events.begin() + 1, events.end(),
                            [](const RecordedEvent& e) { return e.type != EventType::kBookmark; }));
  EXPECT_FALSE(ValidateWatches(history, {all}).empty());
}

DEVICEAPI_CONFORMANCE_SUITE(Watch);

}  // namespace
}  // namespace deviceapi::testing
