// Crash safety of the sqlite:// backend with the real binary: in a loop, start
// device-api-server on one database, write through several concurrent gRPC
// clients, SIGKILL the server at a random moment, check the database while the
// server is down, restart it, and check that nothing acknowledged was lost.
//
// Each GPU name belongs to exactly one client, and a client stops at its first
// failed call, so each name has at most one write in flight at the kill: the
// one whose outcome is unknown ("pending"). After a restart, for every name:
//   - acknowledged present at RV r: present at RV r with the same content, or
//     above r as the pending update/create left it, or absent only if the
//     pending write was a delete;
//   - acknowledged absent (deleted at r, or never created): absent, or present
//     above r only if the pending write was a create.
// Across the whole run: acknowledged RVs never repeat, every RV acknowledged
// after a restart is above every RV acknowledged before it (as is the list RV
// at restart), PRAGMA integrity_check is "ok" while the server is down, and a
// watch from the last acknowledged RV either resumes (with exactly the events
// the pending writes made, and nothing else) or ends with OUT_OF_RANGE.
//
// Some cycles (1 in 8) kill the server while it starts up instead, which lands
// the kill in the open/load/record-RV path.
//
// Knobs (after the gtest flags): --cycles N (default 200), --seed S (default:
// from the clock; printed either way), --clients C (default 4). The long
// reliability run: sqlite_crash_loop_test --cycles 10000 --seed S.
#include <signal.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "device/v1alpha1/gpu.grpc.pb.h"
#include "harness.h"

namespace deviceapi::itest {
namespace {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

struct Knobs {
  int cycles = 200;
  uint64_t seed = 0;
  bool seed_set = false;
  int clients = 4;
};
Knobs g_knobs;

constexpr int kNamesPerClient = 6;
constexpr char kNs[] = "default";

enum class Op { kCreate, kUpdate, kDelete };
const char* OpName(Op op) { return op == Op::kCreate ? "create" : op == Op::kUpdate ? "update" : "delete"; }

struct Ack {
  int cycle;
  std::string name;
  Op op;
  uint64_t rv;
  std::string marker;
};

// What the test knows about one name.
struct NameState {
  bool present = false;
  uint64_t rv = 0;     // RV of the last acknowledged (or observed) state
  std::string marker;  // status marker of that state when present
  std::optional<Op> pending;
  std::string pending_marker;
};

std::string MarkerOf(const v1::Gpu& g) {
  return g.status().conditions_size() > 0 ? g.status().conditions(0).message() : std::string();
}

uint64_t RvOf(const v1::Gpu& g) {
  return std::strtoull(g.metadata().resource_version().c_str(), nullptr, 10);
}

v1::Gpu MakeGpu(const std::string& name, const std::string& marker, uint64_t rv) {
  v1::Gpu g;
  g.mutable_metadata()->set_name(name);
  g.mutable_metadata()->set_namespace_(kNs);
  if (rv != 0) g.mutable_metadata()->set_resource_version(std::to_string(rv));
  g.mutable_spec()->set_uuid("GPU-" + name);
  auto* c = g.mutable_status()->add_conditions();
  c->set_type("Ready");
  c->set_status("True");
  c->set_reason("CrashLoop");
  c->set_message(marker);
  return g;
}

class CrashLoop {
 public:
  CrashLoop(const TempDir& dir, uint64_t seed) : dir_(dir), rng_(seed), seed_(seed) {
    db_path_ = dir_.File("data/state.db");
    for (int c = 0; c < g_knobs.clients; ++c) {
      for (int i = 0; i < kNamesPerClient; ++i) names_[absl::StrCat("gpu-c", c, "-", i)] = {};
    }
  }

  void Run(int cycles) {
    const absl::Time start = absl::Now();
    for (cycle_ = 0; cycle_ < cycles && !::testing::Test::HasFailure(); ++cycle_) {
      const bool early_kill = cycle_ > 0 && std::uniform_int_distribution<int>(0, 7)(rng_) == 0;
      if (early_kill) {
        KillDuringStartup();
      } else {
        OneCycle();
      }
      if (::testing::Test::HasFailure()) break;
      CheckDatabaseWhileDown();
    }
    const double secs = absl::ToDoubleSeconds(absl::Now() - start);
    std::printf("crash loop summary: seed %" PRIu64
                ", %d cycles (%d killed during start-up), %zu acknowledged writes "
                "(%zu deletes), %d in-flight writes found committed, watch from the last acknowledged RV: %d "
                "OUT_OF_RANGE / %d resumed, restart-to-ready max %.1f ms mean %.1f ms, %.1f s total\n",
                seed_, cycle_, early_kills_, acks_.size(), acked_deletes_, pending_committed_,
                watch_out_of_range_, watch_resumed_, absl::ToDoubleMilliseconds(max_ready_),
                ready_samples_ ? absl::ToDoubleMilliseconds(sum_ready_) / ready_samples_ : 0.0, secs);
    std::fflush(stdout);
  }

 private:
  ServerProcess::Config ServerConfig() const {
    ServerProcess::Config cfg;
    cfg.extra_args = {"--datastore-endpoint=sqlite://" + db_path_, "--condition-heartbeat-timeout=0s"};
    return cfg;
  }

  // Starts the server on ephemeral ports and waits for SERVING; records the time it took.
  std::unique_ptr<ServerProcess> StartServer() {
    const absl::Time t0 = absl::Now();
    auto s = ServerProcess::Spawn(dir_, ServerConfig(), 0, 0);
    if (!s) return nullptr;
    if (!s->WaitServing()) {
      ADD_FAILURE() << "cycle " << cycle_ << ": device-api-server did not become SERVING ("
                    << (s->process().Exited() ? s->process().WaitFor(absl::ZeroDuration()).ToString()
                                              : "running")
                    << ")\n--- server log ---\n"
                    << s->Log();
      return nullptr;
    }
    const absl::Duration d = absl::Now() - t0;
    max_ready_ = std::max(max_ready_, d);
    sum_ready_ += d;
    ++ready_samples_;
    return s;
  }

  void Kill(ServerProcess& s) {
    s.process().Signal(SIGKILL);
    const ExitInfo e = s.process().WaitFor(kExitDeadline);
    ASSERT_TRUE(e.exited) << "cycle " << cycle_ << ": server did not die on SIGKILL";
    std::remove(s.log_path().c_str());  // 10,000 cycles make many logs
  }

  void KillDuringStartup() {
    ++early_kills_;
    auto s = ServerProcess::Spawn(dir_, ServerConfig(), 0, 0);
    ASSERT_TRUE(s);
    absl::SleepFor(absl::Microseconds(std::uniform_int_distribution<int>(0, 60000)(rng_)));
    Kill(*s);
  }

  void OneCycle() {
    auto server = StartServer();
    ASSERT_TRUE(server) << "seed " << seed_;
    VerifyAfterRestart(*server);
    if (::testing::Test::HasFailure()) {
      std::printf("--- server log ---\n%s\n", server->Log().c_str());
      return;
    }
    CheckWatchFromLastAck(*server);
    if (::testing::Test::HasFailure()) return;
    cycle_floor_rv_ = max_acked_rv_;

    // Writers, then a kill at a random moment while they write.
    stop_ = false;
    std::vector<std::thread> writers;
    for (int c = 0; c < g_knobs.clients; ++c) {
      const uint64_t client_seed = seed_ ^ (static_cast<uint64_t>(cycle_) << 20) ^
                                   static_cast<uint64_t>(c + 1) * 0x9E3779B97F4A7C15ull;
      writers.emplace_back(
          [this, c, client_seed, target = server->target()] { Writer(c, client_seed, target); });
    }
    absl::SleepFor(absl::Microseconds(std::uniform_int_distribution<int>(0, 150000)(rng_)));
    stop_ = true;
    Kill(*server);
    for (auto& t : writers) t.join();
  }

  // One client: random creates, status updates (with the RV it knows, so a
  // conflict would show a lost or duplicated write) and deletes on its own names.
  void Writer(int client, uint64_t seed, const std::string& target) {
    std::mt19937_64 rng(seed);
    auto stub = v1::GpuService::NewStub(MakeChannel(target));
    std::vector<std::string> mine;
    for (int i = 0; i < kNamesPerClient; ++i) mine.push_back(absl::StrCat("gpu-c", client, "-", i));
    int seq = 0;
    while (!stop_) {
      const std::string& name = mine[std::uniform_int_distribution<size_t>(0, mine.size() - 1)(rng)];
      NameState st;
      {
        std::lock_guard<std::mutex> l(mu_);
        st = names_[name];
      }
      const Op op = !st.present
                        ? Op::kCreate
                        : (std::uniform_int_distribution<int>(0, 9)(rng) < 7 ? Op::kUpdate : Op::kDelete);
      const std::string marker = absl::StrCat("s", seed_, "-k", cycle_, "-c", client, "-", seq++);
      grpc::ClientContext ctx;
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
      grpc::Status s;
      v1::Gpu out;
      if (op == Op::kCreate) {
        v1::CreateGpuRequest req;
        *req.mutable_gpu() = MakeGpu(name, marker, 0);
        s = stub->CreateGpu(&ctx, req, &out);
      } else if (op == Op::kUpdate) {
        v1::UpdateGpuStatusRequest req;
        *req.mutable_gpu() = MakeGpu(name, marker, st.rv);
        s = stub->UpdateGpuStatus(&ctx, req, &out);
      } else {
        v1::DeleteGpuRequest req;
        req.set_name(name);
        req.set_namespace_(kNs);
        req.mutable_opts()->mutable_preconditions()->set_resource_version(std::to_string(st.rv));
        google::protobuf::Empty empty;
        s = stub->DeleteGpu(&ctx, req, &empty);
      }
      std::lock_guard<std::mutex> l(mu_);
      NameState& ns = names_[name];
      if (!s.ok()) {
        // The server going away: the write may or may not have committed.
        if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
            s.error_code() == grpc::StatusCode::CANCELLED ||
            s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
            s.error_code() == grpc::StatusCode::UNKNOWN || s.error_code() == grpc::StatusCode::INTERNAL) {
          ns.pending = op;
          ns.pending_marker = marker;
          return;
        }
        ADD_FAILURE() << "cycle " << cycle_ << ": " << OpName(op) << " " << name << " (known RV " << st.rv
                      << ") failed: " << s.error_code() << " " << s.error_message() << "\n"
                      << History(name);
        stop_ = true;
        return;
      }
      // A delete returns Empty: its RV is not on the wire. Use the RV it
      // preconditioned on as a lower bound (the deletion's RV is above it).
      const uint64_t rv = op == Op::kDelete ? st.rv : RvOf(out);
      if (op != Op::kDelete) {
        if (rv <= cycle_floor_rv_ || acked_rvs_.count(rv) != 0 || rv <= ns.rv) {
          ADD_FAILURE() << "cycle " << cycle_ << ": " << OpName(op) << " " << name << " acknowledged at RV "
                        << rv << ", which is not new (highest RV acknowledged before this start: "
                        << cycle_floor_rv_ << ", this name's previous RV: " << ns.rv
                        << ", already acknowledged: " << (acked_rvs_.count(rv) != 0) << ")\n"
                        << History(name);
          stop_ = true;
          return;
        }
        acked_rvs_.insert(rv);
        max_acked_rv_ = std::max(max_acked_rv_, rv);
        if (MarkerOf(out) != marker) {
          ADD_FAILURE() << "cycle " << cycle_ << ": " << OpName(op) << " " << name << " returned marker \""
                        << MarkerOf(out) << "\", want \"" << marker << "\"";
        }
      } else {
        ++acked_deletes_;
      }
      acks_.push_back({cycle_, name, op, rv, marker});
      ns.present = op != Op::kDelete;
      ns.rv = rv;
      ns.marker = op == Op::kDelete ? "" : marker;
    }
  }

  std::string History(const std::string& name) const {
    std::string out = absl::StrCat("acknowledged writes of ", name, " (seed ", seed_, "):\n");
    int shown = 0;
    for (auto it = acks_.rbegin(); it != acks_.rend() && shown < 12; ++it) {
      if (it->name != name) continue;
      ++shown;
      absl::StrAppend(&out, "  cycle ", it->cycle, " ", OpName(it->op), " rv ", it->rv, " marker ",
                      it->marker, "\n");
    }
    return out;
  }

  // The list after a restart against the model; then adopts what it saw.
  void VerifyAfterRestart(ServerProcess& server) {
    auto stub = v1::GpuService::NewStub(MakeChannel(server.target()));
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::ListGpusRequest req;
    req.set_namespace_(kNs);
    v1::ListGpusResponse resp;
    const grpc::Status s = stub->ListGpus(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << "cycle " << cycle_ << ": list after restart: " << s.error_code() << " "
                        << s.error_message();
    const uint64_t list_rv =
        std::strtoull(resp.gpu_list().metadata().resource_version().c_str(), nullptr, 10);
    EXPECT_GE(list_rv, max_acked_rv_)
        << "cycle " << cycle_ << ": the store's RV went back below an acknowledged RV";
    std::map<std::string, const v1::Gpu*> seen;
    for (const auto& g : resp.gpu_list().items()) seen[g.metadata().name()] = &g;

    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [name, g] : seen) {
      EXPECT_TRUE(names_.count(name)) << "cycle " << cycle_ << ": unexpected object " << name;
    }
    for (auto& [name, st] : names_) {
      auto it = seen.find(name);
      const v1::Gpu* g = it == seen.end() ? nullptr : it->second;
      const std::string pending = st.pending ? OpName(*st.pending) : "none";
      const std::string ctx_msg = absl::StrCat(
          "cycle ", cycle_, ": ", name, " (acknowledged ", st.present ? "present" : "absent", " at RV ",
          st.rv, ", marker \"", st.marker, "\"; write in flight at the kill: ", pending, " \"",
          st.pending_marker, "\")\n", History(name));
      if (st.present) {
        if (g == nullptr) {
          EXPECT_TRUE(st.pending == Op::kDelete) << "acknowledged object lost: " << ctx_msg;
        } else if (RvOf(*g) == st.rv) {
          EXPECT_EQ(MarkerOf(*g), st.marker) << "content at the acknowledged RV differs: " << ctx_msg;
        } else {
          EXPECT_GT(RvOf(*g), st.rv) << "object went back to an older RV: " << ctx_msg;
          EXPECT_TRUE(st.pending == Op::kUpdate && MarkerOf(*g) == st.pending_marker)
              << "object at RV " << RvOf(*g) << " with marker \"" << MarkerOf(*g)
              << "\" is not the acknowledged state nor the in-flight update: " << ctx_msg;
        }
      } else if (g != nullptr) {
        EXPECT_TRUE(st.pending == Op::kCreate && MarkerOf(*g) == st.pending_marker && RvOf(*g) > st.rv)
            << "object present at RV " << RvOf(*g) << " with marker \"" << MarkerOf(*g)
            << "\" though deleted/never created: " << ctx_msg;
      }
      // An acknowledged delete's RV is not on the wire: its DELETED event may
      // be above the last acknowledged RV, before an in-flight create of the
      // same name that committed.
      if (!st.present)
        acked_absent_rv_[name] = st.rv;
      else
        acked_absent_rv_.erase(name);
      if (g != nullptr && (!st.present || RvOf(*g) != st.rv)) {
        ++pending_committed_;
        committed_after_ack_.push_back({name, RvOf(*g), MarkerOf(*g), false});
      } else if (g == nullptr && st.present) {
        ++pending_committed_;
        committed_after_ack_.push_back({name, 0, "", true});
      }
      // Adopt what is there: the next cycle builds on it.
      st.present = g != nullptr;
      if (g != nullptr) {
        st.rv = RvOf(*g);
        st.marker = MarkerOf(*g);
      } else {
        st.marker.clear();
      }
      st.pending.reset();
      st.pending_marker.clear();
    }
  }

  struct Committed {
    std::string name;
    uint64_t rv;
    std::string marker;
    bool deleted;
  };

  // A watch from the last acknowledged RV: OUT_OF_RANGE (it left the
  // persisted history window) or a resume whose events are all in-flight
  // writes that committed or acknowledged deletes (whose RV the client never
  // learns), including every such create/update above that RV (a
  // delete's RV is not on the wire, so a committed in-flight delete may or may
  // not be after it).
  void CheckWatchFromLastAck(ServerProcess& server) {
    std::vector<Committed> committed;
    committed.swap(committed_after_ack_);
    if (max_acked_rv_ == 0) return;
    // Events already checked by an earlier cycle's watch (in-flight writes
    // found committed, acknowledged deletes) stay in the persisted history;
    // start above them.
    const uint64_t since = std::max(max_acked_rv_, checked_rv_);
    auto stub = v1::GpuService::NewStub(MakeChannel(server.target()));
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Milliseconds(150)));
    v1::WatchGpusRequest req;
    req.set_namespace_(kNs);
    req.mutable_opts()->set_resource_version(std::to_string(since));
    auto reader = stub->WatchGpus(&ctx, req);
    std::vector<v1::WatchGpusResponse> events;
    v1::WatchGpusResponse ev;
    while (reader->Read(&ev)) {
      if (ev.type() != "BOOKMARK") events.push_back(ev);
    }
    const grpc::Status s = reader->Finish();
    const std::string where = absl::StrCat("cycle ", cycle_, ": watch from the last acknowledged RV ", since);
    if (s.error_code() == grpc::StatusCode::OUT_OF_RANGE) {
      ++watch_out_of_range_;
      EXPECT_TRUE(events.empty()) << where << ": " << events.size() << " events before OUT_OF_RANGE";
      return;
    }
    ++watch_resumed_;
    ASSERT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
        << where << " ended with " << s.error_code() << " " << s.error_message()
        << " (want OUT_OF_RANGE or a resume)";
    std::set<std::string> seen;               // names with an in-flight write's event
    std::set<std::string> acked_delete_seen;  // names with an acknowledged delete's event
    for (const auto& e : events) {
      const std::string& name = e.object().metadata().name();
      const uint64_t rv = RvOf(e.object());
      EXPECT_GT(rv, since) << where << ": event " << e.type() << " " << name << " at or below the start RV";
      auto absent = acked_absent_rv_.find(name);
      if (e.type() == "DELETED" && absent != acked_absent_rv_.end() && rv > absent->second &&
          !seen.count(name) && acked_delete_seen.insert(name).second) {
        continue;  // the acknowledged delete, ahead of any committed in-flight create
      }
      EXPECT_TRUE(seen.insert(name).second) << where << ": two events for " << name;
      auto it = std::find_if(committed.begin(), committed.end(),
                             [&](const Committed& c) { return c.name == name; });
      if (it == committed.end()) {
        ADD_FAILURE() << where << ": event " << e.type() << " " << name << " at RV " << rv
                      << ", which no in-flight write or acknowledged delete made";
      } else if (it->deleted) {
        EXPECT_EQ(e.type(), "DELETED") << where << ": " << name;
      } else {
        EXPECT_NE(e.type(), "DELETED") << where << ": " << name;
        EXPECT_EQ(rv, it->rv) << where << ": " << name;
        EXPECT_EQ(MarkerOf(e.object()), it->marker) << where << ": " << name;
      }
    }
    for (const auto& e : events) checked_rv_ = std::max(checked_rv_, RvOf(e.object()));
    for (const auto& c : committed) {
      if (!c.deleted && c.rv > since) {
        EXPECT_TRUE(seen.count(c.name)) << where << ": no event for " << c.name;
      }
    }
  }

  // While the server is down: the file passes integrity_check and its
  // recorded RV is not below any acknowledged RV. The connection does not
  // checkpoint on close, so the server finds the WAL as the crash left it.
  void CheckDatabaseWhileDown() {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(db_path_.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK)
        << "cycle " << cycle_ << ": " << sqlite3_errmsg(db);
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    std::vector<std::string> rows;
    auto collect = [](void* out, int, char** values, char**) {
      static_cast<std::vector<std::string>*>(out)->push_back(values[0] ? values[0] : "NULL");
      return 0;
    };
    char* err = nullptr;
    const int rc = sqlite3_exec(db, "PRAGMA integrity_check", collect, &rows, &err);
    EXPECT_EQ(rc, SQLITE_OK) << "cycle " << cycle_ << ": integrity_check: " << (err ? err : "");
    sqlite3_free(err);
    EXPECT_EQ(rows, std::vector<std::string>{"ok"}) << "cycle " << cycle_ << ", seed " << seed_;
    rows.clear();
    if (max_acked_rv_ > 0) {
      sqlite3_exec(db, "SELECT value FROM meta WHERE key = 'rv'", collect, &rows, nullptr);
      ASSERT_EQ(rows.size(), 1u) << "cycle " << cycle_ << ": no recorded RV";
      EXPECT_GE(std::strtoull(rows[0].c_str(), nullptr, 10), max_acked_rv_) << "cycle " << cycle_;
    }
    sqlite3_close(db);
  }

  const TempDir& dir_;
  std::mt19937_64 rng_;
  const uint64_t seed_;
  std::string db_path_;
  int cycle_ = 0;
  int early_kills_ = 0;
  std::atomic<bool> stop_{false};

  std::mutex mu_;
  std::map<std::string, NameState> names_;
  std::vector<Ack> acks_;
  std::set<uint64_t> acked_rvs_;
  size_t acked_deletes_ = 0;
  uint64_t max_acked_rv_ = 0;
  uint64_t checked_rv_ = 0;      // the highest RV a watch check has seen and verified
  uint64_t cycle_floor_rv_ = 0;  // every RV acknowledged in this cycle must be above it
  std::vector<Committed> committed_after_ack_;
  std::map<std::string, uint64_t>
      acked_absent_rv_;  // names whose last acknowledged write was a delete (RV before it)
  int pending_committed_ = 0;
  int watch_out_of_range_ = 0;
  int watch_resumed_ = 0;

  absl::Duration max_ready_ = absl::ZeroDuration();
  absl::Duration sum_ready_ = absl::ZeroDuration();
  int ready_samples_ = 0;
};

TEST(SqliteCrashLoop, AcknowledgedWritesSurviveSigkill) {
  const uint64_t seed =
      g_knobs.seed_set ? g_knobs.seed : static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  std::printf("crash loop: seed %" PRIu64 ", %d cycles, %d clients (re-run: --seed %" PRIu64
              " --cycles %d)\n",
              seed, g_knobs.cycles, g_knobs.clients, seed, g_knobs.cycles);
  std::fflush(stdout);
  TempDir dir;
  CrashLoop loop(dir, seed);
  loop.Run(g_knobs.cycles);
}

}  // namespace
}  // namespace deviceapi::itest

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  using deviceapi::itest::g_knobs;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* flag) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", flag);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--cycles") {
      g_knobs.cycles = std::atoi(value("--cycles"));
    } else if (a == "--seed") {
      g_knobs.seed = std::strtoull(value("--seed"), nullptr, 10);
      g_knobs.seed_set = true;
    } else if (a == "--clients") {
      g_knobs.clients = std::atoi(value("--clients"));
    } else {
      std::fprintf(stderr, "unknown argument \"%s\": want --cycles N, --seed S, --clients C\n", a.c_str());
      return 2;
    }
  }
  if (g_knobs.cycles < 1 || g_knobs.clients < 1) {
    std::fprintf(stderr, "--cycles and --clients must be >= 1\n");
    return 2;
  }
  return RUN_ALL_TESTS();
}
