#include <signal.h>

#include <csignal>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/printers.h"
#include "deviceapi/errors.h"
#include "deviceapi/watch.h"

namespace deviceapi::cli {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void OnInterrupt(int) { g_interrupted = 1; }

// kubectl's message for an empty result, on stderr.
void ReportEmpty(Context& ctx, bool all_namespaces, const std::string& ns) {
  if (all_namespaces) {
    ctx.err() << "No resources found\n";
  } else {
    ctx.err() << "No resources found in " << ns << " namespace.\n";
  }
}

// SIGINT / SIGTERM end `get -w` cleanly (exit 0). SA_RESTART: a row being written is not cut.
void InstallInterruptHandlers() {
  g_interrupted = 0;
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// Lists (all pages) into one GpuList whose RV is the first page's (one consistent snapshot).
absl::StatusOr<v1::GpuList> ListAll(GpuInterface& gpus, ListOptions opts) {
  v1::GpuList all;
  opts.limit = 500;
  bool first = true;
  do {
    absl::StatusOr<v1::GpuList> page = gpus.List(opts);
    if (!page.ok()) return page.status();
    if (first) *all.mutable_metadata() = page->metadata();
    first = false;
    for (v1::Gpu& gpu : *page->mutable_items()) *all.add_items() = std::move(gpu);
    opts.continue_token = page->metadata().continue_();
  } while (!opts.continue_token.empty());
  all.mutable_metadata()->clear_continue_();
  all.mutable_metadata()->clear_remaining_item_count();
  return all;
}

// Streams changes after `list` until SIGINT/SIGTERM, resuming after transient ends and
// relisting when the RV is gone.
int WatchLoop(Context& ctx, GpuInterface& gpus, const ListOptions& base, std::string rv, Printer& printer) {
  int failures = 0;
  while (!g_interrupted) {
    ListOptions opts = base;
    opts.resource_version = rv;
    absl::StatusOr<WatchPtr> watch = gpus.Watch(opts);
    if (!watch.ok()) return ctx.ServerError(watch.status());
    while (!g_interrupted) {
      std::optional<WatchEvent> event = (*watch)->NextUntil(absl::Now() + absl::Milliseconds(100));
      if (event.has_value()) {
        failures = 0;
        rv = event->resource_version();
        if (event->type == EventType::kBookmark) continue;
        if (absl::Status s = printer.PrintWatchBatch({event->object}, ctx.out()); !s.ok())
          return ctx.Error(s.message());
        continue;
      }
      if ((*watch)->Done()) break;
    }
    if (g_interrupted) break;
    const std::optional<WatchResult> result = (*watch)->Result();
    if (!result.has_value()) continue;
    if (!result->last_resource_version.empty()) rv = result->last_resource_version;
    switch (result->action) {
      case WatchEndAction::kStopped:
        return 0;
      case WatchEndAction::kFail:
        return ctx.ServerError(result->status);
      case WatchEndAction::kRelist: {
        absl::StatusOr<v1::GpuList> list = ListAll(gpus, base);
        if (!list.ok()) return ctx.ServerError(list.status());
        rv = list->metadata().resource_version();
        std::vector<v1::Gpu> items(list->items().begin(), list->items().end());
        if (absl::Status s = printer.PrintWatchBatch(items, ctx.out()); !s.ok())
          return ctx.Error(s.message());
        break;
      }
      case WatchEndAction::kResume:
        if (!result->status.ok() && ++failures > 5) return ctx.ServerError(result->status);
        if (!result->status.ok()) absl::SleepFor(absl::Milliseconds(200) * failures);
        break;
    }
  }
  return 0;
}

}  // namespace

int RunGet(Context& ctx, const GetCommand& cmd) {
  absl::StatusOr<std::string> resolved = ResolveName(cmd.resource, cmd.name);
  if (!resolved.ok()) return ctx.Error(resolved.status().message());
  const std::string& name = *resolved;
  absl::StatusOr<OutputFormat> format = ParseOutputFormat(cmd.output);
  if (!format.ok()) return ctx.Error(format.status().message());
  if (cmd.all_namespaces && !name.empty()) {
    return ctx.Error("a resource cannot be retrieved by name across all namespaces");
  }
  if (!name.empty() && !cmd.selector.empty()) {
    return ctx.Error("selectors and the name of a resource cannot be given together");
  }

  if (cmd.watch) InstallInterruptHandlers();  // before anything is printed that a caller may wait for
  const std::string ns = cmd.all_namespaces ? "" : ctx.Namespace();
  absl::StatusOr<GpuInterfacePtr> gpus = ctx.Gpus(ns);
  if (!gpus.ok()) return ctx.Error(gpus.status().message());

  PrintOptions popts;
  popts.format = *format;
  popts.with_namespace = cmd.all_namespaces;
  popts.show_labels = cmd.show_labels;
  popts.now = [&ctx] { return ctx.Now(); };
  std::unique_ptr<Printer> printer = NewPrinter(popts);

  ListOptions lopts;
  lopts.label_selector = cmd.selector;

  if (!name.empty() && !cmd.watch) {
    absl::StatusOr<v1::Gpu> gpu = (*gpus)->Get(name);
    if (!gpu.ok()) return ctx.ServerError(gpu.status());
    if (absl::Status s = printer->PrintObject(*gpu, ctx.out()); !s.ok()) return ctx.Error(s.message());
    return 0;
  }
  if (!name.empty()) lopts.field_selector = absl::StrCat("metadata.name=", name);

  absl::StatusOr<v1::GpuList> list = ListAll(**gpus, lopts);
  if (!list.ok()) return ctx.ServerError(list.status());

  const bool document_format = *format == OutputFormat::kJson || *format == OutputFormat::kYaml;
  if (!cmd.watch) {
    // Like kubectl: json/yaml print the (empty) list; the other formats say that nothing matched.
    if (list->items().empty() && !document_format) {
      ReportEmpty(ctx, cmd.all_namespaces, ns);
      return 0;
    }
    if (absl::Status s = printer->PrintList(*list, ctx.out()); !s.ok()) return ctx.Error(s.message());
    return 0;
  }

  if (!name.empty() && list->items().empty()) {
    // kubectl: watching one object that does not exist is NotFound.
    return ctx.ServerError(
        absl::NotFoundError(absl::StrCat(std::string(kResourceFull), " \"", name, "\" not found")));
  }
  if (list->items().empty()) {
    ReportEmpty(ctx, cmd.all_namespaces, ns);
  } else {
    std::vector<v1::Gpu> items(list->items().begin(), list->items().end());
    if (absl::Status s = printer->PrintWatchBatch(items, ctx.out()); !s.ok()) return ctx.Error(s.message());
  }
  return WatchLoop(ctx, **gpus, lopts, list->metadata().resource_version(), *printer);
}

int RunDescribe(Context& ctx, const DescribeCommand& cmd) {
  std::string name = cmd.name;
  std::string name_from_resource;
  if (absl::Status s = ParseResource(cmd.resource, &name_from_resource); !s.ok())
    return ctx.Error(s.message());
  if (!name_from_resource.empty()) name = name_from_resource;
  if (name.empty()) return ctx.Error("describe needs the name of a GPU: devicectl describe gpu NAME");
  absl::StatusOr<GpuInterfacePtr> gpus = ctx.Gpus(ctx.Namespace());
  if (!gpus.ok()) return ctx.Error(gpus.status().message());
  absl::StatusOr<v1::Gpu> gpu = (*gpus)->Get(name);
  if (!gpu.ok()) return ctx.ServerError(gpu.status());
  ctx.out() << DescribeGpu(*gpu, ctx.Now());
  return 0;
}

}  // namespace deviceapi::cli
