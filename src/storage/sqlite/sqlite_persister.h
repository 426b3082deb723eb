// The SQLite persister: the durable half of the sqlite:// backend (the
// serving half is MemoryStore). One file, WAL journal, synchronous=FULL, so an
// acknowledged write survives a process crash and a power loss (given a device
// that honours flushes). One transaction per commit.
//
// Schema:
//   objects(ns TEXT, name TEXT, rv INTEGER, data BLOB, PRIMARY KEY(ns, name))
//     data: the serialized v1alpha1.Gpu, resource_version included
//   meta(key TEXT PRIMARY KEY, value INTEGER)
//     ('rv', N): the highest RV ever committed or recorded
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/persister.h"
#include "storage/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace deviceapi::storage {

struct SqliteOptions {
  // How long a commit waits for a lock held by another connection.
  absl::Duration busy_timeout = absl::Seconds(5);
};

class SqlitePersister : public Persister {
 public:
  // Opens (creating it and its directory if missing) the database at the
  // absolute `path`, checks it with PRAGMA integrity_check and sets it up.
  // Fails with a message naming the path when the path is unusable or the
  // file is not a healthy SQLite database.
  static absl::StatusOr<std::unique_ptr<SqlitePersister>> Open(const std::string& path,
                                                               const SqliteOptions& options = {});
  ~SqlitePersister() override;

  absl::StatusOr<PersistedState> Load() override;
  absl::Status Commit(const Event& ev) override;
  absl::Status RecordRv(uint64_t rv) override;

  const std::string& path() const { return path_; }

 private:
  explicit SqlitePersister(std::string path) : path_(std::move(path)) {}
  absl::Status Error(std::string_view what) const;
  absl::Status Exec(const char* sql);
  absl::Status Prepare(const char* sql, sqlite3_stmt** stmt);
  absl::Status Step(sqlite3_stmt* stmt, std::string_view what);
  absl::Status SetRv(uint64_t rv);

  std::string path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  sqlite3_stmt* upsert_ = nullptr;
  sqlite3_stmt* delete_ = nullptr;
  sqlite3_stmt* set_rv_ = nullptr;
};

// Opens the sqlite:// backend: MemoryStore over a SqlitePersister at `path`.
absl::StatusOr<StorePtr> OpenSqliteStore(const std::string& path, const StoreConfig& config,
                                         const SqliteOptions& options = {});

}  // namespace deviceapi::storage
