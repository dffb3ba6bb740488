// ReceiveBudget: the bytes a socket holds for JavaScript — datagrams copied out of the kernel
// and not yet handed over (their batch not yet returned from the JS callback, or still queued
// for a batches() iterator) — against a fixed limit. At the limit the receiver stops taking
// datagrams from the kernel; the socket buffer absorbs what it can and the kernel drops the rest,
// as it does for node:dgram. Without it a slow handler let a flood grow the process without
// bound (262,144 datagrams of up to 64 KiB each were allowed to wait).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace uring_udp {

class ReceiveBudget {
 public:
  ReceiveBudget() = default;
  ReceiveBudget(const ReceiveBudget&) = delete;
  ReceiveBudget& operator=(const ReceiveBudget&) = delete;

  // Set by the receiver thread once its backend is known, before any datagram is taken.
  void SetLimit(int64_t limit) { limit_.store(limit, std::memory_order_release); }
  int64_t limit() const { return limit_.load(std::memory_order_acquire); }
  int64_t held() const { return held_.load(std::memory_order_acquire); }
  int64_t room() const { return limit() - held(); }

  // Any thread.
  void Hold(int64_t bytes) { held_.fetch_add(bytes, std::memory_order_acq_rel); }
  void Release(int64_t bytes) {
    held_.fetch_sub(bytes, std::memory_order_seq_cst);
    // Seq_cst on both sides (here and in WaitForRoom): either the waiter sees the new total
    // before it sleeps, or this sees the waiter and wakes it.
    if (waiting_.load(std::memory_order_seq_cst)) Wake();
  }
  void Wake() {
    std::lock_guard<std::mutex> lock(mutex_);
    room_changed_.notify_all();
  }

  // Receiver thread: waits up to timeout_ms for `bytes` of room (or for Wake). True if there is.
  bool WaitForRoom(int64_t bytes, int timeout_ms) {
    std::unique_lock<std::mutex> lock(mutex_);
    waiting_.store(true, std::memory_order_seq_cst);
    if (SeqCstRoom() < bytes) room_changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms));
    waiting_.store(false, std::memory_order_relaxed);
    return room() >= bytes;
  }

 private:
  // The waiter's side of the handshake with Release: its store of waiting_ and this load are both
  // seq_cst, so they cannot pass each other (an acquire load could, and a release in between
  // went unseen: the receiver slept its whole timeout).
  int64_t SeqCstRoom() const { return limit() - held_.load(std::memory_order_seq_cst); }

  std::atomic<int64_t> limit_{0};
  std::atomic<int64_t> held_{0};
  std::atomic<bool> waiting_{false};
  std::mutex mutex_;
  std::condition_variable room_changed_;
};

}  // namespace uring_udp
