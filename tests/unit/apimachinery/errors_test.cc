#include "apimachinery/errors.h"

#include <string>

#include <gtest/gtest.h>

namespace deviceapi::apimachinery {
namespace {

// NotFound carries the Kubernetes message and NOT_FOUND.
TEST(ErrorsTest, NotFound) {
  absl::Status s = NotFoundError("gpu-0");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "gpus.device.nvidia.com \"gpu-0\" not found");
}

// AlreadyExists carries the Kubernetes message and ALREADY_EXISTS.
TEST(ErrorsTest, AlreadyExists) {
  absl::Status s = AlreadyExistsError("gpu-0");
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(s.message(), "gpus.device.nvidia.com \"gpu-0\" already exists");
}

// A conflict is ABORTED with the exact kube-apiserver wording.
TEST(ErrorsTest, Conflict) {
  absl::Status s = ConflictError("gpu-0");
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(s.message(),
            "Operation cannot be fulfilled on gpus.device.nvidia.com \"gpu-0\": the object has "
            "been modified; please apply your changes to the latest version and try again");
}

// A failed precondition is ABORTED and names the precondition.
TEST(ErrorsTest, Precondition) {
  absl::Status s = PreconditionError("gpu-0", "UID in precondition: a, UID in object meta: b");
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(s.message(),
            "Operation cannot be fulfilled on gpus.device.nvidia.com \"gpu-0\": Precondition "
            "failed: UID in precondition: a, UID in object meta: b");
}

// Invalid joins the field errors with ", ".
TEST(ErrorsTest, InvalidListsFieldErrors) {
  absl::Status s = InvalidError("A/B", {{"metadata.name", "Invalid value: \"A/B\": bad"},
                                        {"spec.uuid", "Too long: must have at most 256 bytes"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "GPU.device.nvidia.com \"A/B\" is invalid: metadata.name: Invalid value: \"A/B\": bad, "
            "spec.uuid: Too long: must have at most 256 bytes");
}

// A huge error list is cut short so the message stays bounded.
TEST(ErrorsTest, InvalidTruncatesLongLists) {
  std::vector<FieldError> errs(kMaxListedFieldErrors + 7, FieldError{"f", "d"});
  absl::Status s = InvalidError("x", errs);
  EXPECT_NE(s.message().find(", and 7 more errors"), absl::string_view::npos);
}

// The remaining constructors use the documented codes and texts.
TEST(ErrorsTest, OtherConstructors) {
  EXPECT_EQ(BadRequestError("nope").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BadRequestError("nope").message(), "nope");
  EXPECT_EQ(TooOldResourceVersionError(5, 10).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(TooOldResourceVersionError(5, 10).message(), "too old resource version: 5 (10)");
  EXPECT_EQ(ExpiredContinueError().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(ExpiredContinueError().message(),
            "The provided continue parameter is too old to display a consistent list result. You "
            "can start a new list without the continue parameter.");
  EXPECT_EQ(TooLargeResourceVersionError(20, 10).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(TooLargeResourceVersionError(20, 10).message(), "Too large resource version: 20, current: 10");
  EXPECT_EQ(TooManyObjectsError(4096).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(TooManyObjectsError(4096).message().find("4096"), absl::string_view::npos);
  EXPECT_EQ(ShuttingDownError().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ShuttingDownError().message(), "server is shutting down");
}

}  // namespace
}  // namespace deviceapi::apimachinery
