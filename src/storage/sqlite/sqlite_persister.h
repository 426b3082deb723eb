// The SQLite persister: the durable half of the sqlite:// backend (the
// serving half is ServingStore). One file, WAL journal, synchronous=FULL by
// default, so an acknowledged write survives a process crash and a power loss
// (given a device that honours flushes). One transaction per commit, or per
// batch (CommitBatch: one fsync for many events). See docs/storage-sqlite.md.
//
// Schema (PRAGMA user_version = kSqliteSchemaVersion):
//   objects(ns TEXT, name TEXT, rv INTEGER, data BLOB, PRIMARY KEY(ns, name))
//     data: the serialized v1alpha1.Gpu, resource_version included
//   meta(key TEXT PRIMARY KEY, value INTEGER)
//     ('rv', N): the highest RV ever committed or recorded
//   history(rv INTEGER PRIMARY KEY, type INTEGER, ns TEXT, name TEXT,
//           time_us INTEGER, data BLOB, prev_rv INTEGER, prev BLOB)
//     one row per committed event, written in the commit's transaction: type
//     is EventType (0 added, 1 modified, 2 deleted), data the object after the
//     change (for a delete: the last state, at the deletion's RV), prev the
//     object before it (NULL for an add) and prev_rv its RV. Compaction only
//     ever removes the oldest rows, so the table holds every event above
//     (its oldest rv - 1).
//
// Start-up: the directory is created 0750; a sidecar lock file
// (<path>.lock, flock) keeps a second process off the database; the file is
// checked (schema version, PRAGMA quick_check) before anything writes to it,
// and refused untouched when it fails.
#ifndef DEVICEAPI_STORAGE_SQLITE_SQLITE_PERSISTER_H_
#define DEVICEAPI_STORAGE_SQLITE_SQLITE_PERSISTER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/persister.h"
#include "storage/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace deviceapi::storage {

// The schema this build writes. A file with a higher user_version was written
// by a newer release and is refused.
inline constexpr int kSqliteSchemaVersion = 1;

enum class SqliteSync {
  kFull,    // every commit is on stable storage before it is acknowledged
  kNormal,  // WAL commits are synced at checkpoints: a power loss (not a crash) may drop the last ones
};

struct SqliteOptions {
  // How long a commit waits for a lock held by another connection.
  absl::Duration busy_timeout = absl::Seconds(5);
  SqliteSync synchronous = SqliteSync::kFull;
  // The persisted event history's window (StoreConfig::history_size and
  // history_age): older events are compacted away on commit.
  size_t history_size = 10000;
  absl::Duration history_age = absl::Minutes(10);
  // At most this many history rows are deleted per commit, which bounds the
  // pause compaction adds to a write (a shrunk window catches up over
  // several commits).
  size_t compact_batch = 128;
};

// Splits "/abs/path/state.db?synchronous=normal" (the part of a sqlite://
// endpoint after the scheme) into the path and `base` with the query's
// settings applied. Known keys: synchronous=full|normal. Anything else is
// INVALID_ARGUMENT naming the bad key or value.
struct SqliteTarget {
  std::string path;
  SqliteOptions options;
};
absl::StatusOr<SqliteTarget> ParseSqliteTarget(std::string_view path_and_query,
                                               const SqliteOptions& base = {});

class SqlitePersister : public Persister {
 public:
  // Opens (creating it and its directory if missing) the database at the
  // absolute `path`: takes the lock file, checks the file and sets it up.
  // Fails with a message naming the path when the path is unusable, another
  // process holds the database, or the file is not a healthy database of a
  // schema this build knows; a refused file is not modified.
  static absl::StatusOr<std::unique_ptr<SqlitePersister>> Open(const std::string& path,
                                                               const SqliteOptions& options = {});
  ~SqlitePersister() override;

  absl::StatusOr<PersistedState> Load() override;
  absl::Status Commit(const Event& ev) override;
  absl::Status RecordRv(uint64_t rv) override;

  // Durably records `events` (in RV order, each as for Commit) in one
  // transaction with one sync: all of them or none. The last RV recorded is
  // the highest of theirs.
  absl::Status CommitBatch(const std::vector<const Event*>& events) override;

  // The persisted history: the newest events, at most `max_events` and none
  // older than `max_age` (by commit time; the newest event is always kept, as
  // HistoryRing does), oldest first, gapless: every event committed after
  // front()->rv - 1 is in the result. Objects are immutable and shared
  // (an event's prev is the previous event's object when that is in the
  // result). Empty when nothing is recorded.
  absl::StatusOr<std::vector<EventPtr>> LoadHistory(size_t max_events, absl::Duration max_age) override;

  // Rows in the history table (for tests and stats).
  size_t history_rows() const { return history_.size(); }
  const std::string& path() const { return path_; }
  const std::string& lock_path() const { return lock_path_; }

 private:
  explicit SqlitePersister(std::string path, const SqliteOptions& options)
      : path_(std::move(path)), options_(options) {}
  absl::Status Error(std::string_view what) const;
  absl::Status Exec(const char* sql);
  absl::Status Prepare(const char* sql, sqlite3_stmt** stmt);
  absl::Status Step(sqlite3_stmt* stmt, std::string_view what);
  absl::Status SetRv(uint64_t rv);
  absl::Status Lock();
  absl::Status CheckExisting();
  absl::Status Setup();
  absl::Status LoadHistoryIndex();
  absl::Status WriteEvent(const Event& ev);

  std::string path_;
  std::string lock_path_;
  SqliteOptions options_;
  int lock_fd_ = -1;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  sqlite3_stmt* upsert_ = nullptr;
  sqlite3_stmt* delete_ = nullptr;
  sqlite3_stmt* set_rv_ = nullptr;
  sqlite3_stmt* add_event_ = nullptr;
  sqlite3_stmt* compact_ = nullptr;

  // (rv, commit time in µs) of every history row, oldest first: compaction
  // decides from it without querying. Changed only once a commit succeeded.
  struct HistoryEntry {
    uint64_t rv;
    int64_t time_us;
  };
  std::deque<HistoryEntry> history_;
};

// Opens the sqlite:// backend: ServingStore over a SqlitePersister.
// `path_and_query` is what follows "sqlite://" (see ParseSqliteTarget); the
// history window comes from `config`.
absl::StatusOr<StorePtr> OpenSqliteStore(const std::string& path_and_query, const StoreConfig& config,
                                         const SqliteOptions& options = {});

}  // namespace deviceapi::storage

#endif  // DEVICEAPI_STORAGE_SQLITE_SQLITE_PERSISTER_H_
