// Each scenario names its rows (report.h) and turns a runner's samples into a Measure.
#include "scenarios.h"

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "fanout.h"
#include "unary_runner.h"
#include "util.h"

namespace devapi_bench {
namespace {

// A unary run's cell: its percentiles and rate per second of `unit`, its errors as the note.
Measure UnaryMeasure(UnaryRun& r, const std::string& unit) {
  Measure m = FromLatencies(r.lat, r.rate, unit);
  if (r.errors) m.note = "errors " + std::to_string(r.errors) + ": " + r.first_error;
  return m;
}

// A fan-out run's cell: delivery percentiles, delivered events per second, losses as the note.
Measure FanoutMeasure(FanoutRun& r) {
  Measure m = FromLatencies(r.lat, r.delivered_rate, "events");
  if (r.lost || r.ended) m.note = "lost " + std::to_string(r.lost) + ", ended " + std::to_string(r.ended);
  return m;
}

}  // namespace

void RunPerfScenarios(const Options& o, const TargetSpec& spec, Results* res) {
  const Sizes& z = o.sizes;
  auto t = Target::Open(spec, o.settings);
  const std::string tn = t->name();
  std::fprintf(stderr, "%s at %s: loading %d GPUs x %d conditions\n", tn.c_str(), t->address().c_str(),
               z.gpus, z.conditions);
  t->Load(z.gpus);
  if (Want(o, "get")) {
    const grpc::ByteBuffer req = t->get_request();
    for (int c : z.get_clients) {
      UnaryRun r = RunUnary(
          *t, t->get_method(), [&](int, uint64_t) { return req; }, c, z.unary_s);
      Record(res, GetRow(c), tn, UnaryMeasure(r, "gets"));
    }
  }
  if (Want(o, "list")) {
    const grpc::ByteBuffer req = t->list_request();
    UnaryRun r = RunUnary(
        *t, t->list_method(), [&](int, uint64_t) { return req; }, 1, z.list_s);
    Record(res, ListRow(z.gpus, z.conditions), tn, UnaryMeasure(r, "lists"));
  }
  if (Want(o, "update")) {
    for (int c : z.update_clients) {
      // Each client writes its own GPUs, so optimistic updates never conflict.
      UnaryRun r = RunUnary(
          *t, t->write_method(),
          [&](int i, uint64_t seq) { return t->WriteRequest(i + c * static_cast<int>(seq % 4), NowNs()); }, c,
          z.unary_s);
      Record(res, UpdateRow(c), tn, UnaryMeasure(r, "updates"));
    }
  }
  if (Want(o, "watch-fanout")) {
    for (const auto& f : z.fanout) {
      FanoutRun r = RunFanout(*t, f.watchers, 0, f.rate, z.fanout_s);
      Record(res, FanoutRow(f.watchers, f.rate), tn, FanoutMeasure(r));
    }
  }
  if (Want(o, "slow-watcher")) {
    for (int stalled : {0, 1}) {
      FanoutRun r = RunFanout(*t, z.slow_healthy, stalled, z.slow_rate, z.slow_s);
      Record(res, SlowWatcherRow(z.slow_healthy, z.slow_rate, stalled != 0), tn, FanoutMeasure(r));
    }
  }
}

void RunFootprint(const Options& o, const TargetSpec& spec, Results* res) {
  if (!spec.address.empty()) return;  // needs the process: spawned targets only
  const Sizes& z = o.sizes;
  auto t = Target::Open(spec, o.settings);
  const std::string tn = t->name();
  Record(res, kStartRow, tn, ValueMeasure(t->ready_ns(), "ns"));
  if (!t->self_reported_ready().empty()) {
    std::fprintf(stderr, "  (%s reports: ready in %s)\n", tn.c_str(), t->self_reported_ready().c_str());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Record(res, kRssIdleRow, tn, ValueMeasure(RssBytes(t->pid()), "bytes"));
  t->Load(z.gpus);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Record(res, RssRow(z.gpus), tn, ValueMeasure(RssBytes(t->pid()), "bytes"));
  WithBusyWatchers(*t, z.footprint_watchers, [&] {
    Record(res, RssWithWatchersRow(z.gpus, z.footprint_watchers), tn,
           ValueMeasure(RssBytes(t->pid()), "bytes"));
  });
}

}  // namespace devapi_bench
