#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/printers.h"
#include "deviceapi/options.h"

namespace deviceapi::cli {

int RunPatch(Context& ctx, const PatchCommand& cmd) {
  absl::StatusOr<std::string> resolved = ResolveName(cmd.resource, cmd.name);
  if (!resolved.ok()) return ctx.Error(resolved.status().message());
  const std::string& name = *resolved;
  if (name.empty()) return ctx.Error("patch needs the name of a GPU: devicectl patch gpu NAME -p PATCH");
  std::string_view type;
  if (cmd.type == "merge") {
    type = kMergePatchType;
  } else if (cmd.type == "json") {
    type = kJsonPatchType;
  } else {
    return ctx.Error(absl::StrCat("--type must be one of [json merge], not \"", cmd.type, "\""));
  }
  if (cmd.patch.empty()) return ctx.Error("must specify -p to patch");
  std::vector<std::string> subresources;
  if (!cmd.subresource.empty()) {
    if (cmd.subresource != "status") {
      return ctx.Error(
          absl::StrCat("invalid subresource value: \"", cmd.subresource, "\". Must be one of [status]"));
    }
    subresources.push_back(cmd.subresource);
  }
  absl::StatusOr<GpuInterfacePtr> gpus = ctx.Gpus(ctx.Namespace());
  if (!gpus.ok()) return ctx.Error(gpus.status().message());
  absl::StatusOr<v1::Gpu> patched = (*gpus)->Patch(name, type, cmd.patch, {}, subresources);
  if (!patched.ok()) return ctx.ServerError(patched.status());
  ctx.out() << ObjectRef(*patched) << " patched\n";
  return 0;
}

}  // namespace deviceapi::cli
