#include "storage/sqlite/sqlite_persister.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <map>

#include "common/strings.h"
#include "storage/serving/serving_store.h"

namespace deviceapi::storage {

using ::deviceapi::common::Cat;

namespace {

// user_version 0 is a database from before the version was recorded (same
// tables, no history): the IF NOT EXISTS statements bring it to version 1.
constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS objects(ns TEXT NOT NULL, name TEXT NOT NULL, rv INTEGER NOT NULL, "
    "data BLOB NOT NULL, PRIMARY KEY(ns, name));"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS history(rv INTEGER PRIMARY KEY, type INTEGER NOT NULL, ns TEXT NOT NULL, "
    "name TEXT NOT NULL, time_us INTEGER NOT NULL, data BLOB NOT NULL, prev_rv INTEGER, prev BLOB);";

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

uint64_t ParseRv(const std::string& s) {
  uint64_t rv = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return 0;
    rv = rv * 10 + static_cast<uint64_t>(c - '0');
  }
  return rv;
}

// Creates the missing components of `dir` with mode 0750 (less the umask).
absl::Status MakeDirs(const std::filesystem::path& dir, const std::string& db_path) {
  auto fail = [&](const std::string& why) {
    return absl::FailedPreconditionError(
        Cat("sqlite datastore \"", db_path, "\": cannot create directory \"", dir.string(), "\": ", why));
  };
  std::filesystem::path cur;
  for (const auto& part : dir) {
    cur /= part;
    struct stat st;
    if (stat(cur.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) return fail(Cat("\"", cur.string(), "\" is not a directory"));
      continue;
    }
    if (errno != ENOENT) return fail(Cat("\"", cur.string(), "\": ", common::ErrnoString(errno)));
    if (mkdir(cur.c_str(), 0750) != 0 && errno != EEXIST) {
      return fail(Cat("\"", cur.string(), "\": ", common::ErrnoString(errno)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SqliteTarget> ParseSqliteTarget(std::string_view path_and_query, const SqliteOptions& base) {
  SqliteTarget out;
  out.options = base;
  const size_t q = path_and_query.find('?');
  out.path = std::string(path_and_query.substr(0, q));
  if (q == std::string_view::npos) return out;
  std::string_view query = path_and_query.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const std::string key(item.substr(0, eq));
    const std::string value = eq == std::string_view::npos ? "" : Lower(item.substr(eq + 1));
    if (key == "synchronous") {
      if (value == "full") {
        out.options.synchronous = SqliteSync::kFull;
      } else if (value == "normal") {
        out.options.synchronous = SqliteSync::kNormal;
      } else {
        return absl::InvalidArgumentError(Cat(
            "sqlite datastore \"", out.path, "\": synchronous=\"",
            item.substr(eq == std::string_view::npos ? item.size() : eq + 1),
            "\" is not supported: want synchronous=full (the default: every acknowledged write survives a "
            "power loss) or synchronous=normal (faster; a power loss may drop the last writes)"));
      }
    } else {
      return absl::InvalidArgumentError(Cat("sqlite datastore \"", out.path, "\": unknown setting \"", key,
                                            "\" in \"?", path_and_query.substr(q + 1),
                                            "\": the only setting is synchronous=full|normal"));
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<SqlitePersister>> SqlitePersister::Open(const std::string& path,
                                                                       const SqliteOptions& options) {
  const std::filesystem::path p(path);
  if (path.empty() || !p.is_absolute()) {
    return absl::InvalidArgumentError(Cat("sqlite datastore path \"", path, "\" must be absolute"));
  }
  if (!p.has_filename() || path.back() == '/') {
    return absl::InvalidArgumentError(Cat("sqlite datastore path \"", path, "\" must name a file"));
  }
  if (auto s = MakeDirs(p.parent_path(), path); !s.ok()) return s;
  std::error_code ec;
  if (std::filesystem::is_directory(p, ec)) {
    return absl::FailedPreconditionError(Cat("sqlite datastore \"", path, "\" is a directory"));
  }

  std::unique_ptr<SqlitePersister> sp(new SqlitePersister(path, options));
  // The lock comes before the first byte of the database is read: a refused
  // second process leaves the file alone.
  if (auto s = sp->Lock(); !s.ok()) return s;
  const bool existed = std::filesystem::exists(p, ec);

  const int rc = sqlite3_open_v2(path.c_str(), &sp->db_,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    return absl::FailedPreconditionError(Cat("sqlite datastore \"", path, "\": cannot open: ",
                                             sp->db_ ? sqlite3_errmsg(sp->db_) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(sp->db_, 1);
  sqlite3_busy_timeout(sp->db_, static_cast<int>(absl::ToInt64Milliseconds(options.busy_timeout)));
  // Until the checks pass, closing must not checkpoint a WAL into the file.
  sqlite3_db_config(sp->db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  if (existed) {
    if (auto s = sp->CheckExisting(); !s.ok()) return s;
  }
  if (auto s = sp->Setup(); !s.ok()) return s;
  sqlite3_db_config(sp->db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, nullptr);
  if (auto s = sp->LoadHistoryIndex(); !s.ok()) return s;
  return sp;
}

absl::Status SqlitePersister::Lock() {
  lock_path_ = path_ + ".lock";
  const int fd = open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::FailedPreconditionError(Cat("sqlite datastore \"", path_, "\": cannot open its lock file \"",
                                             lock_path_, "\": ", common::ErrnoString(errno)));
  }
  // flock: held per open file, so even a second open in this process is
  // refused; released by the kernel when the process dies, however it dies.
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[32] = {};
    const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    std::string holder(buf, n > 0 ? static_cast<size_t>(n) : 0);
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    close(fd);
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          Cat("sqlite datastore \"", path_, "\" is in use by another process",
              holder.empty() ? std::string() : Cat(" (pid ", holder, ")"), ": it holds the lock file \"",
              lock_path_, "\"; only one device-api-server may use a database at a time"));
    }
    return absl::FailedPreconditionError(Cat("sqlite datastore \"", path_, "\": cannot lock \"", lock_path_,
                                             "\": ", common::ErrnoString(err)));
  }
  // The holder's pid, for the message above (informational only).
  const std::string pid = Cat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // Not fatal: the lock is what matters.
  }
  lock_fd_ = fd;
  return absl::OkStatus();
}

// Read-only checks of a file that was there before: nothing is written to it
// until they pass.
absl::Status SqlitePersister::CheckExisting() {
  sqlite3_stmt* st = nullptr;
  auto unusable = [&](std::string_view what) {
    return absl::DataLossError(Cat(
        "sqlite datastore \"", path_, "\" is not a usable SQLite database (", what, ": ", sqlite3_errmsg(db_),
        "); it was left as it is: restore it from a backup, or move it away to start "
        "with an empty store"));
  };
  if (sqlite3_prepare_v2(db_, "PRAGMA user_version", -1, &st, nullptr) != SQLITE_OK)
    return unusable("read header");
  int rc = sqlite3_step(st);
  const int version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW) return unusable("read header");
  if (version > kSqliteSchemaVersion) {
    return absl::FailedPreconditionError(
        Cat("sqlite datastore \"", path_, "\" has schema version ", version,
            ", newer than this device-api-server's (", kSqliteSchemaVersion,
            "): it was written by a newer release; refusing to use it (the file was not "
            "modified): run the newer release, or move the file away to start with an empty store"));
  }
  if (version < 0) return unusable(Cat("schema version ", version));

  // quick_check: the integrity check without the index-content cross-checks,
  // O(file size); it reads every page, so torn or scribbled pages show.
  if (sqlite3_prepare_v2(db_, "PRAGMA quick_check", -1, &st, nullptr) != SQLITE_OK)
    return unusable("quick_check");
  std::string problems;
  int lines = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char* line = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    if (line && std::string_view(line) != "ok" && ++lines <= 5) {
      problems += Cat(problems.empty() ? "" : "; ", line);
    }
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return unusable("quick_check");
  if (!problems.empty()) {
    return absl::DataLossError(
        Cat("sqlite datastore \"", path_, "\" is corrupt (PRAGMA quick_check: ", problems,
            lines > 5 ? Cat("; ", lines - 5, " more") : std::string(),
            "); it was left as it is: restore it from a backup, or move it away to start "
            "with an empty store"));
  }
  return absl::OkStatus();
}

absl::Status SqlitePersister::Setup() {
  // WAL: a commit appends to the log; readers never block the writer.
  {
    sqlite3_stmt* st = nullptr;
    if (auto s = Prepare("PRAGMA journal_mode=WAL", &st); !s.ok()) return s;
    std::string mode;
    if (sqlite3_step(st) == SQLITE_ROW) mode = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (mode != "wal") {
      return absl::FailedPreconditionError(Cat("sqlite datastore \"", path_,
                                               "\": cannot enable WAL journal mode (got \"", mode,
                                               "\"): ", sqlite3_errmsg(db_)));
    }
  }
  const char* sync =
      options_.synchronous == SqliteSync::kFull ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
  const std::string schema =
      Cat("BEGIN IMMEDIATE;", kSchema, "PRAGMA user_version=", kSqliteSchemaVersion, ";COMMIT;");
  for (const char* sql : {sync, "PRAGMA foreign_keys=OFF", schema.c_str()}) {
    if (auto s = Exec(sql); !s.ok()) {
      if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return s;
    }
  }
  struct {
    const char* sql;
    sqlite3_stmt** stmt;
  } const stmts[] = {
      {"BEGIN IMMEDIATE", &begin_},
      {"COMMIT", &commit_},
      {"ROLLBACK", &rollback_},
      {"INSERT INTO objects(ns, name, rv, data) VALUES(?1, ?2, ?3, ?4) "
       "ON CONFLICT(ns, name) DO UPDATE SET rv = excluded.rv, data = excluded.data",
       &upsert_},
      {"DELETE FROM objects WHERE ns = ?1 AND name = ?2", &delete_},
      {"INSERT INTO meta(key, value) VALUES('rv', ?1) "
       "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
       &set_rv_},
      {"INSERT INTO history(rv, type, ns, name, time_us, data, prev_rv, prev) VALUES(?1, ?2, ?3, ?4, ?5, ?6, "
       "?7, ?8)",
       &add_event_},
      {"DELETE FROM history WHERE rv <= ?1", &compact_},
  };
  for (const auto& s : stmts) {
    if (auto st = Prepare(s.sql, s.stmt); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status SqlitePersister::LoadHistoryIndex() {
  sqlite3_stmt* st = nullptr;
  if (auto s = Prepare("SELECT rv, time_us FROM history ORDER BY rv", &st); !s.ok()) return s;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    history_.push_back({static_cast<uint64_t>(sqlite3_column_int64(st, 0)), sqlite3_column_int64(st, 1)});
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return Error("load history index");
  return absl::OkStatus();
}

SqlitePersister::~SqlitePersister() {
  for (sqlite3_stmt* st : {begin_, commit_, rollback_, upsert_, delete_, set_rv_, add_event_, compact_}) {
    sqlite3_finalize(st);
  }
  if (db_) sqlite3_close_v2(db_);
  if (lock_fd_ >= 0) close(lock_fd_);  // after the database is closed
}

absl::Status SqlitePersister::Error(std::string_view what) const {
  return absl::UnavailableError(Cat("sqlite datastore \"", path_, "\": ", what, ": ", sqlite3_errmsg(db_)));
}

absl::Status SqlitePersister::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    absl::Status s = absl::FailedPreconditionError(
        Cat("sqlite datastore \"", path_, "\": ", sql, ": ", err ? err : sqlite3_errmsg(db_)));
    sqlite3_free(err);
    return s;
  }
  return absl::OkStatus();
}

absl::Status SqlitePersister::Prepare(const char* sql, sqlite3_stmt** stmt) {
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, nullptr) != SQLITE_OK) {
    return absl::FailedPreconditionError(Cat("sqlite datastore \"", path_, "\": ", sqlite3_errmsg(db_)));
  }
  return absl::OkStatus();
}

absl::Status SqlitePersister::Step(sqlite3_stmt* stmt, std::string_view what) {
  const int rc = sqlite3_step(stmt);
  absl::Status s = rc == SQLITE_DONE || rc == SQLITE_ROW ? absl::OkStatus() : Error(what);
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  return s;
}

absl::Status SqlitePersister::SetRv(uint64_t rv) {
  sqlite3_bind_int64(set_rv_, 1, static_cast<sqlite3_int64>(rv));
  return Step(set_rv_, "record resource version");
}

absl::StatusOr<PersistedState> SqlitePersister::Load() {
  PersistedState out;
  sqlite3_stmt* st = nullptr;
  if (auto s = Prepare("SELECT ns, name, data FROM objects ORDER BY ns, name", &st); !s.ok()) return s;
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const void* data = sqlite3_column_blob(st, 2);
    const int n = sqlite3_column_bytes(st, 2);
    StoredPtr obj = StoredObject::FromBytes(data, static_cast<size_t>(n));
    if (!obj) {
      std::string ns = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      std::string name = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
      sqlite3_finalize(st);
      return absl::DataLossError(
          Cat("sqlite datastore \"", path_, "\": object \"", ns, "/", name, "\" does not decode"));
    }
    out.objects.push_back(std::move(obj));
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return Error("load objects");

  if (auto s = Prepare("SELECT value FROM meta WHERE key = 'rv'", &st); !s.ok()) return s;
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) out.last_rv = static_cast<uint64_t>(sqlite3_column_int64(st, 0));
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return Error("load resource version");
  // Never start below an RV some stored object or event carries.
  for (const auto& o : out.objects)
    out.last_rv = std::max(out.last_rv, ParseRv(o->metadata().resource_version()));
  if (!history_.empty()) out.last_rv = std::max(out.last_rv, history_.back().rv);
  return out;
}

absl::Status SqlitePersister::WriteEvent(const Event& ev) {
  const auto& md = ev.object->metadata();
  const grpc::Slice& data = ev.object->bytes();
  absl::Status s;
  if (ev.type == EventType::kDeleted) {
    sqlite3_bind_text(delete_, 1, md.namespace_().data(), static_cast<int>(md.namespace_().size()),
                      SQLITE_STATIC);
    sqlite3_bind_text(delete_, 2, md.name().data(), static_cast<int>(md.name().size()), SQLITE_STATIC);
    s = Step(delete_, "delete");
  } else {
    sqlite3_bind_text(upsert_, 1, md.namespace_().data(), static_cast<int>(md.namespace_().size()),
                      SQLITE_STATIC);
    sqlite3_bind_text(upsert_, 2, md.name().data(), static_cast<int>(md.name().size()), SQLITE_STATIC);
    sqlite3_bind_int64(upsert_, 3, static_cast<sqlite3_int64>(ev.rv));
    sqlite3_bind_blob(upsert_, 4, data.begin(), static_cast<int>(data.size()), SQLITE_STATIC);
    s = Step(upsert_, "write object");
  }
  if (!s.ok()) return s;
  sqlite3_bind_int64(add_event_, 1, static_cast<sqlite3_int64>(ev.rv));
  sqlite3_bind_int(add_event_, 2, static_cast<int>(ev.type));
  sqlite3_bind_text(add_event_, 3, md.namespace_().data(), static_cast<int>(md.namespace_().size()),
                    SQLITE_STATIC);
  sqlite3_bind_text(add_event_, 4, md.name().data(), static_cast<int>(md.name().size()), SQLITE_STATIC);
  sqlite3_bind_int64(add_event_, 5, absl::ToUnixMicros(ev.time));
  sqlite3_bind_blob(add_event_, 6, data.begin(), static_cast<int>(data.size()), SQLITE_STATIC);
  if (ev.prev) {
    const grpc::Slice& prev = ev.prev->bytes();
    sqlite3_bind_int64(add_event_, 7,
                       static_cast<sqlite3_int64>(ParseRv(ev.prev->metadata().resource_version())));
    sqlite3_bind_blob(add_event_, 8, prev.begin(), static_cast<int>(prev.size()), SQLITE_STATIC);
  }  // else both stay NULL
  return Step(add_event_, "record event");
}

absl::Status SqlitePersister::Commit(const Event& ev) { return CommitBatch({&ev}); }

absl::Status SqlitePersister::CommitBatch(const std::vector<const Event*>& events) {
  if (events.empty()) return absl::OkStatus();
  if (absl::Status s = Step(begin_, "begin"); !s.ok()) return s;
  absl::Status s;
  uint64_t max_rv = 0;
  for (const Event* ev : events) {
    s = WriteEvent(*ev);
    if (!s.ok()) break;
    max_rv = std::max(max_rv, ev->rv);
  }
  if (s.ok()) s = SetRv(max_rv);

  // Compaction in the same transaction, oldest rows first and at most
  // compact_batch of them: the window by count, then by age (the newest event
  // always stays). Planned on the index plus this batch; applied to the index
  // only once the commit is durable.
  const size_t total = history_.size() + events.size();
  auto entry = [&](size_t i) -> HistoryEntry {
    if (i < history_.size()) return history_[i];
    const Event* ev = events[i - history_.size()];
    return {ev->rv, absl::ToUnixMicros(ev->time)};
  };
  size_t drop = total > options_.history_size ? total - options_.history_size : 0;
  const int64_t cutoff = absl::ToUnixMicros(absl::Now() - options_.history_age);
  while (drop + 1 < total && entry(drop).time_us < cutoff) ++drop;
  drop = std::min(drop, options_.compact_batch);
  if (s.ok() && drop > 0) {
    sqlite3_bind_int64(compact_, 1, static_cast<sqlite3_int64>(entry(drop - 1).rv));
    s = Step(compact_, "compact history");
  }

  if (s.ok()) s = Step(commit_, "commit");
  if (!s.ok()) {
    if (!sqlite3_get_autocommit(db_)) Step(rollback_, "rollback").IgnoreError();
    return s;
  }
  for (const Event* ev : events) history_.push_back({ev->rv, absl::ToUnixMicros(ev->time)});
  for (size_t i = 0; i < drop; ++i) history_.pop_front();
  return absl::OkStatus();
}

absl::Status SqlitePersister::RecordRv(uint64_t rv) {
  if (absl::Status s = SetRv(rv); !s.ok()) return s;  // autocommit: one synced transaction
  return absl::OkStatus();
}

absl::StatusOr<std::vector<EventPtr>> SqlitePersister::LoadHistory(size_t max_events,
                                                                   absl::Duration max_age) {
  std::vector<EventPtr> out;
  if (max_events == 0 || history_.empty()) return out;
  // The window: the newest max_events rows, less the prefix older than max_age.
  size_t first = history_.size() > max_events ? history_.size() - max_events : 0;
  const int64_t cutoff = absl::ToUnixMicros(absl::Now() - max_age);
  while (first + 1 < history_.size() && history_[first].time_us < cutoff) ++first;
  const uint64_t from_rv = history_[first].rv;

  sqlite3_stmt* st = nullptr;
  if (auto s = Prepare(
          "SELECT rv, type, time_us, data, prev_rv, prev, ns, name FROM history WHERE rv >= ?1 ORDER BY rv",
          &st);
      !s.ok()) {
    return s;
  }
  sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(from_rv));
  // The latest object per key seen so far: an event's prev is usually the
  // previous event's object, shared instead of decoded again.
  std::map<std::pair<std::string, std::string>, StoredPtr> latest;
  auto decode = [&](int col, const char* what, uint64_t rv) -> absl::StatusOr<StoredPtr> {
    const int n = sqlite3_column_bytes(st, col);
    StoredPtr obj = StoredObject::FromBytes(sqlite3_column_blob(st, col), static_cast<size_t>(n));
    if (!obj) {
      return absl::DataLossError(
          Cat("sqlite datastore \"", path_, "\": the ", what, " of history event ", rv, " does not decode"));
    }
    return obj;
  };
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    auto ev = std::make_shared<Event>();
    ev->rv = static_cast<uint64_t>(sqlite3_column_int64(st, 0));
    const int type = sqlite3_column_int(st, 1);
    if (type < 0 || type > static_cast<int>(EventType::kDeleted)) {
      sqlite3_finalize(st);
      return absl::DataLossError(
          Cat("sqlite datastore \"", path_, "\": history event ", ev->rv, " has unknown type ", type));
    }
    ev->type = static_cast<EventType>(type);
    ev->time = absl::FromUnixMicros(sqlite3_column_int64(st, 2));
    auto obj = decode(3, "object", ev->rv);
    if (!obj.ok()) {
      sqlite3_finalize(st);
      return obj.status();
    }
    ev->object = *obj;
    std::pair<std::string, std::string> key(reinterpret_cast<const char*>(sqlite3_column_text(st, 6)),
                                            reinterpret_cast<const char*>(sqlite3_column_text(st, 7)));
    if (sqlite3_column_type(st, 5) != SQLITE_NULL) {
      const uint64_t prev_rv = static_cast<uint64_t>(sqlite3_column_int64(st, 4));
      auto it = latest.find(key);
      if (it != latest.end() && it->second && ParseRv(it->second->metadata().resource_version()) == prev_rv) {
        ev->prev = it->second;
      } else {
        auto prev = decode(5, "previous object", ev->rv);
        if (!prev.ok()) {
          sqlite3_finalize(st);
          return prev.status();
        }
        ev->prev = *prev;
      }
    }
    latest[key] = ev->type == EventType::kDeleted ? nullptr : ev->object;
    out.push_back(std::move(ev));
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return Error("load history");
  return out;
}

absl::StatusOr<StorePtr> OpenSqliteStore(const std::string& path_and_query, const StoreConfig& config,
                                         const SqliteOptions& options) {
  SqliteOptions base = options;
  base.history_size = config.history_size;
  base.history_age = config.history_age;
  auto target = ParseSqliteTarget(path_and_query, base);
  if (!target.ok()) return target.status();
  auto p = SqlitePersister::Open(target->path, target->options);
  if (!p.ok()) return p.status();
  auto store = ServingStore::CreateWithPersister(config, std::move(*p));
  if (!store.ok()) return store.status();
  return StorePtr(std::move(*store));
}

}  // namespace deviceapi::storage
