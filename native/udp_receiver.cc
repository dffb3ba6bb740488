#include "udp_receiver.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "common.h"

namespace uring_udp {

namespace {

constexpr uint64_t kTagRecv = kTagExtension + 0;
constexpr uint64_t kTagPoll = kTagExtension + 1;
constexpr uint16_t kBufferGroup = 0;
constexpr unsigned kRecvmmsgBatch = 64;
constexpr size_t kArenaBytes = 256 * 1024;
// A socket quiet this long gives back memory a flood made resident: pooled arenas, and the pages
// big datagrams touched in its buffers and scratch space.
constexpr int64_t kQuietTrimNs = 1000LL * 1000000;
// Datagrams up to this size touch one page of a buffer (with its header); bigger ones more,
// and leave pages resident worth trimming once the socket is quiet.
constexpr uint32_t kSmallDatagram = 2048;
// A batch wait ends when no datagram came for this long.
constexpr int64_t kBatchQuietNs = 50 * 1000;
// Hybrid mode: reaps in a row with at most one datagram, and no busier reap for this long,
// hand the socket to JS.
constexpr unsigned kHandOverStreak = 2;
constexpr int64_t kHandOverQuietNs = 50LL * 1000000;
static_assert(kRecvHeaderBytes == sizeof(io_uring_recvmsg_out) + sizeof(sockaddr_in6),
              "kRecvHeaderBytes must match the recvmsg layout");

}  // namespace

UdpReceiver::UdpReceiver(int fd, const RecvConfig& config, double* stats, Notify notify,
                         std::shared_ptr<ThreadObservation> observation, std::shared_ptr<ReceiveBudget> budget,
                         std::shared_ptr<ArenaPool> pool)
    : RingThread("uring-recv", std::move(observation)),
      fd_(fd),
      config_(config),
      stats_(stats),
      notify_(std::move(notify)),
      budget_(std::move(budget)),
      pool_(std::move(pool)),
      scratch_(config_.max_datagram, RecvmmsgBatchFor(config_.budget_bytes, config_.max_datagram)) {
  SetWaitBound(config_.busy_wait ? 0
                                 : static_cast<int64_t>(config_.max_wait_ms) * 1000000 +
                                       static_cast<int64_t>(config_.batch_delay_us) * 1000);
}

UdpReceiver::~UdpReceiver() {
  LetGo();
  if (!Exited()) return;  // a detached thread may still use what follows
  if (wake_fd_ >= 0) close(wake_fd_);
}

unsigned RecvmmsgBatchFor(uint64_t budget_bytes, uint32_t max_datagram) {
  const uint64_t fits = budget_bytes / 4 / std::max<uint32_t>(1, max_datagram);
  return static_cast<unsigned>(std::clamp<uint64_t>(fits, 1, kRecvmmsgBatch));
}

ReceiveLayout LayoutFor(uint32_t max_datagram, uint64_t budget_bytes, bool hybrid) {
  ReceiveLayout layout;
  layout.buffer_size = (max_datagram + kRecvHeaderBytes + 63) / 64 * 64;
  layout.recvmmsg_batch = RecvmmsgBatchFor(budget_bytes, max_datagram);
  layout.scratch_bytes = static_cast<uint64_t>(layout.recvmmsg_batch) * max_datagram;
  const uint64_t half = budget_bytes / 2;
  const uint64_t room = half > (hybrid ? layout.scratch_bytes : 0) ? half - (hybrid ? layout.scratch_bytes : 0) : 0;
  layout.max_ring_buffers = static_cast<uint32_t>(std::clamp<uint64_t>(room / layout.buffer_size, 1, 32768));
  return layout;
}

// What the backend holds whatever the traffic comes off the top of the budget: the buffer ring
// (and, for a hybrid socket, the JS thread's recvmmsg scratch), or the recvmmsg scratch. The
// rest is arenas: in use (held for JS, as much as the limit allows) or free in the pool.
void UdpReceiver::SetBudgetFor(RecvBackend backend) {
  const uint64_t scratch = static_cast<uint64_t>(RecvmmsgBatchFor(config_.budget_bytes, config_.max_datagram)) *
                           config_.max_datagram;
  uint64_t fixed = scratch;
  if (backend == RecvBackend::kMultishotRecvmsg)
    fixed = static_cast<uint64_t>(config_.buffer_count) * config_.buffer_size + (config_.hybrid ? scratch : 0);
  // TypeScript keeps the fixed part to at most half the budget; never less than two datagrams.
  const int64_t floor = 2 * (static_cast<int64_t>(config_.max_datagram) + static_cast<int64_t>(sizeof(DatagramRecord)));
  const int64_t rest = std::max<int64_t>(floor, static_cast<int64_t>(config_.budget_bytes) - static_cast<int64_t>(fixed));
  held_limit_ = rest;
  budget_->SetLimit(held_limit_);
  // A batch is cut when its arena is full; small budgets get small arenas.
  const size_t arena = std::max<size_t>(config_.max_datagram, std::min<size_t>(kArenaBytes, static_cast<size_t>(held_limit_ / 8)));
  pool_->Configure(arena);
}

// Room for one more datagram of `bytes`, counting the batch being filled (or the one it would start).
bool UdpReceiver::HasRoom(uint32_t bytes) const {
  const int64_t building = batch_ ? BatchBytes(*batch_) : NewBatchBytes();
  return budget_->room() - building >= static_cast<int64_t>(bytes + sizeof(DatagramRecord));
}

// What a batch started now would count: an arena and its records' reserve.
int64_t UdpReceiver::NewBatchBytes() const {
  return static_cast<int64_t>(pool_->arena_bytes() + config_.batch_count * sizeof(DatagramRecord));
}

void UdpReceiver::SetBackend(RecvBackend backend) {
  config_.backend = backend;
  backend_.store(static_cast<int>(backend), std::memory_order_release);
}

int UdpReceiver::SetupRing(RecvBackend backend, std::string* failed_syscall) {
  const bool tiny = config_.cq_entries != 0;
  const unsigned cq_entries = tiny ? config_.cq_entries : std::max(1024u, config_.buffer_count * 2);
  // The kernel wants at least as many CQ entries as SQ entries.
  const unsigned sq_entries = tiny ? std::max(1u, std::min(64u, cq_entries / 2)) : 64;
  // The reproducer's ring is plain, as in the kernel bug reports.
  const std::vector<unsigned> flag_sets = tiny ? std::vector<unsigned>{0}
                                               : std::vector<unsigned>{IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                                                                       IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, 0};
  io_uring_params base;
  std::memset(&base, 0, sizeof(base));
  base.flags = IORING_SETUP_CQSIZE;
  base.cq_entries = cq_entries;
  io_uring_params params;
  const int result = SetupWithFallback(&ring_, sq_entries, base, flag_sets, &params);
  if (result < 0) {
    *failed_syscall = "io_uring_setup";
    return result;
  }
  ring_alive_ = true;
  if (backend != RecvBackend::kMultishotRecvmsg) return 0;

  ring_entries_ = 1;
  while (ring_entries_ < config_.buffer_count) ring_entries_ <<= 1;
  buf_ring_bytes_ = ring_entries_ * sizeof(io_uring_buf);
  void* ring_memory = mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  buffers_bytes_ = static_cast<size_t>(config_.buffer_count) * config_.buffer_size;
  void* buffer_memory = mmap(nullptr, buffers_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (ring_memory == MAP_FAILED || buffer_memory == MAP_FAILED) {
    int err = errno;
    if (ring_memory != MAP_FAILED) munmap(ring_memory, buf_ring_bytes_);
    if (buffer_memory != MAP_FAILED) munmap(buffer_memory, buffers_bytes_);
    TeardownRing();
    *failed_syscall = "mmap";
    return -err;
  }
  buf_ring_ = static_cast<io_uring_buf_ring*>(ring_memory);
  buffers_ = static_cast<uint8_t*>(buffer_memory);
  io_uring_buf_ring_init(buf_ring_);
  io_uring_buf_reg reg;
  std::memset(&reg, 0, sizeof(reg));
  reg.ring_addr = reinterpret_cast<uintptr_t>(ring_memory);
  reg.ring_entries = ring_entries_;
  reg.bgid = kBufferGroup;
  EnterBegin();
  const int registered = io_uring_register_buf_ring(&ring_, &reg, 0);
  EnterEnd();
  if (registered < 0) {
    TeardownRing();
    *failed_syscall = "io_uring_register";
    return registered;
  }
  // A socket that starts on the ring warms its buffers now and hands them to the kernel; a
  // hybrid one starts with none in the ring, and warms them when JS asks (see RequestWarm).
  if (!config_.hybrid) AddBuffers();

  std::memset(&recv_template_, 0, sizeof(recv_template_));
  recv_template_.msg_namelen = sizeof(sockaddr_in6);
  recv_template_.msg_controllen = 0;
  return 0;
}

void UdpReceiver::TeardownRing() {
  if (ring_alive_) {
    // The ring's final close, on this thread (it also drops the buffer ring registration).
    io_uring_queue_exit(&ring_);
    ring_alive_ = false;
  }
  if (buf_ring_) munmap(buf_ring_, buf_ring_bytes_);
  if (buffers_) munmap(buffers_, buffers_bytes_);
  buf_ring_ = nullptr;
  buffers_ = nullptr;
}

int UdpReceiver::Setup(std::string* failed) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    *failed = "eventfd";
    return -errno;
  }
  SetBackend(config_.backend);
  if (config_.backend != RecvBackend::kRecvmmsg) {
    int result = SetupRing(config_.backend, failed);
    if (result < 0 && config_.forced) {
      // A forced backend is a requirement, not a starting point: the bind fails with why.
      close(wake_fd_);
      wake_fd_ = -1;
      return result;
    }
    // Fall back in order: a kernel without buffer rings gets the poll backend, a process
    // without io_uring (EPERM from seccomp or io_uring_disabled, ENOSYS) the plain loop.
    if (result < 0 && config_.backend == RecvBackend::kMultishotRecvmsg) {
      config_.hybrid = false;  // the hand-over exists for the multishot backend only
      SetBackend(RecvBackend::kPollRecvmmsg);
      result = SetupRing(config_.backend, failed);
    }
    if (result < 0) {
      config_.hybrid = false;
      SetBackend(RecvBackend::kRecvmmsg);
    }
  } else {
    config_.hybrid = false;
  }
  SetBudgetFor(config_.backend);
  return 0;
}

void UdpReceiver::Run() {
  ThreadObservation& o = observation();
  if (ring_alive_) o.ring_fd.store(ring_.ring_fd, std::memory_order_relaxed);
  if (config_.backend != RecvBackend::kRecvmmsg) {
    // A multishot request should be armed on the socket from now on: the watchdog checks it
    // is answered whenever the socket is readable.
    o.recv_fd.store(fd_, std::memory_order_relaxed);
    o.recv_last_cqe_ns.store(MonotonicNs(), std::memory_order_relaxed);
    o.recv_expected.store(true, std::memory_order_release);
  }
  switch (config_.backend) {
    case RecvBackend::kMultishotRecvmsg:
      RunMultishot();
      break;
    case RecvBackend::kPollRecvmmsg:
      RunPollRecvmmsg();
      break;
    case RecvBackend::kRecvmmsg:
      RunRecvmmsg();
      break;
  }
  o.recv_expected.store(false, std::memory_order_release);
  TeardownRing();
  Flush();
  PublishStats();
}

void UdpReceiver::NotifyJs() {
  notify_pending_.store(true, std::memory_order_release);
  notify_();
}

int UdpReceiver::EnterWait(unsigned wait_nr, uint64_t timeout_us) {
  __kernel_timespec ts = TimespecFromUs(timeout_us);
  io_uring_cqe* cqe = nullptr;
  EnterBegin();
  // Busy mode (the reproducer) never sleeps in the kernel: it enters with GETEVENTS and
  // returns at once, every time around the loop.
  int result = config_.busy_wait ? io_uring_submit_and_get_events(&ring_)
                                 : io_uring_submit_and_wait_timeout(&ring_, &cqe, wait_nr, &ts, nullptr);
  EnterEnd();
  counters_[kRecvEnters] = enters();
  if (IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_CQ_OVERFLOW) counters_[kRecvOverflowFlagSeen]++;
  return result;
}

void UdpReceiver::ArmWake() {
  io_uring_sqe* sqe = NextSqe();
  io_uring_prep_poll_multishot(sqe, wake_fd_, POLLIN);
  io_uring_sqe_set_data64(sqe, MakeUserData(kTagWake, 0));
  wake_armed_ = true;
}

void UdpReceiver::ArmRecv() {
  io_uring_sqe* sqe = NextSqe();
  // MSG_TRUNC: UDP then reports the datagram's real length (payloadlen) even when it was cut.
  io_uring_prep_recvmsg_multishot(sqe, fd_, &recv_template_, MSG_TRUNC);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  io_uring_sqe_set_data64(sqe, MakeUserData(kTagRecv, 0));
  recv_armed_ = true;
}

void UdpReceiver::ArmPoll() {
  io_uring_sqe* sqe = NextSqe();
  io_uring_prep_poll_multishot(sqe, fd_, POLLIN);
  io_uring_sqe_set_data64(sqe, MakeUserData(kTagPoll, 0));
  poll_armed_ = true;
}

// The first page of every provided buffer, written once through the kernel (a readv from
// /dev/zero) and once from user space, before the kernel has the buffer: the kernel takes
// buffers in ring order, so a flood's first bufferCount datagrams would each pay a first access
// inside the receive path, and on a paravirtualised host the kernel's first access to a user
// page and user space's are separate costs (docs/internals.md has the measurements). Only for
// buffers the kernel does not have: they are the kernel's once they are in the ring.
void UdpReceiver::Prefault() {
  constexpr unsigned kIovecs = 1024;  // IOV_MAX on Linux
  const size_t bytes = std::min<size_t>(64, config_.buffer_size);
  const int zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
  iovec iov[kIovecs];
  for (unsigned done = 0; done < config_.buffer_count; done += kIovecs) {
    const unsigned count = std::min(kIovecs, config_.buffer_count - done);
    for (unsigned i = 0; i < count; i++) {
      iov[i].iov_base = buffers_ + static_cast<size_t>(done + i) * config_.buffer_size;
      iov[i].iov_len = bytes;
    }
    if (zero >= 0) {
      const ssize_t read = readv(zero, iov, static_cast<int>(count));
      (void)read;  // a short or failed read leaves the plain writes below to do the faulting
    }
    for (unsigned i = 0; i < count; i++) *static_cast<volatile uint8_t*>(iov[i].iov_base) = 0;
  }
  if (zero >= 0) close(zero);
}

// Once: warms every buffer and hands them all to the kernel's buffer ring; then Warm() is
// true. Outside any reap (which adds recycled buffers at the same tail).
void UdpReceiver::AddBuffers() {
  if (!buffers_ || warm_.load(std::memory_order_relaxed)) return;
  Prefault();
  const int mask = io_uring_buf_ring_mask(ring_entries_);
  for (unsigned i = 0; i < config_.buffer_count; i++) {
    io_uring_buf_ring_add(buf_ring_, buffers_ + static_cast<size_t>(i) * config_.buffer_size, config_.buffer_size,
                          static_cast<unsigned short>(i), mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(config_.buffer_count));
  warm_.store(true, std::memory_order_release);
}

void UdpReceiver::RequestWarm() {
  if (warm_request_.exchange(true, std::memory_order_acq_rel)) return;
  uint64_t one = 1;
  ssize_t written = write(wake_fd_, &one, sizeof(one));
  (void)written;
}

// Under load, let the neighbours of the `got` datagrams already here join the batch, so JS is
// crossed once for the lot (the cross-thread wake-up is the expensive part): wait in short
// slices while datagrams keep coming, up to batch_count or batch_delay_us. A pause in the flow
// (a request/response peer waiting for its answers) ends the wait at once. The quiet gap
// doubles with every slice that brought datagrams: a flood costs a few wake-ups per batch (each
// a context switch), a pause is still noticed quickly. A flood that will fill the batch before
// the deadline at the pace of the last slice is waited for in one go: one wake-up per batch
// instead of one per slice.
void UdpReceiver::WaitForBatch(uint64_t got) {
  const int64_t deadline = MonotonicNs() + static_cast<int64_t>(config_.batch_delay_us) * 1000;
  int64_t quiet_ns = kBatchQuietNs;
  bool stop_seen = false;
  while (got < config_.batch_count && !StopRequested() && !budget_full_) {
    const int64_t slice_start = MonotonicNs();
    const int64_t left_ns = deadline - slice_start;
    if (left_ns <= 0) break;
    EnterWait(config_.batch_count - static_cast<unsigned>(got), static_cast<uint64_t>(std::min<int64_t>(left_ns, quiet_ns)) / 1000);
    const uint64_t earlier = counters_[kRecvDatagrams];
    ReapRing(&stop_seen);
    if (!recv_armed_ && WantRecv()) ArmRecv();
    const uint64_t arrived = counters_[kRecvDatagrams] - earlier;
    got += arrived;
    if (arrived == 0) break;
    const int64_t now = MonotonicNs();
    const uint64_t missing = config_.batch_count > got ? config_.batch_count - got : 0;
    if (missing > 0 && now < deadline &&
        static_cast<double>(missing) * static_cast<double>(now - slice_start) / static_cast<double>(arrived) <=
            static_cast<double>(deadline - now)) {
      EnterWait(static_cast<unsigned>(missing), static_cast<uint64_t>(deadline - now) / 1000);
      ReapRing(&stop_seen);
      if (!recv_armed_ && WantRecv()) ArmRecv();
      break;
    }
    quiet_ns *= 2;
  }
}

// Asks the kernel to end the multishot receive; its last completion says when it has.
void UdpReceiver::CancelRecv() {
  io_uring_sqe* sqe = NextSqe();
  io_uring_prep_cancel64(sqe, MakeUserData(kTagRecv, 0), 0);
  io_uring_sqe_set_data64(sqe, MakeUserData(kTagInternal, 0));
}

void UdpReceiver::RunMultishot() {
  ArmWake();
  if (config_.hybrid) SetIdle(true);  // JS reads first; the ring takes over under load
  else ArmRecv();
  while (!StopRequested()) {
    // A hybrid socket's first burst: warm every buffer while the JS thread goes on reading,
    // then let the ring take over (warming in steps measured worse: docs/internals.md).
    if (warm_request_.load(std::memory_order_acquire)) AddBuffers();
    if (resume_.exchange(false, std::memory_order_acq_rel) && idle_) {
      // JS handed the socket back: arm now, so the wait below submits it. (JS does so only
      // once Warm(); the ring never runs without its buffers, whatever the caller did.)
      AddBuffers();
      SetIdle(false);
      low_streak_ = 0;
    }
    if (!recv_armed_ && WantRecv()) ArmRecv();
    WaitWhileBackpressured();
    if (io_uring_cq_ready(&ring_) == 0) EnterWait(1, WaitTimeoutUs());
    const uint64_t before = counters_[kRecvDatagrams];
    bool stop_seen = false;
    ReapRing(&stop_seen);
    if (trimming_ && !recv_armed_) {
      TrimBuffers();
      trimming_ = false;
    }
    if (config_.backend != RecvBackend::kMultishotRecvmsg) {
      // The kernel refused multishot recvmsg (-EINVAL before 6.0): continue with poll.
      RunPollRecvmmsg();
      return;
    }
    if (test_disarm_.load(std::memory_order_acquire) && !disarmed_) {
      disarmed_ = true;
      CancelRecv();
    }
    // Re-arm first (after -ENOBUFS the buffers are back by now), then maybe wait for more.
    if (!recv_armed_ && WantRecv()) ArmRecv();
    const uint64_t got = counters_[kRecvDatagrams] - before;
    if (config_.batch_count > 1 && got > 0 && got < config_.batch_count && (got > 1 || last_reap_ > 1) && !budget_full_)
      WaitForBatch(got);
    last_reap_ = counters_[kRecvDatagrams] - before;
    TrimWhenQuiet();
    MaybeHandOver();
    FlushOrHold();
    PublishStats();
  }
  // Cancel the receive request and collect what it still had, with a bound.
  if (recv_armed_) {
    CancelRecv();
    const int64_t deadline = MonotonicNs() + 1000 * 1000000LL;
    while (recv_armed_ && MonotonicNs() < deadline) {
      EnterWait(1, 100 * 1000);
      bool stop_seen = false;
      ReapRing(&stop_seen);
    }
  }
}

// Hybrid mode: when the ring only ever finds a datagram or none (request/response traffic, or
// an idle socket), hand the socket to the JS thread, which then reads it directly — one thread
// hop fewer per datagram. The multishot request is cancelled first and its last datagrams are
// delivered before JS is told, so the two readers never overlap and order is kept.
void UdpReceiver::MaybeHandOver() {
  if (!config_.hybrid || idle_) return;
  if (!going_idle_ && recv_armed_) {
    const int64_t now = MonotonicNs();
    if (last_reap_ > 1) {
      last_busy_ns_ = now;
      low_streak_ = 0;
    } else {
      low_streak_++;
    }
    if (low_streak_ >= kHandOverStreak && now - last_busy_ns_ > kHandOverQuietNs) {
      going_idle_ = true;
      CancelRecv();
    }
  }
  if (going_idle_ && !recv_armed_) {
    going_idle_ = false;
    SetIdle(true);
    low_streak_ = 0;
    Flush();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      handoff_ = true;
    }
    if (!notify_pending_.exchange(true, std::memory_order_acq_rel)) notify_();
  }
}

void UdpReceiver::SetIdle(bool idle) {
  idle_ = idle;
  observation().recv_expected.store(!idle, std::memory_order_release);
  if (!idle) observation().recv_last_cqe_ns.store(MonotonicNs(), std::memory_order_relaxed);
}

void UdpReceiver::ResumeRing() {
  resume_.store(true, std::memory_order_release);
  uint64_t one = 1;
  ssize_t written = write(wake_fd_, &one, sizeof(one));
  (void)written;
}

// Once around a receive loop: a socket that has received nothing for kQuietTrimNs gives back
// what a flood made resident — its spare arenas, and the pages that datagrams bigger than
// kSmallDatagram touched in its buffers and recvmmsg scratch — once per quiet spell. The clock
// is read only on rounds that brought nothing.
void UdpReceiver::TrimWhenQuiet() {
  // Arenas taken count too: a hybrid socket's direct reads take them from the same pool.
  const uint64_t datagrams = counters_[kRecvDatagrams] + pool_->takes();
  if (datagrams != pool_datagrams_seen_) {
    pool_datagrams_seen_ = datagrams;
    quiet_since_ns_ = 0;
    return;
  }
  if (trimming_) return;
  const int64_t now = MonotonicNs();
  if (quiet_since_ns_ == 0) quiet_since_ns_ = now;
  if (now - quiet_since_ns_ <= kQuietTrimNs) return;
  quiet_since_ns_ = now;
  pool_->Clear();
  if (largest_since_trim_ <= kSmallDatagram) return;
  scratch_.Trim();
  if (buffers_ && warm_.load(std::memory_order_relaxed) && (recv_armed_ || going_idle_)) {
    // The kernel may write into any buffer while a receive is armed: cancel it first, trim
    // when its last completion is in (RunMultishot), re-arm after.
    if (going_idle_) return;  // a hand-over is under way; the next quiet round trims
    trimming_ = true;
    CancelRecv();
    return;
  }
  if (buffers_ && warm_.load(std::memory_order_relaxed)) TrimBuffers();
  largest_since_trim_ = 0;
}

// No receive is armed: drop every page of the buffers and warm their first pages again, as at
// start (Prefault), so the next flood does not pay first accesses inside the receive path.
void UdpReceiver::TrimBuffers() {
  madvise(buffers_, buffers_bytes_, MADV_DONTNEED);
  Prefault();
  largest_since_trim_ = 0;
}

void UdpReceiver::RunPollRecvmmsg() {
  recv_armed_ = false;  // a multishot recvmsg that ended with -EINVAL: nothing to cancel
  if (!wake_armed_) ArmWake();
  if (!poll_armed_) ArmPoll();
  while (!StopRequested()) {
    WaitWhileBackpressured();
    // Datagrams left in the socket when the budget was full, or after 64 rounds: the poll
    // fires on new arrivals only, so read them now, and do not sleep in the kernel meanwhile.
    if (drain_pending_) DrainRecvmmsg();
    if (io_uring_cq_ready(&ring_) == 0)
      EnterWait(drain_pending_ ? 0 : 1, drain_pending_ ? 0 : WaitTimeoutUs());
    bool stop_seen = false;
    ReapRing(&stop_seen);
    if (!poll_armed_ && !StopRequested()) ArmPoll();
    TrimWhenQuiet();
    FlushOrHold();
    PublishStats();
  }
}

void UdpReceiver::RunRecvmmsg() {
  while (!StopRequested()) {
    WaitWhileBackpressured();
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int ready = poll(fds, 2, drain_pending_ ? 0 : static_cast<int>(std::max<uint64_t>(1, WaitTimeoutUs() / 1000)));
    if (ready < 0 && errno != EINTR) {
      ReportError(errno);
      break;
    }
    if (fds[1].revents & POLLIN) {
      uint64_t value;
      ssize_t got = read(wake_fd_, &value, sizeof(value));
      (void)got;
    }
    if (fds[0].revents & (POLLIN | POLLERR)) DrainRecvmmsg();
    TrimWhenQuiet();
    FlushOrHold();
    PublishStats();
  }
}

void UdpReceiver::ReapRing(bool* stop_seen) {
  unsigned head;
  unsigned count = 0;
  unsigned recycled = 0;
  bool socket_cqe = false;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    const uint64_t tag = TagOf(cqe->user_data);
    if (tag == kTagRecv && cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER) && !StopRequested() &&
        !HasRoom(static_cast<uint32_t>(cqe->res))) {
      // The budget is full: leave this datagram and the rest in the CQ, their buffers with them.
      // The kernel runs out of buffers and leaves what follows in the socket buffer.
      budget_full_ = true;
      break;
    }
    count++;
    if (tag == kTagRecv) {
      socket_cqe = true;
      HandleRecvCqe(*cqe, &recycled);
    } else if (tag == kTagPoll) {
      socket_cqe = true;
      if (!(cqe->flags & IORING_CQE_F_MORE)) poll_armed_ = false;
      if (cqe->res < 0) {
        if (cqe->res != -ECANCELED) ReportError(-cqe->res);
      } else {
        DrainRecvmmsg();
      }
      if (!poll_armed_) counters_[kRecvRearms]++;
    } else if (tag == kTagWake) {
      uint64_t value;
      ssize_t got = read(wake_fd_, &value, sizeof(value));
      (void)got;
      *stop_seen = StopRequested();
      if (!(cqe->flags & IORING_CQE_F_MORE)) {
        wake_armed_ = false;
        if (!StopRequested()) ArmWake();
      }
    }
  }
  // For the watchdog's starvation check: one clock read per reap, not per datagram (the clock
  // is slow under some hypervisors; perf put it at 10 % of this thread's user time).
  if (socket_cqe) observation().recv_last_cqe_ns.store(MonotonicNs(), std::memory_order_relaxed);
  if (count) io_uring_cq_advance(&ring_, count);
  // Every buffer used in this reap was copied out: give them all back at once.
  if (recycled) io_uring_buf_ring_advance(buf_ring_, static_cast<int>(recycled));
}

void UdpReceiver::HandleRecvCqe(const io_uring_cqe& cqe, unsigned* recycled) {
  const bool more = (cqe.flags & IORING_CQE_F_MORE) != 0;
  if (!more) recv_armed_ = false;
  if (cqe.res < 0) {
    if (cqe.res == -ENOBUFS) {
      // The buffer ring ran dry; buffers come back at the end of this reap and the request
      // is re-armed right after.
      counters_[kRecvEnobufs]++;
    } else if (cqe.res == -EINVAL && counters_[kRecvDatagrams] == 0) {
      config_.hybrid = false;
      idle_ = false;
      going_idle_ = false;
      SetBackend(RecvBackend::kPollRecvmmsg);
      SetBudgetFor(RecvBackend::kPollRecvmmsg);
    } else if (cqe.res != -ECANCELED) {
      ReportError(-cqe.res);
      if (!more) counters_[kRecvRearms]++;
    }
    return;
  }
  if (!more && !StopRequested()) counters_[kRecvRearms]++;
  if (!(cqe.flags & IORING_CQE_F_BUFFER)) return;
  const unsigned bid = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
  uint8_t* buffer = buffers_ + static_cast<size_t>(bid) * config_.buffer_size;
  io_uring_recvmsg_out* out = io_uring_recvmsg_validate(buffer, cqe.res, &recv_template_);
  if (out) {
    const uint8_t* payload = static_cast<const uint8_t*>(io_uring_recvmsg_payload(out, &recv_template_));
    // The buffer may hold a little more than max_datagram (its size is rounded up); deliver
    // exactly what was promised and call anything longer truncated.
    const uint32_t length =
        std::min(io_uring_recvmsg_payload_length(out, cqe.res, &recv_template_), config_.max_datagram);
    const bool truncated = (out->flags & MSG_TRUNC) != 0 || out->payloadlen > config_.max_datagram;
    Append(payload, length, out->payloadlen, truncated, io_uring_recvmsg_name(out), out->namelen);
  }
  io_uring_buf_ring_add(buf_ring_, buffer, config_.buffer_size, static_cast<unsigned short>(bid),
                        io_uring_buf_ring_mask(ring_entries_), static_cast<int>((*recycled)++));
}

// recvmmsg until the socket is empty (poll and plain backends). Returns false on a fatal error.
bool UdpReceiver::DrainRecvmmsg() {
  drain_pending_ = false;
  for (int round = 0; round < 64; round++) {
    unsigned want = scratch_.capacity();
    if (!StopRequested()) {
      // As many as the budget has room for, each counted at its largest.
      const int64_t building = batch_ ? BatchBytes(*batch_) : NewBatchBytes();
      const int64_t room = budget_->room() - building;
      const int64_t each = static_cast<int64_t>(config_.max_datagram + sizeof(DatagramRecord));
      want = static_cast<unsigned>(std::clamp<int64_t>(room / each, 0, want));
      if (want == 0) {
        budget_full_ = true;
        drain_pending_ = true;  // read the rest once JS has made room
        return true;
      }
    }
    const int received = scratch_.Receive(fd_, want);
    if (received < 0) {
      if (received == -EAGAIN) return true;
      ReportError(-received);
      return received != -EBADF && received != -ENOTSOCK;
    }
    for (int i = 0; i < received; i++) {
      const ReceivedDatagram d = scratch_.datagram(static_cast<unsigned>(i));
      Append(d.data, d.length, d.wire_length, d.truncated, d.name, d.name_length);
    }
    if (static_cast<unsigned>(received) < want) return true;
  }
  drain_pending_ = true;  // 64 rounds in a row found more: come back after this turn
  return true;
}

int64_t KernelDrops(int fd) {
  uint32_t meminfo[SK_MEMINFO_VARS] = {};
  socklen_t length = sizeof(meminfo);
  if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_MEMINFO, meminfo, &length) < 0 ||
      length < (SK_MEMINFO_DROPS + 1) * sizeof(uint32_t))
    return -1;
  return meminfo[SK_MEMINFO_DROPS];
}

void UdpReceiver::Append(const uint8_t* payload, uint32_t length, uint32_t wire_length, bool truncated,
                         const void* name, uint32_t name_length) {
  if (batch_ && !batch_->Fits(length)) Flush();
  if (!batch_) {
    std::shared_ptr<Arena> arena = pool_->Take();
    if (!arena) {
      // Out of memory for an arena: this datagram is lost, and said so.
      ReportError(ENOMEM);
      return;
    }
    batch_ = std::make_unique<RecvBatch>();
    batch_->arena = std::move(arena);
    batch_->records.reserve(config_.batch_count);
  }
  AppendDatagram(batch_.get(), payload, length, wire_length, truncated, name, name_length);
  largest_since_trim_ = std::max(largest_since_trim_, length);
  counters_[kRecvDatagrams]++;
  counters_[kRecvBytes] += length;
  if (truncated) counters_[kRecvTruncated]++;
}

// End of a turn of a receive loop: hand the batch to JS — unless JS has not taken the ones
// before it yet (its handler is busy). Then go on filling this one: a handler slower than the
// traffic gets fewer, fuller batches (one JS call each) instead of a small one per reap. A
// full arena, a full budget and the end of the thread flush it anyway, and a held batch makes
// the next wait short (WaitTimeoutUs), so it waits at most batch_delay_us once JS is free.
void UdpReceiver::FlushOrHold() {
  if (!batch_) return;
  if (pending_count_.load(std::memory_order_acquire) > 0 && !StopRequested()) return;
  Flush();
}

uint64_t UdpReceiver::WaitTimeoutUs() const {
  if (batch_) return std::max<uint64_t>(config_.batch_delay_us, 100);
  return static_cast<uint64_t>(config_.max_wait_ms) * 1000;
}

void UdpReceiver::Flush() {
  if (!batch_ || batch_->records.empty()) return;
  batch_->held_bytes = BatchBytes(*batch_);
  budget_->Hold(batch_->held_bytes);  // released by the JS thread once it has handed the batch over
  counters_[kRecvBatches]++;
  PublishStats();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_batches_.push_back(std::move(batch_));
    pending_count_.store(pending_batches_.size(), std::memory_order_release);
  }
  batch_.reset();
  // One coalesced wake-up of the JS thread, however many batches are waiting.
  if (!notify_pending_.exchange(true, std::memory_order_acq_rel)) notify_();
}

void UdpReceiver::ReportError(int err) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (pending_error_ == 0) pending_error_ = err;
  }
  if (!notify_pending_.exchange(true, std::memory_order_acq_rel)) notify_();
}

// JS is behind by the whole budget: stop taking datagrams, outside the kernel, until it has
// handed a quarter of it over; the socket buffer absorbs what it can meanwhile and the kernel
// counts the rest as drops (stats.kernelDrops). What was taken goes to JS first: it is what
// JS must deliver to make room.
void UdpReceiver::WaitWhileBackpressured() {
  if (!budget_full_) return;
  Flush();
  counters_[kRecvBudgetPauses]++;
  PublishStats();
  observation().backpressured.store(true, std::memory_order_release);
  const int64_t resume_at =
      std::max<int64_t>(held_limit_ / 4, NewBatchBytes() + config_.max_datagram + sizeof(DatagramRecord));
  while (!StopRequested() && !budget_->WaitForRoom(resume_at, static_cast<int>(config_.max_wait_ms))) {
  }
  observation().backpressured.store(false, std::memory_order_release);
  budget_full_ = false;
}

void UdpReceiver::RequestStop() {
  stop_.store(true, std::memory_order_release);
  budget_->Wake();
  if (wake_fd_ < 0) return;
  uint64_t one = 1;
  ssize_t written = write(wake_fd_, &one, sizeof(one));
  (void)written;
  state_changed_.notify_all();
}

void UdpReceiver::TestDisarm() {
  test_disarm_.store(true, std::memory_order_release);
  uint64_t one = 1;
  ssize_t written = write(wake_fd_, &one, sizeof(one));  // act on it now, not after the wait
  (void)written;
}

void UdpReceiver::TakeBatches(std::vector<std::unique_ptr<RecvBatch>>* out, int* error, bool* stopped, bool* handoff) {
  notify_pending_.store(false, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    out->swap(pending_batches_);
    pending_batches_.clear();
    pending_count_.store(0, std::memory_order_release);
    *error = pending_error_;
    pending_error_ = 0;
    *stopped = stopped_;
    *handoff = handoff_;
    handoff_ = false;
  }
  state_changed_.notify_all();
}

void UdpReceiver::Join() {
  RingThread::Join();
  // JS thread, and the thread is gone: nobody writes the wake-up eventfd any more. Closed
  // here rather than at destruction (which waits for garbage collection).
  if (wake_fd_ >= 0 && Exited()) {
    close(wake_fd_);
    wake_fd_ = -1;
  }
}

void UdpReceiver::PublishStats() {
  if (ring_alive_) PublishRing(ring_, counters_[kRecvOverflowFlagSeen]);
  for (unsigned i = 0; i < kRecvStatCount; i++) {
    double value = static_cast<double>(counters_[i]);
    __atomic_store(&stats_[i], &value, __ATOMIC_RELAXED);
  }
}

}  // namespace uring_udp
