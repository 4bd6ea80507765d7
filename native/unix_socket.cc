#include "unix_socket.h"

#ifndef _WIN32

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#if defined(__APPLE__)
#include <sys/ucred.h>
#endif

namespace ipc {

namespace {

int MakeSocket(int* fd_out) {
#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK)
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -errno;
#else
  // macOS has no SOCK_CLOEXEC; nothing else in this process forks between these calls that we know of,
  // and libuv itself does the same.
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return -errno;
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
    int err = -errno;
    close(fd);
    return err;
  }
#endif
  *fd_out = fd;
  return 0;
}

int FillAddress(const char* path, size_t len, sockaddr_un* addr, socklen_t* addr_len) {
  if (len == 0) return -EINVAL;
  // An abstract name (leading NUL) needs no terminating NUL, so it may fill sun_path to the last byte.
  size_t limit = path[0] == '\0' ? MaxUnixPath() + 1 : MaxUnixPath();
  if (len > limit) return -ENAMETOOLONG;
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path, len);
  // An abstract name is exactly `len` bytes long, with no padding: that is what lets a peer that is
  // not libuv find it. A file path is NUL-terminated by the memset.
  *addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len + (path[0] == '\0' ? 0 : 1));
  return 0;
}

}  // namespace

size_t MaxUnixPath() { return sizeof(sockaddr_un{}.sun_path) - 1; }

int UnixConnect(const char* path, size_t len, int* fd_out) {
  sockaddr_un addr;
  socklen_t addr_len;
  int err = FillAddress(path, len, &addr, &addr_len);
  if (err != 0) return err;
  int fd = -1;
  err = MakeSocket(&fd);
  if (err != 0) return err;
  int r;
  do {
    r = connect(fd, reinterpret_cast<sockaddr*>(&addr), addr_len);
  } while (r < 0 && errno == EINTR);
  // A non-blocking connect on a Unix socket completes at once or fails with EAGAIN when the listener's
  // backlog is full (Linux); the caller decides whether to retry.
  if (r < 0) {
    err = -errno;
    close(fd);
    return err;
  }
  *fd_out = fd;
  return 0;
}

int UnixBind(const char* path, size_t len, int* fd_out) {
  sockaddr_un addr;
  socklen_t addr_len;
  int err = FillAddress(path, len, &addr, &addr_len);
  if (err != 0) return err;
  int fd = -1;
  err = MakeSocket(&fd);
  if (err != 0) return err;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) < 0) {
    err = -errno;
    close(fd);
    return err;
  }
  *fd_out = fd;
  return 0;
}

int UnixPeerCred(int fd, int* pid, int* uid, int* gid) {
#if defined(__linux__)
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -errno;
  *pid = cred.pid;
  *uid = static_cast<int>(cred.uid);
  *gid = static_cast<int>(cred.gid);
  return 0;
#elif defined(__APPLE__)
  uid_t u;
  gid_t g;
  if (getpeereid(fd, &u, &g) < 0) return -errno;
  *uid = static_cast<int>(u);
  *gid = static_cast<int>(g);
  pid_t p = 0;
  socklen_t len = sizeof(p);
  // LOCAL_PEERPID exists since macOS 10.8; without it the pid is unknown, not an error.
  if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &p, &len) < 0) p = -1;
  *pid = p;
  return 0;
#else
  uid_t u;
  gid_t g;
  if (getpeereid(fd, &u, &g) < 0) return -errno;
  *pid = -1;
  *uid = static_cast<int>(u);
  *gid = static_cast<int>(g);
  return 0;
#endif
}

}  // namespace ipc

#endif
