// common/secure_path: real files and real Unix sockets in a private temp dir per test.
#include "common/secure_path.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace deviceapi::common {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

bool IsLink(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

bool IsSocket(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// A socket bound at `path`; listening when `listen` (a live server), else closed at once (stale).
int Bind(const std::string& path, bool listen) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << path;
  if (!listen) {
    ::close(fd);
    return -1;
  }
  EXPECT_EQ(::listen(fd, 4), 0);
  return fd;
}

class SecurePathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "secure_path_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (int fd : fds_) ::close(fd);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string File(const std::string& name) const { return dir_ + "/" + name; }
  // A directory `name` with exactly `mode`.
  std::string Dir(const std::string& name, mode_t mode) {
    const std::string d = File(name);
    EXPECT_EQ(::mkdir(d.c_str(), 0700), 0);
    EXPECT_EQ(::chmod(d.c_str(), mode), 0);
    return d;
  }
  void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }
  int Live(const std::string& path) {
    const int fd = Bind(path, true);
    fds_.push_back(fd);
    return fd;
  }

  std::string dir_;
  std::vector<int> fds_;
};

TEST(DirectoryOfTest, Cases) {
  EXPECT_EQ(DirectoryOf("/a/b/c.sock"), "/a/b");
  EXPECT_EQ(DirectoryOf("c.sock"), ".");
  EXPECT_EQ(DirectoryOf("/c.sock"), "/");
  EXPECT_EQ(DirectoryOf("a/c.sock"), "a");
}

TEST_F(SecurePathTest, EnsureDirectoryCreatesWithTheExactModeAndLeavesAnExistingOneAlone) {
  const mode_t old = ::umask(077);  // mkdir alone would give 0700
  const std::string d = File("a/b/c");
  ASSERT_TRUE(EnsureDirectory(d, 0750).ok());
  ::umask(old);
  EXPECT_EQ(ModeOf(File("a")), 0750u);
  EXPECT_EQ(ModeOf(d), 0750u);
  const std::string open = Dir("open", 0777);
  ASSERT_TRUE(EnsureDirectory(open, 0750).ok());
  EXPECT_EQ(ModeOf(open), 0777u) << "an existing directory is not changed";
  Write(File("file"), "x");
  EXPECT_FALSE(EnsureDirectory(File("file"), 0750).ok());
}

TEST_F(SecurePathTest, WorldWritableDirectoryIsRefusedUnlessSticky) {
  const std::string open = Dir("open", 0777);
  absl::Status s = CheckDirectory(open);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("directory " + open + " is writable by everyone (mode 0777"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("chmod o-w " + open));
  s = CheckParentDirectory(open + "/x.sock");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("refusing " + open + "/x.sock: its directory " + open + " is writable by everyone"));
  EXPECT_FALSE(PrepareSocketPath(open + "/x.sock").ok());
  EXPECT_FALSE(WriteStateFile(open + "/x.state", "x").ok());
  EXPECT_FALSE(fs::exists(open + "/x.state"));
  EXPECT_FALSE(OpenStateFile(open + "/x.state", O_RDONLY).ok());

  EXPECT_TRUE(CheckDirectory(Dir("sticky", 01777)).ok()) << "like /tmp";
  EXPECT_TRUE(CheckDirectory(Dir("group", 0770)).ok());
  EXPECT_TRUE(CheckDirectory(Dir("plain", 0755)).ok());
  EXPECT_THAT(std::string(CheckDirectory(File("missing")).message()), HasSubstr("does not exist"));
  Write(File("file"), "x");
  EXPECT_THAT(std::string(CheckDirectory(File("file")).message()),
              HasSubstr("is a regular file, not a directory"));
  // A link to a directory is followed and the target checked.
  ASSERT_EQ(::symlink(open.c_str(), File("to-open").c_str()), 0);
  EXPECT_FALSE(CheckDirectory(File("to-open")).ok());
  ASSERT_EQ(::symlink(File("plain").c_str(), File("to-plain").c_str()), 0);
  EXPECT_TRUE(CheckDirectory(File("to-plain")).ok());
}

TEST_F(SecurePathTest, SymlinkAtTheSocketPathIsRefusedAndLeftAlone) {
  Write(File("target"), "keep");
  const std::string target_dir = Dir("target-dir", 0755);
  const std::string stale_target = File("stale-target.sock");
  Bind(stale_target, false);
  for (const auto& [name, to] :
       std::vector<std::pair<std::string, std::string>>{{"to-file.sock", File("target")},
                                                        {"to-dir.sock", target_dir},
                                                        {"dangling.sock", File("nothing")},
                                                        {"to-socket.sock", stale_target}}) {
    const std::string link = File(name);
    ASSERT_EQ(::symlink(to.c_str(), link.c_str()), 0);
    absl::Status s = PrepareSocketPath(link);
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << name;
    EXPECT_THAT(std::string(s.message()), HasSubstr("refusing " + link + ": it is a symbolic link to " + to))
        << name;
    EXPECT_TRUE(IsLink(link)) << name;
  }
  EXPECT_EQ(Slurp(File("target")), "keep");
  EXPECT_TRUE(fs::is_directory(target_dir));
  EXPECT_TRUE(IsSocket(stale_target));
}

TEST_F(SecurePathTest, StaleSocketIsRemovedLiveOneRefused) {
  const std::string stale = File("stale.sock");
  Bind(stale, false);
  ASSERT_TRUE(IsSocket(stale));
  ASSERT_TRUE(PrepareSocketPath(stale).ok());
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(PrepareSocketPath(File("new.sock")).ok()) << "nothing there";

  const std::string live = File("live.sock");
  Live(live);
  absl::Status s = PrepareSocketPath(live);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("refusing " + live + ": another process is serving it"));
  EXPECT_TRUE(IsSocket(live));
}

TEST_F(SecurePathTest, LiveSocketWithAFullBacklogIsStillLive) {
  const std::string live = File("busy.sock");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  fds_.push_back(fd);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, live.c_str(), sizeof(a.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(fd, 0), 0);
  for (int i = 0; i < 4; ++i) {  // fill the backlog; never accepted
    const int c = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    fds_.push_back(c);
    (void)::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  }
  EXPECT_THAT(std::string(PrepareSocketPath(live).message()), HasSubstr("another process is serving it"));
  EXPECT_TRUE(IsSocket(live));
}

TEST_F(SecurePathTest, OtherFilesAtTheSocketPathAreRefusedAndNotDeleted) {
  const std::string file = File("file.sock");
  Write(file, "data");
  absl::Status s = PrepareSocketPath(file);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("refusing " + file + ": it is a regular file, not a socket"));
  EXPECT_EQ(Slurp(file), "data");
  const std::string dir = Dir("dir.sock", 0755);
  EXPECT_THAT(std::string(PrepareSocketPath(dir).message()), HasSubstr("it is a directory, not a socket"));
  EXPECT_TRUE(fs::is_directory(dir));
  const std::string fifo = File("fifo.sock");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THAT(std::string(PrepareSocketPath(fifo).message()), HasSubstr("it is a FIFO, not a socket"));
  EXPECT_TRUE(fs::exists(fifo));
  EXPECT_EQ(PrepareSocketPath(dir_ + "/" + std::string(120, 'x')).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SecurePathTest, RestrictSocketModeSetsTheModeWithoutFollowingALink) {
  const std::string sock = File("s.sock");
  Live(sock);
  absl::StatusOr<FileIdentity> id = RestrictSocketMode(sock, 0660);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(ModeOf(sock), 0660u);
  ASSERT_TRUE(RestrictSocketMode(sock, 0600).ok());
  EXPECT_EQ(ModeOf(sock), 0600u);

  Write(File("target"), "keep");
  ASSERT_EQ(::chmod(File("target").c_str(), 0644), 0);
  ASSERT_EQ(::symlink(File("target").c_str(), File("link.sock").c_str()), 0);
  EXPECT_FALSE(RestrictSocketMode(File("link.sock"), 0660).ok());
  EXPECT_EQ(ModeOf(File("target")), 0644u);
  Write(File("plain"), "x");
  EXPECT_FALSE(RestrictSocketMode(File("plain"), 0660).ok());

  // Removed only while it is the same socket.
  RemoveSocketIfSame(sock, FileIdentity{id->dev, id->ino + 1});
  EXPECT_TRUE(IsSocket(sock));
  RemoveSocketIfSame(sock, *id);
  EXPECT_FALSE(fs::exists(sock));
}

TEST_F(SecurePathTest, StateFileNeverThroughALink) {
  const std::string target = File("passwd");
  Write(target, "root:x:0:0\n");
  ASSERT_EQ(::chmod(target.c_str(), 0644), 0);
  const std::string link = File("xid.state");
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);

  absl::StatusOr<int> fd = OpenStateFile(link, O_WRONLY | O_CREAT | O_TRUNC);
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(fd.status().message()),
              HasSubstr("refusing " + link + ": it is a symbolic link to " + target));
  absl::StatusOr<std::string> read = ReadStateFile(link);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition);
  absl::Status s = WriteStateFile(link, "evil");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("symbolic link"));
  EXPECT_EQ(Slurp(target), "root:x:0:0\n");
  EXPECT_EQ(ModeOf(target), 0644u);
  EXPECT_TRUE(IsLink(link));
  // A dangling link is not created through either.
  ASSERT_EQ(::symlink(File("created").c_str(), File("dangling.state").c_str()), 0);
  EXPECT_FALSE(OpenStateFile(File("dangling.state"), O_WRONLY | O_CREAT).ok());
  EXPECT_FALSE(WriteStateFile(File("dangling.state"), "x").ok());
  EXPECT_FALSE(fs::exists(File("created")));
}

TEST_F(SecurePathTest, StateFileCreated0600AndReplacedAtomically) {
  const std::string path = File("xid.state");
  EXPECT_EQ(ReadStateFile(path).status().code(), absl::StatusCode::kNotFound);
  const mode_t old = ::umask(0);
  absl::StatusOr<int> fd = OpenStateFile(File("opened.state"), O_WRONLY | O_CREAT);
  ASSERT_TRUE(fd.ok()) << fd.status();
  ::close(*fd);
  EXPECT_EQ(ModeOf(File("opened.state")), 0600u);
  ASSERT_TRUE(WriteStateFile(path, "one").ok());
  ::umask(old);
  EXPECT_EQ(ModeOf(path), 0600u);
  ASSERT_TRUE(WriteStateFile(path, "two").ok());
  absl::StatusOr<std::string> text = ReadStateFile(path);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "two");
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 2) << "no temp file left behind";
  // Not a regular file: refused (a FIFO without blocking).
  const std::string fifo = File("fifo.state");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(ReadStateFile(fifo).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(WriteStateFile(fifo, "x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadStateFile(Dir("dir.state", 0755)).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace deviceapi::common
