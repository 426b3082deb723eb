#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/printers.h"
#include "deviceapi/conditions.h"
#include "deviceapi/retry.h"

namespace deviceapi::cli {

int RunSetCondition(Context& ctx, const SetConditionCommand& cmd) {
  const std::size_t eq = cmd.condition.find('=');
  if (eq == std::string::npos || eq == 0) {
    return ctx.Error(absl::StrCat("condition must be TYPE=STATUS, got \"", cmd.condition, "\""));
  }
  const std::string type = cmd.condition.substr(0, eq);
  const std::string status = cmd.condition.substr(eq + 1);
  if (status != kConditionTrue && status != kConditionFalse && status != kConditionUnknown) {
    return ctx.Error(absl::StrCat("condition status must be True, False or Unknown, got \"", status, "\""));
  }
  absl::StatusOr<GpuInterfacePtr> gpus = ctx.Gpus(ctx.Namespace());
  if (!gpus.ok()) return ctx.Error(gpus.status().message());
  absl::Status s = RetryOnConflict(kDefaultRetry, [&]() -> absl::Status {
    absl::StatusOr<v1::Gpu> gpu = (*gpus)->Get(cmd.name);
    if (!gpu.ok()) return gpu.status();
    v1::Condition c = MakeCondition(type, status, cmd.reason, cmd.message);
    c.set_observed_generation(gpu->metadata().generation());
    // Writes use the real clock: --now only fixes what is displayed.
    if (!SetCondition(gpu->mutable_status(), c, absl::Now())) return absl::OkStatus();
    return (*gpus)->UpdateStatus(*gpu).status();
  });
  if (!s.ok()) return ctx.ServerError(s);
  ctx.out() << ObjectRef(cmd.name) << " condition " << type << " set\n";
  return 0;
}

}  // namespace deviceapi::cli
