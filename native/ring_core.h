// RingCore: one io_uring and the one native thread that owns it (a RingThread).
//
// The design rule (shared/DESIGN.md): the JavaScript thread never enters, registers with or
// closes an io_uring, because a kernel bug can block any of those calls forever. Everything
// that touches the ring fd happens on the ring thread: io_uring_setup, every io_uring_enter,
// every io_uring_register and the final close. The JS thread only pushes commands onto a
// mutex-protected queue (never held across a syscall) and takes completion records off another.
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "observation.h"
#include "ring_thread.h"

namespace uring_udp {

// -1 = use it when the kernel has it, 0 = never, 1 = required (fail if the kernel lacks it).
enum class Want : int8_t { kAuto = -1, kOff = 0, kRequired = 1 };

struct RingConfig {
  unsigned entries = 256;
  unsigned cq_entries = 0;  // 0: the kernel's default (2 x entries)
  bool sqpoll = false;
  unsigned sq_thread_idle_ms = 0;
  int sq_thread_cpu = -1;
  Want coop_taskrun = Want::kAuto;
  Want single_issuer = Want::kAuto;
  Want defer_taskrun = Want::kAuto;
  bool busy_wait = false;
  unsigned max_wait_ms = 500;        // bound on one wait inside io_uring_enter
  unsigned batch_count = 1;          // once a CQE is there, wait for this many ...
  unsigned batch_delay_us = 0;       // ... or this long, whichever comes first
  size_t max_pending_completions = 65536;  // past this the ring thread stops reaping
  unsigned close_timeout_ms = 2000;  // how long close waits for cancelled requests
  // cqOverflow 'prevent': the CQ cannot overflow by construction — at most a CQ's worth of
  // completions can be pending (requests beyond wait in the ring thread's queue) and polls are
  // armed single-shot, re-armed by the ring thread after each event (docs/kernel-bugs.md).
  bool prevent_overflow = false;
};

// kTestHold exists for the watchdog's tests only: it holds the ring thread in a real blocking
// syscall (see RingCore::TestHold).
// kRearm: JS has seen a single-shot poll's events; arm it again (Command.id is the poll's id).
enum class OpKind : uint8_t { kNop, kRead, kTimeout, kPollMultishot, kPollOnce, kCancel, kTestHold, kIowqMaxWorkers, kRearm };

struct Command {
  OpKind kind = OpKind::kNop;
  uint32_t id = 0;
  int32_t fd = -1;
  uint32_t poll_mask = 0;
  uint32_t len = 0;
  void* buf = nullptr;
  uint64_t offset = 0;
  uint64_t timeout_ns = 0;
  uint32_t target = 0;  // kCancel: id of the request to cancel
  int32_t slot = -1;    // watchdog deadline slot, or -1
};

// What JavaScript receives per CQE: four 32-bit words.
struct Completion {
  uint32_t id;
  int32_t res;
  uint32_t cqe_flags;
  uint32_t info;
};
constexpr uint32_t kInfoFinal = 1u;    // the request has ended and its id is free again
constexpr uint32_t kInfoRearmed = 2u;  // a multishot request ended cleanly and was re-armed

// Counters published to a Float64Array JavaScript reads without a call.
enum StatIndex : unsigned {
  kStatSubmitted,
  kStatCompleted,
  kStatCqOverflow,      // the kernel's CQ overflow counter (*cq.koverflow)
  kStatEnters,          // io_uring_enter calls made by the ring thread
  kStatOverflowFlagSeen,// times IORING_SQ_CQ_OVERFLOW was set after an enter
  kStatRearms,          // multishot requests re-armed after ending without error
  kStatInFlight,
  kStatCount
};
// The counters' names, in index order: exported to JS (boundary.cc), which names RingStats by them.
constexpr const char* kStatNames[] = {"submitted", "completed", "cqOverflows", "enters", "overflowFlagSeen", "rearms", "inFlight"};
static_assert(sizeof(kStatNames) / sizeof(kStatNames[0]) == kStatCount, "a name per ring counter");

class RingCore : public RingThread {
 public:
  using Notify = std::function<void()>;

  // stats must stay valid until the thread has been joined.
  RingCore(const RingConfig& config, double* stats, Notify notify, std::shared_ptr<ThreadObservation> observation,
           std::shared_ptr<DeadlineTable> deadlines);
  ~RingCore() override { LetGo(); }
  // Start (RingThread) waits for io_uring_setup's answer on the ring thread.

  // JS thread.
  void Push(const Command& command);
  void RequestClose();
  // Moves pending completions into *out. *closed becomes true once the ring is gone.
  void TakeCompletions(std::vector<Completion>* out, bool* closed);

  int fd() const { return ring_fd_; }
  uint32_t features() const { return features_; }
  uint32_t setup_flags() const { return setup_flags_; }
  // Polls JS asks to be multishot are armed single-shot: preventing overflow, or a kernel
  // without multishot poll (before 5.13). Known after Start.
  bool single_shot_polls() const { return single_shot_polls_; }
  unsigned cq_entries() const { return cq_entries_; }

 private:
  struct OpState {
    OpKind kind = OpKind::kNop;
    int32_t fd = -1;
    uint32_t poll_mask = 0;
    bool cancelled = false;
    int end_error = 0;  // errno to report instead of ECANCELED when the ring thread ended it
    __kernel_timespec timeout{};
    // Identity of the polled file when armed: io_uring holds its own reference to the file,
    // so closing the fd does not end the request; a changed identity means it was closed.
    uint64_t dev = 0;
    uint64_t ino = 0;
    int32_t slot = -1;
    // A multishot poll JS asked for, armed single-shot and re-armed after each event once JS
    // has seen it (kRearm); waiting for that meanwhile, not in the kernel.
    bool single_shot = false;
    bool awaiting_rearm = false;
  };

  int Setup(std::string* failed_syscall) override;
  void Run() override;
  void OnExitLocked() override;
  void NotifyJs() override;
  void ArmWake();
  void DrainCommands();
  void Prepare(const Command& command);
  io_uring_sqe* NextSqe() { return RingThread::NextSqe(&ring_); }
  void CancelAllInFlight();
  void WaitForCompletions();
  void Reap();
  void HandleCqe(const io_uring_cqe& cqe);
  void EndOp(std::unordered_map<uint32_t, OpState>::iterator it, const io_uring_cqe& cqe);
  void Deliver(const Completion& completion);
  void PublishStats();
  void CheckPolledFds();
  void TestHold(uint64_t ns);
  bool Backpressured();
  // An SQE that will complete once (prevent mode counts them against the CQ's size).
  void Submitted() { outstanding_++; }
  bool Room(const Command& command) const;
  bool PollClass(const Command& command) const;
  void SubmitDeferred();
  bool CancelDeferred(uint32_t target);
  // Ends a single-shot poll that is not in the kernel (awaiting its re-arm) with res.
  void EndIdlePoll(uint32_t id, int32_t res);

  const RingConfig config_;
  double* const stats_;
  const Notify notify_;

  io_uring ring_{};
  int ring_fd_ = -1;
  int wake_fd_ = -1;
  uint32_t features_ = 0;
  uint32_t setup_flags_ = 0;

  const std::shared_ptr<DeadlineTable> deadlines_;

  // Guarded by mutex_ (RingThread's). Never held across a syscall on the ring thread.
  std::vector<Command> pending_commands_;
  std::vector<Completion> pending_completions_;
  bool close_requested_ = false;
  bool closed_ = false;

  std::atomic<bool> wake_pending_{false};
  std::atomic<bool> notify_pending_{false};

  // Ring thread only.
  std::unordered_map<uint32_t, OpState> in_flight_;
  std::vector<Command> commands_batch_;
  std::vector<Completion> completions_batch_;
  bool closing_ = false;
  bool ring_alive_ = true;
  int64_t close_deadline_ns_ = 0;
  int64_t next_fd_check_ns_ = 0;
  unsigned armed_polls_ = 0;
  uint64_t counters_[kStatCount] = {};
  // Prevent mode: requests whose completion is not reaped yet, against the CQ's size, and the
  // requests waiting for room.
  bool single_shot_polls_ = false;
  unsigned cq_entries_ = 0;
  size_t outstanding_ = 0;
  size_t poll_outstanding_ = 0;  // of them, single-shot polls
  std::deque<Command> deferred_;        // one-shot requests waiting for room, in order
  std::deque<Command> deferred_polls_;  // polls waiting to be armed (first time, or again)
};

}  // namespace uring_udp
