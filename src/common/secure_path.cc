#include "common/secure_path.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/strings.h"

namespace deviceapi::common {

namespace {

std::string Mode(mode_t m) { return fmt::format("{:04o}", m & 07777); }

// What a file of mode `m` is, for a message: "a regular file", "a directory", ...
std::string Kind(mode_t m) {
  if (S_ISREG(m)) return "a regular file";
  if (S_ISDIR(m)) return "a directory";
  if (S_ISLNK(m)) return "a symbolic link";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m) || S_ISBLK(m)) return "a device";
  return "a file of an unknown type";
}

std::string LinkTarget(const std::string& path) {
  char buf[4096];
  const ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf) - 1);
  if (n < 0) return "";
  return Cat(" to ", std::string_view(buf, static_cast<size_t>(n)));
}

absl::Status RefuseLink(const std::string& path, std::string_view what) {
  return absl::FailedPreconditionError(Cat("refusing ", path, ": it is a symbolic link", LinkTarget(path),
                                           ", and a ", what, " is never used through a link; remove it"));
}

// `prefix` + dir + what is wrong with it.
absl::Status CheckDir(const std::string& dir, const std::string& prefix) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) return absl::FailedPreconditionError(Cat(prefix, dir, " does not exist"));
    return absl::FailedPreconditionError(Cat(prefix, dir, " cannot be examined: ", ErrnoString(err)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(Cat(prefix, dir, " is ", Kind(st.st_mode), ", not a directory"));
  }
  if ((st.st_mode & S_IWOTH) != 0 && (st.st_mode & S_ISVTX) == 0) {
    return absl::FailedPreconditionError(
        Cat(prefix, dir, " is writable by everyone (mode ", Mode(st.st_mode),
            ", no sticky bit); use a directory only root or this user can write (e.g. chmod o-w ", dir, ")"));
  }
  return absl::OkStatus();
}

enum class Probe { kLive, kStale, kUnknown };

// Whether a process accepts connections on the socket at `path`. Non-blocking: a full backlog
// (EAGAIN) is a live server too.
Probe ProbeSocket(const std::string& path, int* err) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *err = errno;
    return Probe::kUnknown;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  Probe p = Probe::kLive;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    *err = errno;
    if (*err == ECONNREFUSED || *err == ENOENT) {
      p = Probe::kStale;
    } else if (*err != EAGAIN && *err != EINPROGRESS) {
      p = Probe::kUnknown;
    }
  }
  ::close(fd);
  return p;
}

}  // namespace

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status EnsureDirectory(const std::string& dir, mode_t mode) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return absl::OkStatus();
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    const std::string prefix = dir.substr(0, pos);
    if (prefix.empty() || prefix == "/") continue;
    if (::mkdir(prefix.c_str(), mode) == 0) {
      // mkdir's mode is reduced by the umask; the directory is ours, so set it exactly.
      if (::chmod(prefix.c_str(), mode) != 0) {
        return absl::FailedPreconditionError(
            Cat("cannot set the mode of directory ", prefix, ": ", ErrnoString(errno)));
      }
    } else if (errno != EEXIST) {
      return absl::FailedPreconditionError(Cat("cannot create directory ", prefix, ": ", ErrnoString(errno)));
    }
  }
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(Cat("cannot create directory ", dir, ": something else is there"));
  }
  return absl::OkStatus();
}

absl::Status CheckDirectory(const std::string& dir) { return CheckDir(dir, "directory "); }

absl::Status CheckParentDirectory(const std::string& path) {
  return CheckDir(DirectoryOf(path), Cat("refusing ", path, ": its directory "));
}

absl::Status PrepareSocketPath(const std::string& path) {
  constexpr size_t kMax = sizeof(sockaddr_un{}.sun_path) - 1;
  if (path.empty() || path.size() > kMax) {
    return absl::InvalidArgumentError(Cat("socket path ", path, " is too long for a Unix socket (",
                                          path.size(), " bytes, at most ", kMax, ")"));
  }
  if (absl::Status s = CheckParentDirectory(path); !s.ok()) return s;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::FailedPreconditionError(Cat("cannot examine ", path, ": ", ErrnoString(errno)));
  }
  if (S_ISLNK(st.st_mode)) return RefuseLink(path, "socket");
  if (!S_ISSOCK(st.st_mode)) {
    return absl::FailedPreconditionError(Cat("refusing ", path, ": it is ", Kind(st.st_mode),
                                             ", not a socket; remove it or choose another path"));
  }
  int err = 0;
  switch (ProbeSocket(path, &err)) {
    case Probe::kLive:
      return absl::FailedPreconditionError(Cat("refusing ", path,
                                               ": another process is serving it (the socket accepts "
                                               "connections); stop that process or choose another path"));
    case Probe::kUnknown:
      return absl::FailedPreconditionError(
          Cat("refusing ", path, ": cannot tell whether another process is serving it (connect: ",
              ErrnoString(err), "); remove it if it is stale"));
    case Probe::kStale:
      break;
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::FailedPreconditionError(Cat("cannot remove stale socket ", path, ": ", ErrnoString(errno)));
  }
  spdlog::info("removed stale socket {}", path);
  return absl::OkStatus();
}

absl::StatusOr<FileIdentity> RestrictSocketMode(const std::string& path, mode_t mode) {
  const int fd = ::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    return absl::FailedPreconditionError(Cat("cannot open socket ", path, ": ", ErrnoString(errno)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(Cat("refusing to change the mode of ", path, ": it is ",
                                             Kind(st.st_mode), ", no longer the socket just bound"));
  }
  // fchmod does not take an O_PATH descriptor; its /proc link names exactly the inode opened.
  int rc = ::chmod(Cat("/proc/self/fd/", fd).c_str(), mode);
  if (rc != 0 && errno == ENOENT) {
    // No /proc: the lstat above and a chmod by name (the directory is checked: only its owners
    // could swap the socket in between).
    rc = ::chmod(path.c_str(), mode);
  }
  const int err = errno;
  ::close(fd);
  if (rc != 0) return absl::FailedPreconditionError(Cat("chmod ", path, ": ", ErrnoString(err)));
  return FileIdentity{st.st_dev, st.st_ino};
}

void RemoveSocketIfSame(const std::string& path, const FileIdentity& id) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == id.dev && st.st_ino == id.ino) {
    ::unlink(path.c_str());
  }
}

absl::StatusOr<int> OpenStateFile(const std::string& path, int flags) {
  if (absl::Status s = CheckParentDirectory(path); !s.ok()) return s;
  // O_NONBLOCK: opening a FIFO must not wait for a writer; cleared again below.
  const int fd = ::open(path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
  if (fd < 0) {
    const int err = errno;
    struct stat st {};
    if (err == ELOOP && ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      return RefuseLink(path, "state file");
    }
    if (err == ENOENT) return absl::NotFoundError(Cat("state file ", path, " does not exist"));
    if (err == ENXIO) {
      return absl::FailedPreconditionError(
          Cat("refusing ", path, ": it is a FIFO, not a regular file; remove it or choose another path"));
    }
    return absl::UnavailableError(Cat("cannot open ", path, ": ", ErrnoString(err)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(Cat("refusing ", path, ": it is ", Kind(st.st_mode),
                                             ", not a regular file; remove it or choose another path"));
  }
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl >= 0) ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  return fd;
}

absl::StatusOr<std::string> ReadStateFile(const std::string& path) {
  absl::StatusOr<int> fd = OpenStateFile(path, O_RDONLY);
  if (!fd.ok()) return fd.status();
  std::string text;
  char buf[8192];
  while (true) {
    const ssize_t n = ::read(*fd, buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(*fd);
      return absl::UnavailableError(Cat("cannot read ", path, ": ", ErrnoString(err)));
    }
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(*fd);
  return text;
}

absl::Status WriteStateFile(const std::string& path, std::string_view text) {
  if (absl::Status s = CheckParentDirectory(path); !s.ok()) return s;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (S_ISLNK(st.st_mode)) return RefuseLink(path, "state file");
    if (!S_ISREG(st.st_mode)) {
      return absl::FailedPreconditionError(Cat("refusing ", path, ": it is ", Kind(st.st_mode),
                                               ", not a regular file; remove it or choose another path"));
    }
  } else if (errno != ENOENT) {
    return absl::UnavailableError(Cat("cannot examine ", path, ": ", ErrnoString(errno)));
  }
  // mkostemp: O_CREAT|O_EXCL (never through a link), mode 0600.
  std::string tmp = Cat(path, ".tmp.XXXXXX");
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return absl::UnavailableError(Cat("cannot create ", tmp, ": ", ErrnoString(errno)));
  auto fail = [&](const std::string& what, int err) {
    ::unlink(tmp.c_str());
    return absl::UnavailableError(Cat(what, ": ", ErrnoString(err)));
  };
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return fail(Cat("cannot write ", tmp), err);
    }
    done += static_cast<size_t>(n);
  }
  // Durable before it replaces the old file: a crash leaves the old content or the new one.
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return fail(Cat("cannot sync ", tmp), err);
  }
  if (::close(fd) != 0) {
    const int err = errno;
    return fail(Cat("cannot write ", tmp), err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    return fail(Cat("cannot rename ", tmp, " to ", path), err);
  }
  // The rename itself, durable.
  if (const int dfd = ::open(DirectoryOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    const int rc = ::fsync(dfd);
    const int err = errno;
    ::close(dfd);
    if (rc != 0)
      return absl::UnavailableError(Cat("cannot sync directory of ", path, ": ", ErrnoString(err)));
  }
  return absl::OkStatus();
}

}  // namespace deviceapi::common
