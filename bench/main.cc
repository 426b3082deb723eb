// devapi-bench: see bench/CMakeLists.txt and docs/performance.md. This file reads the flags and
// wires the rest: scenarios.h runs each target (unary_runner.h, fanout.h), report.h writes the
// table.
//
//   devapi-bench [--targets server,etcd,floor] [--target ADDR]... [--scenarios all|get,list,...]
//                [--size standard|tiny] [--fanout W:R,...] [--server-bin PATH] [--etcd-bin PATH]
//                [--out FILE.md]
//
// Targets: `server`, `etcd` and `floor` are spawned by the bench (temp dir, free ports);
// `--target unix:///abs.sock` is a running device-api-server, `--target etcd://127.0.0.1:2379` a
// running etcd, `--target floor=unix:///abs.sock` a running floor (`devapi-bench --serve-floor`).
// Scenarios: get, list, update, watch-fanout, slow-watcher, footprint (spawned targets only).
#include <unistd.h>
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "floor_server.h"
#include "report.h"
#include "scenarios.h"
#include "suite.h"
#include "targets.h"
#include "util.h"

namespace devapi_bench {
namespace {

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(
      stderr,
      "devapi-bench: %s\n"
      "usage: devapi-bench [--targets server,etcd,floor,server-sqlite] [--target "
      "unix:///abs.sock|etcd://HOST:PORT|"
      "floor=unix:///abs.sock]...\n"
      "       [--scenarios all|get,list,update,watch-fanout,slow-watcher,footprint] [--size standard|tiny]\n"
      "       [--fanout WATCHERS:RATE,... (rate 0: saturated)] [--server-bin PATH] [--etcd-bin PATH]\n"
      "       [--out FILE.md]\n"
      "       devapi-bench --serve-floor unix:///abs.sock [--gpus N] [--conditions N]\n",
      why.c_str());
  std::exit(2);
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ',')) {
    if (!x.empty()) out.push_back(x);
  }
  return out;
}

TargetSpec ParseTarget(const std::string& v) {
  if (v == "server") return {Kind::kServer, ""};
  if (v == "etcd") return {Kind::kEtcd, ""};
  if (v == "server-sqlite") return {Kind::kServerSqlite, ""};
  if (v == "floor") return {Kind::kFloor, ""};
  if (v.rfind("unix://", 0) == 0) return {Kind::kServer, v};
  if (v.rfind("etcd://", 0) == 0) return {Kind::kEtcd, v.substr(7)};
  if (v.rfind("floor=", 0) == 0) return {Kind::kFloor, v.substr(6)};
  Usage("unknown target " + v);
}

int Main(int argc, char** argv) {
  Options o;
  o.settings.server_bin = DEVAPI_BENCH_SERVER_BIN;
  std::string serve_floor;
  int floor_gpus = 1024, floor_conditions = 32;
  bool targets_given = false;
  std::string scen = "all";
  std::string fanout;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) Usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--targets") {
      for (const auto& x : Split(val())) o.targets.push_back(ParseTarget(x));
      targets_given = true;
    } else if (a == "--target") {
      o.targets.push_back(ParseTarget(val()));
      targets_given = true;
    } else if (a == "--scenarios" || a == "--scenario") {
      scen = val();
    } else if (a == "--size") {
      o.size_name = val();
      if (o.size_name == "tiny")
        o.sizes = Tiny();
      else if (o.size_name == "standard")
        o.sizes = Standard();
      else
        Usage("unknown size " + o.size_name);
    } else if (a == "--fanout") {
      // W:R,... (R 0: saturated) instead of the size's fan-out cases, e.g. --fanout 10:0
      fanout = val();
    } else if (a == "--server-bin") {
      o.settings.server_bin = val();
    } else if (a == "--etcd-bin") {
      o.settings.etcd_bin = val();
    } else if (a == "--out") {
      o.out = val();
    } else if (a == "--serve-floor") {
      serve_floor = val();
    } else if (a == "--gpus") {
      floor_gpus = std::stoi(val());
    } else if (a == "--conditions") {
      floor_conditions = std::stoi(val());
    } else if (a == "-h" || a == "--help") {
      Usage("help");
    } else {
      Usage("unknown flag " + a);
    }
  }
  if (!serve_floor.empty()) return RunFloorServer(serve_floor, floor_gpus, floor_conditions);
  if (!targets_given) {
    o.targets = {ParseTarget("server"), ParseTarget("etcd"), ParseTarget("floor"),
                 ParseTarget("server-sqlite")};
  }
  const std::vector<std::string> all = {"get", "list", "update", "watch-fanout", "slow-watcher", "footprint"};
  for (const auto& s : scen == "all" ? all : Split(scen)) {
    if (std::find(all.begin(), all.end(), s) == all.end()) Usage("unknown scenario " + s);
    o.scenarios.insert(s);
  }
  if (!fanout.empty()) {
    o.sizes.fanout.clear();
    for (const auto& f : Split(fanout)) {
      // Both numbers whole, nothing else: "10x:0" or "10:0:5" is an error, not 10:0.
      int w = 0, r = -1;
      const char* end = f.data() + f.size();
      auto [p, e1] = std::from_chars(f.data(), end, w);
      bool ok = e1 == std::errc() && p != end && *p == ':';
      if (ok) {
        auto [q, e2] = std::from_chars(p + 1, end, r);
        ok = e2 == std::errc() && q == end;
      }
      if (!ok || w < 1 || r < 0)
        Usage("--fanout wants WATCHERS:RATE[,...] (watchers >= 1, rate >= 0), got " + f);
      o.sizes.fanout.push_back({w, r});
    }
  }
  o.settings.gpus = o.sizes.gpus;
  o.settings.conditions = o.sizes.conditions;

  Results res;
  const int64_t t0 = NowNs();
  for (const auto& spec : o.targets) {
    if (spec.kind == Kind::kEtcd && spec.address.empty() &&
        ::access(o.settings.etcd_bin.c_str(), X_OK) != 0) {
      std::fprintf(stderr, "etcd: skipped (%s not installed; scripts/install-deps.sh installs etcd-server)\n",
                   o.settings.etcd_bin.c_str());
      continue;
    }
    std::fprintf(stderr, "== %s\n", KindName(spec.kind));
    if (Want(o, "footprint")) RunFootprint(o, spec, &res);
    if (Want(o, "get") || Want(o, "list") || Want(o, "update") || Want(o, "watch-fanout") ||
        Want(o, "slow-watcher")) {
      RunPerfScenarios(o, spec, &res);
    }
  }
  std::string md = Report(o, res);
  char hdr[256];
  std::snprintf(
      hdr, sizeof(hdr), "Size `%s`: %d GPUs × %d conditions (%zu-byte objects); suite ran in %.0f s.\n\n",
      o.size_name.c_str(), o.sizes.gpus, o.sizes.conditions,
      MakeBenchGpu(0, o.sizes.conditions, 1).ByteSizeLong(), static_cast<double>(NowNs() - t0) / kSec);
  md = hdr + md;
  std::cout << md;
  if (!o.out.empty()) {
    std::ofstream f(o.out);
    f << md;
    if (!f) {
      std::fprintf(stderr, "cannot write %s\n", o.out.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace devapi_bench

int main(int argc, char** argv) {
  try {
    return devapi_bench::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "devapi-bench: %s\n", e.what());
    return 1;
  }
}
