#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/printers.h"
#include "deviceapi/conditions.h"
#include "deviceapi/errors.h"
#include "deviceapi/retry.h"
#include "google/protobuf/util/message_differencer.h"

namespace deviceapi::cli {
namespace {

using google::protobuf::util::MessageDifferencer;

bool SameMap(const google::protobuf::Map<std::string, std::string>& a,
             const google::protobuf::Map<std::string, std::string>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end() || it->second != v) return false;
  }
  return true;
}

// The status the file asks for, merged onto `live` the way SetCondition does: conditions missing
// from the file go, a condition whose status is unchanged keeps its last transition time.
v1::GpuStatus DesiredStatus(const v1::GpuStatus& live, const v1::GpuStatus& file, absl::Time now) {
  v1::GpuStatus out = live;
  std::vector<std::string> drop;
  for (const v1::Condition& c : live.conditions()) {
    if (FindCondition(file, c.type()) == nullptr) drop.push_back(c.type());
  }
  for (const std::string& type : drop) RemoveCondition(&out, type);
  for (const v1::Condition& c : file.conditions()) SetCondition(&out, c, now);
  out.set_recommended_action(file.recommended_action());
  return out;
}

enum class ApplyResult { kCreated, kConfigured, kUnchanged };

absl::StatusOr<ApplyResult> ApplyOne(GpuInterface& client, const v1::Gpu& desired) {
  const std::string& name = desired.metadata().name();
  absl::StatusOr<v1::Gpu> live = client.Get(name);
  if (!live.ok() && errors::IsNotFound(live.status())) {
    v1::Gpu create = desired;
    create.mutable_metadata()->clear_resource_version();
    absl::StatusOr<v1::Gpu> created = client.Create(create);
    if (created.ok()) return ApplyResult::kCreated;
    if (!errors::IsAlreadyExists(created.status())) return created.status();
    // Someone created it meanwhile: update it below.
  } else if (!live.ok()) {
    return live.status();
  }

  bool changed = false;
  absl::Status s = RetryOnConflict(kDefaultRetry, [&]() -> absl::Status {
    absl::StatusOr<v1::Gpu> current = client.Get(name);
    if (!current.ok()) return current.status();
    const v1::ObjectMeta& want = desired.metadata();
    if (!MessageDifferencer::Equals(current->spec(), desired.spec()) ||
        !SameMap(current->metadata().labels(), want.labels()) ||
        !SameMap(current->metadata().annotations(), want.annotations())) {
      v1::Gpu update = *current;
      *update.mutable_spec() = desired.spec();
      *update.mutable_metadata()->mutable_labels() = want.labels();
      *update.mutable_metadata()->mutable_annotations() = want.annotations();
      absl::StatusOr<v1::Gpu> updated = client.Update(update);
      if (!updated.ok()) return updated.status();
      changed = true;
      *current = std::move(*updated);
    }
    if (desired.has_status()) {
      v1::GpuStatus status = DesiredStatus(current->status(), desired.status(), absl::Now());
      if (!MessageDifferencer::Equals(status, current->status())) {
        v1::Gpu update = *current;
        *update.mutable_status() = std::move(status);
        absl::StatusOr<v1::Gpu> updated = client.UpdateStatus(update);
        if (!updated.ok()) return updated.status();
        changed = true;
      }
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return changed ? ApplyResult::kConfigured : ApplyResult::kUnchanged;
}

}  // namespace

int RunApply(Context& ctx, const FileCommand& cmd) {
  std::vector<v1::Gpu> gpus;
  if (!ReadGpus(ctx, cmd, &gpus)) return 1;
  int rc = 0;
  for (const v1::Gpu& gpu : gpus) {
    absl::StatusOr<GpuInterfacePtr> client = ctx.Gpus(gpu.metadata().namespace_());
    if (!client.ok()) return ctx.Error(client.status().message());
    absl::StatusOr<ApplyResult> result = ApplyOne(**client, gpu);
    if (!result.ok()) {
      rc = ctx.ServerError(result.status());
      continue;
    }
    static constexpr const char* kWords[] = {"created", "configured", "unchanged"};
    ctx.out() << ObjectRef(gpu) << " " << kWords[static_cast<int>(*result)] << "\n";
  }
  return rc;
}

}  // namespace deviceapi::cli
