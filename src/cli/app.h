// devicectl's command line: flags, subcommands and dispatch to the commands (cli/commands.h).
#ifndef DEVICEAPI_CLI_APP_H_
#define DEVICEAPI_CLI_APP_H_

#include <ostream>

namespace deviceapi::cli {

// Parses argv and runs the command it names, writing to `out` / `err`. Returns the exit code: 0 on
// success (and for --help), 1 on any error, which is one line on `err` ("error: ..." or
// "Error from server (<Reason>): ..."). Not reentrant: `get -w` installs SIGINT/SIGTERM handlers.
int Run(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace deviceapi::cli

#endif  // DEVICEAPI_CLI_APP_H_
