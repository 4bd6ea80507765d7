// One uv_stream_t and everything that moves its bytes: reads into JS-owned slabs split into frames by
// the Framer, and writes that try the socket first and queue only what it would not take.
//
// The uv handle lives apart from this wrapper (see Handle): uv_close() is asynchronous, so the memory
// is freed in the close callback, whatever has happened to the JS object by then.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <list>

#include "busy_poll.h"
#include "framer.h"

namespace ipc {

class Addon;

enum class StreamKind : int { kPipe = 0, kTcp = 1, kTty = 2 };

// The framing code JS passes for a stream read without framing, in chunks (a child's stderr).
constexpr int kRawFraming = 3;

class Stream : public Napi::ObjectWrap<Stream> {
 public:
  // The uv stream, for a child process's stdio (Process::Spawn); null once closing.
  uv_stream_t* uv_stream() { return open() ? &handle_->stream : nullptr; }
  static Stream* FromObject(Napi::Value value) {
    return value.IsObject() ? Unwrap(value.As<Napi::Object>()) : nullptr;
  }

  static Napi::Function Init(Napi::Env env);
  explicit Stream(const Napi::CallbackInfo& info);
  ~Stream();

  // Closes a handle without calling into JS: used when the environment is torn down.
  static void CloseForTeardown(uv_handle_t* handle);

 private:
  struct Handle {
    union {
      uv_handle_t handle;
      uv_stream_t stream;
      uv_pipe_t pipe;
      uv_tcp_t tcp;
      uv_tty_t tty;
    };
    Addon* addon;
    Stream* owner;  // null once the wrapper is gone
  };

  struct WriteReq;

  // JS-facing methods. Each returns 0 or a negative libuv error code unless noted.
  Napi::Value ConnectUnix(const Napi::CallbackInfo& info);  // (pathBuffer)
  Napi::Value BindUnix(const Napi::CallbackInfo& info);     // (pathBuffer)
  Napi::Value ConnectPipe(const Napi::CallbackInfo& info);  // Windows: (name): UV_EAGAIN when busy
  Napi::Value BindPipe(const Napi::CallbackInfo& info);     // Windows: (name)
  Napi::Value ConnectTcp(const Napi::CallbackInfo& info);   // (ip, port): completes in on_connect
  Napi::Value BindTcp(const Napi::CallbackInfo& info);      // (ip, port)
  Napi::Value Listen(const Napi::CallbackInfo& info);       // (backlog)
  Napi::Value Accept(const Napi::CallbackInfo& info);       // (clientStream)
  Napi::Value ReadStart(const Napi::CallbackInfo& info);
  Napi::Value ReadStop(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);     // (buf [, buf2]): >= 0 bytes left queued
  Napi::Value Shutdown(const Napi::CallbackInfo& info);  // completes in on_shutdown
  Napi::Value Close(const Napi::CallbackInfo& info);     // completes in on_close
  Napi::Value PeerCred(const Napi::CallbackInfo& info);  // (serverSide): [pid, uid, gid], [pid] on Windows, or null
  Napi::Value SetNoDelay(const Napi::CallbackInfo& info);
  Napi::Value RefHandle(const Napi::CallbackInfo& info);
  Napi::Value UnrefHandle(const Napi::CallbackInfo& info);
  Napi::Value SockName(const Napi::CallbackInfo& info);  // TCP: [address, port]
  Napi::Value WriteQueueSize(const Napi::CallbackInfo& info);
  Napi::Value PartialAge(const Napi::CallbackInfo& info);
  Napi::Value SetBusyPoll(const Napi::CallbackInfo& info);  // (microseconds; 0 turns it off)
  Napi::Value BusyPollTime(const Napi::CallbackInfo& info);
  Napi::Value IdleTime(const Napi::CallbackInfo& info);  // ms since the last byte in or out  // ms this transport's window kept the loop polling  // ms since the current partial frame began, or -1
  Napi::Value Fileno(const Napi::CallbackInfo& info);
  // openStdio: this process's own stdin and stdout.
  Napi::Value OpenFd(const Napi::CallbackInfo& info);     // (fd): a pipe or socket descriptor, uv_pipe_open
  Napi::Value OpenFile(const Napi::CallbackInfo& info);   // (fd): a regular file to write with blocking writes
  Napi::Value Feed(const Napi::CallbackInfo& info);       // (bytes): frames from bytes read elsewhere (a file)
  Napi::Value FeedEnd(const Napi::CallbackInfo& info);    // end of those bytes
  Napi::Value FeedMode(const Napi::CallbackInfo& info);   // reading comes from Feed() only
  Napi::Value FlushSync(const Napi::CallbackInfo& info);  // (timeoutMs, batch, length): see stream.cc

  static void on_stream_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_stream_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_stream_write(uv_write_t* req, int status);
  static void on_stream_shutdown(uv_shutdown_t* req, int status);
  static void on_server_connection(uv_stream_t* server, int status);
  static void on_stream_connect(uv_connect_t* req, int status);
  static void on_handle_close(uv_handle_t* handle);

  // Helpers for the read path.
  struct Sink;
  void OnRead(ssize_t nread);
  bool NewSlab(size_t size);
  ParseResult ProcessFrames();
  void ProcessSlab();
  void RewindSlab();
  void DeliverSlabFrames(size_t count);
  void DeliverFrames(napi_value array_buffer, size_t count);
  void EndRead(int status, FramerError framer_error);

  // Calls a shared JS callback with this stream's handle object as `this`, in its async context. An
  // exception thrown there is reported as uncaught, never swallowed.
  void Call(Napi::FunctionReference& fn, std::initializer_list<napi_value> args);

  bool open() const { return handle_ != nullptr && !closing_; }
#ifndef _WIN32
  // Writes all of data to a (possibly non-blocking) descriptor, waiting in poll() until deadline_ns
  // (0: no deadline). 0 or a negative libuv error.
  static int WriteAll(int fd, const char* data, size_t len, uint64_t deadline_ns);
#endif

  Addon* addon_;
  Handle* handle_ = nullptr;
  StreamKind kind_;
  bool closing_ = false;
  bool reading_ = false;
  bool read_ended_ = false;
  napi_async_context async_context_ = nullptr;

  bool raw_;
  Framer framer_;
  size_t slab_size_;

  // The current read slab: an ArrayBuffer owned by JS. Bytes [start_, fill_) are received but not yet
  // part of a delivered frame; bytes before start_ may be viewed by JS and are never written again.
  Napi::Reference<Napi::ArrayBuffer> slab_ref_;
  uint8_t* slab_ = nullptr;
  size_t slab_cap_ = 0;
  size_t start_ = 0;
  size_t fill_ = 0;
  bool slab_exposed_ = false;  // a frame in this slab was handed to JS: its bytes are never written again
  bool after_big_ = false;     // the last frame was larger than a slab
  uint64_t partial_since_ = 0;
  PollClient poll_;
  uint64_t last_activity_ms_ = 0;  // loop time of the last byte in or out
  bool feed_mode_ = false;
  int file_fd_ = -1;               // OpenFile: writes go here, blocking, instead of through libuv
  std::list<WriteReq*> pending_writes_;  // queued in libuv, oldest first (FlushSync finishes them)  // loop time (+1) when the current partial frame began; 0 when none

  // A frame larger than a slab is read straight into an exact-size buffer of its own.
  Napi::Reference<Napi::ArrayBuffer> big_ref_;
  uint8_t* big_ = nullptr;
  size_t big_size_ = 0;
  size_t big_fill_ = 0;
};

}  // namespace ipc
