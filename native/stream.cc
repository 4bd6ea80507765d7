#include "stream.h"

#include <cstring>
#include <initializer_list>
#include <string>

#ifndef _WIN32
#include <poll.h>
#include <unistd.h>
#endif

#include "addon.h"
#include "util/callback.h"
#include "unix_socket.h"

namespace ipc {

namespace {

// A slab with less free space than this is retired after the current read, so reads stay large.
constexpr size_t kMinFreeDivisor = 8;

// How much one read takes into the slab right after a frame larger than the slab (see on_stream_alloc):
// enough for any frame header, so the payload that follows is read straight into its own buffer.
constexpr size_t kReadAfterLargeFrame = 64;

template <typename Req>
Req* NewReq() {
  return new Req();
}

// A port in network byte order, read without ntohs(): on Windows that lives in ws2_32, which node-gyp
// does not link into addons.
int PortFromNetwork(const uint16_t& port) {
  const uint8_t* b = reinterpret_cast<const uint8_t*>(&port);
  return (b[0] << 8) | b[1];
}

#ifdef _WIN32
// Wine has no remote pipe clients, and there GetNamedPipeClientComputerNameW is a stub that aborts the
// process when called; scripts/test-win.sh runs the Windows build under wine.
bool RunningUnderWine() {
  static const bool wine = [] {
    HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    return ntdll != nullptr && GetProcAddress(ntdll, "wine_get_version") != nullptr;
  }();
  return wine;
}
#endif

bool GetBytes(napi_env env, napi_value value, uint8_t** data, size_t* len) {
  napi_typedarray_type type;
  size_t length;
  void* base;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, value, &type, &length, &base, &ab, &offset) != napi_ok) return false;
  if (type != napi_uint8_array) return false;
  *data = static_cast<uint8_t*>(base);
  *len = length;
  return true;
}

}  // namespace

struct Stream::WriteReq {
  uv_write_t req;
  size_t bytes = 0;
  // The caller's buffers stay referenced until libuv is done with them: no copy is made.
  Napi::ObjectReference bufs[2];
};

struct ShutdownReq {
  uv_shutdown_t req;
};

struct ConnectReq {
  uv_connect_t req;
};

// Records each frame the framer finds as an [offset, length] pair in the shared frame table; stops the
// parse when the table is full.
struct Stream::Sink {
  Stream* s;
  size_t n = 0;
  bool OnFrame(size_t off, size_t len) {
    s->addon_->frame_table[2 * n] = static_cast<uint32_t>(s->start_ + off);
    s->addon_->frame_table[2 * n + 1] = static_cast<uint32_t>(len);
    return ++n < s->addon_->frame_table_pairs;
  }
};

Napi::Function Stream::Init(Napi::Env env) {
  return DefineClass(env, "Stream",
                     {
                         InstanceMethod("connectUnix", &Stream::ConnectUnix),
                         InstanceMethod("bindUnix", &Stream::BindUnix),
                         InstanceMethod("connectPipe", &Stream::ConnectPipe),
                         InstanceMethod("bindPipe", &Stream::BindPipe),
                         InstanceMethod("connectTcp", &Stream::ConnectTcp),
                         InstanceMethod("bindTcp", &Stream::BindTcp),
                         InstanceMethod("listen", &Stream::Listen),
                         InstanceMethod("accept", &Stream::Accept),
                         InstanceMethod("readStart", &Stream::ReadStart),
                         InstanceMethod("readStop", &Stream::ReadStop),
                         InstanceMethod("write", &Stream::Write),
                         InstanceMethod("shutdown", &Stream::Shutdown),
                         InstanceMethod("close", &Stream::Close),
                         InstanceMethod("peerCred", &Stream::PeerCred),
                         InstanceMethod("setNoDelay", &Stream::SetNoDelay),
                         InstanceMethod("ref", &Stream::RefHandle),
                         InstanceMethod("unref", &Stream::UnrefHandle),
                         InstanceMethod("sockName", &Stream::SockName),
                         InstanceMethod("writeQueueSize", &Stream::WriteQueueSize),
                         InstanceMethod("partialAge", &Stream::PartialAge),
                         InstanceMethod("setBusyPoll", &Stream::SetBusyPoll),
                         InstanceMethod("busyPollTime", &Stream::BusyPollTime),
                         InstanceMethod("idleTime", &Stream::IdleTime),
                         InstanceMethod("fileno", &Stream::Fileno),
                         InstanceMethod("openFd", &Stream::OpenFd),
                         InstanceMethod("openFile", &Stream::OpenFile),
                         InstanceMethod("feed", &Stream::Feed),
                         InstanceMethod("feedEnd", &Stream::FeedEnd),
                         InstanceMethod("feedMode", &Stream::FeedMode),
                         InstanceMethod("flushSync", &Stream::FlushSync),
                     });
}

// new Stream(kind, framingMode, maxFrameSize, slabSize)
Stream::Stream(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<Stream>(info),
      addon_(info.Env().GetInstanceData<Addon>()),
      kind_(static_cast<StreamKind>(info[0].As<Napi::Number>().Int32Value())),
      raw_(info[1].As<Napi::Number>().Int32Value() == kRawFraming),
      framer_(raw_ ? FramingMode::kLines : static_cast<FramingMode>(info[1].As<Napi::Number>().Int32Value()),
              static_cast<size_t>(info[2].As<Napi::Number>().DoubleValue())),
      slab_size_(static_cast<size_t>(info[3].As<Napi::Number>().DoubleValue())) {
  Napi::Env env = info.Env();
  handle_ = new Handle();
  handle_->addon = addon_;
  handle_->owner = this;
  int r;
  if (kind_ == StreamKind::kTcp) {
    r = uv_tcp_init(addon_->loop(), &handle_->tcp);
  } else if (kind_ == StreamKind::kTty) {
    // new Stream(kTty, framing, max, slab, fd, readable): a terminal needs its descriptor at init.
    r = uv_tty_init(addon_->loop(), &handle_->tty, info[4].As<Napi::Number>().Int32Value(),
                    info[5].ToBoolean() ? 1 : 0);
  } else {
    r = uv_pipe_init(addon_->loop(), &handle_->pipe, 0);
  }
  if (r != 0) {
    delete handle_;
    handle_ = nullptr;
    Napi::Error::New(env, uv_strerror(r)).ThrowAsJavaScriptException();
    return;
  }
  handle_->handle.data = handle_;
  addon_->Track(&handle_->handle);
  last_activity_ms_ = uv_now(addon_->loop());
  napi_value name;
  napi_create_string_utf8(env, "SymphonyIpcStream", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, info.This(), name, &async_context_);
  // The JS object must outlive the handle: libuv callbacks call into it until the close callback.
  Napi::ObjectWrap<Stream>::Ref();
}

Stream::~Stream() {
  addon_->poller().Remove(&poll_);
  if (handle_ != nullptr) {
    // Only reachable when the environment is being torn down (an open handle holds a strong
    // reference): let the close callback free the handle without looking for us.
    handle_->owner = nullptr;
    if (!uv_is_closing(&handle_->handle)) uv_close(&handle_->handle, on_handle_close);
    handle_ = nullptr;
  }
  slab_ref_.SuppressDestruct();
  big_ref_.SuppressDestruct();
  if (async_context_ != nullptr && !addon_->tearing_down()) napi_async_destroy(Env(), async_context_);
}

void Stream::CloseForTeardown(uv_handle_t* handle) {
  Handle* h = static_cast<Handle*>(handle->data);
  if (h->owner != nullptr) h->owner->closing_ = true;
  if (!uv_is_closing(handle)) uv_close(handle, on_handle_close);
}

void Stream::Call(Napi::FunctionReference& fn, std::initializer_list<napi_value> args) {
  MakeCallback(Env(), async_context_, Value(), fn.Value(), args);
}

// --- opening -------------------------------------------------------------------------------------

Napi::Value Stream::ConnectUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifndef _WIN32
  if (!open()) return Napi::Number::New(env, UV_EBADF);
  Napi::Buffer<char> path = info[0].As<Napi::Buffer<char>>();
  int fd = -1;
  int r = UnixConnect(path.Data(), path.Length(), &fd);
  if (r == 0) {
    r = uv_pipe_open(&handle_->pipe, fd);
    if (r != 0) ::close(fd);
  }
  return Napi::Number::New(env, r);
#else
  return Napi::Number::New(env, UV_ENOTSUP);
#endif
}

Napi::Value Stream::BindUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifndef _WIN32
  if (!open()) return Napi::Number::New(env, UV_EBADF);
  Napi::Buffer<char> path = info[0].As<Napi::Buffer<char>>();
  int fd = -1;
  int r = UnixBind(path.Data(), path.Length(), &fd);
  if (r == 0) {
    r = uv_pipe_open(&handle_->pipe, fd);
    if (r != 0) ::close(fd);
  }
  return Napi::Number::New(env, r);
#else
  return Napi::Number::New(env, UV_ENOTSUP);
#endif
}

Napi::Value Stream::ConnectPipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef _WIN32
  if (!open() || kind_ != StreamKind::kPipe) return Napi::Number::New(env, UV_EBADF);
  // The pipe is opened here, not by uv_pipe_connect: when every instance is busy, libuv waits for one on
  // a pool thread (WaitNamedPipeW, 30 s at a time) that closing the handle does not end, so a connect
  // given up at connectTimeout would keep the loop alive until then. Busy is UV_EAGAIN instead, and JS
  // tries again until the deadline, as for a Unix socket whose backlog is full.
  std::u16string name = info[0].As<Napi::String>().Utf16Value();
  HANDLE pipe = CreateFileW(reinterpret_cast<const wchar_t*>(name.c_str()), GENERIC_READ | GENERIC_WRITE, 0,
                            nullptr, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, nullptr);
  if (pipe == INVALID_HANDLE_VALUE) {
    DWORD err = GetLastError();
    return Napi::Number::New(env, err == ERROR_PIPE_BUSY ? UV_EAGAIN : uv_translate_sys_error(err));
  }
  // uv_pipe_open takes a C runtime descriptor: uv_open_osfhandle makes it in node.exe's runtime, the one
  // libuv closes it with (the addon's mingw or MSVC runtime has a table of its own).
  int fd = uv_open_osfhandle(pipe);
  if (fd < 0) {
    CloseHandle(pipe);
    return Napi::Number::New(env, UV_EMFILE);
  }
  int r = uv_pipe_open(&handle_->pipe, fd);
  if (r != 0) {
    uv_fs_t req;
    uv_fs_close(addon_->loop(), &req, fd, nullptr);
    uv_fs_req_cleanup(&req);
  }
  return Napi::Number::New(env, r);
#else
  // Unix sockets go through ConnectUnix, which neither truncates paths nor pads abstract names.
  return Napi::Number::New(env, UV_ENOTSUP);
#endif
}

Napi::Value Stream::BindPipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef _WIN32
  if (!open() || kind_ != StreamKind::kPipe) return Napi::Number::New(env, UV_EBADF);
  std::string name = info[0].As<Napi::String>().Utf8Value();
  return Napi::Number::New(env, uv_pipe_bind(&handle_->pipe, name.c_str()));
#else
  return Napi::Number::New(env, UV_ENOTSUP);
#endif
}

static int ParseIp(const std::string& ip, int port, sockaddr_storage* addr) {
  if (ip.find(':') != std::string::npos) {
    return uv_ip6_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in6*>(addr));
  }
  return uv_ip4_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in*>(addr));
}

Napi::Value Stream::ConnectTcp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!open() || kind_ != StreamKind::kTcp) return Napi::Number::New(env, UV_EBADF);
  sockaddr_storage addr;
  int r = ParseIp(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::Number>().Int32Value(), &addr);
  if (r != 0) return Napi::Number::New(env, r);
  ConnectReq* req = NewReq<ConnectReq>();
  r = uv_tcp_connect(&req->req, &handle_->tcp, reinterpret_cast<sockaddr*>(&addr), on_stream_connect);
  if (r != 0) delete req;
  return Napi::Number::New(env, r);
}

Napi::Value Stream::BindTcp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!open() || kind_ != StreamKind::kTcp) return Napi::Number::New(env, UV_EBADF);
  sockaddr_storage addr;
  int r = ParseIp(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::Number>().Int32Value(), &addr);
  if (r == 0) r = uv_tcp_bind(&handle_->tcp, reinterpret_cast<sockaddr*>(&addr), 0);
  return Napi::Number::New(env, r);
}

Napi::Value Stream::Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!open()) return Napi::Number::New(env, UV_EBADF);
  int r = uv_listen(&handle_->stream, info[0].As<Napi::Number>().Int32Value(), on_server_connection);
  return Napi::Number::New(env, r);
}

Napi::Value Stream::Accept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Stream* client = Stream::Unwrap(info[0].As<Napi::Object>());
  if (!open() || client == nullptr || !client->open()) return Napi::Number::New(env, UV_EBADF);
  int r = uv_accept(&handle_->stream, &client->handle_->stream);
  if (r == 0 && client->kind_ == StreamKind::kTcp) uv_tcp_nodelay(&client->handle_->tcp, 1);
#ifdef _WIN32
  if (r == 0 && client->kind_ == StreamKind::kPipe) {
    // libuv creates pipe instances without PIPE_REJECT_REMOTE_CLIENTS, so a client on another machine
    // (over SMB) could connect: such a client has a computer name, a local one does not (the call fails
    // with ERROR_PIPE_LOCAL). Refuse it before anything is read.
    uv_os_fd_t fd;
    wchar_t computer[256];
    if (!RunningUnderWine() && uv_fileno(&client->handle_->handle, &fd) == 0 &&
        GetNamedPipeClientComputerNameW(fd, computer, sizeof(computer))) {
      r = UV_EACCES;
    }
  }
#endif
  return Napi::Number::New(env, r);
}

void Stream::on_server_connection(uv_stream_t* server, int status) {
  Stream* self = static_cast<Handle*>(server->data)->owner;
  if (self == nullptr || self->closing_) return;
  Napi::HandleScope scope(self->Env());
  self->Call(self->addon_->on_connection, {Napi::Number::New(self->Env(), status)});
}

void Stream::on_stream_connect(uv_connect_t* req, int status) {
  Stream* self = static_cast<Handle*>(req->handle->data)->owner;
  delete reinterpret_cast<ConnectReq*>(req);
  if (self == nullptr || self->closing_) return;
  if (status == 0 && self->kind_ == StreamKind::kTcp) uv_tcp_nodelay(&self->handle_->tcp, 1);
  Napi::HandleScope scope(self->Env());
  self->Call(self->addon_->on_connect, {Napi::Number::New(self->Env(), status)});
}

// --- reading -------------------------------------------------------------------------------------

Napi::Value Stream::ReadStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (feed_mode_) return Napi::Number::New(env, 0);
  if (!open() || read_ended_) return Napi::Number::New(env, UV_EBADF);
  if (reading_) return Napi::Number::New(env, 0);
  int r = uv_read_start(&handle_->stream, on_stream_alloc, on_stream_read);
  if (r == 0) reading_ = true;
  return Napi::Number::New(env, r);
}

Napi::Value Stream::ReadStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (feed_mode_) return Napi::Number::New(env, 0);
  if (!open() || !reading_) return Napi::Number::New(env, 0);
  reading_ = false;
  return Napi::Number::New(env, uv_read_stop(&handle_->stream));
}

bool Stream::NewSlab(size_t size) {
  napi_env env = Env();
  void* data;
  napi_value ab;
  if (napi_create_arraybuffer(env, size, &data, &ab) != napi_ok) return false;
  // Replacing the reference lets the old slab go once JS drops its last view of it. Its bytes were
  // never written again after being handed out.
  slab_ref_.Reset(Napi::ArrayBuffer(env, ab), 1);
  slab_ = static_cast<uint8_t*>(data);
  slab_cap_ = size;
  start_ = 0;
  fill_ = 0;
  slab_exposed_ = false;
  return true;
}

void Stream::on_stream_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) {
  Stream* self = static_cast<Handle*>(handle->data)->owner;
  *buf = uv_buf_init(nullptr, 0);  // libuv turns an empty buffer into UV_ENOBUFS for on_stream_read
  if (self == nullptr) return;
  if (self->big_ != nullptr) {
    *buf = uv_buf_init(reinterpret_cast<char*>(self->big_ + self->big_fill_),
                       static_cast<unsigned int>(self->big_size_ - self->big_fill_));
    return;
  }
  self->RewindSlab();
  if (self->slab_ == nullptr || self->fill_ == self->slab_cap_) {
    Napi::HandleScope scope(self->Env());
    if (!self->NewSlab(self->slab_size_)) return;
  }
  size_t len = self->slab_cap_ - self->fill_;
  // After a large frame the next is likely large too: read little into the slab, so that most of its
  // payload goes straight into its own buffer rather than through the slab and a copy.
  if (self->after_big_ && len > kReadAfterLargeFrame) len = kReadAfterLargeFrame;
  *buf = uv_buf_init(reinterpret_cast<char*>(self->slab_ + self->fill_), static_cast<unsigned int>(len));
}

void Stream::on_stream_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  Stream* self = static_cast<Handle*>(stream->data)->owner;
  if (self == nullptr || self->closing_ || nread == 0) return;
  Napi::HandleScope scope(self->Env());
  if (nread > 0) {
    self->last_activity_ms_ = uv_now(self->addon_->loop());
    if (self->poll_.window_ns != 0) self->addon_->poller().Activity(&self->poll_);
  }
  self->OnRead(nread);
  if (self->open()) {
    // Note when a partial frame began, for the frame timeout that JS enforces (frameTimeout).
    bool partial = self->big_ != nullptr || self->fill_ > self->start_;
    if (!partial) self->partial_since_ = 0;
    else if (self->partial_since_ == 0) self->partial_since_ = uv_now(self->addon_->loop()) + 1;
  }
}

void Stream::OnRead(ssize_t nread) {
  Stream* self = this;
  if (nread < 0) {
    if (nread != UV_EOF) {
      self->EndRead(static_cast<int>(nread), FramerError::kNone);
      return;
    }
    if (self->big_ != nullptr) {
      self->EndRead(UV_EOF, FramerError::kTruncated);
      return;
    }
    // The stream ended: deliver the frames still in the slab, then what completes only at end of
    // stream (a last line without its newline).
    FramerError err = FramerError::kNone;
    if (self->slab_ != nullptr) {
      self->ProcessFrames();
      if (self->closing_ || self->read_ended_) return;
      Sink sink{self};
      ParseResult r = self->framer_.Finish(self->slab_ + self->start_, self->fill_ - self->start_, sink);
      self->start_ += r.consumed;
      if (sink.n > 0) self->DeliverSlabFrames(sink.n);
      if (self->closing_) return;
      err = r.error;
    }
    self->EndRead(UV_EOF, err);
    return;
  }

  if (self->big_ != nullptr) {
    self->big_fill_ += static_cast<size_t>(nread);
    if (self->big_fill_ < self->big_size_) return;
    napi_value ab = self->big_ref_.Value();
    self->addon_->frame_table[0] = 0;
    self->addon_->frame_table[1] = static_cast<uint32_t>(self->big_size_);
    self->big_ref_.Reset();
    self->big_ = nullptr;
    self->big_size_ = self->big_fill_ = 0;
    self->framer_.Reset();
    self->after_big_ = true;
    self->DeliverFrames(ab, 1);
    return;
  }

  self->fill_ += static_cast<size_t>(nread);
  self->ProcessSlab();
}

ParseResult Stream::ProcessFrames() {
  ParseResult r;
  if (raw_) {
    // No framing (a child's stderr): whatever arrived is one chunk.
    if (fill_ > start_) {
      addon_->frame_table[0] = static_cast<uint32_t>(start_);
      addon_->frame_table[1] = static_cast<uint32_t>(fill_ - start_);
      size_t n = fill_ - start_;
      DeliverSlabFrames(1);
      start_ += n;
    }
    return r;
  }
  for (;;) {
    Sink sink{this};
    r = framer_.Parse(slab_ + start_, fill_ - start_, sink);
    // Frames are delivered before start_ moves past them, since the sink recorded offsets from it.
    if (sink.n > 0) DeliverSlabFrames(sink.n);
    start_ += r.consumed;
    if (closing_ || read_ended_) return r;
    // A full frame table stops the parse early; go on with the rest of this read.
    if (sink.n < addon_->frame_table_pairs || r.error != FramerError::kNone) break;
  }
  if (r.error != FramerError::kNone) EndRead(0, r.error);
  return r;
}

void Stream::ProcessSlab() {
  ParseResult r = ProcessFrames();
  if (closing_ || read_ended_) return;

  size_t partial = fill_ - start_;
  size_t need = r.pending_header + r.pending_payload;
  // The next frame's header says it fits a slab: read in full-size pieces again.
  if (after_big_ && r.pending_payload > 0 && need <= slab_size_) after_big_ = false;
  if (r.pending_payload > 0 && need > slab_size_) {
    // Too big for a slab: read the payload straight into a buffer of exactly its size.
    // Node's Buffer allocator skips zero-filling. That is safe here and only here: the frame fills the
    // buffer to its last byte before JS can see it. (Slabs are zero-filled, since JS can see their
    // unwritten tail through frame.buffer.)
    void* data;
    napi_value buffer;
    napi_value ab;
    if (napi_create_buffer(Env(), r.pending_payload, &data, &buffer) != napi_ok ||
        napi_get_typedarray_info(Env(), buffer, nullptr, nullptr, nullptr, &ab, nullptr) != napi_ok) {
      EndRead(UV_ENOMEM, FramerError::kNone);
      return;
    }
    big_ref_.Reset(Napi::ArrayBuffer(Env(), ab), 1);
    big_ = static_cast<uint8_t*>(data);
    big_size_ = r.pending_payload;
    big_fill_ = partial - r.pending_header;
    std::memcpy(big_, slab_ + start_ + r.pending_header, big_fill_);
    start_ = fill_;
    framer_.Reset();
    RewindSlab();
    return;
  }

  RewindSlab();

  size_t free_space = slab_cap_ - fill_;
  bool fits = need == 0 || need <= slab_cap_ - start_;
  if (fits && free_space >= slab_size_ / kMinFreeDivisor) return;
  if (partial == 0) {
    // Nothing to carry over: the next read allocates a fresh slab.
    slab_ref_.Reset();
    slab_ = nullptr;
    slab_cap_ = start_ = fill_ = 0;
    return;
  }
  // Carry the partial frame into a new slab. A line of unknown length doubles the slab each time it
  // outgrows one; the framer stops it at max_frame_size.
  size_t size = slab_size_;
  if (need > size) size = need;
  if (partial * 2 > size) size = partial * 2;
  if (!slab_exposed_ && size <= slab_cap_) {
    // No JS view into this slab: its bytes may be moved and written again.
    std::memmove(slab_, slab_ + start_, partial);
    start_ = 0;
    fill_ = partial;
    return;
  }
  Napi::Reference<Napi::ArrayBuffer> old = std::move(slab_ref_);  // keeps the old bytes alive while copying
  uint8_t* old_data = slab_;
  size_t old_start = start_;
  if (!NewSlab(size)) {
    EndRead(UV_ENOMEM, FramerError::kNone);
    return;
  }
  std::memcpy(slab_, old_data + old_start, partial);
  fill_ = partial;
}

void Stream::RewindSlab() {
  // A slab that JS never saw a frame of (only headers and the start of large frames passed through it)
  // is reused from its start instead of being replaced, so a stream of large frames allocates and
  // zero-fills nothing per frame but the frames themselves.
  if (slab_ != nullptr && !slab_exposed_ && start_ == fill_) start_ = fill_ = 0;
}

void Stream::DeliverSlabFrames(size_t count) {
  slab_exposed_ = true;
  after_big_ = false;
  DeliverFrames(slab_ref_.Value(), count);
}

void Stream::DeliverFrames(napi_value array_buffer, size_t count) {
  Call(addon_->on_frames, {array_buffer, Napi::Number::New(Env(), static_cast<double>(count))});
}

void Stream::EndRead(int status, FramerError framer_error) {
  read_ended_ = true;
  if (reading_ && open()) uv_read_stop(&handle_->stream);
  reading_ = false;
  Napi::Env env = Env();
  Call(addon_->on_end,
       {Napi::Number::New(env, status), Napi::Number::New(env, static_cast<int>(framer_error))});
}

// --- writing -------------------------------------------------------------------------------------

Napi::Value Stream::Write(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  if (!open()) return Napi::Number::New(env, UV_EPIPE);
  // write(buf, buf2) writes both; write(buf, length) writes the first `length` bytes of buf (a batch),
  // which spares JS a subarray object per flush.
  size_t nargs = info.Length() > 2 ? 2 : info.Length();
  size_t limit = SIZE_MAX;
  if (nargs == 2 && info[1].IsNumber()) {
    limit = static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
    nargs = 1;
  }
  uv_buf_t bufs[2];
  size_t total = 0;
  for (size_t i = 0; i < nargs; i++) {
    uint8_t* data;
    size_t len;
    if (!GetBytes(env, info[i], &data, &len)) {
      Napi::TypeError::New(env, "write() takes Uint8Array arguments").ThrowAsJavaScriptException();
      return Napi::Value();
    }
    if (len > limit) len = limit;
    bufs[i] = uv_buf_init(reinterpret_cast<char*>(data), static_cast<unsigned int>(len));
    total += len;
  }
  if (total == 0) return Napi::Number::New(env, 0);
  last_activity_ms_ = uv_now(addon_->loop());
#ifndef _WIN32
  if (file_fd_ >= 0) {
    // A regular file is always writable and cannot be polled: write it through, blocking.
    for (size_t i = 0; i < nargs; i++) {
      int r = WriteAll(file_fd_, bufs[i].base, bufs[i].len, 0);
      if (r < 0) return Napi::Number::New(env, r);
    }
    return Napi::Number::New(env, 0);
  }
#endif
  if (poll_.window_ns != 0) addon_->poller().Activity(&poll_);

  // Try the socket first: most writes complete here and need no request or reference at all. libuv
  // refuses (EAGAIN) while earlier writes are queued, which keeps the byte order.
  size_t written = 0;
  int r = uv_try_write(&handle_->stream, bufs, static_cast<unsigned int>(nargs));
  if (r >= 0) {
    written = static_cast<size_t>(r);
  } else if (r != UV_EAGAIN && r != UV_ENOSYS) {
    return Napi::Number::New(env, r);
  }
  if (written == total) return Napi::Number::New(env, 0);

  WriteReq* req = new WriteReq();
  uv_buf_t rest[2];
  unsigned int nrest = 0;
  size_t skip = written;
  for (size_t i = 0; i < nargs; i++) {
    if (skip >= bufs[i].len) {
      skip -= bufs[i].len;
      continue;
    }
    rest[nrest] = uv_buf_init(bufs[i].base + skip, static_cast<unsigned int>(bufs[i].len - skip));
    req->bufs[nrest] = Napi::Persistent(info[i].As<Napi::Object>());
    nrest++;
    skip = 0;
  }
  req->bytes = total - written;
  req->req.data = req;
  r = uv_write(&req->req, &handle_->stream, rest, nrest, on_stream_write);
  if (r != 0) {
    delete req;
    return Napi::Number::New(env, r);
  }
  pending_writes_.push_back(req);
  return Napi::Number::New(env, static_cast<double>(total - written));
}

void Stream::on_stream_write(uv_write_t* uv_req, int status) {
  WriteReq* req = static_cast<WriteReq*>(uv_req->data);
  Handle* h = static_cast<Handle*>(uv_req->handle->data);
  Stream* self = h->owner;
  // libuv completes a stream's writes in order: the finished one is at the front.
  if (self != nullptr) {
    if (!self->pending_writes_.empty() && self->pending_writes_.front() == req) {
      self->pending_writes_.pop_front();
    } else {
      self->pending_writes_.remove(req);
    }
  }
  if (self == nullptr || h->addon->tearing_down()) {
    req->bufs[0].SuppressDestruct();
    req->bufs[1].SuppressDestruct();
    delete req;
    return;
  }
  Napi::HandleScope scope(self->Env());
  size_t bytes = req->bytes;
  // A failed write tells JS how many of its bytes never reached the OS, so the frames among them can
  // be sent again on another connection. libuv has already released req.bufs by now, but our writes
  // have at most two buffers, which live in its inline bufsml array, advanced in place as they drain.
  size_t unwritten = 0;
  if (status < 0) {
#ifndef _WIN32
    for (unsigned int i = uv_req->write_index; i < uv_req->nbufs && i < 4; i++) {
      unwritten += uv_req->bufsml[i].len;
    }
#else
    unwritten = bytes;
#endif
  }
  delete req;
  // A write cancelled by our own close is not news to JS: the close already said the rest.
  if (status == UV_ECANCELED) return;
  Napi::Env env = self->Env();
  self->Call(self->addon_->on_write,
             {Napi::Number::New(env, status), Napi::Number::New(env, static_cast<double>(bytes)),
              Napi::Number::New(env, static_cast<double>(unwritten))});
}

Napi::Value Stream::Shutdown(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!open()) return Napi::Number::New(env, UV_EBADF);
  ShutdownReq* req = NewReq<ShutdownReq>();
  int r = uv_shutdown(&req->req, &handle_->stream, on_stream_shutdown);
  if (r != 0) delete req;
  return Napi::Number::New(env, r);
}

void Stream::on_stream_shutdown(uv_shutdown_t* req, int status) {
  Handle* h = static_cast<Handle*>(req->handle->data);
  delete reinterpret_cast<ShutdownReq*>(req);
  Stream* self = h->owner;
  if (self == nullptr || self->closing_ || status == UV_ECANCELED) return;
  Napi::HandleScope scope(self->Env());
  self->Call(self->addon_->on_shutdown, {Napi::Number::New(self->Env(), status)});
}

// --- closing -------------------------------------------------------------------------------------

Napi::Value Stream::Close(const Napi::CallbackInfo& info) {
  if (handle_ != nullptr && !closing_) {
    closing_ = true;
    reading_ = false;
    uv_close(&handle_->handle, on_handle_close);
  }
  return info.Env().Undefined();
}

void Stream::on_handle_close(uv_handle_t* handle) {
  Handle* h = static_cast<Handle*>(handle->data);
  Stream* self = h->owner;
  Addon* addon = h->addon;
  delete h;
  if (self != nullptr) {
    self->handle_ = nullptr;
    addon->poller().Remove(&self->poll_);
#ifndef _WIN32
    if (self->file_fd_ >= 0) {
      ::close(self->file_fd_);
      self->file_fd_ = -1;
    }
#endif
    if (!addon->tearing_down()) {
      Napi::HandleScope scope(self->Env());
      self->slab_ref_.Reset();
      self->big_ref_.Reset();
      self->slab_ = self->big_ = nullptr;
      self->Call(addon->on_close, {});
      // From here the JS object may be collected like any other.
      self->Napi::ObjectWrap<Stream>::Unref();
    }
  }
  addon->Untrack(handle);
}

// --- small things --------------------------------------------------------------------------------

Napi::Value Stream::PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef _WIN32
  uv_os_fd_t fd;
  if (!open() || kind_ != StreamKind::kPipe || uv_fileno(&handle_->handle, &fd) != 0) return env.Null();
  bool server_side = info.Length() > 0 && info[0].ToBoolean();
  ULONG pid = 0;
  BOOL ok = server_side ? GetNamedPipeClientProcessId(fd, &pid) : GetNamedPipeServerProcessId(fd, &pid);
  if (!ok) return env.Null();
  Napi::Array out = Napi::Array::New(env, 1);
  out.Set(0u, Napi::Number::New(env, static_cast<double>(pid)));
  return out;
#else
  uv_os_fd_t fd;
  if (!open() || kind_ != StreamKind::kPipe || uv_fileno(&handle_->handle, &fd) != 0) return env.Null();
  int pid, uid, gid;
  if (UnixPeerCred(fd, &pid, &uid, &gid) != 0) return env.Null();
  Napi::Array out = Napi::Array::New(env, 3);
  out.Set(0u, Napi::Number::New(env, pid));
  out.Set(1u, Napi::Number::New(env, uid));
  out.Set(2u, Napi::Number::New(env, gid));
  return out;
#endif
}

Napi::Value Stream::SetNoDelay(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!open() || kind_ != StreamKind::kTcp) return Napi::Number::New(env, UV_EBADF);
  return Napi::Number::New(env, uv_tcp_nodelay(&handle_->tcp, info[0].ToBoolean() ? 1 : 0));
}

Napi::Value Stream::RefHandle(const Napi::CallbackInfo& info) {
  if (open()) uv_ref(&handle_->handle);
  return info.Env().Undefined();
}

Napi::Value Stream::UnrefHandle(const Napi::CallbackInfo& info) {
  if (open()) uv_unref(&handle_->handle);
  return info.Env().Undefined();
}

Napi::Value Stream::SockName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!open() || kind_ != StreamKind::kTcp) return env.Null();
  sockaddr_storage addr;
  int len = sizeof(addr);
  if (uv_tcp_getsockname(&handle_->tcp, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return env.Null();
  char ip[64] = {0};
  int port;
  if (addr.ss_family == AF_INET6) {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
    uv_ip6_name(a6, ip, sizeof(ip));
    port = PortFromNetwork(a6->sin6_port);
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
    uv_ip4_name(a4, ip, sizeof(ip));
    port = PortFromNetwork(a4->sin_port);
  }
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::String::New(env, ip));
  out.Set(1u, Napi::Number::New(env, port));
  return out;
}

Napi::Value Stream::PartialAge(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!open() || partial_since_ == 0) return Napi::Number::New(env, -1);
  uv_update_time(addon_->loop());
  return Napi::Number::New(env, static_cast<double>(uv_now(addon_->loop()) + 1 - partial_since_));
}

Napi::Value Stream::SetBusyPoll(const Napi::CallbackInfo& info) {
  double us = info[0].As<Napi::Number>().DoubleValue();
  poll_.window_ns = us > 0 ? static_cast<uint64_t>(us * 1000) : 0;
  if (poll_.window_ns == 0) addon_->poller().Remove(&poll_);
  return info.Env().Undefined();
}

Napi::Value Stream::IdleTime(const Napi::CallbackInfo& info) {
  // Reading the loop's cached clock costs nothing on the hot path; the subtraction happens only here.
  uv_update_time(addon_->loop());
  return Napi::Number::New(info.Env(), static_cast<double>(uv_now(addon_->loop()) - last_activity_ms_));
}

Napi::Value Stream::BusyPollTime(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(poll_.polled_ns) / 1e6);
}

Napi::Value Stream::WriteQueueSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!open()) return Napi::Number::New(env, 0);
  return Napi::Number::New(env, static_cast<double>(uv_stream_get_write_queue_size(&handle_->stream)));
}

Napi::Value Stream::Fileno(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uv_os_fd_t fd;
  if (!open() || uv_fileno(&handle_->handle, &fd) != 0) return Napi::Number::New(env, -1);
#ifdef _WIN32
  return Napi::Number::New(env, -1);
#else
  return Napi::Number::New(env, fd);
#endif
}

// --- this process's stdio (openStdio) ----------------------------------------------------------

Napi::Value Stream::OpenFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!open() || kind_ != StreamKind::kPipe) return Napi::Number::New(env, UV_EBADF);
  return Napi::Number::New(env, uv_pipe_open(&handle_->pipe, info[0].As<Napi::Number>().Int32Value()));
}

Napi::Value Stream::OpenFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!open() || file_fd_ >= 0) return Napi::Number::New(env, UV_EBADF);
  file_fd_ = info[0].As<Napi::Number>().Int32Value();
  return Napi::Number::New(env, 0);
}

// Bytes that did not come from this stream's handle (stdin redirected from a file, read by JS) go
// through the same slab and framer as a read would.
Napi::Value Stream::Feed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  feed_mode_ = true;
  uint8_t* data;
  size_t len;
  if (!GetBytes(env, info[0], &data, &len)) return Napi::Number::New(env, UV_EINVAL);
  while (len > 0 && open() && !read_ended_) {
    uv_buf_t buf;
    on_stream_alloc(&handle_->handle, len, &buf);
    if (buf.len == 0) return Napi::Number::New(env, UV_ENOBUFS);
    size_t n = buf.len < len ? buf.len : len;
    std::memcpy(buf.base, data, n);
    data += n;
    len -= n;
    OnRead(static_cast<ssize_t>(n));
  }
  return Napi::Number::New(env, 0);
}

Napi::Value Stream::FeedMode(const Napi::CallbackInfo& info) {
  // Reading is driven by Feed(): the handle itself is never read.
  feed_mode_ = true;
  return info.Env().Undefined();
}

Napi::Value Stream::FeedEnd(const Napi::CallbackInfo& info) {
  if (open() && !read_ended_) OnRead(UV_EOF);
  return info.Env().Undefined();
}

#ifndef _WIN32
int Stream::WriteAll(int fd, const char* data, size_t len, uint64_t deadline_ns) {
  while (len > 0) {
    ssize_t n = ::write(fd, data, len);
    if (n > 0) {
      data += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (deadline_ns == 0) deadline_ns = uv_hrtime() + 1000000000ull * 3600;
      uint64_t now = uv_hrtime();
      if (now >= deadline_ns) return UV_ETIMEDOUT;
      struct pollfd p = {fd, POLLOUT, 0};
      int ms = static_cast<int>((deadline_ns - now) / 1000000) + 1;
      if (::poll(&p, 1, ms) < 0 && errno != EINTR) return -errno;
      continue;
    }
    return n < 0 ? -errno : UV_EIO;
  }
  return 0;
}
#endif

// At process.exit() the loop will not run again, so what libuv still holds for this stream, and the
// batch JS has not flushed yet, is written here synchronously, in order, within timeoutMs. libuv records
// how far each queued request got (write_index, and the base and length of a partly written buffer), so
// nothing is written twice and nothing is cut.
Napi::Value Stream::FlushSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifndef _WIN32
  uv_os_fd_t fd;
  if (!open()) return Napi::Number::New(env, UV_EBADF);
  int target = file_fd_;
  if (target < 0) {
    if (uv_fileno(&handle_->handle, &fd) != 0) return Napi::Number::New(env, UV_EBADF);
    target = fd;
  }
  uint64_t deadline = uv_hrtime() + static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue() * 1e6);
  for (WriteReq* req : pending_writes_) {
    for (unsigned int i = req->req.write_index; i < req->req.nbufs; i++) {
      int r = WriteAll(target, req->req.bufs[i].base, req->req.bufs[i].len, deadline);
      if (r < 0) return Napi::Number::New(env, r);
      req->req.bufs[i].len = 0;
    }
  }
  if (info.Length() > 2) {
    uint8_t* data;
    size_t len;
    if (GetBytes(env, info[1], &data, &len)) {
      size_t want = static_cast<size_t>(info[2].As<Napi::Number>().DoubleValue());
      int r = WriteAll(target, reinterpret_cast<const char*>(data), want < len ? want : len, deadline);
      if (r < 0) return Napi::Number::New(env, r);
    }
  }
  return Napi::Number::New(env, 0);
#else
  return Napi::Number::New(env, UV_ENOTSUP);
#endif
}

}  // namespace ipc
