// The edge mapping: contract codes pass through; anything unexpected becomes
// INTERNAL "internal error" without its details.
#include <gtest/gtest.h>

#include "apiserver/status_mapping.h"

namespace deviceapi::apiserver {
namespace {

// Codes of the contract's error table keep their code and message.
TEST(StatusMapping, ContractCodesPassThrough) {
  for (auto code : {absl::StatusCode::kNotFound, absl::StatusCode::kAlreadyExists, absl::StatusCode::kAborted,
                    absl::StatusCode::kInvalidArgument, absl::StatusCode::kOutOfRange,
                    absl::StatusCode::kResourceExhausted, absl::StatusCode::kUnavailable,
                    absl::StatusCode::kPermissionDenied}) {
    grpc::Status g = ToGrpcStatus(absl::Status(code, "the message"), "test");
    EXPECT_EQ(static_cast<int>(g.error_code()), static_cast<int>(code));
    EXPECT_EQ(g.error_message(), "the message");
  }
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus(), "test").ok());
}

// Internal details never reach the client.
TEST(StatusMapping, UnexpectedErrorsAreScrubbed) {
  for (auto code : {absl::StatusCode::kInternal, absl::StatusCode::kUnknown, absl::StatusCode::kDataLoss}) {
    grpc::Status g = ToGrpcStatus(absl::Status(code, "disk /var/lib/x corrupt at page 7"), "test");
    EXPECT_EQ(g.error_code(), grpc::StatusCode::INTERNAL);
    EXPECT_EQ(g.error_message(), "internal error");
  }
}

}  // namespace
}  // namespace deviceapi::apiserver
