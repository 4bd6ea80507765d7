// Per-environment state: one instance for the main thread and one for each worker that loads the addon.
// Holds no statics, so workers never share JS values.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <unordered_set>

#include "busy_poll.h"

namespace ipc {

class Stream;

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);
  ~Addon();

  uv_loop_t* loop() const { return loop_; }
  Napi::FunctionReference& stream_constructor() { return stream_constructor_; }

  // JS callbacks shared by every stream, installed once by setup(); each is called with the stream's
  // handle object as `this`.
  Napi::FunctionReference on_frames;      // (arrayBuffer, count): count frames described in frame_table
  Napi::FunctionReference on_end;         // (status, framerError): reading ended
  Napi::FunctionReference on_write;       // (status, bytes, unwritten): a queued write finished
  Napi::FunctionReference on_shutdown;    // (status)
  Napi::FunctionReference on_connection;  // (status): a server has a client to accept
  Napi::FunctionReference on_connect;     // (status): an asynchronous (TCP) connect finished
  Napi::FunctionReference on_close;       // (): the handle is closed and freed

  // Frame descriptors, [offset, length] pairs, shared with JS so a batch of frames costs no objects.
  uint32_t* frame_table = nullptr;
  size_t frame_table_pairs = 0;

  bool tearing_down() const { return tearing_down_; }
  BusyPoller& poller() { return poller_; }
  // Every uv handle from its init until its close callback, so teardown can close what is left open.
  void Track(uv_handle_t* h) { open_.insert(h); }
  void Untrack(uv_handle_t* h);

 private:
  Napi::Value Setup(const Napi::CallbackInfo& info);
  Napi::Value BusyPollStats(const Napi::CallbackInfo& info);
  static void OnCleanup(napi_async_cleanup_hook_handle handle, void* arg);
  void MaybeFinishCleanup();

  uv_loop_t* loop_ = nullptr;
  Napi::FunctionReference stream_constructor_;
  Napi::FunctionReference process_constructor_;
  Napi::Reference<Napi::Uint32Array> frame_table_ref_;
  std::unordered_set<uv_handle_t*> open_;
  napi_async_cleanup_hook_handle cleanup_handle_ = nullptr;
  bool tearing_down_ = false;
  BusyPoller poller_{this};
};

}  // namespace ipc
