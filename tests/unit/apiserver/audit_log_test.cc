// The audit log: line format and escaping, Open's checks, rotation, concurrent writers and failures,
// on real files in a fresh temporary directory per test.
#include "apiserver/audit_log.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "nlohmann/json.hpp"

namespace deviceapi::apiserver {
namespace {

using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    std::string base = testing::TempDir();
    if (base.empty() || base.back() != '/') base += '/';
    std::string tmpl = base + "audit_log_test.XXXXXX";
    char* made = mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, ec);
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

// The file's lines; fails the test when the file does not end with a newline.
std::vector<std::string> ReadLines(const std::string& path) {
  const std::string content = ReadFile(path);
  std::vector<std::string> lines;
  if (content.empty()) return lines;
  EXPECT_EQ(content.back(), '\n') << path;
  std::istringstream in(content);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

int64_t FileSize(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return -1;
  return st.st_size;
}

AuditRecord Sample() {
  AuditRecord r;
  r.time = absl::FromUnixMicros(1796538600123456);  // 2026-12-06T06:30:00.123456Z
  r.uid = 1000;
  r.gid = 1001;
  r.pid = 4242;
  r.socket = "api";
  r.verb = "update_status";
  r.namespace_ = "default";
  r.name = "gpu-0";
  r.resource_version = "";
  r.code = "PERMISSION_DENIED";
  r.message = "denied";
  return r;
}

// A record carrying `seq` in its name: the tests find every record back by it.
AuditRecord Numbered(int thread, int seq) {
  AuditRecord r = Sample();
  r.name = "gpu-" + std::to_string(thread) + "-" + std::to_string(seq);
  r.code = "OK";
  r.message = "";
  r.resource_version = std::to_string(seq);
  return r;
}

std::unique_ptr<AuditLog> MustOpen(const AuditLogOptions& options) {
  auto log = AuditLog::Open(options);
  EXPECT_TRUE(log.ok()) << log.status();
  if (!log.ok()) return nullptr;
  return std::move(*log);
}

TEST(AuditLogFormat, OneLineWithTheDocumentedKeys) {
  const std::string line = AuditLog::FormatRecord(Sample());
  EXPECT_EQ(
      line,
      "{\"time\":\"2026-12-06T06:30:00.123456Z\",\"uid\":1000,\"gid\":1001,\"pid\":4242,\"socket\":\"api\","
      "\"verb\":\"update_status\",\"namespace\":\"default\",\"name\":\"gpu-0\",\"resourceVersion\":\"\","
      "\"code\":\"PERMISSION_DENIED\",\"message\":\"denied\"}\n");
  const auto j = nlohmann::ordered_json::parse(line);
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  EXPECT_THAT(keys, ::testing::ElementsAre("time", "uid", "gid", "pid", "socket", "verb", "namespace", "name",
                                           "resourceVersion", "code", "message"));
}

TEST(AuditLogFormat, UnknownCredentialsAndWholeSeconds) {
  AuditRecord r;
  r.time = absl::FromUnixSeconds(1796538600);
  r.verb = "create";
  r.code = "OK";
  r.resource_version = "7";
  const auto j = nlohmann::json::parse(AuditLog::FormatRecord(r));
  EXPECT_EQ(j["time"], "2026-12-06T06:30:00.000000Z");
  EXPECT_EQ(j["uid"], -1);
  EXPECT_EQ(j["gid"], -1);
  EXPECT_EQ(j["pid"], -1);
  EXPECT_EQ(j["resourceVersion"], "7");
  EXPECT_EQ(j["message"], "");
}

TEST(AuditLogFormat, UnsetTimeIsNow) {
  const absl::Time before = absl::Now();
  const auto j = nlohmann::json::parse(AuditLog::FormatRecord(AuditRecord{}));
  absl::Time t;
  std::string err;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, j["time"].get<std::string>(), &t, &err)) << err;
  EXPECT_GE(t, before - absl::Microseconds(1));
  EXPECT_LE(t, absl::Now());
}

TEST(AuditLogFormat, EscapesQuotesNewlinesAndControlCharacters) {
  AuditRecord r = Sample();
  r.name = std::string("a\"b\\c\nd\re\tf\x01g\x1f") + std::string(1, '\0') + "h";
  r.message = "line1\nline2\n{\"injected\":true}";
  const std::string line = AuditLog::FormatRecord(r);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_EQ(line.find('\r'), std::string::npos);
  EXPECT_THAT(line, HasSubstr(R"("name":"a\"b\\c\nd\re\tf\u0001g\u001f\u0000h")"));
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["name"], r.name);
  EXPECT_EQ(j["message"], r.message);
}

TEST(AuditLogFormat, InvalidUtf8IsReplaced) {
  AuditRecord r = Sample();
  r.name = "gpu-\xff\xfe";
  r.message = "bad \xc3 byte, good \xc3\xa9";
  const std::string line = AuditLog::FormatRecord(r);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  const auto j = nlohmann::json::parse(line);  // throws on invalid UTF-8
  EXPECT_EQ(j["name"], "gpu-\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(j["message"], "bad \xef\xbf\xbd byte, good \xc3\xa9");
}

TEST(AuditLogFormat, LongMessageIsCut) {
  AuditRecord r = Sample();
  r.message = std::string(10000, 'x');
  const auto j = nlohmann::json::parse(AuditLog::FormatRecord(r));
  const std::string msg = j["message"];
  EXPECT_EQ(msg.size(), AuditLog::kMaxMessageBytes);
  EXPECT_EQ(msg.substr(msg.size() - 3), "...");
}

TEST(AuditLogOpen, EmptyPathIsOff) {
  auto log = AuditLog::Open(AuditLogOptions{});
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(*log, nullptr);
}

TEST(AuditLogOpen, RejectsOutOfRangeOptions) {
  TempDir dir;
  AuditLogOptions o{.path = dir.File("audit.log"), .max_size_bytes = 4095, .max_backups = 3};
  EXPECT_THAT(AuditLog::Open(o).status().message(), HasSubstr("--audit-log-max-size=4095"));
  o.max_size_bytes = 4096;
  o.max_backups = -1;
  EXPECT_THAT(AuditLog::Open(o).status().message(), HasSubstr("--audit-log-max-backups=-1"));
  o.max_backups = 101;
  EXPECT_EQ(AuditLog::Open(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.max_backups = 100;
  EXPECT_TRUE(AuditLog::Open(o).ok());
  o.max_backups = 0;
  EXPECT_TRUE(AuditLog::Open(o).ok());
}

TEST(AuditLogOpen, RefusesSymlink) {
  TempDir dir;
  const std::string target = dir.File("target");
  WriteFile(target, "");
  const std::string path = dir.File("audit.log");
  ASSERT_EQ(symlink(target.c_str(), path.c_str()), 0);
  auto log = AuditLog::Open({.path = path});
  EXPECT_EQ(log.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(log.status().message(), HasSubstr(path));
  EXPECT_THAT(log.status().message(), HasSubstr("symlink"));

  // A dangling one too (O_CREAT would otherwise create the target).
  const std::string dangling = dir.File("dangling.log");
  ASSERT_EQ(symlink(dir.File("nowhere").c_str(), dangling.c_str()), 0);
  log = AuditLog::Open({.path = dangling});
  EXPECT_THAT(log.status().message(), HasSubstr("symlink"));
  EXPECT_FALSE(Exists(dir.File("nowhere")));
}

TEST(AuditLogOpen, RefusesDirectoryAndOtherNonFiles) {
  TempDir dir;
  const std::string sub = dir.File("sub");
  ASSERT_EQ(mkdir(sub.c_str(), 0700), 0);
  auto log = AuditLog::Open({.path = sub});
  EXPECT_THAT(log.status().message(), HasSubstr("is a directory"));
  log = AuditLog::Open({.path = sub + "/"});
  EXPECT_EQ(log.status().code(), absl::StatusCode::kInvalidArgument);

  const std::string fifo = dir.File("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  log = AuditLog::Open({.path = fifo});  // must not hang waiting for a reader
  EXPECT_THAT(log.status().message(), HasSubstr("not a regular file"));
}

TEST(AuditLogOpen, RefusesMissingOrNonDirectoryParent) {
  TempDir dir;
  auto log = AuditLog::Open({.path = dir.File("missing/audit.log")});
  EXPECT_EQ(log.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(log.status().message(), HasSubstr(dir.File("missing")));
  EXPECT_THAT(log.status().message(), HasSubstr("No such file or directory"));

  WriteFile(dir.File("file"), "");
  log = AuditLog::Open({.path = dir.File("file/audit.log")});
  EXPECT_THAT(log.status().message(), HasSubstr("not a directory"));
}

TEST(AuditLogOpen, WorldWritableParentNeedsStickyBit) {
  TempDir dir;
  const std::string sub = dir.File("shared");
  ASSERT_EQ(mkdir(sub.c_str(), 0700), 0);
  ASSERT_EQ(chmod(sub.c_str(), 0777), 0);
  auto log = AuditLog::Open({.path = sub + "/audit.log"});
  EXPECT_EQ(log.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(log.status().message(), HasSubstr("world-writable without the sticky bit"));
  EXPECT_FALSE(Exists(sub + "/audit.log"));

  ASSERT_EQ(chmod(sub.c_str(), 01777), 0);  // like /tmp
  log = AuditLog::Open({.path = sub + "/audit.log"});
  EXPECT_TRUE(log.ok()) << log.status();
}

TEST(AuditLogOpen, RefusesUnwritableParent) {
  if (geteuid() == 0) GTEST_SKIP() << "root writes any directory";
  TempDir dir;
  const std::string sub = dir.File("ro");
  ASSERT_EQ(mkdir(sub.c_str(), 0500), 0);
  auto log = AuditLog::Open({.path = sub + "/audit.log"});
  EXPECT_THAT(log.status().message(), HasSubstr("not writable"));
}

TEST(AuditLogOpen, CreatesMode0600) {
  TempDir dir;
  const mode_t old = umask(0);  // 0600 must not come from the umask
  auto log = MustOpen({.path = dir.File("audit.log")});
  umask(old);
  struct stat st {};
  ASSERT_EQ(stat(dir.File("audit.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(AuditLogOpen, AppendsToExistingFile) {
  TempDir dir;
  const std::string path = dir.File("audit.log");
  WriteFile(path, "{\"old\":1}\n");
  ASSERT_EQ(chmod(path.c_str(), 0640), 0);
  {
    auto log = MustOpen({.path = path});
    log->Record(Sample());
    EXPECT_TRUE(log->Flush().ok());
    EXPECT_EQ(log->records_written(), 1);
  }
  {
    auto log = MustOpen({.path = path});  // reopen: appends again
    log->Record(Sample());
  }
  const auto lines = ReadLines(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "{\"old\":1}");
  EXPECT_EQ(lines[1] + "\n", AuditLog::FormatRecord(Sample()));
  EXPECT_EQ(lines[2], lines[1]);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);  // an existing file keeps its mode
}

// Parses every line of `paths` (oldest file first) and returns the names in file order.
std::vector<std::string> NamesIn(const std::vector<std::string>& paths) {
  std::vector<std::string> names;
  for (const auto& p : paths) {
    for (const auto& line : ReadLines(p)) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      EXPECT_FALSE(j.is_discarded()) << p << ": " << line;
      if (!j.is_discarded()) names.push_back(j["name"]);
    }
  }
  return names;
}

TEST(AuditLogRotation, KeepsSizeBoundAndDropsOldest) {
  TempDir dir;
  const std::string path = dir.File("audit.log");
  constexpr int64_t kMax = 4096;
  auto log = MustOpen({.path = path, .max_size_bytes = kMax, .max_backups = 3});
  constexpr int kRecords = 500;  // ~200 bytes each: ~25 files' worth
  for (int i = 0; i < kRecords; ++i) log->Record(Numbered(0, i));
  EXPECT_EQ(log->records_written(), kRecords);
  EXPECT_EQ(log->records_dropped(), 0);
  EXPECT_EQ(log->rotation_failures(), 0);
  EXPECT_GT(log->rotations(), 3);

  std::vector<std::string> files = {path + ".3", path + ".2", path + ".1", path};
  for (const auto& f : files) {
    ASSERT_TRUE(Exists(f)) << f;
    EXPECT_LE(FileSize(f), kMax) << f;
    EXPECT_GT(FileSize(f), 0) << f;
  }
  EXPECT_FALSE(Exists(path + ".4"));
  // Full files are full: the next line would not have fit.
  const int64_t line_size = static_cast<int64_t>(AuditLog::FormatRecord(Numbered(0, 100)).size());
  EXPECT_GT(FileSize(path + ".1") + line_size, kMax);

  // The newest records survive, in order, oldest file first, with no gaps.
  const auto names = NamesIn(files);
  ASSERT_FALSE(names.empty());
  const int first = kRecords - static_cast<int>(names.size());
  EXPECT_GT(first, 0);
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(names[i], "gpu-0-" + std::to_string(first + static_cast<int>(i)));
  }
}

TEST(AuditLogRotation, ZeroBackupsTruncates) {
  TempDir dir;
  const std::string path = dir.File("audit.log");
  auto log = MustOpen({.path = path, .max_size_bytes = 4096, .max_backups = 0});
  for (int i = 0; i < 100; ++i) log->Record(Numbered(0, i));
  EXPECT_GT(log->rotations(), 0);
  EXPECT_EQ(log->rotation_failures(), 0);
  EXPECT_FALSE(Exists(path + ".1"));
  EXPECT_LE(FileSize(path), 4096);
  const auto names = NamesIn({path});
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.back(), "gpu-0-99");
  EXPECT_EQ(names.front(), "gpu-0-" + std::to_string(100 - names.size()));
}

TEST(AuditLogRotation, OversizedRecordGetsAFileOfItsOwn) {
  TempDir dir;
  const std::string path = dir.File("audit.log");
  auto log = MustOpen({.path = path, .max_size_bytes = 4096, .max_backups = 5});
  log->Record(Numbered(0, 0));
  AuditRecord big = Numbered(0, 1);
  big.namespace_ = std::string(6000, 'n');
  log->Record(big);
  log->Record(Numbered(0, 2));
  EXPECT_EQ(log->rotations(), 2);
  EXPECT_EQ(NamesIn({path + ".2"}), std::vector<std::string>{"gpu-0-0"});
  EXPECT_EQ(NamesIn({path + ".1"}), std::vector<std::string>{"gpu-0-1"});
  EXPECT_GT(FileSize(path + ".1"), 4096);
  EXPECT_EQ(NamesIn({path}), std::vector<std::string>{"gpu-0-2"});

  // An oversized record as the very first one: written, no rotation of an empty file.
  TempDir dir2;
  auto log2 = MustOpen({.path = dir2.File("audit.log"), .max_size_bytes = 4096, .max_backups = 5});
  log2->Record(big);
  EXPECT_EQ(log2->rotations(), 0);
  EXPECT_EQ(NamesIn({dir2.File("audit.log")}), std::vector<std::string>{"gpu-0-1"});
}

TEST(AuditLogRotation, FillsAGapInsteadOfDroppingOlderBackups) {
  TempDir dir;
  const std::string path = dir.File("audit.log");
  auto log = MustOpen({.path = path, .max_size_bytes = 4096, .max_backups = 3});
  AuditRecord big = Numbered(0, 0);
  big.namespace_ = std::string(5000, 'n');  // one record per file
  for (int i = 0; i < 3; ++i) {
    big.name = "r" + std::to_string(i);
    log->Record(big);
  }
  // path=r2, .1=r1, .2=r0. Someone removes .1; the next rotation moves path there only.
  ASSERT_EQ(unlink((path + ".1").c_str()), 0);
  big.name = "r3";
  log->Record(big);
  EXPECT_EQ(NamesIn({path + ".2"}), std::vector<std::string>{"r0"});
  EXPECT_EQ(NamesIn({path + ".1"}), std::vector<std::string>{"r2"});
  EXPECT_EQ(NamesIn({path}), std::vector<std::string>{"r3"});
  EXPECT_FALSE(Exists(path + ".3"));

  // The log itself removed: the next rotation creates it again.
  ASSERT_EQ(unlink(path.c_str()), 0);
  big.name = "r4";
  log->Record(big);
  EXPECT_EQ(log->rotation_failures(), 0);
  EXPECT_EQ(NamesIn({path}), std::vector<std::string>{"r4"});
  EXPECT_EQ(NamesIn({path + ".1"}), std::vector<std::string>{"r2"});
}

// A rename that fails (path.1 is a directory) is counted; writing goes on to the current file and the
// rotation is not retried for every record.
TEST(AuditLogRotation, FailedRotationKeepsWriting) {
  TempDir dir;
  const std::string path = dir.File("audit.log");
  ASSERT_EQ(mkdir((path + ".1").c_str(), 0700), 0);
  WriteFile(path + ".1/keep", "x");
  auto log = MustOpen({.path = path, .max_size_bytes = 4096, .max_backups = 1});
  constexpr int kRecords = 100;
  for (int i = 0; i < kRecords; ++i) log->Record(Numbered(0, i));
  EXPECT_EQ(log->rotation_failures(), 1);
  EXPECT_EQ(log->rotations(), 0);
  EXPECT_EQ(log->records_written(), kRecords);
  EXPECT_EQ(log->records_dropped(), 0);
  EXPECT_EQ(NamesIn({path}).size(), static_cast<size_t>(kRecords));
  EXPECT_GT(FileSize(path), 4096);
}

// A write error (here the file size limit: EFBIG) drops the record, counts it, and leaves only whole
// lines in the file.
TEST(AuditLogWrite, FailedWritesAreCountedAndLeaveWholeLines) {
  TempDir dir;
  const std::string path = dir.File("audit.log");
  auto log = MustOpen({.path = path, .max_size_bytes = 1 << 20, .max_backups = 1});
  constexpr int kRecords = 100;
  constexpr rlim_t kLimit = 5000;
  // How many whole lines fit under the limit, and their bytes.
  int64_t fit = 0, fit_bytes = 0;
  for (int i = 0; i < kRecords; ++i) {
    const auto size = static_cast<int64_t>(AuditLog::FormatRecord(Numbered(0, i)).size());
    if (fit_bytes + size > static_cast<int64_t>(kLimit)) break;
    fit_bytes += size;
    ++fit;
  }
  ASSERT_LT(fit_bytes, static_cast<int64_t>(kLimit)) << "the limit must cut a line";

  struct sigaction ignore {
  }, old_action{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGXFSZ, &ignore, &old_action), 0);
  struct rlimit old_limit {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct rlimit limit = old_limit;
  limit.rlim_cur = kLimit;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  for (int i = 0; i < kRecords; ++i) log->Record(Numbered(0, i));
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  ASSERT_EQ(sigaction(SIGXFSZ, &old_action, nullptr), 0);

  EXPECT_EQ(log->records_written(), fit);
  EXPECT_EQ(log->records_dropped(), kRecords - fit);
  EXPECT_EQ(FileSize(path), fit_bytes);  // the partial line was cut back off
  EXPECT_EQ(NamesIn({path}).size(), static_cast<size_t>(fit));

  log->Record(Numbered(0, kRecords));  // space again: writing resumes
  EXPECT_EQ(log->records_written(), fit + 1);
  EXPECT_EQ(NamesIn({path}).back(), "gpu-0-" + std::to_string(kRecords));
}

TEST(AuditLogConcurrency, ManyWritersWholeLinesAcrossRotations) {
  TempDir dir;
  const std::string path = dir.File("audit.log");
  constexpr int kThreads = 8;
  constexpr int kPerThread = 1000;
  // ~200-byte records, 1.6 MB in all: ~25 files of 64 KiB, all kept.
  auto log = MustOpen({.path = path, .max_size_bytes = 64 << 10, .max_backups = 100});
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&log, t] {
      for (int i = 0; i < kPerThread; ++i) log->Record(Numbered(t, i));
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(log->records_written(), kThreads * kPerThread);
  EXPECT_EQ(log->records_dropped(), 0);
  EXPECT_EQ(log->rotation_failures(), 0);
  EXPECT_GT(log->rotations(), 10);

  std::vector<std::string> files;
  for (int64_t i = log->rotations(); i >= 1; --i) files.push_back(path + "." + std::to_string(i));
  files.push_back(path);
  EXPECT_FALSE(Exists(path + "." + std::to_string(log->rotations() + 1)));
  for (const auto& f : files) EXPECT_LE(FileSize(f), 64 << 10) << f;
  const auto names = NamesIn(files);
  EXPECT_EQ(names.size(), static_cast<size_t>(kThreads * kPerThread));
  const std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), static_cast<size_t>(kThreads * kPerThread));
  // Each writer's records appear in its order.
  std::vector<int> next(kThreads, 0);
  for (const auto& n : names) {
    int t = -1, i = -1;
    ASSERT_EQ(sscanf(n.c_str(), "gpu-%d-%d", &t, &i), 2) << n;
    ASSERT_GE(t, 0);
    ASSERT_LT(t, kThreads);
    EXPECT_EQ(i, next[t]) << n;
    next[t] = i + 1;
  }
}

}  // namespace
}  // namespace deviceapi::apiserver
