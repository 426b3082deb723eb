#include "cli/app.h"

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/context.h"

namespace deviceapi::cli {
namespace {

constexpr const char* kResourceHelp = "Resource type: gpu, gpus (or gpu/NAME)";

CLI::App* Sub(CLI::App& parent, const char* name, const char* help) {
  CLI::App* sub = parent.add_subcommand(name, help);
  sub->fallthrough();  // global flags may follow the subcommand
  return sub;
}

}  // namespace

int Run(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app("devicectl controls the node-local NVIDIA Device API server (GPU objects).", "devicectl");
  app.fallthrough();
  app.require_subcommand(1);

  GlobalOptions global;
  app.add_option(
      "--server,-s", global.server,
      "Server target: unix:///path.sock or an absolute socket path (default: $NVIDIA_DEVICE_API_TARGET, "
      "$NVIDIA_DEVICE_API_SOCK, then unix:///var/run/nvidia-device-api/device-api.sock)");
  app.add_option("--namespace,-n", global.ns, "Namespace of the request (default: default)");
  app.add_option("--request-timeout", global.request_timeout,
                 "Deadline of each request, e.g. 10s, 1m; 0 = none")
      ->default_str("30s");
  // Reproducible output for tests: fixes "now" for ages (RFC 3339); also $DEVICECTL_NOW.
  app.add_option("--now", global.now, "")->group("");

  std::function<int(Context&)> action;

  GetCommand get;
  CLI::App* get_cmd = Sub(app, "get", "Display one or many GPUs");
  get_cmd->add_option("resource", get.resource, kResourceHelp)->required();
  get_cmd->add_option("name", get.name, "Name of one GPU");
  get_cmd->add_flag("--all-namespaces,-A", get.all_namespaces, "List GPUs across all namespaces");
  get_cmd->add_option("--selector,-l", get.selector, "Label selector, e.g. -l key1=value1,key2!=value2");
  get_cmd->add_option("--output,-o", get.output, "Output format: wide, json, yaml or name");
  get_cmd->add_flag("--watch,-w", get.watch, "After listing, watch for changes (until interrupted)");
  get_cmd->add_flag("--show-labels", get.show_labels, "Add a LABELS column to the table");
  get_cmd->callback([&] { action = [&](Context& ctx) { return RunGet(ctx, get); }; });

  DescribeCommand describe;
  CLI::App* describe_cmd = Sub(app, "describe", "Show the details of a GPU");
  describe_cmd->add_option("resource", describe.resource, kResourceHelp)->required();
  describe_cmd->add_option("name", describe.name, "Name of the GPU");
  describe_cmd->callback([&] { action = [&](Context& ctx) { return RunDescribe(ctx, describe); }; });

  FileCommand create;
  CLI::App* create_cmd = Sub(app, "create", "Create GPUs from a file (YAML or JSON)");
  create_cmd->add_option("--filename,-f", create.files, "File to read, - for stdin")->required();
  create_cmd->callback([&] { action = [&](Context& ctx) { return RunCreate(ctx, create); }; });

  FileCommand apply;
  CLI::App* apply_cmd = Sub(app, "apply", "Create or update GPUs from a file (YAML or JSON)");
  apply_cmd->add_option("--filename,-f", apply.files, "File to read, - for stdin")->required();
  apply_cmd->callback([&] { action = [&](Context& ctx) { return RunApply(ctx, apply); }; });

  DeleteCommand del;
  CLI::App* delete_cmd = Sub(app, "delete", "Delete GPUs by name");
  delete_cmd->add_option("resource", del.resource, kResourceHelp)->required();
  delete_cmd->add_option("names", del.names, "Names of the GPUs");
  delete_cmd->add_flag("--ignore-not-found", del.ignore_not_found, "Treat a missing GPU as deleted");
  delete_cmd->callback([&] { action = [&](Context& ctx) { return RunDelete(ctx, del); }; });

  PatchCommand patch;
  CLI::App* patch_cmd = Sub(app, "patch", "Patch a GPU (merge patch or JSON patch)");
  patch_cmd->add_option("resource", patch.resource, kResourceHelp)->required();
  patch_cmd->add_option("name", patch.name, "Name of the GPU");
  patch_cmd->add_option("--type", patch.type, "merge (RFC 7386) or json (RFC 6902)")->default_str("merge");
  patch_cmd->add_option("--patch,-p", patch.patch, "The patch document (JSON)")->required();
  patch_cmd->add_option("--subresource", patch.subresource, "status: patch the status instead of the spec");
  patch_cmd->callback([&] { action = [&](Context& ctx) { return RunPatch(ctx, patch); }; });

  SetConditionCommand set_condition;
  CLI::App* set_cmd = Sub(app, "set", "Set fields of a GPU");
  set_cmd->require_subcommand(1);
  CLI::App* condition_cmd = Sub(*set_cmd, "condition", "Add or replace a condition of a GPU (for operators)");
  condition_cmd->add_option("name", set_condition.name, "Name of the GPU")->required();
  condition_cmd->add_option("condition", set_condition.condition, "TYPE=STATUS (True, False or Unknown)")
      ->required();
  condition_cmd->add_option("--reason", set_condition.reason, "CamelCase reason");
  condition_cmd->add_option("--message", set_condition.message, "Human-readable message");
  condition_cmd->callback(
      [&] { action = [&](Context& ctx) { return RunSetCondition(ctx, set_condition); }; });

  CLI::App* version_cmd = Sub(app, "version", "Print the client version and the server target");
  version_cmd->callback([&] { action = [](Context& ctx) { return RunVersion(ctx); }; });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, out, err) == 0 ? 0 : 1;
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, out, err) == 0 ? 0 : 1;
  } catch (const CLI::ParseError& e) {
    // kubectl's wording for a command it does not know (CLI11 would only say one is required).
    if (app.get_subcommands().empty() && !app.remaining().empty()) {
      err << "error: unknown command \"" << app.remaining().front() << "\" for \"devicectl\"\n";
      return 1;
    }
    if (set_cmd->parsed() && set_cmd->get_subcommands().empty()) {
      err << "error: devicectl set needs a subcommand: condition\n";
      return 1;
    }
    err << "error: " << OneLine(e.what()) << "\n";
    return 1;
  }
  Context ctx(global, out, err);
  if (absl::Status s = ctx.Validate(); !s.ok()) return ctx.Error(s.message());
  if (!action) return ctx.Error("no command given; see devicectl --help");
  return action(ctx);
}

}  // namespace deviceapi::cli
