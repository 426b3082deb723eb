// Opaque list continuation: the snapshot RV and the last key returned.
#ifndef DEVICEAPI_STORAGE_CONTINUE_TOKEN_H_
#define DEVICEAPI_STORAGE_CONTINUE_TOKEN_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace deviceapi::storage {

struct ContinueToken {
  uint64_t rv = 0;
  std::string start_after;  // the last key of the previous page
};

std::string EncodeContinueToken(const ContinueToken& t);
// INVALID_ARGUMENT for anything that is not a token we issued.
absl::StatusOr<ContinueToken> DecodeContinueToken(std::string_view token);

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_CONTINUE_TOKEN_H_
