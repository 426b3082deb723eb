// The resource-version high-water mark file (see rv_mark.h).
#include "storage/rv_mark.h"

#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "common/secure_path.h"
#include "common/strings.h"

namespace deviceapi::storage {

using ::deviceapi::common::Cat;

absl::StatusOr<std::unique_ptr<RvMark>> RvMark::Open(const std::string& path, uint64_t window) {
  if (window == 0) return absl::InvalidArgumentError("resource version mark window must be > 0");
  absl::StatusOr<std::string> text = common::ReadStateFile(path);
  if (absl::IsNotFound(text.status())) {
    // The directory must still be usable: a mark that cannot be written is found now, not at the
    // first write.
    if (absl::Status s = common::CheckParentDirectory(path); !s.ok()) return s;
    return std::unique_ptr<RvMark>(new RvMark(path, 0, window));
  }
  if (!text.ok()) return text.status();
  const std::string_view digits = common::ToStd(absl::StripAsciiWhitespace(*text));
  uint64_t mark = 0;
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos ||
      !absl::SimpleAtoi(common::ToAbsl(digits), &mark)) {
    return absl::FailedPreconditionError(Cat(
        "resource version mark file ", path, " does not hold one decimal resource version (", text->size(),
        " bytes); it is written only by device-api-server: remove it to start "
        "from the wall clock again, or fix it"));
  }
  return std::unique_ptr<RvMark>(new RvMark(path, mark, window));
}

absl::Status RvMark::Reserve(uint64_t through) {
  if (through <= mark_) return absl::OkStatus();
  if (absl::Status s = common::WriteStateFile(path_, Cat(through, "\n")); !s.ok()) {
    return absl::UnavailableError(
        Cat("cannot record the resource version mark in ", path_, ": ", common::ToStd(s.message())));
  }
  mark_ = through;
  return absl::OkStatus();
}

std::string DefaultRvMarkPath(const std::string& socket_path) {
  constexpr std::string_view kSock = ".sock";
  std::string_view base = socket_path;
  const size_t slash = base.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? base : base.substr(slash + 1);
  if (name.size() > kSock.size() && name.substr(name.size() - kSock.size()) == kSock) {
    base.remove_suffix(kSock.size());
  }
  return Cat(base, ".rv");
}

}  // namespace deviceapi::storage
