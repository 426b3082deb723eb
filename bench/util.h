// Small helpers for devapi-bench: clocks, latency statistics, child processes, temp dirs, ports,
// RSS, channels, and the timestamp marker carried inside benchmark objects.
#ifndef DEVICEAPI_BENCH_UTIL_H_
#define DEVICEAPI_BENCH_UTIL_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/grpcpp.h>

namespace devapi_bench {

// CLOCK_MONOTONIC in nanoseconds: one clock for every process on the machine, so a timestamp
// written into an object by the writer can be compared with the time a watcher receives it.
int64_t NowNs();
void SleepUntilNs(int64_t t);
inline constexpr int64_t kSec = 1000000000;  // one second in NowNs() units

// Latency samples in nanoseconds; percentiles over the sorted samples.
struct Latencies {
  std::vector<int64_t> ns;
  void Add(int64_t v) { ns.push_back(v); }
  void Merge(const Latencies& o) { ns.insert(ns.end(), o.ns.begin(), o.ns.end()); }
  void Finalize();                      // sorts
  double PercentileUs(double p) const;  // p in [0,1]; 0 when empty
  double MaxUs() const;
  size_t count() const { return ns.size(); }
};

// A private directory (under /dev/shm when it exists, else /tmp), removed on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

int PickFreePort();

// A child process; stdout and stderr go to `log_path`. Killed (SIGTERM, then SIGKILL) on
// destruction.
class Child {
 public:
  static std::unique_ptr<Child> Spawn(const std::vector<std::string>& argv, const std::string& log_path);
  ~Child();
  pid_t pid() const { return pid_; }
  bool Running();
  void Stop();
  int64_t spawned_ns() const { return spawned_ns_; }
  const std::string& log_path() const { return log_path_; }

 private:
  pid_t pid_ = -1;
  int64_t spawned_ns_ = 0;
  std::string log_path_;
};

// Resident set size of a process in bytes (VmRSS), or -1.
int64_t RssBytes(pid_t pid);
std::string ReadFile(const std::string& path);
// Path of this executable (to spawn the floor server).
std::string SelfExe();

// A channel with its own connection (never shared with another channel of the process), no
// message size limits.
std::shared_ptr<grpc::Channel> NewChannel(const std::string& target, int index);

// The marker "BTS:" + 16 hex digits of a NowNs() timestamp, embedded in benchmark objects.
inline constexpr std::string_view kMarker = "BTS:";
inline constexpr size_t kMarkerLen = 4 + 16;
std::string MarkerText(int64_t ts);
// Overwrites the timestamp of the first marker at or after `pos` in `bytes`; returns its offset.
size_t FindMarker(std::string_view bytes, size_t from = 0);
void PatchMarker(std::string* bytes, size_t marker_offset, int64_t ts);
int64_t ParseMarker(const char* p);  // p points at the marker

// The bytes of a ByteBuffer, concatenated into `out` (reused between calls).
void Flatten(const grpc::ByteBuffer& bb, std::string* out);
grpc::ByteBuffer ToByteBuffer(const std::string& s);

std::string FormatUs(double us);
std::string FormatRate(double per_s);
std::string FormatBytes(int64_t b);

}  // namespace devapi_bench

#endif  // DEVICEAPI_BENCH_UTIL_H_
