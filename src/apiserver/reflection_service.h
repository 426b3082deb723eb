// gRPC server reflection (grpc.reflection.v1alpha.ServerReflection) that describes only what a
// listener serves. libgrpc++_reflection answers FileContainingSymbol and FileByFilename from the
// whole generated descriptor pool, so on the TCP probe port it would describe the GpuService, which
// is never served there (docs/operations.md "Security"). This one is built with the names of the
// services its server registers; it lists those and answers for the files that define them and
// their imports, and NOT_FOUND for everything else.
#ifndef DEVICEAPI_SRC_APISERVER_REFLECTION_SERVICE_H_
#define DEVICEAPI_SRC_APISERVER_REFLECTION_SERVICE_H_

#include <set>
#include <string>
#include <vector>

#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"

namespace deviceapi::apiserver {

inline constexpr char kReflectionServiceName[] = "grpc.reflection.v1alpha.ServerReflection";

class ReflectionService final : public grpc::reflection::v1alpha::ServerReflection::CallbackService {
 public:
  // `services`: the full names of the services the server registers (this one is added). Each must
  // be in the generated descriptor pool (its .pb.cc linked).
  explicit ReflectionService(std::vector<std::string> services);

  grpc::ServerBidiReactor<grpc::reflection::v1alpha::ServerReflectionRequest,
                          grpc::reflection::v1alpha::ServerReflectionResponse>*
  ServerReflectionInfo(grpc::CallbackServerContext* context) override;

  // One answer; `sent` holds the files this stream has already sent (each file goes once per
  // stream, as gRPC's own implementation does). Public for unit tests.
  grpc::reflection::v1alpha::ServerReflectionResponse Answer(
      const grpc::reflection::v1alpha::ServerReflectionRequest& request, std::set<std::string>* sent) const;

  const std::vector<std::string>& services() const { return services_; }
  const std::set<std::string>& files() const { return files_; }

 private:
  std::vector<std::string> services_;  // listed, sorted
  std::set<std::string> files_;        // describable: the services' files and their imports
};

}  // namespace deviceapi::apiserver

#endif  // DEVICEAPI_SRC_APISERVER_REFLECTION_SERVICE_H_
