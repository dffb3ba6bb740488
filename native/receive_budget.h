// ReceiveBudget: the bytes a socket holds for JavaScript — datagrams copied out of the kernel
// and not yet handed over (their batch not yet returned from the JS callback, or still queued
// for a batches() iterator) — against a fixed limit. At the limit the receiver stops taking
// datagrams from the kernel; the socket buffer absorbs what it can and the kernel drops the rest,
// as it does for node:dgram. Without it a slow handler let a flood grow the process without
// bound (262,144 datagrams of up to 64 KiB each were allowed to wait).
#pragma once

#include <atomic>
#include <functional>
#include <cstdint>
#include <mutex>

namespace uring_udp {

class ReceiveBudget {
 public:
  ReceiveBudget() = default;
  ReceiveBudget(const ReceiveBudget&) = delete;
  ReceiveBudget& operator=(const ReceiveBudget&) = delete;

  // Set once the socket's backend (and so what it holds whatever the traffic) is known, before
  // any datagram is taken.
  void SetLimit(int64_t limit) { limit_.store(limit, std::memory_order_release); }
  int64_t limit() const { return limit_.load(std::memory_order_acquire); }
  int64_t held() const { return held_.load(std::memory_order_acquire); }
  int64_t room() const { return limit() - held(); }

  // Any thread.
  void Hold(int64_t bytes) { held_.fetch_add(bytes, std::memory_order_acq_rel); }
  void Release(int64_t bytes) {
    held_.fetch_sub(bytes, std::memory_order_seq_cst);
    // Seq_cst on both sides (here and in WakeAt): either the receiver sees the new total when it
    // arms the wake-up, or this sees the wake-up armed and calls it.
    int64_t at = wake_at_.load(std::memory_order_seq_cst);
    if (at > 0 && SeqCstRoom() >= at && wake_at_.compare_exchange_strong(at, 0, std::memory_order_seq_cst)) CallWaker();
  }

  // The receiver serving the socket: how it is woken when a full budget gets room again (it
  // writes the receiver's eventfd). Set when the socket attaches, cleared before it leaves.
  void SetWaker(std::function<void()> waker) {
    std::lock_guard<std::mutex> lock(mutex_);
    waker_ = std::move(waker);
  }
  // Receiver thread: the budget is full; wake me once there are `bytes` of room. True when there
  // already are (then no call comes).
  bool WakeAt(int64_t bytes) {
    wake_at_.store(bytes, std::memory_order_seq_cst);
    if (SeqCstRoom() >= bytes) {
      wake_at_.store(0, std::memory_order_relaxed);
      return true;
    }
    return false;
  }
  void CancelWake() { wake_at_.store(0, std::memory_order_relaxed); }

 private:
  // The receiver's side of the handshake with Release: its store of wake_at_ and this load are
  // both seq_cst, so they cannot pass each other (an acquire load could, and a release in
  // between went unseen: the receiver slept its whole timeout).
  int64_t SeqCstRoom() const { return limit() - held_.load(std::memory_order_seq_cst); }
  void CallWaker() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (waker_) waker_();
  }

  std::atomic<int64_t> limit_{0};
  std::atomic<int64_t> held_{0};
  std::atomic<int64_t> wake_at_{0};
  std::mutex mutex_;
  std::function<void()> waker_;
};

}  // namespace uring_udp
