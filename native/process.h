// A child process spawned with uv_spawn, its stdin, stdout and (optionally) stderr connected to pipes
// that Stream objects own, so the engine reads and writes them directly: no child_process streams on the
// hot path. Like Stream, the uv handle lives apart from this wrapper and is freed in its close callback.
#pragma once

#include <napi.h>
#include <uv.h>

namespace ipc {

class Addon;

class Process : public Napi::ObjectWrap<Process> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Process(const Napi::CallbackInfo& info);
  ~Process();

  static void CloseForTeardown(uv_handle_t* handle);

 private:
  struct Handle {
    uv_process_t process;
    Addon* addon;
    Process* owner;  // null once the wrapper is gone
  };

  // spawn(file, args, env | null, cwd | null, stdin, stdout, stderrMode, stderr | null): 0 or a libuv
  // error. stderrMode: 0 pipe (into the given stream), 1 inherit, 2 ignore.
  Napi::Value Spawn(const Napi::CallbackInfo& info);
  Napi::Value Kill(const Napi::CallbackInfo& info);  // (signum): 0 or a libuv error
  Napi::Value Pid(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value RefHandle(const Napi::CallbackInfo& info);
  Napi::Value UnrefHandle(const Napi::CallbackInfo& info);

  static void on_process_exit(uv_process_t* process, int64_t exit_status, int term_signal);
  static void on_handle_close(uv_handle_t* handle);

  void Call(const char* method, std::initializer_list<napi_value> args);

  Addon* addon_;
  Handle* handle_ = nullptr;
  bool spawned_ = false;
  bool closing_ = false;
  int pid_ = 0;
  napi_async_context async_context_ = nullptr;
};

}  // namespace ipc
