#include "storage/sqlite/sqlite_persister.h"

#include <sqlite3.h>

#include <filesystem>
#include <system_error>

#include "common/strings.h"
#include "storage/memory/memory_store.h"

namespace deviceapi::storage {

using ::deviceapi::common::Cat;

namespace {

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS objects(ns TEXT NOT NULL, name TEXT NOT NULL, rv INTEGER NOT NULL, "
    "data BLOB NOT NULL, PRIMARY KEY(ns, name));"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);";

}  // namespace

absl::StatusOr<std::unique_ptr<SqlitePersister>> SqlitePersister::Open(const std::string& path,
                                                                       const SqliteOptions& options) {
  const std::filesystem::path p(path);
  if (path.empty() || !p.is_absolute()) {
    return absl::InvalidArgumentError(Cat("sqlite datastore path \"", path, "\" must be absolute"));
  }
  if (!p.has_filename() || path.back() == '/') {
    return absl::InvalidArgumentError(Cat("sqlite datastore path \"", path, "\" must name a file"));
  }
  std::error_code ec;
  std::filesystem::create_directories(p.parent_path(), ec);
  if (ec) {
    return absl::FailedPreconditionError(
        Cat("sqlite datastore \"", path, "\": cannot create directory \"", p.parent_path().string(), "\": ",
            ec.message()));
  }
  if (std::filesystem::is_directory(p, ec)) {
    return absl::FailedPreconditionError(Cat("sqlite datastore \"", path, "\" is a directory"));
  }

  std::unique_ptr<SqlitePersister> sp(new SqlitePersister(path));
  const int rc = sqlite3_open_v2(path.c_str(), &sp->db_,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    return absl::FailedPreconditionError(
        Cat("sqlite datastore \"", path, "\": cannot open: ",
            sp->db_ ? sqlite3_errmsg(sp->db_) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(sp->db_, 1);
  sqlite3_busy_timeout(sp->db_, static_cast<int>(absl::ToInt64Milliseconds(options.busy_timeout)));

  // Integrity first: a file that is not a database fails here ("file is not a database").
  {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(sp->db_, "PRAGMA integrity_check", -1, &st, nullptr) != SQLITE_OK) {
      return absl::FailedPreconditionError(
          Cat("sqlite datastore \"", path, "\" is unusable: ", sqlite3_errmsg(sp->db_)));
    }
    std::string problems;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
      const char* line = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      if (line && std::string_view(line) != "ok") problems += Cat(problems.empty() ? "" : "; ", line);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
      return absl::FailedPreconditionError(
          Cat("sqlite datastore \"", path, "\" is unusable: ", sqlite3_errmsg(sp->db_)));
    }
    if (!problems.empty()) {
      return absl::DataLossError(
          Cat("sqlite datastore \"", path, "\" failed PRAGMA integrity_check: ", problems));
    }
  }

  // WAL + FULL: every commit is synced before it is acknowledged.
  {
    sqlite3_stmt* st = nullptr;
    if (auto s = sp->Prepare("PRAGMA journal_mode=WAL", &st); !s.ok()) return s;
    std::string mode;
    if (sqlite3_step(st) == SQLITE_ROW) mode = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (mode != "wal") {
      return absl::FailedPreconditionError(
          Cat("sqlite datastore \"", path, "\": cannot enable WAL journal mode (got \"", mode, "\"): ",
              sqlite3_errmsg(sp->db_)));
    }
  }
  for (const char* sql : {"PRAGMA synchronous=FULL", "PRAGMA foreign_keys=OFF", kSchema}) {
    if (auto s = sp->Exec(sql); !s.ok()) return s;
  }
  struct {
    const char* sql;
    sqlite3_stmt** stmt;
  } const stmts[] = {
      {"BEGIN IMMEDIATE", &sp->begin_},
      {"COMMIT", &sp->commit_},
      {"ROLLBACK", &sp->rollback_},
      {"INSERT INTO objects(ns, name, rv, data) VALUES(?1, ?2, ?3, ?4) "
       "ON CONFLICT(ns, name) DO UPDATE SET rv = excluded.rv, data = excluded.data",
       &sp->upsert_},
      {"DELETE FROM objects WHERE ns = ?1 AND name = ?2", &sp->delete_},
      {"INSERT INTO meta(key, value) VALUES('rv', ?1) "
       "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
       &sp->set_rv_},
  };
  for (const auto& s : stmts) {
    if (auto st = sp->Prepare(s.sql, s.stmt); !st.ok()) return st;
  }
  return sp;
}

SqlitePersister::~SqlitePersister() {
  for (sqlite3_stmt* st : {begin_, commit_, rollback_, upsert_, delete_, set_rv_}) sqlite3_finalize(st);
  if (db_) sqlite3_close_v2(db_);
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
    auto obj = std::make_shared<v1::Gpu>();
    const void* data = sqlite3_column_blob(st, 2);
    const int n = sqlite3_column_bytes(st, 2);
    if (!obj->ParseFromArray(data, n)) {
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
  // Never start below an RV some stored object carries.
  for (const auto& o : out.objects) {
    uint64_t rv = 0;
    for (char c : o->metadata().resource_version()) rv = rv * 10 + static_cast<uint64_t>(c - '0');
    out.last_rv = std::max(out.last_rv, rv);
  }
  return out;
}

absl::Status SqlitePersister::Commit(const Event& ev) {
  if (absl::Status s = Step(begin_, "begin"); !s.ok()) return s;
  const auto& md = ev.object->metadata();
  absl::Status s;
  if (ev.type == EventType::kDeleted) {
    sqlite3_bind_text(delete_, 1, md.namespace_().data(), static_cast<int>(md.namespace_().size()), SQLITE_STATIC);
    sqlite3_bind_text(delete_, 2, md.name().data(), static_cast<int>(md.name().size()), SQLITE_STATIC);
    s = Step(delete_, "delete");
  } else {
    const std::string data = ev.object->SerializeAsString();
    sqlite3_bind_text(upsert_, 1, md.namespace_().data(), static_cast<int>(md.namespace_().size()), SQLITE_STATIC);
    sqlite3_bind_text(upsert_, 2, md.name().data(), static_cast<int>(md.name().size()), SQLITE_STATIC);
    sqlite3_bind_int64(upsert_, 3, static_cast<sqlite3_int64>(ev.rv));
    sqlite3_bind_blob(upsert_, 4, data.data(), static_cast<int>(data.size()), SQLITE_STATIC);
    s = Step(upsert_, "write object");
  }
  if (s.ok()) s = SetRv(ev.rv);
  if (s.ok()) s = Step(commit_, "commit");
  if (!s.ok() && !sqlite3_get_autocommit(db_)) {
    Step(rollback_, "rollback").IgnoreError();
  }
  return s;
}

absl::Status SqlitePersister::RecordRv(uint64_t rv) {
  if (absl::Status s = SetRv(rv); !s.ok()) return s;  // autocommit: one synced transaction
  return absl::OkStatus();
}

absl::StatusOr<StorePtr> OpenSqliteStore(const std::string& path, const StoreConfig& config,
                                         const SqliteOptions& options) {
  auto p = SqlitePersister::Open(path, options);
  if (!p.ok()) return p.status();
  auto store = MemoryStore::CreateWithPersister(config, std::move(*p));
  if (!store.ok()) return store.status();
  return StorePtr(std::move(*store));
}

}  // namespace deviceapi::storage
