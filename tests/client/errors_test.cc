// The error predicates and their Kubernetes meaning.
#include <gtest/gtest.h>

#include "deviceapi/errors.h"

namespace {

namespace errors = deviceapi::errors;

// Each predicate answers for its code only, with the HTTP code and reason of the table.
TEST(Errors, PredicatesFollowTheTable) {
  struct Row {
    absl::Status s;
    bool (*pred)(const absl::Status&);
    int http;
    std::string_view reason;
  };
  const Row rows[] = {
      {absl::NotFoundError("x"), errors::IsNotFound, 404, "NotFound"},
      {absl::AlreadyExistsError("x"), errors::IsAlreadyExists, 409, "AlreadyExists"},
      {absl::AbortedError("x"), errors::IsConflict, 409, "Conflict"},
      {absl::InvalidArgumentError("x"), errors::IsInvalid, 422, "Invalid"},
      {absl::OutOfRangeError("x"), errors::IsGone, 410, "Expired"},
      {absl::ResourceExhaustedError("x"), errors::IsTooManyRequests, 429, "TooManyRequests"},
      {absl::UnavailableError("x"), errors::IsUnavailable, 503, "ServiceUnavailable"},
      {absl::PermissionDeniedError("x"), errors::IsForbidden, 403, "Forbidden"},
      {absl::DeadlineExceededError("x"), errors::IsTimeout, 504, "Timeout"},
      {absl::InternalError("x"), errors::IsInternalError, 500, "InternalError"},
  };
  for (const Row& r : rows) {
    EXPECT_TRUE(r.pred(r.s)) << r.s;
    EXPECT_EQ(errors::HttpStatusCode(r.s), r.http) << r.s;
    EXPECT_EQ(errors::Reason(r.s), r.reason) << r.s;
    for (const Row& other : rows) {
      if (other.pred != r.pred) {
        EXPECT_FALSE(other.pred(r.s)) << r.s;
      }
    }
  }
  EXPECT_TRUE(errors::IsResourceExpired(absl::OutOfRangeError("x")));
  EXPECT_EQ(errors::HttpStatusCode(absl::OkStatus()), 200);
  EXPECT_EQ(errors::Reason(absl::OkStatus()), "");
}

// gRPC statuses keep their code and message.
TEST(Errors, FromGrpcKeepsCodeAndMessage) {
  absl::Status s =
      errors::FromGrpcStatus(grpc::Status(grpc::StatusCode::ABORTED, "the object has been modified"));
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(s.message(), "the object has been modified");
  EXPECT_TRUE(errors::FromGrpcStatus(grpc::Status::OK).ok());
  for (int code = 1; code <= 16; ++code) {
    EXPECT_EQ(static_cast<int>(
                  errors::FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(code), "m")).code()),
              code);
  }
}

}  // namespace
