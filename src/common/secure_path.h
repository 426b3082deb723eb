// Safe creation of the Unix sockets and state files a node-local binary keeps on the host
// (gpu-device-plugin's kubelet sockets, npd-gpu-monitor's socket and XID state file).
//
// The rules, the same for every caller:
//  - The directory that holds a socket or state file must not be writable by everyone unless it
//    has the sticky bit (like /tmp: there nobody can remove or rename another user's entries).
//    A world-writable directory without it (mode 0777, e.g. a Kubernetes emptyDir) is refused:
//    anyone could swap the socket for another or plant a link. A symlinked directory is followed
//    and its target checked (/var/run is a link to /run on most distributions).
//  - Nothing is ever followed or removed through a symbolic link at the path of the socket or
//    state file itself: a link there (to a file, a directory or nothing) is refused.
//  - A socket at the path that accepts connections belongs to a running process and is refused;
//    one that refuses them (its process is gone) is stale and removed. Anything else at the path
//    (a regular file, a directory, a FIFO) is refused and left alone.
//  - Sockets are bound by gRPC (AddListeningPort("unix:...")), under the process umask (usually
//    022: born 0755, which nobody but the owner can connect to, a socket needing write permission),
//    then set to their mode (0660 by default) through an O_PATH descriptor, never through a link.
//    A umask around the bind would be process-wide and race with other threads.
//  - State files are opened with O_NOFOLLOW and written atomically: a new 0600 file beside the old
//    one (O_CREAT|O_EXCL, so never through a link), then rename(2), which replaces the directory
//    entry and never follows it.
// Errors name the path, what is wrong and the fix; refusals are FAILED_PRECONDITION.
#ifndef DEVICEAPI_COMMON_SECURE_PATH_H_
#define DEVICEAPI_COMMON_SECURE_PATH_H_

#include <sys/types.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace deviceapi::common {

// The directory part of `path`: "/a/b" for "/a/b/c.sock", "." for "c.sock", "/" for "/c.sock".
std::string DirectoryOf(const std::string& path);

// Creates `dir` and its missing parents with exactly `mode` (not reduced by the umask). An existing
// directory is left as it is. Does not check it: see CheckDirectory.
absl::Status EnsureDirectory(const std::string& dir, mode_t mode = 0750);

// `dir` exists, is a directory and is not writable by everyone without the sticky bit.
absl::Status CheckDirectory(const std::string& dir);

// CheckDirectory on the directory of `path`, in an error that names `path`.
absl::Status CheckParentDirectory(const std::string& path);

// Makes `path` ready for bind(2): checks its directory (CheckParentDirectory) and the length of a
// socket address, refuses a link, a live socket or any other file there, removes a stale socket.
absl::Status PrepareSocketPath(const std::string& path);

// Identifies the file a socket was bound to, so that only that one is removed at shutdown.
struct FileIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
};

// After the bind: sets the socket at `path` to `mode` without following a link (refused: the path
// must still be a socket) and returns its identity.
absl::StatusOr<FileIdentity> RestrictSocketMode(const std::string& path, mode_t mode = 0660);

// Removes the socket at `path` if it is still the one identified by `id` (another process may own
// the path by now).
void RemoveSocketIfSame(const std::string& path, const FileIdentity& id);

// Opens the state file `path` with `flags` plus O_NOFOLLOW|O_CLOEXEC (created 0600 with O_CREAT)
// after CheckParentDirectory. A link at the path is refused and its target not touched; anything
// but a regular file is refused. A missing file is NOT_FOUND. The caller closes the descriptor.
absl::StatusOr<int> OpenStateFile(const std::string& path, int flags);

// The whole content of the state file `path` (OpenStateFile rules; NOT_FOUND when missing).
absl::StatusOr<std::string> ReadStateFile(const std::string& path);

// Replaces the state file `path` with `text` atomically and durably (temp file, fsync, rename,
// fsync of the directory; the rules above); the file is 0600.
absl::Status WriteStateFile(const std::string& path, std::string_view text);

}  // namespace deviceapi::common

#endif  // DEVICEAPI_COMMON_SECURE_PATH_H_
