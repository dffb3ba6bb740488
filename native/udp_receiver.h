// UdpReceiver: the native thread that receives one UDP socket's datagrams and hands them to
// JavaScript in batches.
//
// Three backends, fastest first (shared/DESIGN.md "Receive path"):
//   kMultishotRecvmsg  io_uring multishot recvmsg + a provided buffer ring (kernel >= 6.0)
//   kPollRecvmmsg      io_uring multishot poll on the socket + recvmmsg on readiness (>= 5.13)
//   kRecvmmsg          no io_uring at all: poll(2) + recvmmsg, for EPERM/ENOSYS/io_uring_disabled
// The io_uring backends follow the ring rule: setup, every enter and register, and the final
// close happen on this thread only.
//
// Each datagram is copied out of the kernel-provided buffer into a batch arena (recv_batch.h)
// and the buffer goes straight back to the buffer ring on this thread. So the buffer ring needs
// only enough buffers to cover one reap, and buffers can be large enough for any datagram (65507
// bytes arrive whole by default).
#pragma once

#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "observation.h"
#include "ring_thread.h"
#include "receive_budget.h"
#include "recv_batch.h"
#include "recvmmsg.h"

namespace uring_udp {

// Bytes a provided buffer needs besides the payload: io_uring_recvmsg_out and room for an
// IPv6 source address. No control message: the kernel's drop counter is read on demand
// (KernelDrops), not carried by every datagram.
constexpr uint32_t kRecvHeaderBytes = 16 + 28;

enum class RecvBackend : int { kMultishotRecvmsg = 0, kPollRecvmmsg = 1, kRecvmmsg = 2 };

struct RecvConfig {
  RecvBackend backend = RecvBackend::kMultishotRecvmsg;
  bool forced = false;  // the backend is a requirement: Start fails when it cannot be set up
  uint32_t buffer_size = 65536 + 128;  // per provided buffer: header + name + control + payload
  uint32_t buffer_count = 256;         // provided buffers (a power of two)
  uint32_t max_datagram = 65507;       // payload bytes one buffer can hold
  uint32_t batch_count = 64;           // wait for this many datagrams ...
  uint32_t batch_delay_us = 200;       // ... or this long once one has arrived
  uint32_t max_wait_ms = 500;          // bound on one wait inside the kernel
  // Everything the socket holds for receiving, in bytes: the buffer ring (or recvmmsg scratch)
  // first, the rest for datagrams copied out and not yet handed over to JS (ReceiveBudget).
  uint64_t budget_bytes = 32u << 20;
  bool hybrid = false;  // multishot backend: JS reads sparse traffic itself (see MaybeHandOver)
  // The reproducer's ring (src/repro.ts, variant 'recv'), never a user's: a CQ of this many
  // entries (0: the default, sized to the buffer ring) set up plain, without the task-running
  // flags, as in the kernel bug reports ...
  uint32_t cq_entries = 0;
  // ... and a receiver thread that polls the CQ without sleeping, entering with GETEVENTS.
  bool busy_wait = false;
};

// Datagrams the kernel dropped for this socket (its sk_drops, via SO_MEMINFO), or -1 when the
// kernel does not say.
int64_t KernelDrops(int fd);
// Datagrams one recvmmsg call reads (its scratch holds that many of max_datagram bytes): 64, or
// fewer when a quarter of the budget would not hold them.
unsigned RecvmmsgBatchFor(uint64_t budget_bytes, uint32_t max_datagram);

enum RecvStatIndex : unsigned {
  kRecvDatagrams,
  kRecvBytes,
  kRecvEnobufs,      // times the buffer ring ran dry (-ENOBUFS) and the request was re-armed
  kRecvRearms,       // multishot requests re-armed after the kernel ended them
  kRecvTruncated,
  kRecvEnters,
  kRecvBatches,
  kRecvOverflowFlagSeen,  // waits after which the kernel flagged a CQ overflow (IORING_SQ_CQ_OVERFLOW)
  kRecvBudgetPauses,      // times the receiver stopped taking datagrams because the budget was full
  kRecvStatCount
};
// The counters' names, in index order, as SocketStats names them (boundary.cc exports them).
constexpr const char* kRecvStatNames[] = {"datagrams", "bytes",  "enobufs",          "rearms",      "truncated",
                                          "enters",    "batches", "overflowFlagSeen", "budgetPauses"};
static_assert(sizeof(kRecvStatNames) / sizeof(kRecvStatNames[0]) == kRecvStatCount, "a name per receiver counter");

// The memory a socket's receive path is sized by (src/udp/options.ts asks for it before bind).
struct ReceiveLayout {
  uint32_t buffer_size;     // one provided buffer: header, name and a whole datagram, 64-byte aligned
  unsigned recvmmsg_batch;  // datagrams per recvmmsg: its scratch is this many of max_datagram
  uint64_t scratch_bytes;
  uint32_t max_ring_buffers;  // buffers that fit in half the budget (after a hybrid socket's scratch)
};
ReceiveLayout LayoutFor(uint32_t max_datagram, uint64_t budget_bytes, bool hybrid);

class UdpReceiver : public RingThread {
 public:
  using Notify = std::function<void()>;

  // budget and pool: shared with the JS thread, which settles what it was handed; their limits
  // are set here, once the backend (and so what it holds whatever the traffic) is known.
  UdpReceiver(int fd, const RecvConfig& config, double* stats, Notify notify, std::shared_ptr<ThreadObservation> observation,
              std::shared_ptr<ReceiveBudget> budget, std::shared_ptr<ArenaPool> pool);
  ~UdpReceiver() override;

  // Start (RingThread) runs the thread with config.backend, falling back to the next backend
  // when io_uring is missing or forbidden, unless the backend was forced: then it fails.

  // JS thread.
  void RequestStop();
  // *handoff: the receiver has stopped reading; the JS thread reads directly until ResumeRing().
  void TakeBatches(std::vector<std::unique_ptr<RecvBatch>>* out, int* error, bool* stopped, bool* handoff);
  void ResumeRing();
  // Hybrid: fault in the buffers and hand them to the kernel on the receiver thread while JS
  // still reads, so the ring's first reaps after a hand-over do not stall on first accesses.
  // Warm() says it is done: only then may the ring take over (it has no buffers before).
  void RequestWarm();
  bool Warm() const { return warm_.load(std::memory_order_acquire); }
  // After the thread exited: joins it, and closes the wake-up eventfd nobody writes any more.
  void Join();
  // Test-only: cancel the multishot receive behind the receiver's back and never re-arm it,
  // so the watchdog's starvation check can be shown to work.
  void TestDisarm();
  // The backend running now: the kernel can refuse multishot recvmsg after setup, and the
  // receiver then moves to the poll backend.
  RecvBackend backend() const { return static_cast<RecvBackend>(backend_.load(std::memory_order_acquire)); }

 private:
  int Setup(std::string* failed_syscall) override;
  void Run() override;
  void OnExitLocked() override { stopped_ = true; }
  void NotifyJs() override;
  int SetupRing(RecvBackend backend, std::string* failed_syscall);
  void TeardownRing();
  void RunMultishot();
  void WaitForBatch(uint64_t got);
  void CancelRecv();
  void RunPollRecvmmsg();
  void RunRecvmmsg();
  io_uring_sqe* NextSqe() { return RingThread::NextSqe(&ring_); }
  void ArmRecv();
  void ArmPoll();
  void ArmWake();
  void ReapRing(bool* stop_seen);
  void HandleRecvCqe(const io_uring_cqe& cqe, unsigned* recycled);
  bool DrainRecvmmsg();
  void Append(const uint8_t* payload, uint32_t length, uint32_t wire_length, bool truncated,
              const void* name, uint32_t name_length);
  void Flush();
  void FlushOrHold();
  uint64_t WaitTimeoutUs() const;
  void SetBackend(RecvBackend backend);
  void MaybeHandOver();
  void SetIdle(bool idle);
  void Prefault();
  void AddBuffers();
  int64_t NewBatchBytes() const;
  bool WantRecv() const { return !StopRequested() && !disarmed_ && !idle_ && !going_idle_ && !trimming_; }
  void SetBudgetFor(RecvBackend backend);
  bool HasRoom(uint32_t bytes) const;
  void TrimWhenQuiet();
  void TrimBuffers();
  bool StopRequested() const { return stop_.load(std::memory_order_acquire); }
  void WaitWhileBackpressured();
  void ReportError(int err);
  void PublishStats();
  int EnterWait(unsigned wait_nr, uint64_t timeout_us);

  const int fd_;
  RecvConfig config_;
  double* const stats_;
  const Notify notify_;

  const std::shared_ptr<ReceiveBudget> budget_;
  const std::shared_ptr<ArenaPool> pool_;
  std::atomic<bool> test_disarm_{false};
  bool disarmed_ = false;
  std::atomic<bool> resume_{false};
  std::atomic<bool> warm_request_{false};
  std::atomic<bool> warm_{false};  // the buffers are warm and in the kernel's ring (AddBuffers)
  std::atomic<bool> stop_{false};
  std::atomic<bool> notify_pending_{false};
  std::atomic<int> backend_{0};
  int wake_fd_ = -1;

  // Guarded by mutex_ (RingThread's).
  std::vector<std::unique_ptr<RecvBatch>> pending_batches_;
  std::atomic<size_t> pending_count_{0};  // pending_batches_.size(), readable without the lock
  int pending_error_ = 0;
  bool stopped_ = false;
  bool handoff_ = false;

  // Receiver thread only.
  io_uring ring_{};
  bool ring_alive_ = false;
  io_uring_buf_ring* buf_ring_ = nullptr;
  uint8_t* buffers_ = nullptr;
  size_t buffers_bytes_ = 0;
  size_t buf_ring_bytes_ = 0;
  unsigned ring_entries_ = 0;  // the buffer ring's size: a power of two >= buffer_count
  msghdr recv_template_{};
  bool recv_armed_ = false;
  bool poll_armed_ = false;
  bool wake_armed_ = false;
  uint64_t last_reap_ = 0;  // datagrams the previous reap found
  bool idle_ = false;        // hybrid: no receive armed, the JS thread reads the socket
  bool going_idle_ = false;  // hybrid: the receive was cancelled, waiting for its last CQE
  unsigned low_streak_ = 0;
  int64_t last_busy_ns_ = 0;
  std::unique_ptr<RecvBatch> batch_;
  int64_t held_limit_ = 0;     // budget for datagrams held for JS (the pool's share excluded)
  bool budget_full_ = false;   // a reap or read stopped for want of room; wait before the next
  bool drain_pending_ = false; // recvmmsg backends: the socket may still hold datagrams
  bool trimming_ = false;      // the receive was cancelled to give big buffers' pages back
  uint32_t largest_since_trim_ = 0;  // bytes of the largest datagram since buffers were last trimmed
  uint64_t pool_datagrams_seen_ = 0;  // TrimWhenQuiet: datagrams at its last look ...
  int64_t quiet_since_ns_ = 0;        // ... and since when none came (0 while they come)
  uint64_t counters_[kRecvStatCount] = {};
  RecvmmsgScratch scratch_;  // the poll and plain backends' recvmmsg
};

}  // namespace uring_udp
