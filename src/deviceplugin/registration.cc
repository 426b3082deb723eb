#include "deviceplugin/registration.h"

#include <grpcpp/grpcpp.h>

#include "common/strings.h"
#include "deviceplugin/v1beta1/api.grpc.pb.h"

namespace deviceapi::deviceplugin {

absl::Status RegisterWithKubelet(const std::string& kubelet_socket, const std::string& endpoint,
                                 const std::string& resource, const v1beta1::DevicePluginOptions& options,
                                 absl::Duration timeout) {
  grpc::ChannelArguments args;
  // A fresh connection every time: the kubelet re-creates its socket when it restarts.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  auto channel =
      grpc::CreateCustomChannel("unix:" + kubelet_socket, grpc::InsecureChannelCredentials(), args);
  auto stub = v1beta1::Registration::NewStub(channel);
  v1beta1::RegisterRequest req;
  req.set_version(kDevicePluginApiVersion);
  req.set_endpoint(endpoint);
  req.set_resource_name(resource);
  *req.mutable_options() = options;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  v1beta1::Empty out;
  grpc::Status s = stub->Register(&ctx, req, &out);
  if (s.ok()) return absl::OkStatus();
  const std::string msg =
      common::Cat("register ", resource, " with the kubelet at ", kubelet_socket, ": ", s.error_message());
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) return absl::UnavailableError(msg);
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) return absl::DeadlineExceededError(msg);
  return absl::UnknownError(msg);
}

}  // namespace deviceapi::deviceplugin
