// PlainReceiver: epoll and recvmmsg, for processes without io_uring (receiver.h). Where Docker's
// default seccomp profile forbids io_uring, busy sockets still move off the JS thread, pooled
// the same way as on rings.
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common.h"
#include "receiver.h"

namespace uring_udp {

namespace {
constexpr uint64_t kWakeKey = ~0ull;
constexpr int kEvents = 64;
}  // namespace

PlainReceiver::PlainReceiver(uint32_t id_in, std::shared_ptr<ThreadObservation> observation)
    : Receiver("uring-recv", ReceiverKind::kPlain, id_in, std::move(observation)), scratch_(65535, 64) {}

PlainReceiver::~PlainReceiver() {
  LetGo();
  if (!Exited()) return;
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

int PlainReceiver::Setup(std::string* failed) {
  if (const int result = OpenWake(failed); result < 0) return result;
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kWakeKey;
  if (epoll_fd_ < 0 || epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event) < 0) {
    const int err = errno;
    *failed = epoll_fd_ < 0 ? "epoll_create1" : "epoll_ctl";
    if (epoll_fd_ >= 0) close(epoll_fd_);
    epoll_fd_ = -1;
    close(wake_fd_);
    wake_fd_ = -1;
    return -err;
  }
  return 0;
}

void PlainReceiver::Run() {
  epoll_event events[kEvents];
  while (!Stopping()) {
    RunCommands();
    bool drain_now = false;
    for (const std::shared_ptr<SocketReceive>& socket : slots_) {
      if (!socket) continue;
      SocketReceive& s = *socket;
      if (s.served.budget_full && s.ResumeIfRoom()) ResumeSocket(s);
      if (s.served.drain_pending && !s.served.budget_full && s.served.state == SocketReceive::Served::kArmed) {
        s.DrainRecvmmsg(scratch_, false);
        s.served.touched = true;
        if (s.served.budget_full) CancelSocket(s);
        drain_now = drain_now || s.served.drain_pending;
      }
      if (s.served.state == SocketReceive::Served::kArmed && !s.served.armed && !s.served.disarmed && !s.served.budget_full &&
          !s.served.drain_pending)
        ArmSocket(s);
    }
    const uint64_t timeout_us = drain_now ? 0 : WaitTimeoutUs();
    SetWaitBound(static_cast<int64_t>(timeout_us) * 1000);
    EnterBegin();
    const int ready = epoll_wait(epoll_fd_, events, kEvents, static_cast<int>((timeout_us + 999) / 1000));
    EnterEnd();
    if (ready > 0) {
      const int64_t now = MonotonicNs();
      for (int i = 0; i < ready; i++) {
        if (events[i].data.u64 == kWakeKey) {
          DrainWake();
          continue;
        }
        const uint64_t slot = events[i].data.u64;
        if (slot >= slots_.size() || !slots_[slot]) continue;
        SocketReceive& s = *slots_[slot];
        s.served.touched = true;
        s.watch->last_cqe_ns.store(now, std::memory_order_relaxed);
        if (s.served.state != SocketReceive::Served::kArmed || s.served.budget_full) continue;
        if (events[i].events & (EPOLLIN | EPOLLERR)) s.DrainRecvmmsg(scratch_, false);
        // Full: out of the epoll set until JS makes room (it is level-triggered: a readable socket
        // left in it would wake the thread in a loop).
        if (s.served.budget_full) CancelSocket(s);
      }
    }
    EndTurn(MonotonicNs());
  }
}

bool PlainReceiver::ArmSocket(SocketReceive& s) {
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = s.served.slot;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, s.fd, &event) < 0 && errno != EEXIST) {
    s.ReportError(errno);
    s.served.disarmed = true;  // not retried in a loop
    return false;
  }
  s.served.armed = true;
  return true;
}

void PlainReceiver::CancelSocket(SocketReceive& s) {
  if (!s.served.armed) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, s.fd, nullptr);
  s.served.armed = false;
}

void PlainReceiver::ResumeSocket(SocketReceive&) {
  // What the socket still holds is read at the top of the loop (drain_pending).
}

}  // namespace uring_udp
