// devicectl's commands. Each takes its parsed flags and the shared Context, writes its output,
// reports errors on stderr (one line each) and returns the exit code: 0 or 1.
#ifndef DEVICEAPI_CLI_COMMANDS_H_
#define DEVICEAPI_CLI_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cli/context.h"
#include "device/v1alpha1/gpu.pb.h"

namespace deviceapi::cli {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

// devicectl get gpus [NAME] [-A] [-l SELECTOR] [-o FORMAT] [-w] [--show-labels]
struct GetCommand {
  std::string resource;
  std::string name;
  bool all_namespaces = false;
  std::string selector;
  std::string output;
  bool watch = false;
  bool show_labels = false;
};
int RunGet(Context& ctx, const GetCommand& cmd);

// devicectl describe gpu NAME
struct DescribeCommand {
  std::string resource;
  std::string name;
};
int RunDescribe(Context& ctx, const DescribeCommand& cmd);
// kubectl-describe-style text for one GPU; condition ages relative to `now`.
std::string DescribeGpu(const v1::Gpu& gpu, absl::Time now);

// devicectl create -f FILE... / devicectl apply -f FILE... ("-" = stdin)
struct FileCommand {
  std::vector<std::string> files;
};
int RunCreate(Context& ctx, const FileCommand& cmd);
int RunApply(Context& ctx, const FileCommand& cmd);
// Reads the files and decodes their GPUs; namespaces resolved against -n. Reports and returns
// false on error.
bool ReadGpus(Context& ctx, const FileCommand& cmd, std::vector<v1::Gpu>* gpus);

// devicectl delete gpu NAME... [--ignore-not-found]
struct DeleteCommand {
  std::string resource;
  std::vector<std::string> names;
  bool ignore_not_found = false;
};
int RunDelete(Context& ctx, const DeleteCommand& cmd);

// devicectl patch gpu NAME --type merge|json -p PATCH [--subresource status]
struct PatchCommand {
  std::string resource;
  std::string name;
  std::string type = "merge";
  std::string patch;
  std::string subresource;
};
int RunPatch(Context& ctx, const PatchCommand& cmd);

// devicectl set condition NAME TYPE=STATUS [--reason R] [--message M]
struct SetConditionCommand {
  std::string name;
  std::string condition;  // TYPE=STATUS
  std::string reason;
  std::string message;
};
int RunSetCondition(Context& ctx, const SetConditionCommand& cmd);

// devicectl version
int RunVersion(Context& ctx);

}  // namespace deviceapi::cli

#endif  // DEVICEAPI_CLI_COMMANDS_H_
