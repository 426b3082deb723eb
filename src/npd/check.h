// Check mode: one stock-NPD custom-plugin invocation for one condition, answered from one List call
// with a short deadline. Exit 0 = OK (condition False), 1 = problem (True), 2 = Unknown (Device API
// unreachable or hung, bad state file); one line for stdout, never longer than --max-output.
#ifndef DEVICEAPI_NPD_CHECK_H_
#define DEVICEAPI_NPD_CHECK_H_

#include <string>

#include "npd/options.h"

namespace deviceapi::npd {

struct CheckResult {
  int exit_code = kExitUnknown;
  std::string line;  // without a newline
};

CheckResult RunCheck(const MonitorOptions& options);

}  // namespace deviceapi::npd

#endif  // DEVICEAPI_NPD_CHECK_H_
