// Opt-in busy polling. A process asleep in epoll_wait takes tens of microseconds to wake on another CPU,
// which dominates a round trip between processes. While a transport that asked for it has seen a frame
// in or out within its window, an active idle handle keeps libuv's poll phase from blocking, and each
// loop turn yields the CPU (sched_yield) so a peer on the same CPU still runs. When every window has
// passed, the idle handle stops and the loop sleeps as usual. The handle is unref'd: it never keeps the
// process alive on its own.
#pragma once

#include <uv.h>

#include <cstdint>
#include <unordered_set>

namespace ipc {

class Addon;

// One transport's share: its window and the polling time spent while it was open.
struct PollClient {
  uint64_t window_ns = 0;  // 0: this transport does not busy-poll
  uint64_t deadline_ns = 0;
  uint64_t polled_ns = 0;
};

class BusyPoller {
 public:
  explicit BusyPoller(Addon* addon) : addon_(addon) {}

  // A frame went in or out on `client`: open (or extend) its window.
  void Activity(PollClient* client);
  void Remove(PollClient* client);

  uint64_t total_polled_ns() const { return total_polled_ns_; }
  bool active() const { return idle_ != nullptr && uv_is_active(reinterpret_cast<uv_handle_t*>(idle_)); }

  // Closes the idle handle (environment teardown); returns false when there was none to close.
  bool Close();

 private:
  static void on_poll_idle(uv_idle_t* idle);
  static void on_idle_close(uv_handle_t* handle);

  Addon* addon_;
  uv_idle_t* idle_ = nullptr;
  bool closed_ = false;
  uint64_t deadline_ns_ = 0;  // the latest deadline over all clients
  uint64_t last_turn_ns_ = 0;
  uint64_t total_polled_ns_ = 0;
  std::unordered_set<PollClient*> clients_;
};

}  // namespace ipc
