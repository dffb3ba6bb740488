#include "ring_core.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "common.h"
#include "probe.h"

namespace uring_udp {

namespace {
// CQ entries kept free of counted requests in prevent mode: completions the ring thread cannot
// count (liburing's own timeout on kernels without IORING_FEAT_EXT_ARG), and room for cancels.
size_t CqSlack(size_t cq) { return std::min<size_t>(8, cq / 8); }
size_t CancelReserve(size_t cq) { return std::min<size_t>(32, cq / 4); }
// The smallest CQ prevent mode sets up: the wake-up poll, the slack and the cancel reserve
// leave a smaller one no room for any request.
constexpr unsigned kPreventMinCq = 8;
}  // namespace

RingCore::RingCore(const RingConfig& config, double* stats, Notify notify,
                   std::shared_ptr<ThreadObservation> observation, std::shared_ptr<DeadlineTable> deadlines)
    : RingThread("uring-ring", std::move(observation)),
      config_(config),
      stats_(stats),
      notify_(std::move(notify)),
      deadlines_(std::move(deadlines)) {
  SetWaitBound(config_.busy_wait ? 0
                                 : static_cast<int64_t>(config_.max_wait_ms) * 1000000 +
                                       static_cast<int64_t>(config_.batch_delay_us) * 1000);
}



// Optional flags are tried with and dropped on -EINVAL (SetupWithFallback); required ones make
// setup fail.
int RingCore::Setup(std::string* failed_syscall) {
  unsigned wanted = 0;
  if (config_.single_issuer != Want::kOff) wanted |= IORING_SETUP_SINGLE_ISSUER;
  if (config_.defer_taskrun != Want::kOff) wanted |= IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER;
  if (config_.coop_taskrun != Want::kOff) wanted |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  // SQPOLL rings cannot use DEFER_TASKRUN or COOP_TASKRUN.
  if (config_.sqpoll) wanted &= ~(IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG);

  unsigned required = 0;
  if (config_.single_issuer == Want::kRequired) required |= IORING_SETUP_SINGLE_ISSUER;
  if (config_.defer_taskrun == Want::kRequired) required |= IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER;
  if (config_.coop_taskrun == Want::kRequired) required |= IORING_SETUP_COOP_TASKRUN;

  // Drop optional flags one group at a time, most recent kernels' first.
  const unsigned drop_order[] = {
      0,
      IORING_SETUP_DEFER_TASKRUN,
      IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER,
      IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_TASKRUN_FLAG,
      IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_TASKRUN_FLAG |
          IORING_SETUP_COOP_TASKRUN,
  };
  std::vector<unsigned> flag_sets;
  for (unsigned drop : drop_order)
    if (!(drop & required)) flag_sets.push_back(wanted & ~drop);
  io_uring_params base;
  std::memset(&base, 0, sizeof(base));
  unsigned cq_wanted = config_.cq_entries;
  // Prevent mode counts every completion against the CQ, and the ring's own wake-up poll and a
  // reserve for cancels take room there: a CQ smaller than kPreventMinCq would leave requests no
  // room at all, so it is raised to that.
  if (config_.prevent_overflow && (cq_wanted ? cq_wanted : 2 * config_.entries) < kPreventMinCq) cq_wanted = kPreventMinCq;
  if (cq_wanted) {
    base.flags |= IORING_SETUP_CQSIZE;
    base.cq_entries = cq_wanted;
  }
  if (config_.sqpoll) {
    base.flags |= IORING_SETUP_SQPOLL;
    base.sq_thread_idle = config_.sq_thread_idle_ms;
    if (config_.sq_thread_cpu >= 0) {
      base.flags |= IORING_SETUP_SQ_AFF;
      base.sq_thread_cpu = static_cast<unsigned>(config_.sq_thread_cpu);
    }
  }
  io_uring_params params;
  const int result = SetupWithFallback(&ring_, config_.entries, base, flag_sets, &params);
  if (result < 0) {
    *failed_syscall = "io_uring_setup";
    return result;
  }
  ring_fd_ = ring_.ring_fd;
  features_ = params.features;
  setup_flags_ = ring_.flags;
  cq_entries_ = params.cq_entries;
  // Multishot polls are single-shot ones re-armed here when overflow is prevented, and where the
  // kernel has no multishot poll (found by trying, once per process: ReceiveCapabilitiesNow).
  single_shot_polls_ = config_.prevent_overflow || !ReceiveCapabilitiesNow().multishot_poll;

  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    int err = errno;
    io_uring_queue_exit(&ring_);
    *failed_syscall = "eventfd";
    return -err;
  }
  return 0;
}

void RingCore::Run() {
  observation().ring_fd.store(ring_fd_, std::memory_order_relaxed);
  ArmWake();
  for (;;) {
    DrainCommands();
    if (closing_) {
      if (in_flight_.empty()) break;
      if (MonotonicNs() > close_deadline_ns_) break;
    }
    if (Backpressured()) continue;
    CheckPolledFds();
    WaitForCompletions();
    Reap();
  }

  // The ring's final close happens here, on the ring thread: the kernel's release path
  // takes ctx->uring_lock like io_uring_enter does.
  PublishStats();
  ring_alive_ = false;
  io_uring_queue_exit(&ring_);
  close(wake_fd_);
  wake_fd_ = -1;
  for (auto& entry : in_flight_) {
    // Requests the kernel never answered before the close deadline: end them for JS.
    if (entry.second.slot >= 0) deadlines_->slots[entry.second.slot].id.store(0, std::memory_order_release);
    Deliver(Completion{entry.first, -ECANCELED, 0, kInfoFinal});
  }
  in_flight_.clear();
  PublishStats();
}

void RingCore::OnExitLocked() {
  pending_completions_.insert(pending_completions_.end(), completions_batch_.begin(), completions_batch_.end());
  completions_batch_.clear();
  closed_ = true;
}

void RingCore::NotifyJs() {
  notify_pending_.store(true, std::memory_order_release);
  notify_();
}

void RingCore::ArmWake() {
  io_uring_sqe* sqe = NextSqe();
  // Single-shot, re-armed after each wake-up: at most one completion pending, whatever the mode.
  io_uring_prep_poll_add(sqe, wake_fd_, POLLIN);
  io_uring_sqe_set_data64(sqe, MakeUserData(kTagWake, 0));
  Submitted();
}

// Prevent mode: whether the request may go to the kernel now, its completion counted against
// the CQ's size. Cancels may use a reserve the other requests leave free, so a ring full of
// armed polls can still cancel them.
bool RingCore::Room(const Command& command) const {
  if (!config_.prevent_overflow || command.kind == OpKind::kTestHold || command.kind == OpKind::kIowqMaxWorkers) return true;
  const size_t reserve = std::max<size_t>(1, CancelReserve(cq_entries_));
  const size_t limit = cq_entries_ > CqSlack(cq_entries_) + reserve + 1 ? cq_entries_ - CqSlack(cq_entries_) - reserve : 1;
  if (command.kind == OpKind::kCancel) {
    // A cancel of a request that is not in the kernel (waiting for room, or a poll waiting to be
    // armed again) needs no room: it is ended here.
    auto target = in_flight_.find(command.target);
    if (target == in_flight_.end() || target->second.awaiting_rearm) return true;
    return outstanding_ < limit + reserve;
  }
  // Polls stay armed until their fd is ready, perhaps for ever: they may take half the room,
  // so other requests are never held up behind them (more polls are armed in turn).
  if (PollClass(command)) return outstanding_ < limit && poll_outstanding_ < std::max<size_t>(1, limit / 2);
  return outstanding_ < limit;
}

bool RingCore::PollClass(const Command& command) const {
  return command.kind == OpKind::kRearm || (command.kind == OpKind::kPollMultishot && single_shot_polls_);
}

// Requests that waited for room, in order (polls in their own line), as far as there is room now.
void RingCore::SubmitDeferred() {
  for (std::deque<Command>* line : {&deferred_, &deferred_polls_}) {
    while (!line->empty() && !closing_ && Room(line->front())) {
      const Command command = line->front();
      line->pop_front();
      Prepare(command);
    }
  }
}

// A cancel of a request still waiting for room ends it here: the kernel never saw it.
bool RingCore::CancelDeferred(uint32_t target) {
  for (std::deque<Command>* line : {&deferred_, &deferred_polls_}) {
    for (auto it = line->begin(); it != line->end(); ++it) {
      if (it->id != target || it->kind == OpKind::kCancel) continue;
      const bool rearm = it->kind == OpKind::kRearm;
      if (!rearm && it->slot >= 0) deadlines_->slots[it->slot].id.store(0, std::memory_order_release);
      line->erase(it);
      if (rearm) EndIdlePoll(target, -ECANCELED);  // a poll waiting for room to be armed again
      else Deliver(Completion{target, -ECANCELED, 0, kInfoFinal});
      return true;
    }
  }
  return false;
}

void RingCore::EndIdlePoll(uint32_t id, int32_t res) {
  auto op = in_flight_.find(id);
  if (op == in_flight_.end()) return;
  io_uring_cqe ended{};
  ended.res = res;
  EndOp(op, ended);
}

void RingCore::Push(const Command& command) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_commands_.push_back(command);
  }
  // One eventfd write per burst of commands: only the first push after the ring thread
  // drained the queue pays for it.
  if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) {
    uint64_t one = 1;
    ssize_t written = write(wake_fd_, &one, sizeof(one));
    (void)written;  // EAGAIN only when the counter is saturated: a wake-up is pending anyway
  }
  state_changed_.notify_all();
}

void RingCore::RequestClose() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (close_requested_) return;
    close_requested_ = true;
  }
  if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) {
    uint64_t one = 1;
    ssize_t written = write(wake_fd_, &one, sizeof(one));
    (void)written;
  }
  state_changed_.notify_all();
}

void RingCore::TakeCompletions(std::vector<Completion>* out, bool* closed) {
  notify_pending_.store(false, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    out->swap(pending_completions_);
    pending_completions_.clear();
    *closed = closed_;
  }
  state_changed_.notify_all();  // releases a ring thread held back by backpressure
}

void RingCore::DrainCommands() {
  bool close_now = false;
  wake_pending_.store(false, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    commands_batch_.swap(pending_commands_);
    close_now = close_requested_;
  }
  for (const Command& command : commands_batch_) {
    // In order: a request waits behind those already waiting for room.
    std::deque<Command>& line = PollClass(command) ? deferred_polls_ : deferred_;
    const bool queued = !line.empty() && command.kind != OpKind::kCancel;
    if (!closing_ && (queued || !Room(command))) {
      line.push_back(command);
      continue;
    }
    Prepare(command);
  }
  commands_batch_.clear();
  if (close_now && !closing_) {
    closing_ = true;
    close_deadline_ns_ = MonotonicNs() + static_cast<int64_t>(config_.close_timeout_ms) * 1000000;
    // What never reached the kernel ends now.
    for (std::deque<Command>* line : {&deferred_, &deferred_polls_}) {
      for (const Command& command : *line) {
        if (command.kind == OpKind::kRearm) continue;  // its poll is ended below, with the other idle ones
        if (command.slot >= 0) deadlines_->slots[command.slot].id.store(0, std::memory_order_release);
        Deliver(Completion{command.id, -ECANCELED, 0, kInfoFinal});
      }
      line->clear();
    }
    CancelAllInFlight();
  }
}

void RingCore::Prepare(const Command& command) {
  if (closing_ && command.kind == OpKind::kRearm) return;  // its poll was ended with the close
  if (closing_ && command.kind != OpKind::kCancel) {
    // Raced with close: never reaches the kernel.
    if (command.slot >= 0) deadlines_->slots[command.slot].id.store(0, std::memory_order_release);
    Deliver(Completion{command.id, -ECANCELED, 0, kInfoFinal});
    return;
  }
  if (command.kind == OpKind::kTestHold) {
    TestHold(command.timeout_ns);
    Deliver(Completion{command.id, 0, 0, kInfoFinal});
    return;
  }
  if (command.kind == OpKind::kIowqMaxWorkers) {
    // io_uring_register, like every call on the ring fd, is made on this thread.
    unsigned values[2] = {static_cast<unsigned>(command.offset), command.len};
    EnterBegin();
    int result = io_uring_register_iowq_max_workers(&ring_, values);
    EnterEnd();
    Deliver(Completion{command.id, result, 0, kInfoFinal});
    return;
  }
  if (command.kind == OpKind::kRearm) {
    // JS has seen a single-shot poll's events: arm it again (unless it ended meanwhile).
    auto op = in_flight_.find(command.id);
    if (op == in_flight_.end() || !op->second.awaiting_rearm) return;
    op->second.awaiting_rearm = false;
    io_uring_sqe* sqe = NextSqe();
    io_uring_prep_poll_add(sqe, op->second.fd, op->second.poll_mask);
    io_uring_sqe_set_data64(sqe, MakeUserData(kTagUser, command.id));
    Submitted();
    poll_outstanding_++;
    return;
  }
  if (command.kind == OpKind::kCancel) {
    auto target = in_flight_.find(command.target);
    const bool idle = target != in_flight_.end() && target->second.awaiting_rearm;
    if (idle || CancelDeferred(command.target)) {
      // Never reached the kernel, or not in it now: ended here.
      if (idle) EndIdlePoll(command.target, -ECANCELED);
      Deliver(Completion{command.id, 0, 0, kInfoFinal});  // found and cancelled
      return;
    }
  }
  io_uring_sqe* sqe = NextSqe();
  switch (command.kind) {
    case OpKind::kNop:
      io_uring_prep_nop(sqe);
      break;
    case OpKind::kRead:
      io_uring_prep_read(sqe, command.fd, command.buf, command.len, command.offset);
      break;
    case OpKind::kTimeout: {
      // The kernel reads the timespec when it consumes the SQE, which with SQPOLL happens
      // later on another thread: keep it in the request's state, whose address is stable
      // (unordered_map never moves its elements).
      OpState& op = in_flight_[command.id];
      op = OpState{};
      op.kind = command.kind;
      op.slot = command.slot;
      op.timeout.tv_sec = static_cast<long long>(command.timeout_ns / 1000000000);
      op.timeout.tv_nsec = static_cast<long long>(command.timeout_ns % 1000000000);
      io_uring_prep_timeout(sqe, &op.timeout, 0, 0);
      io_uring_sqe_set_data64(sqe, MakeUserData(kTagUser, command.id));
      Submitted();
      counters_[kStatSubmitted]++;
      return;
    }
    case OpKind::kPollMultishot:
      if (single_shot_polls_) io_uring_prep_poll_add(sqe, command.fd, command.poll_mask);
      else io_uring_prep_poll_multishot(sqe, command.fd, command.poll_mask);
      break;
    case OpKind::kPollOnce:
      io_uring_prep_poll_add(sqe, command.fd, command.poll_mask);
      break;
    case OpKind::kTestHold:
    case OpKind::kIowqMaxWorkers:
    case OpKind::kRearm:
      return;  // handled above; not an SQE
    case OpKind::kCancel: {
      auto target = in_flight_.find(command.target);
      if (target != in_flight_.end()) target->second.cancelled = true;
      io_uring_prep_cancel64(sqe, MakeUserData(kTagUser, command.target), 0);
      break;
    }
  }
  io_uring_sqe_set_data64(sqe, MakeUserData(kTagUser, command.id));
  Submitted();
  OpState& op = in_flight_[command.id];
  op = OpState{};
  op.kind = command.kind;
  op.fd = command.fd;
  op.poll_mask = command.poll_mask;
  op.slot = command.slot;
  op.single_shot = command.kind == OpKind::kPollMultishot && single_shot_polls_;
  if (op.single_shot) poll_outstanding_++;
  if (command.kind == OpKind::kPollMultishot || command.kind == OpKind::kPollOnce) {
    struct stat st;
    if (fstat(command.fd, &st) == 0) {
      op.dev = st.st_dev;
      op.ino = st.st_ino;
    }
    armed_polls_++;
  }
  counters_[kStatSubmitted]++;
}

// An armed poll whose fd was closed (or closed and reused for another file) would wait
// forever: end it with EBADF instead. Checked every time round the ring thread's loop, at most
// every 200 ms, only while polls are armed: an idle ring notices within max(200 ms, maxWaitMs).
void RingCore::CheckPolledFds() {
  if (armed_polls_ == 0 || closing_) return;
  const int64_t now = MonotonicNs();
  if (now < next_fd_check_ns_) return;
  next_fd_check_ns_ = now + 200 * 1000000LL;
  std::vector<uint32_t> idle_gone;
  for (auto& entry : in_flight_) {
    OpState& op = entry.second;
    if ((op.kind != OpKind::kPollMultishot && op.kind != OpKind::kPollOnce) || op.cancelled) continue;
    struct stat st;
    bool gone = fstat(op.fd, &st) != 0 || static_cast<uint64_t>(st.st_dev) != op.dev ||
                static_cast<uint64_t>(st.st_ino) != op.ino;
    if (!gone) continue;
    op.cancelled = true;
    op.end_error = EBADF;
    if (op.awaiting_rearm) {
      idle_gone.push_back(entry.first);  // not in the kernel: ended below
      continue;
    }
    io_uring_sqe* sqe = NextSqe();
    io_uring_prep_cancel64(sqe, MakeUserData(kTagUser, entry.first), 0);
    io_uring_sqe_set_data64(sqe, MakeUserData(kTagInternal, 0));
    Submitted();
  }
  for (uint32_t id : idle_gone) EndIdlePoll(id, -EBADF);
}

void RingCore::CancelAllInFlight() {
  std::vector<uint32_t> idle;
  for (auto& entry : in_flight_) {
    if (entry.second.kind == OpKind::kCancel) continue;
    entry.second.cancelled = true;
    if (entry.second.awaiting_rearm) {
      idle.push_back(entry.first);  // not in the kernel: nothing to cancel there
      continue;
    }
    io_uring_sqe* sqe = NextSqe();
    io_uring_prep_cancel64(sqe, MakeUserData(kTagUser, entry.first), 0);
    io_uring_sqe_set_data64(sqe, MakeUserData(kTagInternal, 0));
    Submitted();
  }
  for (uint32_t id : idle) EndIdlePoll(id, -ECANCELED);
}

bool RingCore::Backpressured() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (pending_completions_.size() < config_.max_pending_completions || close_requested_) return false;
  // JavaScript is behind: stop reaping (the CQ, then the socket buffers, absorb the burst)
  // and wait, outside the kernel, until it drains.
  state_changed_.wait_for(lock, std::chrono::milliseconds(config_.max_wait_ms), [this] {
    return pending_completions_.size() < config_.max_pending_completions || close_requested_;
  });
  return true;
}

void RingCore::WaitForCompletions() {
  int result;
  io_uring_cqe* cqe = nullptr;
  if (config_.busy_wait) {
    // Busy mode polls the CQ without sleeping, entering with GETEVENTS every time around, as
    // the busy-polling receivers in the kernel bug reports did.
    EnterBegin();
    result = io_uring_submit_and_get_events(&ring_);
    EnterEnd();
  } else if (io_uring_cq_ready(&ring_) > 0) {
    if (io_uring_sq_ready(&ring_) > 0) {
      EnterBegin();
      result = io_uring_submit(&ring_);
      EnterEnd();
    }
  } else {
    __kernel_timespec ts = TimespecFromUs(static_cast<uint64_t>(config_.max_wait_ms) * 1000);
    EnterBegin();
    result = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    EnterEnd();
    if (config_.batch_count > 1 && io_uring_cq_ready(&ring_) > 0 &&
        io_uring_cq_ready(&ring_) < config_.batch_count) {
      // One CQE is here: give its neighbours batch_delay_us to arrive so JS is crossed once
      // for the lot (cross-thread wake-ups, not the kernel, dominate small batches).
      ts = TimespecFromUs(config_.batch_delay_us);
      EnterBegin();
      result = io_uring_submit_and_wait_timeout(&ring_, &cqe, config_.batch_count, &ts, nullptr);
      EnterEnd();
    }
  }
  (void)result;  // -ETIME, -EINTR, -EAGAIN, -EBUSY: all handled by reaping what is there
  if (IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_CQ_OVERFLOW) counters_[kStatOverflowFlagSeen]++;
}

void RingCore::Reap() {
  unsigned head;
  unsigned count = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    HandleCqe(*cqe);
    count++;
  }
  if (count) io_uring_cq_advance(&ring_, count);
  SubmitDeferred();
  // Stats first, so JS sees counters at least as new as the completions it is handed.
  PublishStats();
  if (!completions_batch_.empty()) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (pending_completions_.empty()) pending_completions_.swap(completions_batch_);
      else pending_completions_.insert(pending_completions_.end(), completions_batch_.begin(), completions_batch_.end());
    }
    completions_batch_.clear();
    // One coalesced wake-up of the JS thread per batch, however many CQEs it holds.
    if (!notify_pending_.exchange(true, std::memory_order_acq_rel)) notify_();
  }
}

void RingCore::HandleCqe(const io_uring_cqe& cqe) {
  const uint64_t tag = TagOf(cqe.user_data);
  const bool more = (cqe.flags & IORING_CQE_F_MORE) != 0;
  if ((tag == kTagWake || tag == kTagInternal || tag == kTagUser) && !more && outstanding_ > 0) outstanding_--;
  if (tag == kTagWake) {
    uint64_t value;
    ssize_t got = read(wake_fd_, &value, sizeof(value));
    (void)got;
    if (!more && !closing_) ArmWake();
    return;
  }
  if (tag != kTagUser) return;  // internal cancels and liburing's own timeouts

  counters_[kStatCompleted]++;
  const uint32_t id = IdOf(cqe.user_data);
  auto it = in_flight_.find(id);
  if (it == in_flight_.end()) {
    Deliver(Completion{id, cqe.res, cqe.flags, kInfoFinal});
    return;
  }
  OpState& op = it->second;
  if (op.slot >= 0) deadlines_->slots[op.slot].last_cqe_ns.store(MonotonicNs(), std::memory_order_relaxed);
  if (op.single_shot && poll_outstanding_ > 0) poll_outstanding_--;  // its one completion
  if (op.single_shot) {
    if (cqe.res < 0) {
      EndOp(it, cqe);
      return;
    }
    // An event of a multishot poll armed single-shot: to JS exactly what a multishot poll's CQE
    // says (F_MORE: it goes on) — unless it was cancelled (or its fd closed) meanwhile, when it
    // ends as a cancelled multishot poll does.
    Deliver(Completion{id, cqe.res, cqe.flags | IORING_CQE_F_MORE, 0});
    if (op.cancelled || closing_) {
      io_uring_cqe ended = cqe;
      ended.res = -ECANCELED;
      ended.flags = 0;
      EndOp(it, ended);
      return;
    }
    // Armed again once JS has seen this event (kRearm, sent after its 'ready' listeners ran):
    // as a multishot poll, a fd still readable then but not re-triggered is not reported again
    // and again, and the CQ holds one completion per poll at most.
    op.awaiting_rearm = true;
    return;
  }
  if (op.kind == OpKind::kPollMultishot && !(cqe.flags & IORING_CQE_F_MORE)) {
    if (cqe.res >= 0 && !op.cancelled && !closing_) {
      // The kernel ended the multishot request without an error (on 6.1 that happens when its
      // CQE could not be posted, i.e. the CQ overflowed): re-arm it under the same id.
      io_uring_sqe* sqe = NextSqe();
      io_uring_prep_poll_multishot(sqe, op.fd, op.poll_mask);
      io_uring_sqe_set_data64(sqe, cqe.user_data);
      counters_[kStatRearms]++;
      counters_[kStatSubmitted]++;
      Deliver(Completion{id, cqe.res, cqe.flags, kInfoRearmed});
      return;
    }
    EndOp(it, cqe);
    return;
  }
  if (op.kind == OpKind::kPollMultishot) {
    Deliver(Completion{id, cqe.res, cqe.flags, 0});
    return;
  }
  EndOp(it, cqe);
}

void RingCore::EndOp(std::unordered_map<uint32_t, OpState>::iterator it, const io_uring_cqe& cqe) {
  const OpState& op = it->second;
  int32_t res = cqe.res;
  if (op.end_error && res == -ECANCELED) res = -op.end_error;
  if (op.kind == OpKind::kPollMultishot || op.kind == OpKind::kPollOnce) armed_polls_--;
  // The request has ended: its watchdog slot is free (JS reuses it only after this batch).
  if (op.slot >= 0) deadlines_->slots[op.slot].id.store(0, std::memory_order_release);
  const uint32_t id = it->first;
  in_flight_.erase(it);
  Deliver(Completion{id, res, cqe.flags, kInfoFinal});
}

void RingCore::Deliver(const Completion& completion) { completions_batch_.push_back(completion); }

// Test-only: holds this thread in a real blocking syscall, in state D, the way the known
// kernel bugs do: vfork() suspends the parent until the child exits, uninterruptibly. The
// child only sleeps and _exits (async-signal-safe, as vfork requires).
void RingCore::TestHold(uint64_t ns) {
  pid_t child = vfork();
  if (child == 0) {
    struct timespec ts;
    ts.tv_sec = static_cast<time_t>(ns / 1000000000);
    ts.tv_nsec = static_cast<long>(ns % 1000000000);
    nanosleep(&ts, nullptr);
    _exit(0);
  }
  if (child > 0) waitpid(child, nullptr, 0);
}

void RingCore::PublishStats() {
  if (ring_alive_) {
    counters_[kStatCqOverflow] = IO_URING_READ_ONCE(*ring_.cq.koverflow);
    PublishRing(ring_, counters_[kStatOverflowFlagSeen]);
  }
  counters_[kStatEnters] = enters();
  size_t waiting = deferred_.size();
  for (const Command& command : deferred_polls_) waiting += command.kind == OpKind::kRearm ? 0 : 1;
  counters_[kStatInFlight] = in_flight_.size() + waiting;
  // Relaxed stores: each counter is read on its own; no reader needs them consistent
  // with one another.
  for (unsigned i = 0; i < kStatCount; i++) {
    double value = static_cast<double>(counters_[i]);
    __atomic_store(&stats_[i], &value, __ATOMIC_RELAXED);
  }
}

}  // namespace uring_udp
