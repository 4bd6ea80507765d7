// Module init and the export table. Per-environment state lives in Addon (addon.h).
#include <napi.h>
#include <uv.h>

#include "addon.h"
#include "process.h"
#include "stream.h"
#include "unix_socket.h"

#ifndef _WIN32
#include <fcntl.h>
#include <unistd.h>
#endif

#include <cerrno>

namespace ipc {

namespace {

Napi::Value ProbeUnix(const Napi::CallbackInfo& info) {
#ifndef _WIN32
  // Connects and closes at once: tells a live server (0, or EAGAIN with a full backlog) from a socket
  // file that a dead server left behind (ECONNREFUSED).
  Napi::Buffer<char> path = info[0].As<Napi::Buffer<char>>();
  int fd = -1;
  int r = UnixConnect(path.Data(), path.Length(), &fd);
  if (r == 0) close(fd);
  return Napi::Number::New(info.Env(), r);
#else
  return Napi::Number::New(info.Env(), UV_ENOTSUP);
#endif
}

// What kind of descriptor fd is: "pipe" (pipes and Unix sockets), "tcp", "tty", "file" (regular files
// and character devices such as /dev/null), or "unknown".
Napi::Value GuessHandle(const Napi::CallbackInfo& info) {
  switch (uv_guess_handle(info[0].As<Napi::Number>().Int32Value())) {
    case UV_NAMED_PIPE:
      return Napi::String::New(info.Env(), "pipe");
    case UV_TCP:
      return Napi::String::New(info.Env(), "tcp");
    case UV_TTY:
      return Napi::String::New(info.Env(), "tty");
    case UV_FILE:
      return Napi::String::New(info.Env(), "file");
    default:
      return Napi::String::New(info.Env(), "unknown");
  }
}

// A close-on-exec duplicate of fd, so that closing a transport never closes the process's own stdio.
Napi::Value DupFd(const Napi::CallbackInfo& info) {
#ifndef _WIN32
  int fd = fcntl(info[0].As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 3);
  return Napi::Number::New(info.Env(), fd < 0 ? -errno : fd);
#else
  return Napi::Number::New(info.Env(), UV_ENOTSUP);
#endif
}

}  // namespace

Addon::Addon(Napi::Env env, Napi::Object exports) {
  napi_get_uv_event_loop(env, &loop_);
  Napi::Function stream = Stream::Init(env);
  stream_constructor_ = Napi::Persistent(stream);
  Napi::Function process = Process::Init(env);
  process_constructor_ = Napi::Persistent(process);

  Napi::Object constants = Napi::Object::New(env);
#ifndef _WIN32
  constants.Set("maxUnixPath", Napi::Number::New(env, static_cast<double>(MaxUnixPath())));
#else
  constants.Set("maxUnixPath", Napi::Number::New(env, 0));
#endif
  // libuv's error numbers differ between Unix (negated errno) and Windows: JS compares against these.
  constants.Set("UV_EOF", Napi::Number::New(env, UV_EOF));
  constants.Set("UV_EAGAIN", Napi::Number::New(env, UV_EAGAIN));
  constants.Set("UV_EACCES", Napi::Number::New(env, UV_EACCES));
  constants.Set("UV_ECONNREFUSED", Napi::Number::New(env, UV_ECONNREFUSED));
  constants.Set("UV_EADDRINUSE", Napi::Number::New(env, UV_EADDRINUSE));
  constants.Set("UV_ENOENT", Napi::Number::New(env, UV_ENOENT));
  constants.Set("UV_EPIPE", Napi::Number::New(env, UV_EPIPE));
  constants.Set("UV_ECONNRESET", Napi::Number::New(env, UV_ECONNRESET));
  constants.Set("UV_ESRCH", Napi::Number::New(env, UV_ESRCH));
  constants.Set("uvPipeSize", Napi::Number::New(env, static_cast<double>(uv_handle_size(UV_NAMED_PIPE))));
  constants.Set("builtPipeSize", Napi::Number::New(env, static_cast<double>(sizeof(uv_pipe_t))));

  DefineAddon(exports, {
                           InstanceMethod("setup", &Addon::Setup),
                           InstanceMethod("busyPollStats", &Addon::BusyPollStats),
                           InstanceValue("Stream", stream),
                           InstanceValue("Process", process),
                           InstanceValue("constants", constants),
                       });
  exports.Set("probeUnix", Napi::Function::New(env, ProbeUnix, "probeUnix"));
  exports.Set("guessHandle", Napi::Function::New(env, GuessHandle, "guessHandle"));
  exports.Set("dupFd", Napi::Function::New(env, DupFd, "dupFd"));

  napi_add_async_cleanup_hook(env, OnCleanup, this, &cleanup_handle_);
}

Addon::~Addon() {
  // Close callbacks that never ran would otherwise reference freed state; by now teardown has let
  // them finish (OnCleanup removes its hook only when every handle is closed).
  stream_constructor_.SuppressDestruct();
  process_constructor_.SuppressDestruct();
  frame_table_ref_.SuppressDestruct();
  on_frames.SuppressDestruct();
  on_end.SuppressDestruct();
  on_write.SuppressDestruct();
  on_shutdown.SuppressDestruct();
  on_connection.SuppressDestruct();
  on_connect.SuppressDestruct();
  on_close.SuppressDestruct();
}

Napi::Value Addon::Setup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint32Array table = info[0].As<Napi::Uint32Array>();
  Napi::Object cb = info[1].As<Napi::Object>();
  frame_table_ref_ = Napi::Persistent(table);
  frame_table = table.Data();
  frame_table_pairs = table.ElementLength() / 2;
  on_frames = Napi::Persistent(cb.Get("onFrames").As<Napi::Function>());
  on_end = Napi::Persistent(cb.Get("onEnd").As<Napi::Function>());
  on_write = Napi::Persistent(cb.Get("onWrite").As<Napi::Function>());
  on_shutdown = Napi::Persistent(cb.Get("onShutdown").As<Napi::Function>());
  on_connection = Napi::Persistent(cb.Get("onConnection").As<Napi::Function>());
  on_connect = Napi::Persistent(cb.Get("onConnect").As<Napi::Function>());
  on_close = Napi::Persistent(cb.Get("onClose").As<Napi::Function>());
  return env.Undefined();
}

// [active, total polling time in ms] for the whole environment.
Napi::Value Addon::BusyPollStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Boolean::New(env, poller_.active()));
  out.Set(1u, Napi::Number::New(env, static_cast<double>(poller_.total_polled_ns()) / 1e6));
  return out;
}

void Addon::Untrack(uv_handle_t* h) {
  open_.erase(h);
  MaybeFinishCleanup();
}

void Addon::OnCleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  // The worker or the process is ending. Close every handle still open, without running JS, and tell
  // Node we are done only once libuv has called every close callback.
  Addon* self = static_cast<Addon*>(arg);
  self->tearing_down_ = true;
  std::unordered_set<uv_handle_t*> open = self->open_;
  for (uv_handle_t* h : open) {
    if (h->type == UV_PROCESS) Process::CloseForTeardown(h);
    else if (h->type != UV_IDLE) Stream::CloseForTeardown(h);
  }
  self->poller_.Close();
  self->MaybeFinishCleanup();
}

void Addon::MaybeFinishCleanup() {
  if (tearing_down_ && open_.empty() && cleanup_handle_ != nullptr) {
    napi_remove_async_cleanup_hook(cleanup_handle_);
    cleanup_handle_ = nullptr;
  }
}

}  // namespace ipc

using ipc::Addon;
NODE_API_ADDON(Addon)
