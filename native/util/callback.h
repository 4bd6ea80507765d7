// Calling into JS from a libuv callback: through napi_make_callback in the object's async context, so
// AsyncLocalStorage and async_hooks see it and the microtask queue is drained afterwards, as for any
// I/O callback of Node's own. An exception thrown by the JS function is reported as Node reports any
// uncaught exception, never swallowed; the caller carries on if the process does.
#pragma once

#include <node_api.h>

#include <initializer_list>

namespace ipc {

inline void MakeCallback(napi_env env, napi_async_context context, napi_value recv, napi_value fn,
                         std::initializer_list<napi_value> args) {
  napi_value result;
  napi_status status = napi_make_callback(env, context, recv, fn, args.size(), args.begin(), &result);
  if (status == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

}  // namespace ipc
