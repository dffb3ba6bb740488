#include "udp_direct.h"

#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common.h"
#include "udp_wrap.h"

namespace uring_udp {

namespace {

// The JS thread's recvmmsg scratch, for all its sockets (each reads at most its own
// max_datagram and recvmmsg batch): 64 datagrams of up to 65535 bytes, 4 MiB of address space,
// resident only where datagrams were written.
RecvmmsgScratch& ThreadScratch() {
  thread_local RecvmmsgScratch scratch(65535, 64);
  return scratch;
}

// The JS thread's copy-sized arenas: a small read goes into one, is copied into its own
// ArrayBuffer when delivered, and the arena comes straight back. A socket that never bursts
// maps no memory of its own.
const std::shared_ptr<ArenaPool>& ThreadSmallArenas() {
  thread_local std::shared_ptr<ReceiveBudget> budget = [] {
    auto b = std::make_shared<ReceiveBudget>();
    b->SetLimit(16 * kCopyArenaBytes);
    return b;
  }();
  thread_local std::shared_ptr<ArenaPool> pool = [] {
    auto p = std::make_shared<ArenaPool>(budget);
    p->Configure(kCopyArenaBytes);
    return p;
  }();
  return pool;
}

}  // namespace

DirectReader::DirectReader(int fd, uint32_t max_datagram, unsigned batch, double* stats, bool control, bool extras)
    : fd_(fd), max_datagram_(max_datagram), batch_(std::clamp(batch, 1u, 64u)), stats_(stats), control_(control), extras_(extras) {}

void DirectReader::TrimScratch() { ThreadScratch().Trim(); }

int DirectReader::Drain(std::vector<std::unique_ptr<RecvBatch>>* out, unsigned limit, const std::shared_ptr<ArenaPool>& pool,
                        int* error) {
  *error = 0;
  RecvmmsgScratch& scratch = ThreadScratch();
  unsigned total = 0;
  while (total < limit) {
    const unsigned want = std::min(batch_, limit - total);
    const int received = scratch.Receive(fd_, want, max_datagram_, control_);
    counters_[kDirectReads]++;
    if (received < 0) {
      // Datagrams already read go out first; the error stays pending on the socket and ends
      // the next read.
      if (received != -EAGAIN && total == 0) *error = -received;
      break;
    }
    size_t bytes = 0;
    for (int i = 0; i < received; i++) bytes += scratch.datagram(static_cast<unsigned>(i)).length;
    const bool small = out->empty() && bytes <= kCopyArenaBytes;
    for (int i = 0; i < received; i++) {
      const ReceivedDatagram d = scratch.datagram(static_cast<unsigned>(i));
      if (out->empty() || !out->back()->Fits(d.length)) {
        const std::shared_ptr<ArenaPool>& from = small ? ThreadSmallArenas() : pool;
        std::shared_ptr<Arena> arena = from->Take();
        if (!arena) {
          // Read but nowhere to put it: lost, and said so.
          *error = ENOMEM;
          break;
        }
        out->push_back(std::make_unique<RecvBatch>());
        out->back()->arena = std::move(arena);
        out->back()->origin = from;
        out->back()->records.reserve(small ? static_cast<unsigned>(received) : std::min(limit, 256u));
      }
      const uint32_t added =
          AppendReceived(out->back().get(), d.data, d.length, d.wire_length, d.truncated, d.name, d.name_length,
                         d.ancillary.segment, extras_ ? &d.ancillary.extra : nullptr);
      counters_[kDirectDatagrams] += added;
      if (added > 1) {
        counters_[kDirectCoalesced] += added;
        total += added - 1;  // the read's count below is of receives
      }
      counters_[kDirectBytes] += d.length;
      if (d.truncated) counters_[kDirectTruncated]++;
    }
    total += static_cast<unsigned>(received);
    if (*error || static_cast<unsigned>(received) < want) break;
  }
  // JS thread: the stats array is this thread's own.
  for (unsigned i = 0; i < kDirectStatCount; i++) stats_[i] = static_cast<double>(counters_[i]);
  return static_cast<int>(total);
}

// ---- the direct path, on the JS thread (UdpWrap's) ----------------------------------------------

namespace {
// One poll callback reads at most this many datagrams; this many or more in one go means the
// traffic is no longer sparse, and a receiver takes over.
constexpr unsigned kDirectLimit = 256;
constexpr unsigned kBurst = 256;
// Reads (each delivered before the next) per readiness of the socket, at most.
constexpr unsigned kDirectRounds = 32;
// A steady load also moves a socket to a receiver: when its JS thread reads more than
// kThreadBusy datagrams a window over all its sockets (it is busy reading), each socket that
// brings kSocketSteady of them a window goes. One socket with a datagram per read (a
// request/response server) stays: a receiver would add a thread hop per datagram; many busy
// sockets go: a receiver takes them in turns and JS once for all of them.
constexpr uint64_t kWindowMs = 50;
constexpr uint64_t kThreadBusy = 2500;   // 50,000 datagrams/s
constexpr uint64_t kSocketSteady = 64;   // 1,280 datagrams/s

struct ThreadLoad {
  uint64_t start_ms = 0;
  uint64_t count = 0;
  uint64_t prev = 0;
};
ThreadLoad& Load() {
  thread_local ThreadLoad load;
  return load;
}
}  // namespace

// Counts a read into the JS thread's and the socket's windows; true when both say the socket
// should move to a receiver.
bool UdpWrap::SteadyLoad(unsigned read) {
  uv_loop_t* loop = poll_ ? poll_->loop : nullptr;
  if (!loop) return false;
  const uint64_t now = uv_now(loop);  // the loop's cached time: no clock read
  ThreadLoad& load = Load();
  if (now - load.start_ms >= kWindowMs) {
    load.prev = now - load.start_ms < 2 * kWindowMs ? load.count : 0;
    load.count = 0;
    load.start_ms = now;
  }
  load.count += read;
  if (now - window_start_ms_ >= kWindowMs) {
    window_prev_ = now - window_start_ms_ < 2 * kWindowMs ? window_count_ : 0;
    window_count_ = 0;
    window_start_ms_ = now;
  }
  window_count_ += read;
  // Only while other sockets share the load (at most half of it is this socket's): a single
  // busy socket is best read here, as the burst rule would move it when its reads fill up —
  // a request/response server at 120,000 round trips/s did 0.4x that on a receiver.
  const uint64_t thread = std::max(load.count, load.prev);
  const uint64_t mine = std::max(window_count_, window_prev_);
  return now >= steady_after_ms_ && thread >= kThreadBusy && mine >= kSocketSteady && 2 * mine <= thread;
}

void UdpWrap::StartDirect() {
  if (!direct_ || fd_ < 0 || where_ == Where::kClosed || where_ == Where::kLeaving) return;
  if (!poll_) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env_, &loop) != napi_ok || !loop) return;
    poll_ = new uv_poll_t;
    if (uv_poll_init(loop, poll_, fd_) != 0) {
      delete poll_;
      poll_ = nullptr;
      return;
    }
    poll_->data = this;
    if (!refed_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  }
  if (!polling_ && uv_poll_start(poll_, UV_READABLE, OnPoll) == 0) polling_ = true;
}

void UdpWrap::StopDirect() {
  if (poll_ && polling_) uv_poll_stop(poll_);
  polling_ = false;
}

void UdpWrap::CloseDirect() {
  // uv_close stops a started poll itself: stopping it first cost a second epoll_ctl(DEL).
  polling_ = false;
  if (poll_) {
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
    poll_ = nullptr;
  }
}

void UdpWrap::OnPoll(uv_poll_t* handle, int status, int) {
  // As libuv does for node:dgram, read again after delivering, before going back to the event
  // loop: a request/response peer's next request is often there by then (the reply went out
  // from the callback), and finding it saves a sleep in epoll and a wake-up, which cost more
  // than the read (docs/internals.md). A read that finds nothing, or a burst, ends it.
  for (unsigned round = 0; round < kDirectRounds; round++) {
    // The callback may have closed the socket (data is cleared then) or stopped polling.
    UdpWrap* self = static_cast<UdpWrap*>(handle->data);
    if (!self || !self->polling_) return;
    // At most what the budget has room for, each datagram counted at its largest: what waits
    // in batches() queues holds part of it. None: stop reading until JS makes room (AfterRelease);
    // the socket buffer holds what comes meanwhile, as it does for a receiver.
    ReceiveBudget& budget = *self->receive_->budget;
    const int64_t each = static_cast<int64_t>(self->receive_->config.max_datagram + sizeof(DatagramRecord));
    const unsigned limit = static_cast<unsigned>(std::clamp<int64_t>(budget.room() / each, 0, kDirectLimit));
    if (limit == 0 && status >= 0) {
      self->StopDirect();
      self->direct_paused_ = true;
      return;
    }
    std::vector<std::unique_ptr<RecvBatch>>& batches = self->direct_batches_;
    batches.clear();
    int error = status < 0 ? -status : 0;
    const int read = status < 0 ? 0 : self->direct_->Drain(&batches, limit, self->receive_->arenas, &error);
    const bool steady = read > 0 && self->SteadyLoad(static_cast<unsigned>(read));
    const bool burst = steady || read >= static_cast<int>(std::min(limit, kBurst));
    // A burst: a receiver takes the socket on (or over, once its buffers are warm) before the
    // next read; until then the JS thread goes on reading.
    if (burst) self->OnBurst();
    if (batches.empty() && !error) return;
    // Held while JS has them, like a receiver's batches (settling releases them).
    for (const std::unique_ptr<RecvBatch>& batch : batches) {
      batch->held_bytes = BatchBytes(*batch);
      batch->budget = self->receive_->budget;
      budget.Hold(batch->held_bytes);
    }
    self->CallOnBatch(batches, error, false);
    batches.clear();
    if (read <= 0 || error || burst) return;
  }
}

// A burst on the direct path.
void UdpWrap::OnBurst() {
  switch (where_) {
    case Where::kDirect: {
      const int64_t now = MonotonicNs();
      if (now < attach_retry_ns_) return;
      std::string syscall;
      // Nothing to take it on (out of fds, memory, threads, or every receiver full): it stays
      // here, as a node:dgram socket would, and asks again in a second.
      if (Attach(false, &syscall) != 0) {
        direct_->CountAttachFailure();
        attach_retry_ns_ = now + 1000LL * 1000000;
      }
      return;
    }
    case Where::kAttaching:
    case Where::kWarm:
      if (receive_->warm.load(std::memory_order_acquire)) HandOver();
      return;
    default:
      return;
  }
}

// The receiver reads from now on: the JS thread stops before its next read.
void UdpWrap::HandOver() {
  StopDirect();
  DirectReader::TrimScratch();
  receiver_->Send({Receiver::Op::kArm, receive_});
  where_ = Where::kReceiver;
  UpdateLoopRef();
}

}  // namespace uring_udp
