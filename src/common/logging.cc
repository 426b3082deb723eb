#include "common/logging.h"

#include <time.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>

#include "fmt/format.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace deviceapi::common {
namespace {

std::atomic<int> g_verbosity{0};

const char* Basename(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash != nullptr ? slash + 1 : path;
}

// Splits a log time into whole seconds and microseconds.
void SplitTime(spdlog::log_clock::time_point t, time_t& secs, long& micros) {
  auto since_epoch = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch());
  secs = static_cast<time_t>(since_epoch.count() / 1000000);
  micros = static_cast<long>(since_epoch.count() % 1000000);
  if (micros < 0) {
    micros += 1000000;
    --secs;
  }
}

// klog's header: Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg
class KlogFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    time_t secs;
    long micros;
    SplitTime(msg.time, secs, micros);
    struct tm tm;
    localtime_r(&secs, &tm);
    char letter = spdlog::level::to_short_c_str(msg.level)[0];
    fmt::format_to(std::back_inserter(dest), "{}{:02d}{:02d} {:02d}:{:02d}:{:02d}.{:06d} {}", letter,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros, msg.thread_id);
    if (!msg.source.empty()) {
      fmt::format_to(std::back_inserter(dest), " {}:{}", Basename(msg.source.filename), msg.source.line);
    }
    fmt::format_to(std::back_inserter(dest), "] {}\n",
                   std::string_view(msg.payload.data(), msg.payload.size()));
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<KlogFormatter>(); }
};

void AppendJsonString(spdlog::memory_buf_t& dest, std::string_view s) {
  dest.push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        dest.append(std::string_view("\\\""));
        break;
      case '\\':
        dest.append(std::string_view("\\\\"));
        break;
      case '\n':
        dest.append(std::string_view("\\n"));
        break;
      case '\r':
        dest.append(std::string_view("\\r"));
        break;
      case '\t':
        dest.append(std::string_view("\\t"));
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(std::back_inserter(dest), "\\u{:04x}", static_cast<int>(c));
        } else {
          dest.push_back(c);
        }
    }
  }
  dest.push_back('"');
}

// One JSON object per line, in the spirit of Kubernetes' --logging-format=json.
class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    time_t secs;
    long micros;
    SplitTime(msg.time, secs, micros);
    struct tm tm;
    gmtime_r(&secs, &tm);
    fmt::format_to(std::back_inserter(dest),
                   R"({{"ts":"{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:06d}Z","level":)",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
    auto level_name = spdlog::level::to_string_view(msg.level);
    AppendJsonString(dest, std::string_view(level_name.data(), level_name.size()));
    if (!msg.source.empty()) {
      dest.append(std::string_view(R"(,"caller":)"));
      AppendJsonString(dest, fmt::format("{}:{}", Basename(msg.source.filename), msg.source.line));
    }
    dest.append(std::string_view(R"(,"msg":)"));
    AppendJsonString(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(std::string_view("}\n"));
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

std::unique_ptr<spdlog::formatter> MakeLogFormatter(std::string_view format) {
  if (format == "json") return std::make_unique<JsonFormatter>();
  return std::make_unique<KlogFormatter>();
}

void InitLogging(int verbosity, std::string_view format) {
  InitLogging(verbosity, format, std::make_shared<spdlog::sinks::stderr_sink_mt>());
}

void InitLogging(int verbosity, std::string_view format, spdlog::sink_ptr sink) {
  SetVerbosity(verbosity);
  sink->set_formatter(MakeLogFormatter(format));
  auto logger = std::make_shared<spdlog::logger>("device-api-server", std::move(sink));
  // -v selects which info messages are emitted; spdlog's own level stays at info.
  logger->set_level(spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

bool VLogIsOn(int level) { return level <= g_verbosity.load(std::memory_order_relaxed); }

int Verbosity() { return g_verbosity.load(std::memory_order_relaxed); }

void SetVerbosity(int verbosity) {
  g_verbosity.store(verbosity < 0 ? 0 : verbosity, std::memory_order_relaxed);
}

}  // namespace deviceapi::common
