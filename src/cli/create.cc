#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/manifest.h"
#include "cli/printers.h"

namespace deviceapi::cli {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(absl::StrCat("the path \"", path, "\" does not exist or cannot be read"));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

bool ReadGpus(Context& ctx, const FileCommand& cmd, std::vector<v1::Gpu>* gpus) {
  if (cmd.files.empty()) {
    ctx.Error("must specify -f FILE");
    return false;
  }
  for (const std::string& path : cmd.files) {
    absl::StatusOr<std::string> text = ReadFile(path);
    if (!text.ok()) {
      ctx.Error(text.status().message());
      return false;
    }
    absl::StatusOr<std::vector<v1::Gpu>> decoded = DecodeGpus(*text);
    if (!decoded.ok()) {
      ctx.Error(absl::StrCat("error reading ", path == "-" ? std::string("STDIN") : path, ": ",
                             decoded.status().message()));
      return false;
    }
    for (v1::Gpu& gpu : *decoded) {
      v1::ObjectMeta* m = gpu.mutable_metadata();
      if (m->namespace_().empty()) {
        m->set_namespace_(ctx.Namespace());
      } else if (ctx.NamespaceGiven() && m->namespace_() != ctx.Namespace()) {
        ctx.Error(absl::StrCat("the namespace from the provided object \"", m->namespace_(),
                               "\" does not match the namespace \"", ctx.Namespace(),
                               "\". You must pass '--namespace=", m->namespace_(),
                               "' to perform this operation."));
        return false;
      }
      gpus->push_back(std::move(gpu));
    }
  }
  if (gpus->empty()) {
    ctx.Error("no objects passed to create");
    return false;
  }
  return true;
}

int RunCreate(Context& ctx, const FileCommand& cmd) {
  std::vector<v1::Gpu> gpus;
  if (!ReadGpus(ctx, cmd, &gpus)) return 1;
  int rc = 0;
  for (const v1::Gpu& gpu : gpus) {
    absl::StatusOr<GpuInterfacePtr> client = ctx.Gpus(gpu.metadata().namespace_());
    if (!client.ok()) return ctx.Error(client.status().message());
    absl::StatusOr<v1::Gpu> created = (*client)->Create(gpu);
    if (!created.ok()) {
      rc = ctx.ServerError(created.status());
      continue;  // like kubectl: report, go on with the other objects, fail at the end
    }
    ctx.out() << ObjectRef(*created) << " created\n";
  }
  return rc;
}

}  // namespace deviceapi::cli
