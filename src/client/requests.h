// Options structs -> wire requests, shared by the gRPC client and the fake so both send the
// server the very same messages.
#ifndef DEVICEAPI_CLIENT_REQUESTS_H_
#define DEVICEAPI_CLIENT_REQUESTS_H_

#include <string>
#include <string_view>
#include <vector>

#include "device/v1alpha1/gpu.pb.h"
#include "deviceapi/options.h"

namespace deviceapi::client {

namespace v1 = ::nvidia::nvsentinel::v1alpha1;

v1::GetGpuRequest MakeGetRequest(std::string_view ns, std::string_view name, const GetOptions& opts);
v1::ListOptions MakeListOptions(const ListOptions& opts);
v1::ListGpusRequest MakeListRequest(std::string_view ns, const ListOptions& opts);
v1::WatchGpusRequest MakeWatchRequest(std::string_view ns, const ListOptions& opts);
// The object's namespace when set, else `ns`.
v1::CreateGpuRequest MakeCreateRequest(std::string_view ns, const v1::Gpu& gpu);
v1::UpdateGpuRequest MakeUpdateRequest(std::string_view ns, const v1::Gpu& gpu);
v1::UpdateGpuStatusRequest MakeUpdateStatusRequest(std::string_view ns, const v1::Gpu& gpu);
v1::PatchGpuRequest MakePatchRequest(std::string_view ns, std::string_view name, std::string_view patch_type,
                                     std::string_view data, const std::vector<std::string>& subresources);
v1::DeleteGpuRequest MakeDeleteRequest(std::string_view ns, std::string_view name, const DeleteOptions& opts);

}  // namespace deviceapi::client

#endif  // DEVICEAPI_CLIENT_REQUESTS_H_
