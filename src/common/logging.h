// Process logging: spdlog configured to look like klog (text) or one JSON object per line.
//
// Call InitLogging() once from main() before starting threads; afterwards log through the macros
// below (they record file:line) or plain spdlog::info(...) calls (no file:line).
#ifndef DEVICEAPI_COMMON_LOGGING_H_
#define DEVICEAPI_COMMON_LOGGING_H_

#include <memory>
#include <string_view>

#include "spdlog/sinks/sink.h"
#include "spdlog/spdlog.h"

namespace deviceapi::common {

// Replaces spdlog's default logger with one writing to stderr in `format`:
//   "text": klog-like header, `I1123 06:25:13.123456 1234 file.cc:42] msg` (level letter I/W/E/D/
//           T/C, local month-day, local time with microseconds, thread id, source file:line when
//           known);
//   "json": `{"ts":"2024-11-23T06:25:13.123456Z","level":"info","caller":"file.cc:42","msg":"..."}`
//           (ts in UTC; "caller" omitted when unknown).
// Any other `format` is treated as "text" (ServerOptions validation rejects it earlier).
// `verbosity` is the klog -v level consulted by VLogIsOn(); negative values count as 0.
// Not thread-safe against concurrent logging: call before other threads start.
void InitLogging(int verbosity, std::string_view format);

// As above but writing to `sink` instead of stderr (tests use an ostream sink).
void InitLogging(int verbosity, std::string_view format, spdlog::sink_ptr sink);

// The formatter InitLogging installs for `format`; exposed for tests and for extra sinks.
std::unique_ptr<spdlog::formatter> MakeLogFormatter(std::string_view format);

// True when messages of klog verbosity `level` are to be logged (level <= -v). Thread-safe, cheap.
bool VLogIsOn(int level);

// Current -v level. Thread-safe.
int Verbosity();

// Changes the -v level at run time. Thread-safe.
void SetVerbosity(int verbosity);

}  // namespace deviceapi::common

// Logs a fmt-style message at info level with file:line when -v >= `level`. Arguments are not
// evaluated otherwise.
#define DAPI_VLOG(vlevel, ...)                                                          \
  do {                                                                                  \
    if (::deviceapi::common::VLogIsOn(vlevel)) {                                        \
      ::spdlog::default_logger_raw()->log(                                              \
          ::spdlog::source_loc{__FILE__, __LINE__, static_cast<const char*>(__func__)}, \
          ::spdlog::level::info, __VA_ARGS__);                                          \
    }                                                                                   \
  } while (0)

// Unconditional logging with file:line, fmt-style.
#define DAPI_LOG_AT_(lvl, ...)         \
  ::spdlog::default_logger_raw()->log( \
      ::spdlog::source_loc{__FILE__, __LINE__, static_cast<const char*>(__func__)}, lvl, __VA_ARGS__)
#define DAPI_LOG_INFO(...) DAPI_LOG_AT_(::spdlog::level::info, __VA_ARGS__)
#define DAPI_LOG_WARN(...) DAPI_LOG_AT_(::spdlog::level::warn, __VA_ARGS__)
#define DAPI_LOG_ERROR(...) DAPI_LOG_AT_(::spdlog::level::err, __VA_ARGS__)

#endif  // DEVICEAPI_COMMON_LOGGING_H_
