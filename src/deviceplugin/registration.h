// The plugin's side of the kubelet's Registration service (kubelet.sock).
#ifndef DEVICEAPI_DEVICEPLUGIN_REGISTRATION_H_
#define DEVICEAPI_DEVICEPLUGIN_REGISTRATION_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "deviceplugin/v1beta1/api.pb.h"

namespace deviceapi::deviceplugin {

inline constexpr char kDevicePluginApiVersion[] = "v1beta1";

// Calls Registration/Register on `kubelet_socket` with version v1beta1, `endpoint` (the plugin
// socket's file name), `resource` and `options`. The kubelet dials the plugin back and calls
// GetDevicePluginOptions before it answers, so the plugin must already be serving. Fails fast
// (UNAVAILABLE) when nothing listens on the socket; the kubelet's error otherwise.
absl::Status RegisterWithKubelet(const std::string& kubelet_socket, const std::string& endpoint,
                                 const std::string& resource, const v1beta1::DevicePluginOptions& options,
                                 absl::Duration timeout);

}  // namespace deviceapi::deviceplugin

#endif  // DEVICEAPI_DEVICEPLUGIN_REGISTRATION_H_
