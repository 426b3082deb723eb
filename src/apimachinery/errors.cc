#include "apimachinery/errors.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "apimachinery/name_rules.h"

namespace deviceapi::apimachinery {

std::string FieldError::ToString() const {
  if (field.empty()) return detail;
  return absl::StrCat(field, ": ", detail);
}

absl::Status NotFoundError(std::string_view name) {
  return absl::NotFoundError(absl::StrCat(Sv(kGpuResource), " \"", Sv(name), "\" not found"));
}

absl::Status AlreadyExistsError(std::string_view name) {
  return absl::AlreadyExistsError(absl::StrCat(Sv(kGpuResource), " \"", Sv(name), "\" already exists"));
}

absl::Status ConflictError(std::string_view name) {
  return absl::AbortedError(
      absl::StrCat("Operation cannot be fulfilled on ", Sv(kGpuResource), " \"", Sv(name),
                   "\": the object has been modified; please apply your changes to the latest version and "
                   "try again"));
}

absl::Status PreconditionError(std::string_view name, std::string_view detail) {
  return absl::AbortedError(absl::StrCat("Operation cannot be fulfilled on ", Sv(kGpuResource), " \"",
                                         Sv(name), "\": Precondition failed: ", Sv(detail)));
}

absl::Status InvalidError(std::string_view name, std::vector<FieldError> errs) {
  std::string msg = absl::StrCat(Sv(kGpuKindGroup), " \"", Sv(name), "\" is invalid");
  if (!errs.empty()) {
    const size_t shown = std::min(errs.size(), kMaxListedFieldErrors);
    absl::StrAppend(&msg, ": ",
                    absl::StrJoin(errs.begin(), errs.begin() + shown, ", ",
                                  [](std::string* out, const FieldError& e) { out->append(e.ToString()); }));
    if (shown < errs.size()) {
      absl::StrAppend(&msg, ", and ", errs.size() - shown, " more errors");
    }
  }
  return absl::InvalidArgumentError(msg);
}

absl::Status BadRequestError(std::string msg) { return absl::InvalidArgumentError(msg); }

absl::Status TooOldResourceVersionError(uint64_t requested, uint64_t oldest) {
  return absl::OutOfRangeError(absl::StrCat("too old resource version: ", requested, " (", oldest, ")"));
}

absl::Status ExpiredContinueError() {
  return absl::OutOfRangeError(
      "The provided continue parameter is too old to display a consistent list result. You can "
      "start a new list without the continue parameter.");
}

absl::Status TooLargeResourceVersionError(uint64_t requested, uint64_t current) {
  return absl::UnavailableError(
      absl::StrCat("Too large resource version: ", requested, ", current: ", current));
}

absl::Status TooManyObjectsError(size_t limit) {
  return absl::ResourceExhaustedError(
      absl::StrCat("object limit reached: at most ", limit, " ", Sv(kGpuResource), " objects"));
}

absl::Status ShuttingDownError() { return absl::UnavailableError("server is shutting down"); }

}  // namespace deviceapi::apimachinery
