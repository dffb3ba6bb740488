// RingThread: a native thread that alone enters, registers with and closes its io_uring — the
// scaffold a Ring's thread (RingCore) and a socket's receiver (UdpReceiver) share.
//
// What it owns, written once: the start handshake (Start waits for the thread's Setup), the exit
// (the thread's last words to JS and "exited" published in one step, under the mutex WaitExited
// waits with), join or detach (a thread stuck in the kernel is left, never joined and never
// std::terminate'd), the prologue (name, tid), and what the watchdog sees of it: the bracket
// around every io_uring_enter and io_uring_register, and the ring's counters.
#pragma once

#include <liburing.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common.h"
#include "observation.h"

namespace uring_udp {

inline __kernel_timespec TimespecFromUs(uint64_t us) {
  __kernel_timespec ts;
  ts.tv_sec = static_cast<long long>(us / 1000000);
  ts.tv_nsec = static_cast<long long>((us % 1000000) * 1000);
  return ts;
}

class RingThread {
 public:
  RingThread(const char* name, std::shared_ptr<ThreadObservation> observation);
  // Derived classes call LetGo() first in their own destructor: the thread may still be using
  // their members.
  virtual ~RingThread();
  RingThread(const RingThread&) = delete;
  RingThread& operator=(const RingThread&) = delete;

  // JS thread. Starts the thread and waits for its Setup: 0, or -errno with *failed_syscall
  // naming the call that failed (the thread has exited and been joined then).
  int Start(std::string* failed_syscall);
  // JS thread. Waits up to timeout_ms for the thread to have published its exit.
  bool WaitExited(int timeout_ms);
  bool Exited() const { return exited_.load(std::memory_order_acquire); }
  void Join();    // only after Exited(): never blocks on a stuck thread
  void Detach();  // a thread stuck in the kernel cannot be joined: leave it
  int tid() const { return observation_->tid.load(std::memory_order_acquire); }

 protected:
  // On the thread, in order. Setup: 0, or -errno (and *failed_syscall); when it fails nothing
  // else runs. Run: until asked to stop; it tears down what Setup made (the ring's final close
  // happens here, on this thread).
  virtual int Setup(std::string* failed_syscall) = 0;
  virtual void Run() = 0;
  // Under mutex_, in the step that marks the thread exited: its last words to JS (a final batch,
  // a closed flag). A JS thread woken earlier may take them and join at once; anything after
  // this step cannot block, so such a join waits only for the wake-up below.
  virtual void OnExitLocked() {}
  // Wakes JS (after the exit, and whenever there is something for it).
  virtual void NotifyJs() = 0;

  // The longest wait the thread asks the kernel for: inside longer than this plus the watchdog's
  // stuckMs means stuck. Set before Start.
  void SetWaitBound(int64_t ns) { observation_->wait_bound_ns.store(ns, std::memory_order_relaxed); }
  // The bracket around every io_uring_enter and io_uring_register, so the watchdog can tell
  // "inside the kernel" from "outside", and for how long.
  void EnterBegin() { observation_->enter_since_ns.store(MonotonicNs(), std::memory_order_release); }
  void EnterEnd();
  uint64_t enters() const { return enters_; }
  // The next SQE: with the SQ full, what is queued goes to the kernel first (an SQPOLL ring's SQ
  // drains at its kernel thread's pace: wait for room, IORING_ENTER_SQ_WAIT, instead of spinning).
  io_uring_sqe* NextSqe(io_uring* ring);
  // The ring's heads, tails and overflow counters, for the watchdog's reports.
  void PublishRing(const io_uring& ring, uint64_t overflow_flag_seen);

  // Joins an exited thread, detaches one that is still running (stuck: it keeps what it uses).
  // The owner normally joins or detaches itself; this is the last resort of a destructor.
  void LetGo();

  ThreadObservation& observation() { return *observation_; }
  const std::shared_ptr<ThreadObservation>& observation_ptr() const { return observation_; }

  std::mutex mutex_;  // never held across a syscall on the thread
  std::condition_variable state_changed_;

 private:
  void ThreadMain();

  const char* const name_;
  const std::shared_ptr<ThreadObservation> observation_;
  std::thread thread_;
  std::atomic<bool> exited_{false};
  uint64_t enters_ = 0;  // thread only
  // Guarded by mutex_: Setup's answer.
  bool setup_done_ = false;
  int setup_result_ = 0;
  std::string setup_syscall_;
};

// io_uring_setup with optional flags: each set in turn (base.flags | set), until the kernel
// does not answer -EINVAL (liburing's test style: EINVAL means "this kernel does not know it").
// Returns 0 (*params as the kernel filled them in) or the last -errno.
int SetupWithFallback(io_uring* ring, unsigned entries, const io_uring_params& base, const std::vector<unsigned>& flag_sets,
                      io_uring_params* params);

}  // namespace uring_udp
