// Durable commits per second of SqlitePersister: one event per transaction
// (Commit) against 16 per transaction (CommitBatch, what group commit will
// do), for synchronous=FULL and NORMAL, on a fresh database under $TMPDIR or
// /tmp (what the tests use). Not a test: run it by hand, e.g.
//   build/tests/unit/storage/sqlite_commit_bench [events] [conditions]
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "storage/sqlite/sqlite_persister.h"

namespace deviceapi::storage {
namespace {

std::shared_ptr<v1::Gpu> MakeGpu(int i, uint64_t rv, int conditions) {
  auto g = std::make_shared<v1::Gpu>();
  g->mutable_metadata()->set_name("gpu-" + std::to_string(i));
  g->mutable_metadata()->set_namespace_("default");
  g->mutable_metadata()->set_resource_version(std::to_string(rv));
  g->mutable_spec()->set_uuid("GPU-" + std::to_string(i));
  for (int c = 0; c < conditions; ++c) {
    auto* cond = g->mutable_status()->add_conditions();
    cond->set_type("Cond" + std::to_string(c));
    cond->set_status("True");
    cond->set_reason("Healthy");
    cond->set_message("all checks passed at " + std::to_string(rv));
  }
  return g;
}

// Events/s committing `events` status updates over 64 GPUs, `batch` per transaction.
double Run(const std::string& dir, SqliteSync sync, size_t batch, int events, int conditions) {
  const std::string path = dir + "/bench.db";
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) std::filesystem::remove(path + suffix, ec);
  SqliteOptions o;
  o.synchronous = sync;
  auto p = SqlitePersister::Open(path, o);
  if (!p.ok()) {
    std::fprintf(stderr, "%s\n", std::string(p.status().message()).c_str());
    std::exit(1);
  }
  std::vector<StoredPtr> cur(64);
  uint64_t rv = 1;
  std::vector<EventPtr> evs;
  for (int i = 0; i < events; ++i) {
    auto ev = std::make_shared<Event>();
    ev->rv = ++rv;
    const int g = i % 64;
    ev->type = cur[g] ? EventType::kModified : EventType::kAdded;
    ev->prev = cur[g];
    ev->object = StoredObject::Make(MakeGpu(g, ev->rv, conditions));
    ev->time = absl::Now();
    cur[g] = ev->object;
    evs.push_back(std::move(ev));
  }
  const absl::Time t0 = absl::Now();
  for (size_t i = 0; i < evs.size(); i += batch) {
    std::vector<const Event*> b;
    for (size_t j = i; j < std::min(evs.size(), i + batch); ++j) b.push_back(evs[j].get());
    const absl::Status s = batch == 1 ? (*p)->Commit(*b[0]) : (*p)->CommitBatch(b);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
      std::exit(1);
    }
  }
  return static_cast<double>(events) / absl::ToDoubleSeconds(absl::Now() - t0);
}

}  // namespace
}  // namespace deviceapi::storage

int main(int argc, char** argv) {
  using namespace deviceapi::storage;
  const int events = argc > 1 ? std::atoi(argv[1]) : 3200;
  const int conditions = argc > 2 ? std::atoi(argv[2]) : 8;
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/dapi-bench-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return 1;
  std::printf("%d events, %d conditions per GPU, in %s\n", events, conditions, tmpl.c_str());
  std::printf("%-10s %14s %16s %8s\n", "sync", "single ev/s", "batch-16 ev/s", "ratio");
  for (SqliteSync sync : {SqliteSync::kFull, SqliteSync::kNormal}) {
    const double single = Run(tmpl, sync, 1, events, conditions);
    const double batched = Run(tmpl, sync, 16, events, conditions);
    std::printf("%-10s %14.0f %16.0f %7.1fx\n", sync == SqliteSync::kFull ? "FULL" : "NORMAL", single,
                batched, batched / single);
  }
  std::error_code ec;
  std::filesystem::remove_all(tmpl, ec);
  return 0;
}
