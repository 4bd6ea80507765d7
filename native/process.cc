#include "process.h"

#include <initializer_list>
#include <string>
#include <vector>

#include "addon.h"
#include "stream.h"
#include "util/callback.h"

namespace ipc {

Napi::Function Process::Init(Napi::Env env) {
  return DefineClass(env, "Process",
                     {
                         InstanceMethod("spawn", &Process::Spawn),
                         InstanceMethod("kill", &Process::Kill),
                         InstanceMethod("pid", &Process::Pid),
                         InstanceMethod("close", &Process::Close),
                         InstanceMethod("ref", &Process::RefHandle),
                         InstanceMethod("unref", &Process::UnrefHandle),
                     });
}

Process::Process(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<Process>(info), addon_(info.Env().GetInstanceData<Addon>()) {
  napi_value name;
  napi_create_string_utf8(info.Env(), "SymphonyIpcProcess", NAPI_AUTO_LENGTH, &name);
  napi_async_init(info.Env(), info.This(), name, &async_context_);
}

Process::~Process() {
  if (handle_ != nullptr) {
    handle_->owner = nullptr;
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&handle_->process))) {
      uv_close(reinterpret_cast<uv_handle_t*>(&handle_->process), on_handle_close);
    }
    handle_ = nullptr;
  }
  if (async_context_ != nullptr && !addon_->tearing_down()) napi_async_destroy(Env(), async_context_);
}

void Process::CloseForTeardown(uv_handle_t* handle) {
  Handle* h = static_cast<Handle*>(handle->data);
  if (h->owner != nullptr) h->owner->closing_ = true;
  // The child is not killed: a process that ends (or a worker that stops) leaves its children running,
  // as Node's own child_process does.
  if (!uv_is_closing(handle)) uv_close(handle, on_handle_close);
}

Napi::Value Process::Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (spawned_) return Napi::Number::New(env, UV_EINVAL);
  spawned_ = true;

  std::string file = info[0].As<Napi::String>().Utf8Value();
  Napi::Array js_args = info[1].As<Napi::Array>();
  std::vector<std::string> args;
  args.push_back(file);
  for (uint32_t i = 0; i < js_args.Length(); i++) args.push_back(js_args.Get(i).As<Napi::String>().Utf8Value());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(&a[0]);
  argv.push_back(nullptr);

  std::vector<std::string> env_strings;
  std::vector<char*> envp;
  if (info[2].IsArray()) {
    Napi::Array js_env = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < js_env.Length(); i++) env_strings.push_back(js_env.Get(i).As<Napi::String>().Utf8Value());
    for (std::string& e : env_strings) envp.push_back(&e[0]);
    envp.push_back(nullptr);
  }
  std::string cwd = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : std::string();

  Stream* in = Stream::FromObject(info[4]);
  Stream* out = Stream::FromObject(info[5]);
  int stderr_mode = info[6].As<Napi::Number>().Int32Value();
  Stream* err = stderr_mode == 0 ? Stream::FromObject(info[7]) : nullptr;
  if (in == nullptr || out == nullptr || in->uv_stream() == nullptr || out->uv_stream() == nullptr ||
      (stderr_mode == 0 && (err == nullptr || err->uv_stream() == nullptr))) {
    Napi::TypeError::New(env, "spawn() needs open pipe streams for stdio").ThrowAsJavaScriptException();
    return Napi::Value();
  }

  uv_stdio_container_t stdio[3];
  // Readable and writable are from the child's point of view.
  stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
  stdio[0].data.stream = in->uv_stream();
  stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = out->uv_stream();
  if (stderr_mode == 0) {
    stdio[2].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
    stdio[2].data.stream = err->uv_stream();
  } else if (stderr_mode == 1) {
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
  } else {
    stdio[2].flags = UV_IGNORE;
  }

  uv_process_options_t options = {};
  options.exit_cb = on_process_exit;
  options.file = file.c_str();
  options.args = argv.data();
  options.env = envp.empty() ? nullptr : envp.data();
  options.cwd = cwd.empty() ? nullptr : cwd.c_str();
  options.flags = UV_PROCESS_WINDOWS_HIDE;
  options.stdio_count = 3;
  options.stdio = stdio;

  handle_ = new Handle();
  handle_->addon = addon_;
  handle_->owner = this;
  handle_->process.data = handle_;
  int r = uv_spawn(addon_->loop(), &handle_->process, &options);
  // The handle is initialized even when the spawn fails, and must be closed either way.
  addon_->Track(reinterpret_cast<uv_handle_t*>(&handle_->process));
  if (r != 0) {
    closing_ = true;
    handle_->owner = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_->process), on_handle_close);
    handle_ = nullptr;
    return Napi::Number::New(env, r);
  }
  pid_ = handle_->process.pid;
  // Alive while the child runs: the exit callback calls into this object.
  Napi::ObjectWrap<Process>::Ref();
  return Napi::Number::New(env, 0);
}

void Process::on_process_exit(uv_process_t* process, int64_t exit_status, int term_signal) {
  Process* self = static_cast<Handle*>(process->data)->owner;
  if (self == nullptr || self->addon_->tearing_down()) return;
  Napi::HandleScope scope(self->Env());
  Napi::Env env = self->Env();
  self->Call("onExit", {Napi::Number::New(env, static_cast<double>(exit_status)), Napi::Number::New(env, term_signal)});
}

Napi::Value Process::Kill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (handle_ == nullptr || closing_) return Napi::Number::New(env, UV_ESRCH);
  return Napi::Number::New(env, uv_process_kill(&handle_->process, info[0].As<Napi::Number>().Int32Value()));
}

Napi::Value Process::Pid(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), pid_); }

Napi::Value Process::Close(const Napi::CallbackInfo& info) {
  if (handle_ != nullptr && !closing_) {
    closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_->process), on_handle_close);
  }
  return info.Env().Undefined();
}

Napi::Value Process::RefHandle(const Napi::CallbackInfo& info) {
  if (handle_ != nullptr && !closing_) uv_ref(reinterpret_cast<uv_handle_t*>(&handle_->process));
  return info.Env().Undefined();
}

Napi::Value Process::UnrefHandle(const Napi::CallbackInfo& info) {
  if (handle_ != nullptr && !closing_) uv_unref(reinterpret_cast<uv_handle_t*>(&handle_->process));
  return info.Env().Undefined();
}

void Process::on_handle_close(uv_handle_t* handle) {
  Handle* h = static_cast<Handle*>(handle->data);
  Process* self = h->owner;
  Addon* addon = h->addon;
  delete h;
  if (self != nullptr) {
    self->handle_ = nullptr;
    if (!addon->tearing_down()) {
      Napi::HandleScope scope(self->Env());
      self->Call("onClose", {});
      self->Napi::ObjectWrap<Process>::Unref();
    }
  }
  addon->Untrack(handle);
}

void Process::Call(const char* method, std::initializer_list<napi_value> args) {
  // Process events are rare: the owner's method is looked up by name each time.
  napi_env env = Env();
  Napi::Object self = Value();
  Napi::Value owner = self.Get("owner");
  if (!owner.IsObject()) return;
  Napi::Value fn = owner.As<Napi::Object>().Get(method);
  if (!fn.IsFunction()) return;
  MakeCallback(env, async_context_, owner, fn, args);
}

}  // namespace ipc
