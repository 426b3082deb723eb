// Audit log: one JSON line per write request (create, update, update_status, patch, delete), with
// the caller's peer credentials and the outcome, appended to the file named by --audit-log. Off by
// default (empty path).
//
// Format (JSON Lines, UTF-8; one object per line, '\n'-terminated; every key always present, in this
// order; new keys may be added at the end, existing ones never change meaning):
//   {"time":"2026-12-06T06:30:00.123456Z","uid":1000,"gid":1000,"pid":4242,"socket":"api",
//    "verb":"update_status","namespace":"default","name":"gpu-0","resourceVersion":"42",
//    "code":"PermissionDenied","message":"..."}
//   time             string  when the write finished: RFC 3339, UTC, always 6 fractional digits
//   uid, gid, pid    number  peer credentials of the caller (SO_PEERCRED); -1 when unknown
//   socket           string  listener the request came in on: "api" or "read-only"
//   verb             string  create | update | update_status | patch | delete
//   namespace, name  string  the object written (as the request named it; may be empty)
//   resourceVersion  string  the object's resourceVersion after the write; "" when it failed
//   code             string  gRPC status code name as in the metrics: OK, PermissionDenied, Aborted,
//   NotFound, ... message          string  the error message; "" for OK; cut to 4096 bytes (then ends "...")
// Strings are JSON-escaped: quotes, backslashes and control characters (as \n, \t, \u0001, ...), so
// a record never spans lines; invalid UTF-8 is replaced by U+FFFD. Non-ASCII UTF-8 is kept as is.
//
// Files: the log is `path`; rotated copies are path.1 (newest) .. path.N (oldest), N = max_backups.
// When appending a line would make `path` larger than max_size_bytes, `path` is rotated first:
// path.(k-1) -> path.k .. path -> path.1, where k is the first free slot (or N, dropping the oldest,
// when all N exist), then a fresh `path` is created. A single line longer than max_size_bytes is still
// written, alone in a fresh file. max_backups = 0 keeps no copies: `path` is truncated instead.
// A file is never larger than max_size_bytes except when it holds one oversized line.
// Files are created mode 0600; an existing `path` is appended to. Only this process may write the
// files (do not point logrotate at them: rotation is built in).
//
// Durability and cost: Record() formats the line, then appends it with one write(2) under a mutex
// (a few microseconds on a local disk; the kernel's page cache absorbs it). No fsync per record; a
// line written is in the kernel and survives a process crash, not a power loss, until Flush().
//
// Failures never reach the caller: a failed write (ENOSPC, EIO, file size limit) drops that record,
// counts it (records_dropped) and is logged at most once a minute; a partially written line is cut
// back so the file holds only whole lines. A failed rotation (rename or open) is counted
// (rotation_failures) and logged; writing goes on to the current file, and the rotation is retried
// after a minute.
#ifndef DEVICEAPI_APISERVER_AUDIT_LOG_H_
#define DEVICEAPI_APISERVER_AUDIT_LOG_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace deviceapi::apiserver {

struct AuditRecord {
  absl::Time time;                       // when the write finished; absl::Time() (unset): now
  int64_t uid = -1, gid = -1, pid = -1;  // peer credentials; -1 = unknown
  std::string socket;                    // which listener: "api" or "read-only"
  std::string verb;                      // create, update, update_status, patch, delete
  std::string namespace_, name;          // the object
  std::string resource_version;          // the object's RV after the write (empty when it failed)
  std::string code;     // gRPC code name as in the metrics (GrpcCodeName): OK, PermissionDenied, Aborted, ...
  std::string message;  // error message (empty for OK)
};

struct AuditLogOptions {
  std::string path;                   // --audit-log; empty = off
  int64_t max_size_bytes = 10 << 20;  // --audit-log-max-size: at least kMinMaxSizeBytes
  int max_backups = 3;                // --audit-log-max-backups: 0..kMaxMaxBackups
};

class AuditLog {
 public:
  static constexpr int64_t kMinMaxSizeBytes = 4096;
  static constexpr int kMaxMaxBackups = 100;
  static constexpr size_t kMaxMessageBytes = 4096;

  // Checks `options` and opens (creating, mode 0600) or appends to options.path. An empty path means
  // the audit log is off: returns nullptr (not an error). Errors (INVALID_ARGUMENT, naming the flag
  // and the path): max size or backups out of range; path is a symlink, a directory or anything but a
  // regular file; its parent directory is missing, not a directory, not writable by this process
  // (rotation renames files in it), or world-writable without the sticky bit (anyone could swap the
  // files; a sticky directory such as /tmp is accepted, and the symlink refusal still applies).
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const AuditLogOptions& options);

  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends one line for `record`. Thread-safe; never throws, never fails (see the header comment).
  // True when the line was written; false when it was dropped (counted, logged at most once a minute).
  bool Record(const AuditRecord& record) ABSL_LOCKS_EXCLUDED(mu_);

  // fdatasync(2)s the current file: records before this call survive a power loss. Thread-safe.
  absl::Status Flush() ABSL_LOCKS_EXCLUDED(mu_);

  // The line Record() appends for `record`, '\n' included.
  static std::string FormatRecord(const AuditRecord& record);

  const std::string& path() const { return options_.path; }

  // Counters since Open, for metrics. Thread-safe, lock-free.
  int64_t records_written() const { return records_written_.load(std::memory_order_relaxed); }
  int64_t records_dropped() const { return records_dropped_.load(std::memory_order_relaxed); }
  int64_t rotations() const { return rotations_.load(std::memory_order_relaxed); }
  int64_t rotation_failures() const { return rotation_failures_.load(std::memory_order_relaxed); }

 private:
  AuditLog(AuditLogOptions options, int fd, int64_t size);

  // Rotates (see the header comment); on failure keeps fd_ and sets next_rotation_.
  void RotateLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends `line` to fd_ whole or not at all; false (errno set) on failure.
  bool WriteLocked(const std::string& line) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const AuditLogOptions options_;
  absl::Mutex mu_;
  int fd_ ABSL_GUARDED_BY(mu_);
  int64_t size_ ABSL_GUARDED_BY(mu_);                   // bytes in the current file, as written by us
  absl::Time next_rotation_ ABSL_GUARDED_BY(mu_);       // after a failed rotation: when to retry
  absl::Time next_drop_log_ ABSL_GUARDED_BY(mu_);       // write errors are logged once a minute
  int64_t dropped_since_log_ ABSL_GUARDED_BY(mu_) = 0;  // records dropped since that last log line

  std::atomic<int64_t> records_written_{0};
  std::atomic<int64_t> records_dropped_{0};
  std::atomic<int64_t> rotations_{0};
  std::atomic<int64_t> rotation_failures_{0};
};

}  // namespace deviceapi::apiserver

#endif  // DEVICEAPI_APISERVER_AUDIT_LOG_H_
