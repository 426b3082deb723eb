#include "client/requests.h"

namespace deviceapi::client {
namespace {

void FillNamespace(std::string_view ns, v1::Gpu* gpu) {
  if (gpu->metadata().namespace_().empty() && !ns.empty()) {
    gpu->mutable_metadata()->set_namespace_(std::string(ns));
  }
}

}  // namespace

v1::GetGpuRequest MakeGetRequest(std::string_view ns, std::string_view name, const GetOptions& opts) {
  v1::GetGpuRequest req;
  req.set_name(std::string(name));
  req.set_namespace_(std::string(ns));
  req.mutable_opts()->set_resource_version(opts.resource_version);
  return req;
}

v1::ListOptions MakeListOptions(const ListOptions& opts) {
  v1::ListOptions o;
  o.set_resource_version(opts.resource_version);
  o.set_label_selector(opts.label_selector);
  o.set_field_selector(opts.field_selector);
  o.set_resource_version_match(opts.resource_version_match);
  o.set_allow_watch_bookmarks(opts.allow_watch_bookmarks);
  if (opts.send_initial_events.has_value()) o.set_send_initial_events(*opts.send_initial_events);
  o.set_timeout_seconds(opts.timeout_seconds);
  o.set_limit(opts.limit);
  o.set_continue_(opts.continue_token);
  return o;
}

v1::ListGpusRequest MakeListRequest(std::string_view ns, const ListOptions& opts) {
  v1::ListGpusRequest req;
  req.set_namespace_(std::string(ns));
  *req.mutable_opts() = MakeListOptions(opts);
  return req;
}

v1::WatchGpusRequest MakeWatchRequest(std::string_view ns, const ListOptions& opts) {
  v1::WatchGpusRequest req;
  req.set_namespace_(std::string(ns));
  *req.mutable_opts() = MakeListOptions(opts);
  return req;
}

v1::CreateGpuRequest MakeCreateRequest(std::string_view ns, const v1::Gpu& gpu) {
  v1::CreateGpuRequest req;
  *req.mutable_gpu() = gpu;
  FillNamespace(ns, req.mutable_gpu());
  req.mutable_opts();
  return req;
}

v1::UpdateGpuRequest MakeUpdateRequest(std::string_view ns, const v1::Gpu& gpu) {
  v1::UpdateGpuRequest req;
  *req.mutable_gpu() = gpu;
  FillNamespace(ns, req.mutable_gpu());
  req.mutable_opts();
  return req;
}

v1::UpdateGpuStatusRequest MakeUpdateStatusRequest(std::string_view ns, const v1::Gpu& gpu) {
  v1::UpdateGpuStatusRequest req;
  *req.mutable_gpu() = gpu;
  FillNamespace(ns, req.mutable_gpu());
  req.mutable_opts();
  return req;
}

v1::PatchGpuRequest MakePatchRequest(std::string_view ns, std::string_view name, std::string_view patch_type,
                                     std::string_view data, const std::vector<std::string>& subresources) {
  v1::PatchGpuRequest req;
  req.set_name(std::string(name));
  req.set_namespace_(std::string(ns));
  req.set_patch_type(std::string(patch_type));
  req.set_data(std::string(data));
  req.mutable_opts();
  for (const auto& s : subresources) req.add_subresources(s);
  return req;
}

v1::DeleteGpuRequest MakeDeleteRequest(std::string_view ns, std::string_view name,
                                       const DeleteOptions& opts) {
  v1::DeleteGpuRequest req;
  req.set_name(std::string(name));
  req.set_namespace_(std::string(ns));
  if (opts.preconditions.uid.has_value() || opts.preconditions.resource_version.has_value()) {
    auto* pre = req.mutable_opts()->mutable_preconditions();
    if (opts.preconditions.uid.has_value()) pre->set_uid(*opts.preconditions.uid);
    if (opts.preconditions.resource_version.has_value())
      pre->set_resource_version(*opts.preconditions.resource_version);
  }
  return req;
}

}  // namespace deviceapi::client
