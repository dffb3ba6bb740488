#include "udp_direct.h"

#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "udp_wrap.h"

namespace uring_udp {

DirectReader::DirectReader(int fd, uint32_t max_datagram, unsigned batch, double* stats)
    : fd_(fd), stats_(stats), scratch_(max_datagram, batch) {}

int DirectReader::Drain(std::vector<std::unique_ptr<RecvBatch>>* out, unsigned limit, ArenaPool& pool, int* error) {
  *error = 0;
  unsigned total = 0;
  while (total < limit) {
    const unsigned want = std::min(scratch_.capacity(), limit - total);
    const int received = scratch_.Receive(fd_, want);
    counters_[kDirectReads]++;
    if (received < 0) {
      // Datagrams already read go out first; the error stays pending on the socket and ends
      // the next read.
      if (received != -EAGAIN && total == 0) *error = -received;
      break;
    }
    for (int i = 0; i < received; i++) {
      const ReceivedDatagram d = scratch_.datagram(static_cast<unsigned>(i));
      if (out->empty() || !out->back()->Fits(d.length)) {
        std::shared_ptr<Arena> arena = pool.Take();
        if (!arena) {
          // Read but nowhere to put it: lost, and said so.
          *error = ENOMEM;
          break;
        }
        out->push_back(std::make_unique<RecvBatch>());
        out->back()->arena = std::move(arena);
        out->back()->records.reserve(std::min(limit, 256u));
      }
      AppendDatagram(out->back().get(), d.data, d.length, d.wire_length, d.truncated, d.name, d.name_length);
      counters_[kDirectDatagrams]++;
      counters_[kDirectBytes] += d.length;
      if (d.truncated) counters_[kDirectTruncated]++;
    }
    total += static_cast<unsigned>(received);
    if (*error || static_cast<unsigned>(received) < want) break;
  }
  // JS thread: the stats array is this thread's own (the receiver thread has its own).
  for (unsigned i = 0; i < kDirectStatCount; i++) stats_[i] = static_cast<double>(counters_[i]);
  return static_cast<int>(total);
}

// ---- the direct path of a hybrid socket, on the JS thread (UdpWrap's) -------------------------


namespace {
// One poll callback reads at most this many datagrams; this many or more in one go means the
// traffic is no longer sparse, and the ring takes over again.
constexpr unsigned kDirectLimit = 256;
constexpr unsigned kBackToRing = 256;
// Reads (each delivered before the next) per readiness of the socket, at most.
constexpr unsigned kDirectRounds = 32;
}  // namespace

void UdpWrap::StartDirect() {
  if (!direct_ || joined_ || fd_ < 0) return;
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
  StopDirect();
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
    // the socket buffer holds what comes meanwhile, as it does for the receiver thread.
    ReceiveBudget& budget = *self->shared_->budget;
    const int64_t each = static_cast<int64_t>(self->direct_max_datagram_ + sizeof(DatagramRecord));
    const unsigned limit = static_cast<unsigned>(std::clamp<int64_t>(budget.room() / each, 0, kDirectLimit));
    if (limit == 0 && status >= 0) {
      self->StopDirect();
      self->direct_paused_ = true;
      return;
    }
    std::vector<std::unique_ptr<RecvBatch>>& batches = self->direct_batches_;
    batches.clear();
    int error = status < 0 ? -status : 0;
    const int read = status < 0 ? 0 : self->direct_->Drain(&batches, limit, *self->shared_->pool, &error);
    bool burst = false;
    if (read >= static_cast<int>(std::min(limit, kBackToRing))) {
      // A burst: hand the socket back to the ring thread before the next read, once its
      // buffers are warm; until then keep reading here (the ring warms up meanwhile).
      burst = true;
      UdpReceiver& receiver = *self->shared_->receiver;
      if (receiver.Warm()) {
        self->StopDirect();
        self->direct_->Trim();  // nobody reads here until the ring hands the socket back
        receiver.ResumeRing();
      } else {
        receiver.RequestWarm();
      }
    }
    if (batches.empty() && !error) return;
    // Held while JS has them, like batches from the receiver thread (settling releases them).
    for (const std::unique_ptr<RecvBatch>& batch : batches) {
      batch->held_bytes = BatchBytes(*batch);
      budget.Hold(batch->held_bytes);
    }
    self->CallOnBatch(batches, error, false);
    batches.clear();
    if (read <= 0 || error || burst) return;
  }
}

}  // namespace uring_udp
