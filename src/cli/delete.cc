#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "deviceapi/errors.h"

namespace deviceapi::cli {

int RunDelete(Context& ctx, const DeleteCommand& cmd) {
  std::string name_from_resource;
  if (absl::Status s = ParseResource(cmd.resource, &name_from_resource); !s.ok())
    return ctx.Error(s.message());
  std::vector<std::string> names = cmd.names;
  if (!name_from_resource.empty()) names.insert(names.begin(), name_from_resource);
  if (names.empty()) return ctx.Error("resource(s) were provided, but no name was specified");
  absl::StatusOr<GpuInterfacePtr> gpus = ctx.Gpus(ctx.Namespace());
  if (!gpus.ok()) return ctx.Error(gpus.status().message());
  int rc = 0;
  for (const std::string& name : names) {
    absl::Status s = (*gpus)->Delete(name);
    if (s.ok()) {
      ctx.out() << kResourceSingular << " \"" << name << "\" deleted\n";
    } else if (!(cmd.ignore_not_found && errors::IsNotFound(s))) {
      rc = ctx.ServerError(s);
    }
  }
  return rc;
}

}  // namespace deviceapi::cli
