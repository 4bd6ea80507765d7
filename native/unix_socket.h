// Unix domain sockets opened by hand rather than through uv_pipe_bind/uv_pipe_connect, because libuv
// truncates a path longer than sun_path without saying so, and the libuv in Node 20 pads abstract names
// to the full sun_path length, so a peer that is not libuv could never reach them. The descriptor is then
// handed to libuv with uv_pipe_open. No Node-API here.
#pragma once

#include <cstddef>

#ifndef _WIN32

namespace ipc {

// The longest path (in bytes, without the terminating NUL) that fits in sockaddr_un.sun_path. An
// abstract name (first byte NUL) may use every byte.
size_t MaxUnixPath();

// Each returns 0 or a negative errno. `path` is raw bytes of length `len`; a leading NUL byte means the
// Linux abstract namespace.
int UnixConnect(const char* path, size_t len, int* fd_out);
int UnixBind(const char* path, size_t len, int* fd_out);

// Credentials of the process at the other end of a connected socket.
int UnixPeerCred(int fd, int* pid, int* uid, int* gid);

}  // namespace ipc

#endif
