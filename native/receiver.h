// Receivers: the native threads that read busy sockets, shared by every socket of the process.
//
// A Receiver is a thread that serves many sockets; the JS thread of a socket moves it onto one
// and off again with commands (Attach, Arm, Detach), and the receiver answers with events
// (SocketReceive::Post). Two kinds:
//   ReceiverRing   one io_uring: per socket a multishot recvmsg with its own provided-buffer
//                  group (recvmsg-multishot), or a single-shot poll re-armed after each
//                  readiness, then recvmmsg (poll-recvmmsg). The ring rule holds: only this
//                  thread sets up, enters, registers with and closes its ring.
//   PlainReceiver  no io_uring (forbidden by seccomp, disabled, missing): epoll + recvmmsg.
// ReceiverPool starts them as bursts need them — as many as there are cores by default
// (configureReceivers, URING_UDP_RECEIVERS), more only when every one is full — and stops and
// joins one when its last socket leaves. EnvLink carries a receiver's events to the JS thread
// of each Node environment (main thread or worker): one wake-up handle per environment.
#pragma once

#include <napi.h>
#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "js_waker.h"
#include "recvmmsg.h"
#include "ring_thread.h"
#include "socket_receive.h"
#include "watchdog.h"

namespace uring_udp {

// ---- the JS thread's end ------------------------------------------------------------------------

class EnvLink {
 public:
  // JS thread: this environment's link, made (with its wake-up handle) on first use.
  static std::shared_ptr<EnvLink> For(Napi::Env env);
  ~EnvLink();
  // Any thread: the socket has batches or events for its JS thread.
  void Ready(std::shared_ptr<SocketReceive> socket);
  // JS thread: a socket that a receiver reads (and that is referenced) keeps the event loop
  // alive, as its own poll handle does while the JS thread reads it.
  void Ref();
  void Unref();
  const std::shared_ptr<WatchdogChannel> channel;

  explicit EnvLink(std::shared_ptr<WatchdogChannel> channel_in) : channel(std::move(channel_in)) {}

 private:
  static void OnWake(void* arg);
  static void OnCleanup(void* arg);

  JsWaker waker_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<SocketReceive>> ready_;
  bool open_ = false;
  int refs_ = 0;  // JS thread
};

// ---- receivers ----------------------------------------------------------------------------------

enum class ReceiverKind { kRing, kPlain };

class Receiver : public RingThread {
 public:
  enum class Op { kAttach, kArm, kDetach, kTestDisarm, kTestHold };
  struct Command {
    Op op;
    std::shared_ptr<SocketReceive> socket;
    bool closing = false;
    uint32_t ms = 0;  // kTestHold
  };

  Receiver(const char* name, ReceiverKind kind, uint32_t id, std::shared_ptr<ThreadObservation> observation);
  ~Receiver() override;

  const ReceiverKind kind;
  const uint32_t id;
  // JS threads. Commands run in order, on the receiver's thread.
  void Send(Command command);
  // The pool's: only once no socket is left.
  void RequestStop();
  // What the watchdog checks of each socket on it, and whom it tells (JS threads and the
  // watchdog only: the receiver thread never takes its lock).
  const std::shared_ptr<WatchMembers> members = std::make_shared<WatchMembers>();
  std::shared_ptr<Watched> watched;  // the pool's

  // The pool's accounting (under its mutex): sockets on it, and CQ entries they may fill.
  unsigned sockets = 0;
  unsigned watching = 0;  // of them, watched (the watchdog observes the receiver while > 0)
  uint64_t load = 0;
  uint64_t capacity = ~0ull;
  bool shared = true;  // false: the reproducer's private ring
  bool failed = false;  // reported stuck: its sockets left it, and no socket joins it again

 protected:
  // The receiver's own eventfd: commands, a budget with room again, stop.
  void Wake();
  int OpenWake(std::string* failed);
  void DrainWake();
  // The loop's common steps (receiver thread).
  void RunCommands();
  void EndTurn(int64_t now);
  bool Stopping() const { return stop_.load(std::memory_order_acquire) && live_ == 0; }
  bool AnyHolding() const;  // some socket holds a batch back for a busy JS thread
  uint64_t WaitTimeoutUs() const;
  // Backend-specific (receiver thread).
  virtual int AttachSocket(SocketReceive& s, std::string* failed) = 0;  // buffers; 0 or -errno
  virtual void FreeSocket(SocketReceive& s) = 0;
  virtual bool ArmSocket(SocketReceive& s) = 0;  // false: could not (reported)
  virtual void CancelSocket(SocketReceive& s) = 0;  // armed stays true until the request has ended
  virtual void ResumeSocket(SocketReceive& s) = 0;  // after a budget pause: what was held back
  virtual void TrimSocket(SocketReceive&) {}
  virtual void PublishRingStats() {}

  std::vector<std::shared_ptr<SocketReceive>> slots_;  // index = slot; null = free
  unsigned live_ = 0;  // sockets on it
  uint64_t last_turn_datagrams_ = 0;  // the previous turn's, all sockets together (EndTurn)
  int wake_fd_ = -1;

 private:
  void Attach(const std::shared_ptr<SocketReceive>& socket);
  void Arm(SocketReceive& s);
  void Leave(SocketReceive& s, bool closing);
  void Advance(SocketReceive& s, int64_t now);
  void Finish(SocketReceive& s);
  void TrimWhenQuiet(SocketReceive& s, int64_t now);
  void TestHold(uint32_t ms);

  std::atomic<bool> stop_{false};
  // Datagrams per turn, all sockets together, over a window (EndTurn).
  int64_t window_start_ns_ = 0;
  uint64_t window_turns_ = 0;
  uint64_t window_datagrams_ = 0;
  bool sparse_ = true;
  std::vector<Command> commands_;  // guarded by mutex_ (RingThread's)
  std::vector<Command> running_;   // thread only
};

class ReceiverRing : public Receiver {
 public:
  // cq_entries, busy_wait: the reproducer's private ring (0, false: a pool ring).
  ReceiverRing(uint32_t id, uint32_t cq_entries, bool busy_wait, std::shared_ptr<ThreadObservation> observation);
  ~ReceiverRing() override;
  unsigned cq_size() const { return cq_size_; }

 private:
  int Setup(std::string* failed) override;
  void Run() override;
  void NotifyJs() override {}
  int AttachSocket(SocketReceive& s, std::string* failed) override;
  void FreeSocket(SocketReceive& s) override;
  bool ArmSocket(SocketReceive& s) override;
  void CancelSocket(SocketReceive& s) override;
  void ResumeSocket(SocketReceive& s) override;
  void TrimSocket(SocketReceive& s) override;
  void PublishRingStats() override;

  io_uring_sqe* NextSqe() { return RingThread::NextSqe(&ring_); }
  void ArmWake();
  int EnterWait(unsigned wait_nr, uint64_t timeout_us);
  void Reap();
  void HandleRecv(SocketReceive& s, int32_t res, uint32_t flags);
  void RecycleBuffers(SocketReceive& s);
  void ProcessParked(SocketReceive& s, bool stopping);
  void Gather();
  void Prefault(SocketReceive& s);
  void AddBuffers(SocketReceive& s);

  const uint32_t private_cq_;
  const bool busy_wait_;
  io_uring ring_{};
  bool ring_alive_ = false;
  unsigned cq_size_ = 0;
  bool wake_armed_ = false;
  uint64_t overflow_flag_seen_ = 0;
  std::vector<SocketReceive*> touched_;  // sockets with completions in this reap
  RecvmmsgScratch scratch_;  // the poll backend's recvmmsg, shared by the ring's sockets
};

class PlainReceiver : public Receiver {
 public:
  PlainReceiver(uint32_t id, std::shared_ptr<ThreadObservation> observation);
  ~PlainReceiver() override;

 private:
  int Setup(std::string* failed) override;
  void Run() override;
  void NotifyJs() override {}
  int AttachSocket(SocketReceive&, std::string*) override { return 0; }
  void FreeSocket(SocketReceive&) override {}
  bool ArmSocket(SocketReceive& s) override;
  void CancelSocket(SocketReceive& s) override;
  void ResumeSocket(SocketReceive& s) override;
  void TrimSocket(SocketReceive&) override { scratch_.Trim(); }

  int epoll_fd_ = -1;
  RecvmmsgScratch scratch_;
};

// ---- the pool -----------------------------------------------------------------------------------

class ReceiverPool {
 public:
  static ReceiverPool& Instance();
  // JS thread: a receiver that takes the socket on (started if need be), its share counted and
  // the socket put under its watch (socket_id, starved_ms: 0 = the watchdog's default; watch
  // false: not observed); null when none can, with *error (an errno) and *syscall.
  std::shared_ptr<Receiver> Acquire(const std::shared_ptr<SocketReceive>& socket, uint32_t socket_id, bool watch,
                                    uint32_t stuck_ms, uint32_t starved_ms, int* error, std::string* syscall);
  // JS thread: the socket has left `receiver` (its detached or stopped came, or it was abandoned):
  // a receiver left with no socket is stopped and its thread joined.
  void Release(const std::shared_ptr<Receiver>& receiver, const SocketReceive& socket);
  // JS thread: the socket leaves a receiver reported stuck, without waiting for it. The
  // receiver takes no socket again; once none is left it is asked to stop and kept (never
  // destroyed under its thread), and joined only if it ever exits.
  void Abandon(const std::shared_ptr<Receiver>& receiver, const SocketReceive& socket);
  // Receivers started per kind before sockets share them (0: the cores this process may run on).
  void Configure(unsigned threads);
  unsigned threads();
  struct Info {
    unsigned receivers = 0;
    unsigned sockets = 0;
    unsigned threads = 0;
  };
  Info info();

 private:
  ReceiverPool() = default;
  std::shared_ptr<Receiver> Start(ReceiverKind kind, const RecvConfig& config, int* error, std::string* syscall);
  void Leave(const std::shared_ptr<Receiver>& receiver, const SocketReceive& socket);
  void JoinRecovered();  // under mutex_

  std::mutex mutex_;
  std::vector<std::shared_ptr<Receiver>> receivers_;
  std::vector<std::shared_ptr<Receiver>> abandoned_;  // stuck ones left behind
  unsigned threads_ = 0;
  uint32_t next_id_ = 1;
};

// Node-API: configureReceivers(threads), receiverInfo().
Napi::Value ConfigureReceivers(const Napi::CallbackInfo& info);
Napi::Value ReceiverInfo(const Napi::CallbackInfo& info);

}  // namespace uring_udp
