#include "apiserver/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include <fmt/format.h>

#include "common/logging.h"
#include "common/strings.h"
#include "nlohmann/json.hpp"

namespace deviceapi::apiserver {
namespace {

constexpr absl::Duration kRetryRotationAfter = absl::Minutes(1);
constexpr absl::Duration kDropLogInterval = absl::Minutes(1);
// O_NONBLOCK: opening a FIFO planted at the path fails (ENXIO) instead of waiting for a reader; it is
// refused by the regular-file check right after. No effect on regular files.
constexpr int kOpenFlags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;

// The directory holding `path` ("." for a bare name).
std::string ParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string Backup(const std::string& path, int i) { return fmt::format("{}.{}", path, i); }

absl::Status Invalid(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(fmt::format("--audit-log={}: {}", path, what));
}

// Opens `path` as the log file; -1 with `error` set on failure (a symlink or non-regular file
// included).
int OpenLogFile(const std::string& path, int extra_flags, int64_t* size, std::string* error) {
  const int fd = open(path.c_str(), kOpenFlags | extra_flags, 0600);
  if (fd < 0) {
    const int err = errno;
    *error =
        err == ELOOP ? "is a symlink (refused)" : fmt::format("cannot open: {}", common::ErrnoString(err));
    return -1;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    *error = S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file";
    close(fd);
    return -1;
  }
  *size = st.st_size;
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const AuditLogOptions& options) {
  const std::string& path = options.path;
  if (path.empty()) return nullptr;
  if (options.max_size_bytes < kMinMaxSizeBytes) {
    return absl::InvalidArgumentError(fmt::format("--audit-log-max-size={}: must be at least {} bytes",
                                                  options.max_size_bytes, kMinMaxSizeBytes));
  }
  if (options.max_backups < 0 || options.max_backups > kMaxMaxBackups) {
    return absl::InvalidArgumentError(
        fmt::format("--audit-log-max-backups={}: must be 0..{}", options.max_backups, kMaxMaxBackups));
  }
  if (path.back() == '/') return Invalid(path, "names a directory, not a file");

  const std::string dir = ParentDir(path);
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) {
    return Invalid(path, fmt::format("directory {}: {}", dir, common::ErrnoString(errno)));
  }
  if (!S_ISDIR(st.st_mode)) return Invalid(path, fmt::format("{} is not a directory", dir));
  if ((st.st_mode & S_IWOTH) != 0 && (st.st_mode & S_ISVTX) == 0) {
    return Invalid(path, fmt::format("directory {} is world-writable without the sticky bit (mode {:04o}): "
                                     "anyone could replace the audit files",
                                     dir, st.st_mode & 07777));
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    return Invalid(path, fmt::format("directory {} is not writable (rotation renames files in it): {}", dir,
                                     common::ErrnoString(errno)));
  }
  if (lstat(path.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode)) return Invalid(path, "is a symlink (refused)");
    if (S_ISDIR(st.st_mode)) return Invalid(path, "is a directory");
    if (!S_ISREG(st.st_mode)) return Invalid(path, "is not a regular file");
  } else if (errno != ENOENT) {
    return Invalid(path, common::ErrnoString(errno));
  }
  int64_t size = 0;
  std::string error;
  const int fd = OpenLogFile(path, 0, &size, &error);
  if (fd < 0) return Invalid(path, error);
  return std::unique_ptr<AuditLog>(new AuditLog(options, fd, size));
}

AuditLog::AuditLog(AuditLogOptions options, int fd, int64_t size)
    : options_(std::move(options)),
      fd_(fd),
      size_(size),
      next_rotation_(absl::InfinitePast()),
      next_drop_log_(absl::InfinitePast()) {}

AuditLog::~AuditLog() {
  absl::MutexLock lock(&mu_);
  if (fd_ >= 0) close(fd_);
}

std::string AuditLog::FormatRecord(const AuditRecord& r) {
  const absl::Time t = r.time == absl::Time() ? absl::Now() : r.time;
  nlohmann::ordered_json j;
  j["time"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
  j["uid"] = r.uid;
  j["gid"] = r.gid;
  j["pid"] = r.pid;
  j["socket"] = r.socket;
  j["verb"] = r.verb;
  j["namespace"] = r.namespace_;
  j["name"] = r.name;
  j["resourceVersion"] = r.resource_version;
  j["code"] = r.code;
  if (r.message.size() > kMaxMessageBytes) {
    // A cut inside a UTF-8 sequence becomes U+FFFD in dump().
    j["message"] = r.message.substr(0, kMaxMessageBytes - 3) + "...";
  } else {
    j["message"] = r.message;
  }
  // replace: invalid UTF-8 becomes U+FFFD instead of throwing; control characters are escaped.
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line += '\n';
  return line;
}

bool AuditLog::Record(const AuditRecord& record) {
  std::string line;
  try {
    line = FormatRecord(record);
  } catch (...) {  // bad_alloc; dump() itself does not throw in replace mode
    records_dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  const auto len = static_cast<int64_t>(line.size());
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  if (size_ > 0 && size_ + len > options_.max_size_bytes && now >= next_rotation_) RotateLocked(now);
  if (WriteLocked(line)) {
    size_ += len;
    records_written_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  const int err = errno;
  records_dropped_.fetch_add(1, std::memory_order_relaxed);
  ++dropped_since_log_;
  if (now >= next_drop_log_) {
    DAPI_LOG_ERROR(
        "audit log {}: write failed: {}; {} record(s) dropped since the last such message "
        "(logged at most once a minute)",
        options_.path, common::ErrnoString(err), dropped_since_log_);
    dropped_since_log_ = 0;
    next_drop_log_ = now + kDropLogInterval;
  }
  return false;
}

bool AuditLog::WriteLocked(const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = write(fd_, line.data() + done, line.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const int err = n < 0 ? errno : EIO;
    if (done > 0) {
      // Cut the partial line back off (O_APPEND: it is at the end) so the file holds whole lines.
      struct stat st {};
      if (fstat(fd_, &st) == 0 && st.st_size >= static_cast<off_t>(done)) {
        (void)ftruncate(fd_, st.st_size - static_cast<off_t>(done));
      }
    }
    errno = err;
    return false;
  }
  return true;
}

void AuditLog::RotateLocked(absl::Time now) {
  const std::string& path = options_.path;
  const int n = options_.max_backups;
  std::string error;
  int64_t size = 0;
  int fd = -1;
  if (n == 0) {
    fd = OpenLogFile(path, O_TRUNC, &size, &error);
    if (fd < 0) error = fmt::format("{} {}", path, error);
  } else {
    struct stat st {};
    // `path` gone (removed by someone, or a rotation that renamed it but could not create the new
    // file): nothing to shift, just create it.
    const bool present = lstat(path.c_str(), &st) == 0;
    if (present) {
      // Shift up to the first free slot, or over the oldest when all are taken.
      int free_slot = n;
      for (int i = 1; i < n; ++i) {
        if (lstat(Backup(path, i).c_str(), &st) != 0 && errno == ENOENT) {
          free_slot = i;
          break;
        }
      }
      for (int i = free_slot; i >= 1 && error.empty(); --i) {
        const std::string from = i == 1 ? path : Backup(path, i - 1);
        const std::string to = Backup(path, i);
        if (rename(from.c_str(), to.c_str()) != 0) {
          error = fmt::format("rename {} to {}: {}", from, to, common::ErrnoString(errno));
        }
      }
    }
    if (error.empty()) {
      fd = OpenLogFile(path, O_EXCL, &size, &error);
      if (fd < 0) error = fmt::format("{} {}", path, error);
    }
  }
  if (fd < 0) {
    rotation_failures_.fetch_add(1, std::memory_order_relaxed);
    next_rotation_ = now + kRetryRotationAfter;
    DAPI_LOG_ERROR("audit log {}: rotation failed ({}); still writing to the current file, retrying in {}",
                   path, error, absl::FormatDuration(kRetryRotationAfter));
    return;
  }
  close(fd_);
  fd_ = fd;
  size_ = size;
  rotations_.fetch_add(1, std::memory_order_relaxed);
}

absl::Status AuditLog::Flush() {
  absl::MutexLock lock(&mu_);
  if (fdatasync(fd_) != 0) {
    return absl::InternalError(
        fmt::format("audit log {}: fdatasync: {}", options_.path, common::ErrnoString(errno)));
  }
  return absl::OkStatus();
}

}  // namespace deviceapi::apiserver
