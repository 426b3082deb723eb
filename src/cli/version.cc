#include "deviceapi/version.h"
#include "cli/commands.h"

namespace deviceapi::cli {

// The server has no version RPC: the client's version and the target it would talk to.
int RunVersion(Context& ctx) {
  ctx.out() << "Client Version: v" << Version() << "\n";
  ctx.out() << "Server Target: " << ctx.Target() << "\n";
  return 0;
}

}  // namespace deviceapi::cli
