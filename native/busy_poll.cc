#include "busy_poll.h"

#ifdef _WIN32
#include <windows.h>
#else
#include <sched.h>
#endif

#include "addon.h"

namespace ipc {

void BusyPoller::Activity(PollClient* client) {
  if (closed_) return;
  uint64_t now = uv_hrtime();
  client->deadline_ns = now + client->window_ns;
  clients_.insert(client);
  if (client->deadline_ns > deadline_ns_) deadline_ns_ = client->deadline_ns;
  if (idle_ == nullptr) {
    idle_ = new uv_idle_t();
    uv_idle_init(addon_->loop(), idle_);
    idle_->data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(idle_));
    addon_->Track(reinterpret_cast<uv_handle_t*>(idle_));
  }
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(idle_))) {
    last_turn_ns_ = now;
    uv_idle_start(idle_, on_poll_idle);
  }
}

void BusyPoller::Remove(PollClient* client) { clients_.erase(client); }

void BusyPoller::on_poll_idle(uv_idle_t* idle) {
  BusyPoller* self = static_cast<BusyPoller*>(idle->data);
  uint64_t now = uv_hrtime();
  uint64_t turn = now - self->last_turn_ns_;
  // The time since the last turn was spent polling: charge it to every transport whose window was open.
  self->total_polled_ns_ += turn;
  for (auto it = self->clients_.begin(); it != self->clients_.end();) {
    PollClient* c = *it;
    if (c->deadline_ns > self->last_turn_ns_) c->polled_ns += turn;
    if (c->deadline_ns <= now) {
      it = self->clients_.erase(it);
    } else {
      ++it;
    }
  }
  self->last_turn_ns_ = now;
  if (now >= self->deadline_ns_) {
    // Every window has passed: let the loop block in the poll phase again.
    uv_idle_stop(idle);
    return;
  }
  // Give the CPU to anything else that can run, a peer on this CPU above all, before polling again.
#ifdef _WIN32
  SwitchToThread();
#else
  sched_yield();
#endif
}

bool BusyPoller::Close() {
  closed_ = true;
  if (idle_ == nullptr) return false;
  uv_handle_t* h = reinterpret_cast<uv_handle_t*>(idle_);
  if (!uv_is_closing(h)) uv_close(h, on_idle_close);
  return true;
}

void BusyPoller::on_idle_close(uv_handle_t* handle) {
  BusyPoller* self = static_cast<BusyPoller*>(handle->data);
  self->idle_ = nullptr;
  self->addon_->Untrack(handle);
  delete reinterpret_cast<uv_idle_t*>(handle);
}

}  // namespace ipc
