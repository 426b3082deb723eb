// LD_PRELOAD shim for hostile_inputs_test: a full disk for one directory, switched on and off by a
// control file. While the file named by $ENOSPC_CONTROL_FILE exists, every write that would make a
// file under $ENOSPC_DIR longer fails with ENOSPC, as on a full file system: write, pwrite,
// pwrite64, writev and pwritev past the end of the file, fallocate and posix_fallocate, and
// ftruncate that grows the file. Writes inside the file's current size (overwriting blocks it
// already has) still succeed, as they would on a full disk.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static const char* Env(const char* name) {
  const char* v = getenv(name);
  return v != NULL && v[0] != '\0' ? v : NULL;
}

// Whether `fd` is a regular file under $ENOSPC_DIR, the control file exists, and `end` (the offset
// the write would reach; -1: unknown, take the current offset + len) lies past the file's size.
static int Full(int fd, off_t offset, size_t len) {
  const char* dir = Env("ENOSPC_DIR");
  const char* control = Env("ENOSPC_CONTROL_FILE");
  if (dir == NULL || control == NULL || access(control, F_OK) != 0) return 0;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  char link[64];
  char path[PATH_MAX];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof(path) - 1);
  if (n <= 0) return 0;
  path[n] = '\0';
  const size_t dir_len = strlen(dir);
  if (strncmp(path, dir, dir_len) != 0 || (path[dir_len] != '/' && path[dir_len] != '\0')) return 0;
  if (offset < 0) {
    const int flags = fcntl(fd, F_GETFL);
    offset = (flags >= 0 && (flags & O_APPEND)) ? st.st_size : lseek(fd, 0, SEEK_CUR);
    if (offset < 0) return 0;
  }
  return (off_t)(offset + (off_t)len) > st.st_size;
}

#define REAL(name, type)          \
  static type real_##name = NULL; \
  if (real_##name == NULL) real_##name = (type)dlsym(RTLD_NEXT, #name)

typedef ssize_t (*write_fn)(int, const void*, size_t);
typedef ssize_t (*pwrite_fn)(int, const void*, size_t, off_t);
typedef ssize_t (*pwrite64_fn)(int, const void*, size_t, off_t);
typedef ssize_t (*writev_fn)(int, const struct iovec*, int);
typedef ssize_t (*pwritev_fn)(int, const struct iovec*, int, off_t);
typedef int (*fallocate_fn)(int, int, off_t, off_t);
typedef int (*posix_fallocate_fn)(int, off_t, off_t);
typedef int (*ftruncate_fn)(int, off_t);

static size_t IovLen(const struct iovec* iov, int n) {
  size_t total = 0;
  for (int i = 0; i < n; ++i) total += iov[i].iov_len;
  return total;
}

ssize_t write(int fd, const void* buf, size_t len) {
  REAL(write, write_fn);
  if (len > 0 && Full(fd, -1, len)) {
    errno = ENOSPC;
    return -1;
  }
  return real_write(fd, buf, len);
}

ssize_t pwrite(int fd, const void* buf, size_t len, off_t off) {
  REAL(pwrite, pwrite_fn);
  if (len > 0 && Full(fd, off, len)) {
    errno = ENOSPC;
    return -1;
  }
  return real_pwrite(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t len, off_t off) {
  REAL(pwrite64, pwrite64_fn);
  if (len > 0 && Full(fd, off, len)) {
    errno = ENOSPC;
    return -1;
  }
  return real_pwrite64(fd, buf, len, off);
}

ssize_t writev(int fd, const struct iovec* iov, int n) {
  REAL(writev, writev_fn);
  const size_t len = IovLen(iov, n);
  if (len > 0 && Full(fd, -1, len)) {
    errno = ENOSPC;
    return -1;
  }
  return real_writev(fd, iov, n);
}

ssize_t pwritev(int fd, const struct iovec* iov, int n, off_t off) {
  REAL(pwritev, pwritev_fn);
  const size_t len = IovLen(iov, n);
  if (len > 0 && Full(fd, off, len)) {
    errno = ENOSPC;
    return -1;
  }
  return real_pwritev(fd, iov, n, off);
}

int fallocate(int fd, int mode, off_t off, off_t len) {
  REAL(fallocate, fallocate_fn);
  if (len > 0 && Full(fd, off, (size_t)len)) {
    errno = ENOSPC;
    return -1;
  }
  return real_fallocate(fd, mode, off, len);
}

int fallocate64(int fd, int mode, off_t off, off_t len) { return fallocate(fd, mode, off, len); }

int posix_fallocate(int fd, off_t off, off_t len) {
  REAL(posix_fallocate, posix_fallocate_fn);
  if (len > 0 && Full(fd, off, (size_t)len)) return ENOSPC;
  return real_posix_fallocate(fd, off, len);
}

int posix_fallocate64(int fd, off_t off, off_t len) { return posix_fallocate(fd, off, len); }

int ftruncate(int fd, off_t len) {
  REAL(ftruncate, ftruncate_fn);
  if (len > 0 && Full(fd, 0, (size_t)len)) {
    errno = ENOSPC;
    return -1;
  }
  return real_ftruncate(fd, len);
}

int ftruncate64(int fd, off_t len) { return ftruncate(fd, len); }
