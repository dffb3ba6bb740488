// What the Node-API faces of a Ring (RingWrap) and a socket (UdpWrap) share about the thread
// each owns: putting it under the watchdog, and letting it go at shutdown.
#pragma once

#include <napi.h>

#include <cstdio>
#include <memory>

#include "observation.h"
#include "watchdog.h"

namespace uring_udp {

// Registers a thread's observation with the watchdog, reporting to this environment as
// `owner` `id` (thresholds 0: the process-wide ones).
std::shared_ptr<Watched> WatchThread(Napi::Env env, const char* owner, uint32_t id, std::shared_ptr<ThreadObservation> observation,
                                     std::shared_ptr<DeadlineTable> deadlines, uint32_t stuck_ms, uint32_t starved_ms);
void Unwatch(std::shared_ptr<Watched>* watched);

// Waits up to timeout_ms for a thread asked to stop, then joins it; one that has not exited by
// then is stuck in the kernel (state D can last forever): it is detached, with a line on
// stderr, and `state` — which it still uses — is leaked on purpose, never freed under it.
// Returns whether the thread was joined.
template <class Thread, class State>
bool JoinOrLeave(Thread& thread, const std::shared_ptr<State>& state, int timeout_ms, const char* what) {
  if (thread.WaitExited(timeout_ms)) {
    thread.Join();
    return true;
  }
  std::fprintf(stderr, "uring-udp: %s thread %d did not exit within %d ms (stuck in the kernel?); detaching it\n", what,
               thread.tid(), timeout_ms);
  thread.Detach();
  new std::shared_ptr<State>(state);
  return false;
}

}  // namespace uring_udp
