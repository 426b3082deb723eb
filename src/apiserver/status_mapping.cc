#include "apiserver/status_mapping.h"

#include <string>

#include <spdlog/spdlog.h>

namespace deviceapi::apiserver {

grpc::Status ToGrpcStatus(const absl::Status& s, std::string_view context) {
  switch (s.code()) {
    case absl::StatusCode::kOk:
      return grpc::Status::OK;
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kUnavailable:
      return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
    default:
      spdlog::error("{}: {}", context, s.ToString());
      return grpc::Status(grpc::StatusCode::INTERNAL, "internal error");
  }
}

}  // namespace deviceapi::apiserver
