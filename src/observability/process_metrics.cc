#include "observability/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <system_error>

namespace deviceapi::observability {
namespace {

prometheus::MetricFamily Single(std::string name, std::string help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
  return family;
}

// Fields of /proc/self/stat after the ")" that closes comm: index 0 is field 3 (state).
bool ReadStatFields(std::vector<std::string>& fields) {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  size_t close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  while (rest >> field) fields.push_back(field);
  return fields.size() >= 22;
}

double ToDouble(const std::string& s) { return std::strtod(s.c_str(), nullptr); }

int CountOpenFds() {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/fd", ec);
  if (ec) return -1;
  int count = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) return -1;
    ++count;
  }
  return count - 1;  // the descriptor the iterator itself holds
}

}  // namespace

ProcessCollector::ProcessCollector() {
  long ticks = sysconf(_SC_CLK_TCK);
  if (ticks > 0) clock_ticks_per_second_ = ticks;
  long page = sysconf(_SC_PAGESIZE);
  if (page > 0) page_size_ = page;
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      in >> boot_time_seconds_;
      break;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  std::vector<std::string> f;
  if (ReadStatFields(f)) {
    // Field numbers as in proc(5); f[n - 3] holds field n.
    double utime = ToDouble(f[14 - 3]);
    double stime = ToDouble(f[15 - 3]);
    double threads = ToDouble(f[20 - 3]);
    double start_ticks = ToDouble(f[22 - 3]);
    double vsize = ToDouble(f[23 - 3]);
    double rss_pages = ToDouble(f[24 - 3]);
    double hz = static_cast<double>(clock_ticks_per_second_);
    out.push_back(Single("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                         MetricType::Counter, (utime + stime) / hz));
    out.push_back(
        Single("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge, vsize));
    out.push_back(Single("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
                         rss_pages * static_cast<double>(page_size_)));
    if (boot_time_seconds_ > 0) {
      out.push_back(Single("process_start_time_seconds",
                           "Start time of the process since unix epoch in seconds.", MetricType::Gauge,
                           boot_time_seconds_ + start_ticks / hz));
    }
    out.push_back(
        Single("process_threads", "Number of OS threads in the process.", MetricType::Gauge, threads));
  }
  if (int fds = CountOpenFds(); fds >= 0) {
    out.push_back(Single("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, fds));
  }
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    double max = limit.rlim_cur == RLIM_INFINITY ? -1 : static_cast<double>(limit.rlim_cur);
    if (max >= 0) {
      out.push_back(
          Single("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge, max));
    }
  }
  return out;
}

}  // namespace deviceapi::observability
