// What a ring thread (or a receiver thread) publishes for the watchdog: plain atomics,
// written by the thread, read by the watchdog. No lock is shared between them, so a thread
// stuck forever in the kernel cannot hold up the watchdog (shared/DESIGN.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace uring_udp {

struct ThreadObservation {
  std::atomic<int> tid{0};
  // CLOCK_MONOTONIC ns at which the thread entered io_uring_enter; 0 while it is outside.
  std::atomic<int64_t> enter_since_ns{0};
  // The longest wait the thread asks the kernel for: inside longer than this plus stuckMs
  // means stuck, whatever the thread state says.
  std::atomic<int64_t> wait_bound_ns{0};
  std::atomic<int> ring_fd{-1};
  std::atomic<uint32_t> sq_head{0}, sq_tail{0}, cq_head{0}, cq_tail{0};
  std::atomic<uint64_t> cq_overflow{0};         // the kernel's counter (*cq.koverflow)
  std::atomic<uint64_t> overflow_flag_seen{0};  // IORING_SQ_CQ_OVERFLOW seen after an enter
  std::atomic<bool> running{true};
  // Bumped each time the thread comes back from io_uring_enter: a thread whose count moved
  // since the watchdog's last look is not stuck, and is not worth a /proc read.
  std::atomic<uint64_t> progress{0};
};

// One per watched request (ops given timeoutMs/progressMs, and every multishot poll).
// Written by the JS thread when the request is submitted, by the ring thread when CQEs
// arrive, cleared (id = 0) by the ring thread when the request ends.
struct DeadlineSlot {
  std::atomic<uint32_t> id{0};            // request id; 0 = free
  std::atomic<int64_t> submitted_ns{0};
  std::atomic<int64_t> deadline_ns{0};    // one-shot: absolute deadline; 0 = none
  std::atomic<int64_t> progress_ns{0};    // multishot: longest allowed gap between CQEs; 0 = none
  std::atomic<int64_t> last_cqe_ns{0};
  std::atomic<int32_t> fd{-1};
  std::atomic<uint32_t> opcode{0};
  std::atomic<uint32_t> poll_events{0};   // multishot poll: the mask, for the starvation check
};

constexpr unsigned kDeadlineSlots = 1024;

// What the watchdog reads of one socket on a receiver thread (which serves many): whether a
// receive (or poll) should be armed on its fd, and when a completion last came for it.
struct RecvWatch {
  std::atomic<int> fd{-1};
  std::atomic<bool> expected{false};       // a receive (or poll) should be armed: the receiver reads it
  std::atomic<bool> backpressured{false};  // JS is behind: the receiver holds back on purpose
  std::atomic<int64_t> last_cqe_ns{0};
};

struct DeadlineTable {
  DeadlineSlot slots[kDeadlineSlots];
};

}  // namespace uring_udp
