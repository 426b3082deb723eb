// The resource-version high-water mark of a memory:// store: a small file beside the API socket,
// so that memory:// resource versions only grow across restarts, even when the wall clock does
// not.
//
// Why: memory:// starts its RVs from the wall clock (µs since the epoch). A clock stepped back
// before a restart would hand clients RVs below the ones they hold; a Go informer then asks for
// "at least RV N" for ever ("Too large resource version") and nothing recovers it. The run
// directory of the socket survives a container restart, so the mark does too.
//
// How: the store never hands out an RV above the mark. At start the first RV is above
// max(wall clock, mark), and the mark is moved `window` RVs ahead (file written and fsynced
// before the store serves); when the store's RVs reach the mark, the write that needs the next RV
// first moves the mark another window ahead (one fsync per `window` writes). A write whose mark
// cannot be recorded fails with UNAVAILABLE and changes nothing. A crash loses nothing: the file
// is replaced atomically (temp file, fsync, rename, fsync of the directory).
#ifndef DEVICEAPI_STORAGE_RV_MARK_H_
#define DEVICEAPI_STORAGE_RV_MARK_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace deviceapi::storage {

class RvMark {
 public:
  // RVs reserved per file write.
  static constexpr uint64_t kDefaultWindow = 1'000'000;

  // Reads the mark at `path` (0 when the file does not exist yet). A file that is not a regular
  // file, a link, or content that is not one decimal RV is FAILED_PRECONDITION naming the file
  // (it is never overwritten then: the operator decides).
  static absl::StatusOr<std::unique_ptr<RvMark>> Open(const std::string& path,
                                                      uint64_t window = kDefaultWindow);

  // The highest RV that may be handed out (0: none recorded).
  uint64_t mark() const { return mark_; }
  uint64_t window() const { return window_; }
  const std::string& path() const { return path_; }

  // Durably records that RVs up to `through` may be handed out (a mark never goes down: a
  // smaller `through` is a no-op). UNAVAILABLE, mark unchanged, when the file cannot be written.
  absl::Status Reserve(uint64_t through);

  // The first RV a store may start after (its start_rv): above the wall clock `now_rv` and above
  // every RV an earlier process could have handed out.
  uint64_t StartAfter(uint64_t now_rv) const { return now_rv > mark_ ? now_rv : mark_; }

 private:
  RvMark(std::string path, uint64_t mark, uint64_t window)
      : path_(std::move(path)), mark_(mark), window_(window) {}
  std::string path_;
  uint64_t mark_;
  uint64_t window_;
};

// The default mark file of an API socket: its path with ".sock" replaced by ".rv" (or ".rv"
// appended), e.g. /var/run/nvidia-device-api/device-api.sock -> .../device-api.rv.
std::string DefaultRvMarkPath(const std::string& socket_path);

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_RV_MARK_H_
