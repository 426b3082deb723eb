#include "deviceapi/errors.h"

#include <string>

namespace deviceapi::errors {

using absl::StatusCode;

bool IsNotFound(const absl::Status& s) { return s.code() == StatusCode::kNotFound; }
bool IsAlreadyExists(const absl::Status& s) { return s.code() == StatusCode::kAlreadyExists; }
bool IsConflict(const absl::Status& s) { return s.code() == StatusCode::kAborted; }
bool IsInvalid(const absl::Status& s) { return s.code() == StatusCode::kInvalidArgument; }
bool IsGone(const absl::Status& s) { return s.code() == StatusCode::kOutOfRange; }
bool IsResourceExpired(const absl::Status& s) { return IsGone(s); }
bool IsTooManyRequests(const absl::Status& s) { return s.code() == StatusCode::kResourceExhausted; }
bool IsUnavailable(const absl::Status& s) { return s.code() == StatusCode::kUnavailable; }
bool IsForbidden(const absl::Status& s) { return s.code() == StatusCode::kPermissionDenied; }
bool IsTimeout(const absl::Status& s) { return s.code() == StatusCode::kDeadlineExceeded; }
bool IsInternalError(const absl::Status& s) {
  return s.code() == StatusCode::kInternal || s.code() == StatusCode::kUnknown ||
         s.code() == StatusCode::kDataLoss;
}

int HttpStatusCode(const absl::Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kAborted:
      return 409;
    case StatusCode::kInvalidArgument:
      return 422;
    case StatusCode::kFailedPrecondition:
      return 400;
    case StatusCode::kOutOfRange:
      return 410;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kDeadlineExceeded:
      return 504;
    case StatusCode::kUnimplemented:
      return 501;
    case StatusCode::kCancelled:
      return 499;
    default:
      return 500;
  }
}

std::string_view Reason(const absl::Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return "";
    case StatusCode::kNotFound:
      return "NotFound";
    case StatusCode::kAlreadyExists:
      return "AlreadyExists";
    case StatusCode::kAborted:
      return "Conflict";
    case StatusCode::kInvalidArgument:
      return "Invalid";
    case StatusCode::kFailedPrecondition:
      return "BadRequest";
    case StatusCode::kOutOfRange:
      return "Expired";
    case StatusCode::kResourceExhausted:
      return "TooManyRequests";
    case StatusCode::kUnavailable:
      return "ServiceUnavailable";
    case StatusCode::kPermissionDenied:
      return "Forbidden";
    case StatusCode::kUnauthenticated:
      return "Unauthorized";
    case StatusCode::kDeadlineExceeded:
      return "Timeout";
    case StatusCode::kInternal:
    case StatusCode::kDataLoss:
      return "InternalError";
    default:
      return "Unknown";
  }
}

absl::Status FromGrpcStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  const std::string& msg = s.error_message();
  return absl::Status(static_cast<StatusCode>(s.error_code()), absl::string_view(msg.data(), msg.size()));
}

}  // namespace deviceapi::errors
