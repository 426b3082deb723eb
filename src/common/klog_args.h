// Command-line glue shared by the binaries' flag parsers.
#ifndef DEVICEAPI_COMMON_KLOG_ARGS_H_
#define DEVICEAPI_COMMON_KLOG_ARGS_H_

#include <string>
#include <string_view>
#include <vector>

namespace deviceapi::common {

// argv as strings, with klog's "-v=N" spelled "--v=N" (CLI11 would read "-v=N" as the value "=N").
// argv[0] defaults to `program` when argc is 0.
inline std::vector<std::string> KlogArgs(int argc, const char* const* argv, std::string_view program) {
  std::vector<std::string> args;
  args.reserve(argc > 0 ? static_cast<size_t>(argc) : 1);
  args.emplace_back(argc > 0 ? std::string(argv[0]) : std::string(program));
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.starts_with("-v=")) arg = "-" + arg;
    args.push_back(std::move(arg));
  }
  return args;
}

// Pointers into `args` for an argc/argv-style parser; valid while `args` lives.
inline std::vector<const char*> CArgs(const std::vector<std::string>& args) {
  std::vector<const char*> out;
  out.reserve(args.size());
  for (const std::string& a : args) out.push_back(a.c_str());
  return out;
}

}  // namespace deviceapi::common

#endif  // DEVICEAPI_COMMON_KLOG_ARGS_H_
