// What the demo's stand-ins share: flag parsing with the binaries' exit codes (0 for --help, 2 for
// bad flags) and a stop flag set by SIGTERM/SIGINT that their loops poll.
#ifndef DEVICEAPI_TOOLS_DEMO_DEMO_TOOL_H_
#define DEVICEAPI_TOOLS_DEMO_DEMO_TOOL_H_

#include <csignal>
#include <optional>

#include <CLI/CLI.hpp>

namespace deviceapi::demo {

inline volatile std::sig_atomic_t g_stop = 0;

inline bool StopRequested() { return g_stop != 0; }

// Parses the command line and installs the SIGTERM/SIGINT handlers. An exit code when the process
// should end now (--help: 0, a bad flag: 2), nullopt to run.
inline std::optional<int> ParseAndHandleSignals(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_stop = 1; };
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  return std::nullopt;
}

}  // namespace deviceapi::demo

#endif  // DEVICEAPI_TOOLS_DEMO_DEMO_TOOL_H_
