// What the Node-API faces of a Ring (RingWrap) and a socket (UdpWrap) share about the thread
// each owns: putting it under the watchdog, and letting it go at shutdown.
#pragma once

#include <napi.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <vector>

#include "observation.h"
#include "watchdog.h"

namespace uring_udp {

// Registers a thread's observation with the watchdog, reporting to this environment as
// `owner` `id` (thresholds 0: the process-wide ones).
std::shared_ptr<Watched> WatchThread(Napi::Env env, const char* owner, uint32_t id, std::shared_ptr<ThreadObservation> observation,
                                     std::shared_ptr<DeadlineTable> deadlines, uint32_t stuck_ms, uint32_t starved_ms);
void Unwatch(std::shared_ptr<Watched>* watched);

// What threads left in the kernel still use: kept for the rest of the process, never freed, and
// reachable from here (so LeakSanitizer does not count it as lost).
inline void KeepForLeftThread(std::shared_ptr<void> state) {
  static std::mutex* mutex = new std::mutex();
  static std::vector<std::shared_ptr<void>>* kept = new std::vector<std::shared_ptr<void>>();
  std::lock_guard<std::mutex> lock(*mutex);
  kept->push_back(std::move(state));
}

// Waits up to timeout_ms for a thread asked to stop, then joins it; one that has not exited by
// then is stuck in the kernel (state D can last forever): it is detached, with a line on
// stderr, and `state` — which it still uses — is kept for good (KeepForLeftThread), never freed
// under it.
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
  KeepForLeftThread(state);
  return false;
}

}  // namespace uring_udp
