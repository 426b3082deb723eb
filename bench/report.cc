// The report: the progress lines on stderr, the row names, and the markdown tables with their
// goals. Every goal is a ratio to a figure of the same run (docs/performance.md).
#include "report.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <sstream>
#include <utility>

#include "targets.h"

namespace devapi_bench {
namespace {

// A footprint value: bytes as MiB, anything else (ns) as a duration.
std::string FormatValue(int64_t v, const std::string& unit) {
  return unit == "bytes" ? FormatBytes(v) : FormatUs(static_cast<double>(v) / 1000);
}

void PrintMeasure(const std::string& row, const std::string& target, const Measure& x) {
  if (x.value >= 0) {
    std::fprintf(stderr, "  %-44s %-18s %s\n", row.c_str(), target.c_str(),
                 FormatValue(x.value, x.unit).c_str());
    return;
  }
  std::fprintf(stderr, "  %-44s %-18s p50 %-9s p99 %-9s p999 %-9s max %-9s %s %s %s\n", row.c_str(),
               target.c_str(), FormatUs(x.p50).c_str(), FormatUs(x.p99).c_str(), FormatUs(x.p999).c_str(),
               FormatUs(x.max).c_str(), FormatRate(x.rate).c_str(), x.unit.c_str(), x.note.c_str());
}

}  // namespace

Measure FromLatencies(Latencies& l, double rate, const std::string& unit) {
  l.Finalize();
  Measure m;
  m.has_lat = l.count() > 0;
  m.p50 = l.PercentileUs(0.50);
  m.p99 = l.PercentileUs(0.99);
  m.p999 = l.PercentileUs(0.999);
  m.max = l.MaxUs();
  m.rate = rate;
  m.unit = unit;
  return m;
}

Measure ValueMeasure(int64_t v, const std::string& unit) {
  Measure m;
  m.value = v;
  m.unit = unit;
  return m;
}

void Results::Put(const std::string& row, const std::string& target, Measure x) {
  if (!m.count(row)) order.push_back(row);
  m[row][target] = std::move(x);
}

const Measure* Results::Get(const std::string& row, const std::string& target) const {
  auto r = m.find(row);
  if (r == m.end()) return nullptr;
  auto t = r->second.find(target);
  return t == r->second.end() ? nullptr : &t->second;
}

void Record(Results* res, const std::string& row, const std::string& target, Measure m) {
  PrintMeasure(row, target, m);
  res->Put(row, target, std::move(m));
}

std::string GetRow(int clients) {
  return "get: " + std::to_string(clients) + (clients == 1 ? " client" : " clients");
}

std::string ListRow(int gpus, int conditions) {
  return "list: " + std::to_string(gpus) + " GPUs x " + std::to_string(conditions) + " conditions";
}

std::string UpdateRow(int clients) {
  return "update: " + std::to_string(clients) + (clients == 1 ? " client" : " clients") + ", 0 watchers";
}

std::string FanoutRow(int watchers, int rate) {
  return "watch-fanout: " + std::to_string(watchers) + " watchers x " +
         (rate ? std::to_string(rate) + " updates/s" : std::string("saturated"));
}

std::string SlowWatcherRow(int healthy, int rate, bool stalled) {
  return "slow-watcher: " + std::to_string(healthy) + " healthy x " + std::to_string(rate) + "/s, " +
         (stalled ? "1 stalled" : "none stalled");
}

std::string RssRow(int gpus) { return "footprint: RSS with " + std::to_string(gpus) + " GPUs"; }

std::string RssWithWatchersRow(int gpus, int watchers) {
  return RssRow(gpus) + " + " + std::to_string(watchers) + " watchers";
}

namespace {

std::string Cell(const Measure* m) {
  if (m == nullptr) return "–";
  if (m->value >= 0) return FormatValue(m->value, m->unit);
  return FormatUs(m->p50) + " / " + FormatUs(m->p99) + " / " + FormatUs(m->p999) + " / " + FormatUs(m->max) +
         " / " + FormatRate(m->rate);
}

// "1.23×", or "–" when `v` is not positive (unknown).
std::string Times(double v) {
  if (v <= 0) return "–";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f×", v);
  return buf;
}

std::string Ratio(double a, double b) { return a <= 0 || b <= 0 ? "–" : Times(a / b); }

struct Goal {
  std::string what, row;
  enum Field { kP99, kRate, kValue } field;
  std::string target_text;
  // Returns "met"/"missed"/"–" given ours, floor, etcd values (<=0: unknown).
  std::function<std::string(double ours, double floor, double etcd)> judge;
};

double FieldOf(const Measure* m, Goal::Field f) {
  if (m == nullptr) return -1;
  switch (f) {
    case Goal::kP99:
      return m->has_lat ? m->p99 : -1;
    case Goal::kRate:
      return m->rate;
    case Goal::kValue:
      return static_cast<double>(m->value);
  }
  return -1;
}

std::string FormatField(double v, Goal::Field f, const std::string& unit) {
  if (v < 0) return "–";
  switch (f) {
    case Goal::kP99:
      return FormatUs(v);
    case Goal::kRate:
      return FormatRate(v);
    case Goal::kValue:
      return FormatValue(static_cast<int64_t>(v), unit);
  }
  return "–";
}

std::string Verdict(bool known, bool ok) { return !known ? "–" : ok ? "**met**" : "**missed**"; }

}  // namespace

std::string Report(const Options& o, const Results& res) {
  std::ostringstream md;
  const char* S = KindName(Kind::kServer);
  const char* E = KindName(Kind::kEtcd);
  const char* F = KindName(Kind::kFloor);
  const char* Q = KindName(Kind::kServerSqlite);
  md << "#### Targets (each a ratio to a figure of the same run)\n\n";
  md << "| Goal | device-api-server | etcd | floor | ours/floor | ours/etcd | Target | Verdict |\n";
  md << "|---|---|---|---|---|---|---|---|\n";
  auto row = [&](const std::string& what, const std::string& r, Goal::Field f, const std::string& target,
                 const std::function<std::string(double, double, double)>& judge) {
    const Measure* ms = res.Get(r, S);
    const Measure* me = res.Get(r, E);
    const Measure* mf = res.Get(r, F);
    if (!ms && !me && !mf) return;
    const std::string unit = ms ? ms->unit : me ? me->unit : mf->unit;
    const double vs = FieldOf(ms, f), ve = FieldOf(me, f), vf = FieldOf(mf, f);
    md << "| " << what << " | " << FormatField(vs, f, unit) << " | " << FormatField(ve, f, unit) << " | "
       << FormatField(vf, f, unit) << " | " << Ratio(vs, vf) << " | " << Ratio(vs, ve) << " | " << target
       << " | " << judge(vs, vf, ve) << " |\n";
  };
  const Sizes& z = o.sizes;
  const std::string one = GetRow(1);
  int c16 = z.get_clients.back();
  for (int c : z.get_clients) {
    if (c == 16) c16 = 16;
  }
  const std::string get16 = GetRow(c16);
  row("Get p99, 1 client", one, Goal::kP99, "≤ 1.5× floor",
      [](double s, double f, double) { return Verdict(s > 0 && f > 0, s <= 1.5 * f); });
  row("Get throughput, " + std::to_string(c16) + " clients", get16, Goal::kRate, "≥ 0.7× floor",
      [](double s, double f, double) { return Verdict(s > 0 && f > 0, s >= 0.7 * f); });
  for (const auto& fo : z.fanout) {
    const std::string r = FanoutRow(fo.watchers, fo.rate);
    const bool goal = fo.watchers == 10 || fo.watchers == 100 || &fo == &z.fanout.back() ||
                      (o.size_name == "tiny" && fo.watchers > 1);
    if (fo.rate == 0) {
      row("Fan-out " + std::to_string(fo.watchers) + " watchers, saturated: delivered events/s", r,
          Goal::kRate, goal ? "≥ 0.8× floor and ≥ 3× etcd" : "(info)", [goal](double s, double f, double e) {
            if (!goal) return std::string("–");
            return Verdict(s > 0 && f > 0, s >= 0.8 * f && (e <= 0 || s >= 3 * e));
          });
    } else {
      row("Fan-out " + std::to_string(fo.watchers) + " watchers × " + std::to_string(fo.rate) +
              "/s: delivery p99",
          r, Goal::kP99, goal ? "≤ 2× floor" : "(info)", [goal](double s, double f, double) {
            if (!goal) return std::string("–");
            return Verdict(s > 0 && f > 0, s <= 2 * f);
          });
    }
  }
  {
    const std::string without = SlowWatcherRow(z.slow_healthy, z.slow_rate, false);
    const std::string with = SlowWatcherRow(z.slow_healthy, z.slow_rate, true);
    auto ratio = [&](const char* tgt) {
      const Measure* a = res.Get(without, tgt);
      const Measure* b = res.Get(with, tgt);
      return (a && b && a->p99 > 0) ? b->p99 / a->p99 : -1.0;
    };
    const double rs = ratio(S), re = ratio(E), rf = ratio(F);
    if (rs > 0 || re > 0 || rf > 0) {
      md << "| Stalled watcher: healthy p99 with / without | " << Times(rs) << " | " << Times(re) << " | "
         << Times(rf) << " | – | – | < 1.10× | " << Verdict(rs > 0, rs < 1.10) << " |\n";
    }
  }
  const std::string rss = RssWithWatchersRow(z.gpus, z.footprint_watchers);
  row("RSS, " + std::to_string(z.gpus) + " GPUs + " + std::to_string(z.footprint_watchers) + " watchers", rss,
      Goal::kValue, "≤ 32 MiB",
      [](double s, double, double) { return Verdict(s > 0, s <= 32.0 * 1024 * 1024); });
  row("Start to first answer", kStartRow, Goal::kValue, "≤ 100 ms",
      [](double s, double, double) { return Verdict(s > 0, s <= 100e6); });

  {
    // The durable backend: SQLite (synchronous=FULL, group commit) against etcd, which also
    // fsyncs every write. Update rows use 16 writers.
    const std::string upd = UpdateRow(16);
    const Measure* mq = res.Get(upd, Q);
    const Measure* me = res.Get(upd, E);
    if (mq) {
      const double q = mq->rate, e = me ? me->rate : 0;
      md << "| Durable writes/s, 16 clients (SQLite, synchronous=FULL) | " << FormatRate(q) << " (sqlite) | "
         << (me ? FormatRate(e) : std::string("–")) << " | – | – | " << Ratio(q, e)
         << " | ≥ 5,000/s and ≥ 2× etcd | " << Verdict(q > 0, q >= 5000 && (e <= 0 || q >= 2 * e)) << " |\n";
    }
  }

  const bool with_sqlite = std::any_of(res.order.begin(), res.order.end(),
                                       [&](const std::string& r) { return res.Get(r, Q) != nullptr; });
  md << "\n#### All measurements (p50 / p99 / p999 / max / throughput)\n\n";
  md << "| Scenario | device-api-server | etcd | floor |"
     << (with_sqlite ? " device-api-server (sqlite) |" : "") << "\n|---|---|---|---|"
     << (with_sqlite ? "---|" : "") << "\n";
  for (const auto& r : res.order) {
    md << "| " << r << " | " << Cell(res.Get(r, S)) << " | " << Cell(res.Get(r, E)) << " | "
       << Cell(res.Get(r, F)) << " |";
    if (with_sqlite) md << " " << Cell(res.Get(r, Q)) << " |";
    md << "\n";
  }
  std::vector<std::string> notes;
  for (const auto& r : res.order) {
    for (const auto& [tgt, m] : res.m.at(r)) {
      if (!m.note.empty()) notes.push_back(r + " (" + tgt + "): " + m.note);
    }
  }
  if (!notes.empty()) {
    md << "\nNotes:\n";
    for (const auto& n : notes) md << "- " << n << "\n";
  }
  return md.str();
}

}  // namespace devapi_bench
