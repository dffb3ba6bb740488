#include "socket_receive.h"

#include <linux/sock_diag.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include <unistd.h>

#include "common.h"
#include "receiver.h"

namespace uring_udp {

namespace {
constexpr unsigned kRecvmmsgBatch = 64;
constexpr size_t kArenaBytes = 256 * 1024;
static_assert(kRecvHeaderBytes == sizeof(io_uring_recvmsg_out) + sizeof(sockaddr_in6),
              "kRecvHeaderBytes must match the recvmsg layout");
}  // namespace

unsigned RecvmmsgBatchFor(uint64_t budget_bytes, uint32_t max_datagram) {
  const uint64_t fits = budget_bytes / 4 / std::max<uint32_t>(1, max_datagram);
  return static_cast<unsigned>(std::clamp<uint64_t>(fits, 1, kRecvmmsgBatch));
}

ReceiveLayout LayoutFor(uint32_t max_datagram, uint64_t budget_bytes, bool hybrid, bool control) {
  ReceiveLayout layout;
  layout.buffer_size = (max_datagram + RecvHeaderBytes(control) + 63) / 64 * 64;
  layout.recvmmsg_batch = RecvmmsgBatchFor(budget_bytes, max_datagram);
  layout.scratch_bytes = static_cast<uint64_t>(layout.recvmmsg_batch) * max_datagram;
  const uint64_t half = budget_bytes / 2;
  const uint64_t room = half > (hybrid ? layout.scratch_bytes : 0) ? half - (hybrid ? layout.scratch_bytes : 0) : 0;
  layout.max_ring_buffers = static_cast<uint32_t>(std::clamp<uint64_t>(room / layout.buffer_size, 1, 32768));
  return layout;
}

int64_t KernelDrops(int fd) {
  uint32_t meminfo[SK_MEMINFO_VARS] = {};
  socklen_t length = sizeof(meminfo);
  if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_MEMINFO, meminfo, &length) < 0 ||
      length < (SK_MEMINFO_DROPS + 1) * sizeof(uint32_t))
    return -1;
  return meminfo[SK_MEMINFO_DROPS];
}

SocketReceive::SocketReceive(int fd_in, const RecvConfig& config_in, std::shared_ptr<EnvLink> env_in)
    : fd(fd_in), config(config_in), env(std::move(env_in)) {
  watch->fd.store(fd, std::memory_order_relaxed);
  SizeBudget();
}

SocketReceive::~SocketReceive() = default;

// What the backend holds whatever the traffic comes off the top of the budget: the buffer ring
// (and, for a hybrid socket, the JS thread's recvmmsg scratch), or the recvmmsg scratch. The
// rest is arenas: in use (held for JS, as much as the limit allows) or free in the pool.
void SocketReceive::SizeBudget() {
  const uint64_t scratch = static_cast<uint64_t>(RecvmmsgBatchFor(config.budget_bytes, config.max_datagram)) *
                           config.max_datagram;
  uint64_t fixed = scratch;
  if (config.backend == RecvBackend::kMultishotRecvmsg)
    fixed = static_cast<uint64_t>(config.buffer_count) * config.buffer_size + (config.hybrid ? scratch : 0);
  // TypeScript keeps the fixed part to at most half the budget; never less than two datagrams.
  const int64_t floor = 2 * (static_cast<int64_t>(config.max_datagram) + static_cast<int64_t>(sizeof(DatagramRecord)));
  const int64_t rest = std::max<int64_t>(floor, static_cast<int64_t>(config.budget_bytes) - static_cast<int64_t>(fixed));
  served.held_limit = rest;
  budget->SetLimit(rest);
  // A batch is cut when its arena is full. 256 KiB, within an eighth of what may be held for JS
  // (small budgets get small arenas); while big datagrams come, room for 16 of the largest (a
  // 256 KiB arena took four 60,000-byte ones, and a slow batch handler got 1.4 a call). The
  // budget counts an arena whole, so small datagrams keep the small ones.
  const size_t eighth = static_cast<size_t>(rest / 8);
  small_arena_ = std::max<size_t>(config.max_datagram, std::min<size_t>(kArenaBytes, eighth));
  big_arena_ = std::max<size_t>(small_arena_, std::min<size_t>(static_cast<size_t>(config.max_datagram) * 16, eighth));
  arenas->Configure(small_arena_);
}

bool SocketReceive::HasRoom(uint32_t bytes) const {
  // JS holds nothing and no batch is being built: nothing will ever make more room, so one
  // completion is taken whatever it needs (a budget smaller than a batch and a datagram would
  // otherwise stop the socket for good).
  if (!served.batch && budget->held() <= 0) return true;
  const int64_t building = served.batch ? BatchBytes(*served.batch) : NewBatchBytes();
  return budget->room() - building >= static_cast<int64_t>(bytes + sizeof(DatagramRecord));
}

// What a batch started now would count: an arena and its records' reserve.
int64_t SocketReceive::NewBatchBytes() const {
  return static_cast<int64_t>(arenas->arena_bytes() + config.batch_count * sizeof(DatagramRecord));
}

// JS is behind by the whole budget: stop taking datagrams until it has handed a quarter of it
// over; the socket buffer absorbs what it can meanwhile and the kernel counts the rest as drops
// (stats.kernelDrops). The receiver goes on serving its other sockets.
bool SocketReceive::PauseForBudget() {
  ServedState& s = served;
  if (s.budget_full) return false;
  s.budget_full = true;
  Flush();
  s.counters[kRecvBudgetPauses]++;
  PublishStats();
  watch->backpressured.store(true, std::memory_order_release);
  // Room for a quarter of the budget, and at least for what the next completion can need: a new
  // batch in the larger of its arenas and the largest a receive can be (a provided buffer: name,
  // control messages and a coalesced GRO read) — never more than the budget can ever have (it
  // all comes back once JS has handed everything over; HasRoom takes one completion then).
  const int64_t one = static_cast<int64_t>(std::max(small_arena_, big_arena_) + config.batch_count * sizeof(DatagramRecord) +
                                           std::max(config.buffer_size, config.max_datagram) + sizeof(DatagramRecord));
  s.resume_at = std::min<int64_t>(s.held_limit, std::max<int64_t>(s.held_limit / 4, one));
  // The room may be there already (JS handed batches over since the check): no wake-up comes
  // then, and the caller goes on (the receiver's loop resumes parked completions whenever the
  // budget is not full).
  if (test_late_pause.exchange(false, std::memory_order_acq_rel)) {
    for (int i = 0; i < 5000 && budget->room() < s.resume_at; i++) usleep(1000);
  }
  if (budget->WakeAt(s.resume_at)) return ResumeIfRoom();
  return false;
}

bool SocketReceive::ResumeIfRoom() {
  ServedState& s = served;
  if (!s.budget_full) return true;
  if (budget->room() < s.resume_at) return false;
  budget->CancelWake();
  s.budget_full = false;
  watch->backpressured.store(false, std::memory_order_release);
  return true;
}

void SocketReceive::Append(const uint8_t* payload, uint32_t length, uint32_t wire_length, bool truncated, const void* name,
                           uint32_t name_length, const Ancillary& ancillary) {
  ServedState& s = served;
  if (s.batch && !s.batch->Fits(length)) Flush();
  if (!s.batch) {
    const size_t size = std::max(s.recent_largest, length) * 16 > small_arena_ ? big_arena_ : small_arena_;
    if (arenas->arena_bytes() != size) arenas->Configure(size);
    s.recent_largest = 0;
    std::shared_ptr<Arena> arena = arenas->Take();
    if (!arena) {
      // Out of memory for an arena: this datagram is lost, and said so.
      ReportError(ENOMEM);
      return;
    }
    s.batch = std::make_unique<RecvBatch>();
    s.batch->arena = std::move(arena);
    s.batch->origin = arenas;
    s.batch->records.reserve(config.batch_count);
  }
  const uint32_t added = AppendReceived(s.batch.get(), payload, length, wire_length, truncated, name, name_length,
                                        ancillary.segment, config.extras() ? &ancillary.extra : nullptr);
  s.largest_since_trim = std::max(s.largest_since_trim, length);
  s.recent_largest = std::max(s.recent_largest, length);
  s.counters[kRecvDatagrams] += added;
  if (added > 1) s.counters[kRecvCoalesced] += added;
  s.counters[kRecvBytes] += length;
  if (truncated) s.counters[kRecvTruncated]++;
}

void SocketReceive::Flush() {
  ServedState& s = served;
  if (!s.batch || s.batch->records.empty()) return;
  s.batch->held_bytes = BatchBytes(*s.batch);
  s.batch->budget = budget;
  budget->Hold(s.batch->held_bytes);  // released by the JS thread once it has handed the batch over
  s.counters[kRecvBatches]++;
  PublishStats();
  Deliver(std::move(s.batch));
  s.batch.reset();
}

void SocketReceive::FlushOrHold(bool stopping) {
  if (!served.batch) return;
  if (JsBehind() && !stopping) return;
  Flush();
}

bool SocketReceive::DrainRecvmmsg(RecvmmsgScratch& scratch, bool stopping) {
  ServedState& s = served;
  s.drain_pending = false;
  // Abandoned: its JS thread reads the fd now (and may have closed it): never touched here.
  if (abandoned.load(std::memory_order_acquire)) return true;
  for (int round = 0; round < 64; round++) {
    unsigned want = std::min(scratch.capacity(), RecvmmsgBatchFor(config.budget_bytes, config.max_datagram));
    if (!stopping) {
      // As many as the budget has room for, each counted at its largest.
      const int64_t building = s.batch ? BatchBytes(*s.batch) : NewBatchBytes();
      const int64_t room = budget->room() - building;
      const int64_t each = static_cast<int64_t>(config.max_datagram + sizeof(DatagramRecord));
      want = static_cast<unsigned>(std::clamp<int64_t>(room / each, 0, want));
      if (want == 0) {
        s.drain_pending = true;  // read the rest once JS has made room
        PauseForBudget();
        return true;
      }
    }
    const int received = scratch.Receive(fd, want, config.max_datagram, config.control());
    if (received < 0) {
      if (received == -EAGAIN) return true;
      ReportError(-received);
      return received != -EBADF && received != -ENOTSOCK;
    }
    for (int i = 0; i < received; i++) {
      const ReceivedDatagram d = scratch.datagram(static_cast<unsigned>(i));
      Append(d.data, d.length, d.wire_length, d.truncated, d.name, d.name_length, d.ancillary);
    }
    if (static_cast<unsigned>(received) < want) return true;
  }
  s.drain_pending = true;  // 64 rounds in a row found more: come back after this turn
  return true;
}

void SocketReceive::ReportError(int err) {
  RecvEvents events;
  events.error = err;
  Post(events);
}

void SocketReceive::PublishStats() {
  for (unsigned i = 0; i < kRecvStatCount; i++) published_[i].store(served.counters[i], std::memory_order_relaxed);
}

void SocketReceive::ReadStats(double* out) const {
  for (unsigned i = 0; i < kRecvStatCount; i++) out[i] = static_cast<double>(published_[i].load(std::memory_order_relaxed));
}

void SocketReceive::Deliver(std::unique_ptr<RecvBatch> batch) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.push_back(std::move(batch));
    pending_count_.store(pending_.size(), std::memory_order_release);
  }
  Ready();
}

void SocketReceive::Post(const RecvEvents& events) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (events.error && events_.error == 0) events_.error = events.error;
    events_.handoff = events_.handoff || events.handoff;
    events_.detached = events_.detached || events.detached;
    if (events.attach_error) events_.attach_error = events.attach_error;
    if (events.stopped) {
      events_.stopped = true;
      stopped_ = true;
    }
  }
  if (events.stopped) stopped_changed_.notify_all();
  Ready();
}

void SocketReceive::Ready() {
  // One entry on the environment's ready list per socket, however much is waiting; Take clears
  // the mark before it takes, so what comes after is announced again.
  if (!queued_.exchange(true, std::memory_order_acq_rel)) env->Ready(shared_from_this());
}

void SocketReceive::Take(std::vector<std::unique_ptr<RecvBatch>>* out, RecvEvents* events) {
  queued_.store(false, std::memory_order_release);
  std::lock_guard<std::mutex> lock(mutex_);
  out->swap(pending_);
  pending_.clear();
  pending_count_.store(0, std::memory_order_release);
  *events = events_;
  events_ = RecvEvents{};
}

bool SocketReceive::WaitStopped(int timeout_ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  return stopped_changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return stopped_; });
}

}  // namespace uring_udp
