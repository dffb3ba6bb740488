// ReceiverRing: one io_uring that reads many sockets (receiver.h).
//
// Each socket on it has its own provided-buffer group (buffer group id = its slot) and its own
// multishot recvmsg, or, on the poll backend, a single-shot poll re-armed after each readiness.
// Per socket, at most a completion per provided buffer is pending (a buffer is consumed by each
// and given back only once copied out), plus the end of its request and a cancel: a ring admits
// sockets only while the sum fits its CQ (ReceiverPool::Acquire), so it cannot overflow. A
// socket whose budget is full parks its completions (their buffers kept) instead of leaving them
// in the CQ, so the ring's other sockets are never held up behind it.
#include <fcntl.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "common.h"
#include "receiver.h"

namespace uring_udp {

namespace {
constexpr uint64_t kTagRecv = kTagExtension + 0;
constexpr uint64_t kTagPoll = kTagExtension + 1;
// A pool ring's CQ: room for the buffers of many sockets (a default socket's 256 take 260).
// Halved while the kernel cannot allocate it (older kernels count it against RLIMIT_MEMLOCK).
constexpr unsigned kPoolCqEntries = 16384;
constexpr unsigned kMinPoolCqEntries = 1024;
constexpr unsigned kPoolSqEntries = 256;
// A batch wait ends when no datagram came for this long.
constexpr int64_t kBatchQuietNs = 50 * 1000;
}  // namespace

ReceiverRing::ReceiverRing(uint32_t id_in, uint32_t cq_entries, bool busy_wait, std::shared_ptr<ThreadObservation> observation)
    : Receiver("uring-recv", ReceiverKind::kRing, id_in, std::move(observation)),
      private_cq_(cq_entries),
      busy_wait_(busy_wait),
      scratch_(65535, 64) {}

ReceiverRing::~ReceiverRing() { LetGo(); }

int ReceiverRing::Setup(std::string* failed) {
  if (const int result = OpenWake(failed); result < 0) return result;
  io_uring_params params;
  int result;
  if (private_cq_ != 0) {
    // The reproducer's ring is plain, as in the kernel bug reports; the kernel wants at least
    // as many CQ entries as SQ entries.
    io_uring_params base;
    std::memset(&base, 0, sizeof(base));
    base.flags = IORING_SETUP_CQSIZE;
    base.cq_entries = private_cq_;
    result = SetupWithFallback(&ring_, std::max(1u, std::min(64u, private_cq_ / 2)), base, {0}, &params);
  } else {
    const std::vector<unsigned> flag_sets = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                                             IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, 0};
    unsigned cq = kPoolCqEntries;
    for (;;) {
      io_uring_params base;
      std::memset(&base, 0, sizeof(base));
      base.flags = IORING_SETUP_CQSIZE;
      base.cq_entries = cq;
      result = SetupWithFallback(&ring_, kPoolSqEntries, base, flag_sets, &params);
      if (result != -ENOMEM || cq <= kMinPoolCqEntries) break;
      cq /= 2;
    }
  }
  if (result < 0) {
    *failed = "io_uring_setup";
    close(wake_fd_);
    wake_fd_ = -1;
    return result;
  }
  ring_alive_ = true;
  cq_size_ = params.cq_entries;
  observation().ring_fd.store(ring_.ring_fd, std::memory_order_relaxed);
  return 0;
}

void ReceiverRing::Run() {
  ArmWake();
  while (!Stopping()) {
    RunCommands();
    bool drain_now = false;
    for (const std::shared_ptr<SocketReceive>& socket : slots_) {
      if (!socket) continue;
      SocketReceive& s = *socket;
      // Parked completions go as soon as there is room: after a wake-up, and also when the
      // pause found the room already there (PauseForBudget returned at once). A socket left with
      // parked completions and a budget not full was never resumed: nothing would wake it, its
      // receive could not be re-armed, and it stopped receiving for good (seen under GRO floods).
      if (s.served.budget_full ? s.ResumeIfRoom() : !s.served.parked.empty()) ResumeSocket(s);
      // Datagrams left in the socket when the budget was full, or after 64 rounds: the poll
      // fires on new arrivals only, so read them now, and do not sleep in the kernel meanwhile.
      if (s.served.drain_pending && !s.served.budget_full && s.served.state == SocketReceive::Served::kArmed) {
        s.DrainRecvmmsg(scratch_, false);
        s.served.touched = true;
        drain_now = drain_now || s.served.drain_pending;
      }
      if (s.served.state == SocketReceive::Served::kArmed && !s.served.armed && !s.served.disarmed && !s.served.budget_full &&
          s.served.parked.empty() && !s.served.drain_pending && !s.served.trimming)
        ArmSocket(s);
    }
    if (io_uring_cq_ready(&ring_) == 0) EnterWait(1, drain_now ? 0 : WaitTimeoutUs());
    Reap();
    Gather();
    EndTurn(MonotonicNs());
  }
  // No socket is left on the ring: nothing is armed but the wake-up poll, which goes with it.
  io_uring_queue_exit(&ring_);  // the ring's final close, on this thread
  ring_alive_ = false;
}

int ReceiverRing::EnterWait(unsigned wait_nr, uint64_t timeout_us) {
  __kernel_timespec ts = TimespecFromUs(timeout_us);
  io_uring_cqe* cqe = nullptr;
  // The bound the watchdog judges this wait by: inside the kernel longer than it (and stuckMs)
  // is stuck. Busy mode (the reproducer) never sleeps in the kernel: it enters with GETEVENTS
  // and returns at once, every time around the loop.
  SetWaitBound(busy_wait_ ? 0 : static_cast<int64_t>(timeout_us) * 1000);
  EnterBegin();
  const int result = busy_wait_ ? io_uring_submit_and_get_events(&ring_)
                                : io_uring_submit_and_wait_timeout(&ring_, &cqe, wait_nr, &ts, nullptr);
  EnterEnd();
  if (IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_CQ_OVERFLOW) {
    overflow_flag_seen_++;
    for (const std::shared_ptr<SocketReceive>& socket : slots_)
      if (socket) socket->served.counters[kRecvOverflowFlagSeen]++;
  }
  return result;
}

void ReceiverRing::ArmWake() {
  // Single-shot, re-armed after each wake-up: one completion at most, however often it is written.
  io_uring_sqe* sqe = NextSqe();
  io_uring_prep_poll_add(sqe, wake_fd_, POLLIN);
  io_uring_sqe_set_data64(sqe, MakeUserData(kTagWake, 0));
  wake_armed_ = true;
}

void ReceiverRing::Reap() {
  unsigned head;
  unsigned count = 0;
  io_uring_cqe* cqe;
  std::vector<SocketReceive*>& touched = touched_;
  touched.clear();
  io_uring_for_each_cqe(&ring_, head, cqe) {
    count++;
    const uint64_t tag = TagOf(cqe->user_data);
    if (tag == kTagWake) {
      DrainWake();
      wake_armed_ = false;
      continue;
    }
    if (tag != kTagRecv && tag != kTagPoll) continue;  // a cancel's own completion
    const uint32_t slot = IdOf(cqe->user_data);
    if (slot >= slots_.size() || !slots_[slot]) continue;
    SocketReceive& s = *slots_[slot];
    SocketReceive::ServedState& st = s.served;
    if (!st.touched) {
      st.touched = true;
      touched.push_back(&s);
    }
    if (tag == kTagRecv) {
      const bool closing = st.state == SocketReceive::Served::kLeaving && st.closing;
      if (!st.parked.empty() || st.budget_full ||
          (!closing && cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER) && !s.HasRoom(static_cast<uint32_t>(cqe->res)))) {
        // The budget is full: keep this completion (and its buffer) for when JS has made room.
        // The kernel runs out of buffers and leaves what follows in the socket buffer.
        st.parked.push_back({cqe->res, cqe->flags});
        if (!st.budget_full) s.PauseForBudget();
        continue;
      }
      HandleRecv(s, cqe->res, cqe->flags);
    } else {
      st.armed = false;  // single-shot
      st.cancelling = false;
      if (cqe->res < 0) {
        if (cqe->res != -ECANCELED) s.ReportError(-cqe->res);
      } else if (st.state == SocketReceive::Served::kArmed) {
        s.DrainRecvmmsg(scratch_, false);
      }
    }
  }
  if (count) io_uring_cq_advance(&ring_, count);
  if (!touched.empty()) {
    // For the watchdog's starvation check: one clock read per reap, not per datagram (the clock
    // is slow under some hypervisors; perf put it at 10 % of a receiver's user time).
    const int64_t now = MonotonicNs();
    for (SocketReceive* s : touched) {
      s->watch->last_cqe_ns.store(now, std::memory_order_relaxed);
      RecycleBuffers(*s);
    }
  }
  if (!wake_armed_ && !Stopping()) ArmWake();
}

namespace {
// What the control messages the kernel wrote into a provided buffer say (a UDP_GRO segment size,
// the TOS byte, the local address).
Ancillary AncillaryOf(io_uring_recvmsg_out* out, msghdr& msg) {
  Ancillary result;
  for (cmsghdr* c = io_uring_recvmsg_cmsg_firsthdr(out, &msg); c != nullptr; c = io_uring_recvmsg_cmsg_nexthdr(out, &msg, c))
    ReadControlMessage(c->cmsg_level, c->cmsg_type, CMSG_DATA(c), c->cmsg_len - CMSG_LEN(0), &result);
  return result;
}
}  // namespace

void ReceiverRing::HandleRecv(SocketReceive& s, int32_t res, uint32_t flags) {
  SocketReceive::ServedState& st = s.served;
  const bool more = (flags & IORING_CQE_F_MORE) != 0;
  if (!more) {
    st.armed = false;
    st.cancelling = false;
  }
  if (res < 0) {
    if (res == -ENOBUFS) {
      // The buffer ring ran dry; buffers come back at the end of this reap and the request
      // is re-armed right after.
      st.counters[kRecvEnobufs]++;
    } else if (res != -ECANCELED) {
      s.ReportError(-res);
      if (!more) st.counters[kRecvRearms]++;
    }
    return;
  }
  if (!more && st.state == SocketReceive::Served::kArmed && !st.trimming && !st.disarmed) st.counters[kRecvRearms]++;
  if (!(flags & IORING_CQE_F_BUFFER)) return;
  const unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
  uint8_t* buffer = st.buffers + static_cast<size_t>(bid) * s.config.buffer_size;
  io_uring_recvmsg_out* out = io_uring_recvmsg_validate(buffer, res, &st.recv_template);
  // An abandoned socket's datagrams are delivered too: the kernel gave them to this receiver, and
  // its JS thread still takes what the abandoned state hands over (nothing taken is lost).
  if (out) {
    const uint8_t* payload = static_cast<const uint8_t*>(io_uring_recvmsg_payload(out, &st.recv_template));
    // The buffer may hold a little more than max_datagram (its size is rounded up); deliver
    // exactly what was promised and call anything longer truncated.
    const uint32_t length = std::min(io_uring_recvmsg_payload_length(out, res, &st.recv_template), s.config.max_datagram);
    const bool truncated = (out->flags & MSG_TRUNC) != 0 || out->payloadlen > s.config.max_datagram;
    s.Append(payload, length, out->payloadlen, truncated, io_uring_recvmsg_name(out), out->namelen,
             s.config.control() ? AncillaryOf(out, st.recv_template) : Ancillary{});
  }
  io_uring_buf_ring_add(st.buf_ring, buffer, s.config.buffer_size, static_cast<unsigned short>(bid),
                        io_uring_buf_ring_mask(st.ring_entries), static_cast<int>(st.recycled++));
}

// Every buffer copied out in this reap goes back at once.
void ReceiverRing::RecycleBuffers(SocketReceive& s) {
  SocketReceive::ServedState& st = s.served;
  if (st.recycled && st.buf_ring) io_uring_buf_ring_advance(st.buf_ring, static_cast<int>(st.recycled));
  st.recycled = 0;
}

// The completions a full budget held back, in order, as far as there is room (all of them when
// closing: the socket's last datagrams go out with its "stopped").
void ReceiverRing::ProcessParked(SocketReceive& s, bool stopping) {
  SocketReceive::ServedState& st = s.served;
  size_t done = 0;
  for (; done < st.parked.size(); done++) {
    const SocketReceive::Parked p = st.parked[done];
    if (!stopping && p.res > 0 && (p.flags & IORING_CQE_F_BUFFER) && !s.HasRoom(static_cast<uint32_t>(p.res))) break;
    HandleRecv(s, p.res, p.flags);
  }
  st.parked.erase(st.parked.begin(), st.parked.begin() + static_cast<std::ptrdiff_t>(done));
  RecycleBuffers(s);
  st.touched = true;
  if (!st.parked.empty()) s.PauseForBudget();
}

void ReceiverRing::ResumeSocket(SocketReceive& s) {
  const bool stopping = s.served.state == SocketReceive::Served::kLeaving;
  if (!s.served.parked.empty()) ProcessParked(s, stopping);
  // The poll backend's datagrams left in the socket are read at the top of the loop.
}

// Under load, let the neighbours of the datagrams already here join them, so JS is crossed once
// for the lot (the cross-thread wake-up is the expensive part): wait in short slices while
// datagrams keep coming, up to batch_count or batch_delay_us. A pause in the flow (a
// request/response peer waiting for its answers) ends the wait at once. The quiet gap doubles
// with every slice that brought datagrams: a flood costs a few wake-ups per turn (each a context
// switch), a pause is still noticed quickly. A flood that will fill the batch before the deadline
// at the pace of the last slice is waited for in one go: one wake-up instead of one per slice.
//
// The wait is the ring's, for all its sockets together: a turn ends with one wake-up of each
// environment whatever number of sockets it brought datagrams for (EnvLink), so what a wake-up
// is paid against is the turn's datagrams, not one socket's. With 64 sockets flooded round-robin
// each has a datagram or two per slice; waiting for each socket's own batch ended every turn
// after one slice (8.6 datagrams per wake-up of JS, 17,000 wake-ups a second, measured). The
// bounds are the tightest of the sockets that have datagrams waiting: the smallest batchCount,
// the earliest batchDelayUs — no socket's datagrams wait longer than its own options say.
void ReceiverRing::Gather() {
  const int64_t start = MonotonicNs();
  uint64_t got = 0;  // this turn's datagrams, every socket's
  uint64_t count = ~0ull;
  int64_t deadline = INT64_MAX;
  // A socket's datagrams wait for their neighbours on a multishot receive the receiver reads
  // (the recvmmsg backends ignore batch, and one handing back or leaving is not held for them);
  // one of those that asked for no wait (batch.count 1) or whose budget is full (its batch is
  // what frees room) ends the ring's wait for all.
  enum class Wait { kIgnore, kBound, kNone };
  auto wait_of = [](const SocketReceive& s) {
    if (s.config.backend != RecvBackend::kMultishotRecvmsg || s.served.state != SocketReceive::Served::kArmed) return Wait::kIgnore;
    return s.config.batch_count > 1 && !s.served.budget_full ? Wait::kBound : Wait::kNone;
  };
  for (const std::shared_ptr<SocketReceive>& socket : slots_) {
    if (!socket) continue;
    const SocketReceive& s = *socket;
    const uint64_t mine = s.served.counters[kRecvDatagrams] - s.served.turn_start;
    if (mine == 0) continue;
    got += mine;
    const Wait wait = wait_of(s);
    if (wait == Wait::kNone) return;
    if (wait == Wait::kIgnore) continue;
    count = std::min<uint64_t>(count, s.config.batch_count);
    deadline = std::min(deadline, start + static_cast<int64_t>(s.config.batch_delay_us) * 1000);
  }
  if (deadline == INT64_MAX || got >= count || (got <= 1 && last_turn_datagrams_ <= 1)) return;
  bool flood = false;
  int64_t quiet = kBatchQuietNs;
  while (!Stopping()) {
    const int64_t slice_start = MonotonicNs();
    const int64_t left = deadline - slice_start;
    if (left <= 0) break;
    const int64_t slice = flood ? left : std::min(left, quiet);
    EnterWait(static_cast<unsigned>(count - got), static_cast<uint64_t>(slice) / 1000);
    Reap();
    const int64_t now = MonotonicNs();
    uint64_t total = 0;
    bool ends = false;
    for (const std::shared_ptr<SocketReceive>& socket : slots_) {
      if (!socket) continue;
      SocketReceive& s = *socket;
      SocketReceive::ServedState& st = s.served;
      // Re-armed as soon as it ended (after -ENOBUFS the buffers are back by now).
      if (st.state == SocketReceive::Served::kArmed && !st.armed && !st.disarmed && !st.budget_full && st.parked.empty() &&
          !st.trimming)
        ArmSocket(s);
      const uint64_t mine = st.counters[kRecvDatagrams] - st.turn_start;
      if (mine == 0) continue;
      total += mine;
      const Wait wait = wait_of(s);
      if (wait == Wait::kNone) ends = true;
      else if (wait == Wait::kBound) count = std::min<uint64_t>(count, s.config.batch_count);
    }
    const uint64_t arrived = total - got;
    got = total;
    if (flood || arrived == 0 || got >= count || ends) break;
    const uint64_t missing = count - got;
    if (now < deadline && static_cast<double>(missing) * static_cast<double>(now - slice_start) / static_cast<double>(arrived) <=
                              static_cast<double>(deadline - now)) {
      flood = true;
    } else {
      quiet *= 2;
    }
  }
}

// The first page of every provided buffer, written once through the kernel (a readv from
// /dev/zero) and once from user space, before the kernel has the buffer: the kernel takes
// buffers in ring order, so a flood's first bufferCount datagrams would each pay a first access
// inside the receive path, and on a paravirtualised host the kernel's first access to a user
// page and user space's are separate costs (docs/internals.md has the measurements). Only for
// buffers the kernel does not have: they are the kernel's once they are in the ring.
void ReceiverRing::Prefault(SocketReceive& s) {
  constexpr unsigned kIovecs = 1024;  // IOV_MAX on Linux
  const uint32_t count = s.config.buffer_count;
  const size_t bytes = std::min<size_t>(64, s.config.buffer_size);
  const int zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
  iovec iov[kIovecs];
  for (unsigned done = 0; done < count; done += kIovecs) {
    const unsigned n = std::min(kIovecs, count - done);
    for (unsigned i = 0; i < n; i++) {
      iov[i].iov_base = s.served.buffers + static_cast<size_t>(done + i) * s.config.buffer_size;
      iov[i].iov_len = bytes;
    }
    if (zero >= 0) {
      const ssize_t read = readv(zero, iov, static_cast<int>(n));
      (void)read;  // a short or failed read leaves the plain writes below to do the faulting
    }
    for (unsigned i = 0; i < n; i++) *static_cast<volatile uint8_t*>(iov[i].iov_base) = 0;
  }
  if (zero >= 0) close(zero);
}

// Warms every buffer and hands them all to the kernel's buffer ring.
void ReceiverRing::AddBuffers(SocketReceive& s) {
  SocketReceive::ServedState& st = s.served;
  Prefault(s);
  const int mask = io_uring_buf_ring_mask(st.ring_entries);
  for (unsigned i = 0; i < s.config.buffer_count; i++) {
    io_uring_buf_ring_add(st.buf_ring, st.buffers + static_cast<size_t>(i) * s.config.buffer_size, s.config.buffer_size,
                          static_cast<unsigned short>(i), mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(st.buf_ring, static_cast<int>(s.config.buffer_count));
}

int ReceiverRing::AttachSocket(SocketReceive& s, std::string* failed) {
  SocketReceive::ServedState& st = s.served;
  st.armed = false;
  st.cancelling = false;
  st.recycled = 0;
  if (s.config.backend != RecvBackend::kMultishotRecvmsg) return 0;
  if (st.slot > 0xffff) {
    *failed = "io_uring_register";
    return -ENOSPC;  // buffer group ids are 16 bits
  }
  st.ring_entries = 1;
  while (st.ring_entries < s.config.buffer_count) st.ring_entries <<= 1;
  st.buf_ring_bytes = st.ring_entries * sizeof(io_uring_buf);
  void* ring_memory = mmap(nullptr, st.buf_ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  st.buffers_bytes = static_cast<size_t>(s.config.buffer_count) * s.config.buffer_size;
  void* buffer_memory = mmap(nullptr, st.buffers_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (ring_memory == MAP_FAILED || buffer_memory == MAP_FAILED) {
    const int err = errno;
    if (ring_memory != MAP_FAILED) munmap(ring_memory, st.buf_ring_bytes);
    if (buffer_memory != MAP_FAILED) munmap(buffer_memory, st.buffers_bytes);
    *failed = "mmap";
    return -err;
  }
  st.buf_ring = static_cast<io_uring_buf_ring*>(ring_memory);
  st.buffers = static_cast<uint8_t*>(buffer_memory);
  io_uring_buf_ring_init(st.buf_ring);
  io_uring_buf_reg reg;
  std::memset(&reg, 0, sizeof(reg));
  reg.ring_addr = reinterpret_cast<uintptr_t>(ring_memory);
  reg.ring_entries = st.ring_entries;
  reg.bgid = static_cast<uint16_t>(st.slot);
  EnterBegin();
  const int registered = io_uring_register_buf_ring(&ring_, &reg, 0);
  EnterEnd();
  if (registered < 0) {
    munmap(st.buf_ring, st.buf_ring_bytes);
    munmap(st.buffers, st.buffers_bytes);
    st.buf_ring = nullptr;
    st.buffers = nullptr;
    *failed = "io_uring_register";
    return registered;
  }
  st.registered = true;
  AddBuffers(s);
  std::memset(&st.recv_template, 0, sizeof(st.recv_template));
  st.recv_template.msg_namelen = RecvNameBytes(s.config.control());
  static_assert((sizeof(io_uring_recvmsg_out) + kRecvNameBytesWithControl) % alignof(cmsghdr) == 0,
                "control messages in a provided buffer start aligned");
  // A socket's control messages (gro, ecn, pktinfo) sit in each buffer between the name and the payload.
  st.recv_template.msg_controllen = s.config.control() ? kControlBytes : 0;
  return 0;
}

void ReceiverRing::FreeSocket(SocketReceive& s) {
  SocketReceive::ServedState& st = s.served;
  if (st.registered) {
    EnterBegin();
    io_uring_unregister_buf_ring(&ring_, static_cast<int>(st.slot));
    EnterEnd();
    st.registered = false;
  }
  if (st.buf_ring) munmap(st.buf_ring, st.buf_ring_bytes);
  if (st.buffers) munmap(st.buffers, st.buffers_bytes);
  st.buf_ring = nullptr;
  st.buffers = nullptr;
}

bool ReceiverRing::ArmSocket(SocketReceive& s) {
  SocketReceive::ServedState& st = s.served;
  io_uring_sqe* sqe = NextSqe();
  if (s.config.backend == RecvBackend::kMultishotRecvmsg) {
    // MSG_TRUNC: UDP then reports the datagram's real length (payloadlen) even when it was cut.
    io_uring_prep_recvmsg_multishot(sqe, s.fd, &st.recv_template, MSG_TRUNC);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = static_cast<uint16_t>(st.slot);
    io_uring_sqe_set_data64(sqe, MakeUserData(kTagRecv, st.slot));
  } else {
    // Single-shot, re-armed once the socket is drained: one completion pending at most.
    io_uring_prep_poll_add(sqe, s.fd, POLLIN);
    io_uring_sqe_set_data64(sqe, MakeUserData(kTagPoll, st.slot));
  }
  st.armed = true;
  st.cancelling = false;
  return true;
}

// Asks the kernel to end the socket's request; its last completion says when it has.
void ReceiverRing::CancelSocket(SocketReceive& s) {
  SocketReceive::ServedState& st = s.served;
  if (!st.armed || st.cancelling) return;
  const uint64_t tag = s.config.backend == RecvBackend::kMultishotRecvmsg ? kTagRecv : kTagPoll;
  io_uring_sqe* sqe = NextSqe();
  io_uring_prep_cancel64(sqe, MakeUserData(tag, st.slot), 0);
  io_uring_sqe_set_data64(sqe, MakeUserData(kTagInternal, st.slot));
  st.cancelling = true;
}

// No receive is armed: drop every page of the buffers and warm their first pages again, as at
// attach (Prefault), so the next flood does not pay first accesses inside the receive path.
void ReceiverRing::TrimSocket(SocketReceive& s) {
  scratch_.Trim();
  if (!s.served.buffers) return;
  madvise(s.served.buffers, s.served.buffers_bytes, MADV_DONTNEED);
  Prefault(s);
}

void ReceiverRing::PublishRingStats() {
  if (ring_alive_) PublishRing(ring_, overflow_flag_seen_);
}

}  // namespace uring_udp
