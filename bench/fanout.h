// The watch fan-out client of devapi-bench: W watch streams on one target, a writer that
// timestamps each write, and the delivery latency of every event to every healthy watcher (paced
// or saturated writes, optionally with stalled watchers that never read).
#ifndef DEVICEAPI_BENCH_FANOUT_H_
#define DEVICEAPI_BENCH_FANOUT_H_

#include <cstdint>
#include <functional>

#include "targets.h"
#include "util.h"

namespace devapi_bench {

struct FanoutRun {
  Latencies lat;              // delivery latency, every healthy watcher's events; not finalized
  double delivered_rate = 0;  // events received by the healthy watchers per second of the run
  uint64_t writes = 0;        // writes sent in the run
  uint64_t lost = 0;          // events a healthy watcher had not received 5 s after the run
  uint64_t ended = 0;         // healthy watch streams the target ended before the bench closed them
};

// `watchers` healthy and `stalled` stalled watch streams (a stalled one stops reading after its
// first event) from the target's current revision; once every one has received an event, writes
// for `seconds`: paced at `rate`/s (open loop: async, never waiting for an ack) or, with rate 0,
// as fast as the slowest healthy watcher keeps up (at most 64 events ahead of it, 4 writers).
// Latency: receive time minus the timestamp the writer put into the object just before sending
// it; only events written during the run count. Throws when the watchers cannot be set up.
FanoutRun RunFanout(Target& t, int watchers, int stalled, int rate, double seconds);

// Opens `watchers` watch streams, waits until each has received an event, sends 100 writes at
// about 1000/s so every stream has carried traffic, waits 500 ms, then calls `measure` while the
// streams are still open. For the footprint scenario. Throws when the watchers cannot be set up.
void WithBusyWatchers(Target& t, int watchers, const std::function<void()>& measure);

}  // namespace devapi_bench

#endif  // DEVICEAPI_BENCH_FANOUT_H_
