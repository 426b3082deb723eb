// Helpers for tests of the SQLite datastore's files: a file's bytes and
// modification time (to prove a refused start left it untouched), and a
// second connection holding the database's write lock (to make a commit fail).
#ifndef DEVICEAPI_TESTS_TESTUTIL_SQLITE_FILES_H_
#define DEVICEAPI_TESTS_TESTUTIL_SQLITE_FILES_H_

#include <sqlite3.h>
#include <sys/stat.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

namespace deviceapi::testing {

// The bytes and modification time of a file ("" and 0 when missing).
struct FileState {
  bool exists = false;
  std::string bytes;
  int64_t mtime_ns = 0;
  bool operator==(const FileState&) const = default;
};

inline FileState Snap(const std::string& path) {
  FileState f;
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return f;
  f.exists = true;
  f.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  std::ifstream in(path, std::ios::binary);
  f.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return f;
}

// Holds the database's write lock from a second connection while alive.
class WriteLock {
 public:
  explicit WriteLock(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_);
  }
  ~WriteLock() {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
  }
  WriteLock(const WriteLock&) = delete;
  WriteLock& operator=(const WriteLock&) = delete;

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace deviceapi::testing

#endif  // DEVICEAPI_TESTS_TESTUTIL_SQLITE_FILES_H_
