// The JavaScript face of a UDP socket: its syscalls (udp_socket.h), its direct path on the JS
// thread (udp_direct.cc), its moves onto and off a pooled receiver (receiver.h), and the
// delivery of its batches to JS (udp_delivery.cc).
#pragma once

#include <napi.h>
#include <uv.h>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "receiver.h"
#include "socket_receive.h"
#include "udp_direct.h"

namespace uring_udp {

class UdpWrap : public Napi::ObjectWrap<UdpWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit UdpWrap(const Napi::CallbackInfo& info);
  ~UdpWrap() override;

  // EnvLink: a receiver has batches or events for this socket (`from`: its receive state, or
  // one it abandoned).
  void OnReceiverEvents(SocketReceive* from);

 private:
  // Where the socket is read. kDirect: by the JS thread, no receiver. kAttaching: by the JS
  // thread, while a receiver warms its buffers. kWarm: by the JS thread, the receiver holding
  // its warm buffers (handed back; the next burst moves it at once). kReceiver: by the receiver.
  // kLeaving: closing, the receiver letting it go. kClosed: nothing reads it any more.
  enum class Where { kUnbound, kDirect, kAttaching, kWarm, kReceiver, kLeaving, kClosed };

  Napi::Value SetOption(const Napi::CallbackInfo& info);
  Napi::Value GetOption(const Napi::CallbackInfo& info);
  Napi::Value Bind(const Napi::CallbackInfo& info);
  Napi::Value Adopt(const Napi::CallbackInfo& info);
  Napi::Value Connect(const Napi::CallbackInfo& info);
  Napi::Value Disconnect(const Napi::CallbackInfo& info);
  Napi::Value LocalAddress(const Napi::CallbackInfo& info);
  Napi::Value RemoteAddress(const Napi::CallbackInfo& info);
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value SendMany(const Napi::CallbackInfo& info);
  Napi::Value SetGso(const Napi::CallbackInfo& info);
  Napi::Value SendStats(const Napi::CallbackInfo& info);
  Napi::Value TestRefuseTos(const Napi::CallbackInfo& info);
  Napi::Value TestLatePause(const Napi::CallbackInfo& info);
  Napi::Value Membership(const Napi::CallbackInfo& info);
  Napi::Value SourceMembership(const Napi::CallbackInfo& info);
  Napi::Value MulticastInterface(const Napi::CallbackInfo& info);
  Napi::Value StartReceiving(const Napi::CallbackInfo& info);
  Napi::Value StopReceiving(const Napi::CallbackInfo& info);
  Napi::Value CloseFd(const Napi::CallbackInfo& info);
  Napi::Value Backend(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value ThreadId(const Napi::CallbackInfo& info);
  Napi::Value TestDisarm(const Napi::CallbackInfo& info);
  Napi::Value Direct(const Napi::CallbackInfo& info);
  Napi::Value Attached(const Napi::CallbackInfo& info);
  Napi::Value RecvStats(const Napi::CallbackInfo& info);
  Napi::Value KernelDropsMethod(const Napi::CallbackInfo& info);
  Napi::Value SettleMethod(const Napi::CallbackInfo& info);
  Napi::Value FailoverMethod(const Napi::CallbackInfo& info);
  Napi::Value TestHoldReceiver(const Napi::CallbackInfo& info);

  // The receiver: a burst asks for one, a second burst once it is warm hands the socket over.
  int Attach(bool arm, std::string* syscall);
  void OnBurst();
  void HandOver();
  void LeaveReceiver();
  void UpdateLoopRef();
  // After the budget got room: a direct path paused for want of it reads again.
  void AfterRelease();
  void RefreshKernelDrops();
  void StartDirect();
  void StopDirect();
  void CloseDirect();
  static void OnPoll(uv_poll_t* handle, int status, int events);
  // Calls the JS batch callback as libuv I/O callbacks are called (microtasks and ticks after),
  // then settles the batches JS did not defer.
  void CallOnBatch(std::vector<std::unique_ptr<RecvBatch>>& batches, int error, bool stopped);
  bool BatchArguments(std::vector<std::unique_ptr<RecvBatch>>& batches, int error, bool stopped, napi_value args[3],
                      std::vector<uint32_t>* tokens);
  uint32_t Lend(std::unique_ptr<RecvBatch>& batch, bool lent);
  void Settle(uint32_t token, bool reuse);
  void ReleaseAsyncContext();

  int LiveFd(const Napi::CallbackInfo& info);
  static void OnEnvCleanup(void* arg);
  void Shutdown(int timeout_ms);

  int fd_ = -1;
  int family_ = 4;
  // UDP GSO for sendMany: on once JS asks and the kernel has it; off for good after the kernel
  // refused a GSO send (gso_fallbacks_).
  bool gso_ = false;
  uint64_t gso_sends_ = 0;
  uint64_t gso_datagrams_ = 0;
  uint64_t gso_fallbacks_ = 0;
  // ECN marks on send (sendMany's ecn): off for good after the kernel refused a TOS byte.
  bool ecn_send_ = true;
  bool test_refuse_tos_ = false;  // testRefuseTos()
  uint64_t ecn_fallbacks_ = 0;
  Where where_ = Where::kUnbound;
  std::shared_ptr<SocketReceive> receive_;  // from startReceiving on
  std::shared_ptr<Receiver> receiver_;      // while on one (from Acquire to its detached/stopped)
  // Receive states left with a receiver reported stuck (failover): should it come back, what it
  // had taken is still delivered from them.
  std::vector<std::shared_ptr<SocketReceive>> abandoned_;
  // The socket's watchdog settings, for each receiver it joins.
  uint32_t socket_id_ = 0;
  bool watch_ = true;
  uint32_t stuck_ms_ = 0;
  uint32_t starved_ms_ = 0;
  int64_t attach_retry_ns_ = 0;  // a failed attach is not tried again before then
  // The direct path's traffic over the last window (loop time, ms), and until when only a burst
  // (not a steady rate) moves the socket: set by a hand-back, against moving to and fro.
  uint64_t window_start_ms_ = 0;
  uint64_t window_count_ = 0;
  uint64_t window_prev_ = 0;
  uint64_t steady_after_ms_ = 0;
  bool SteadyLoad(unsigned read);
  Napi::FunctionReference on_batch_;
  napi_env env_ = nullptr;
  bool cleanup_hook_registered_ = false;
  bool refed_ = true;
  bool loop_ref_ = false;  // holding its EnvLink's reference
  // The direct path (JS thread).
  std::unique_ptr<DirectReader> direct_;
  uv_poll_t* poll_ = nullptr;
  bool polling_ = false;
  bool direct_paused_ = false;  // the direct path stopped polling because the budget was full
  napi_async_context async_context_ = nullptr;
  bool delivering_ = false;  // inside CallOnBatch: the async context is in use
  // JS thread only: the batches JS has been handed and not yet settled (see Lend), the tokens of
  // the delivery under way, and the direct path's batch list (both kept to save mallocs).
  struct LentBatch {
    bool active = false;
    uint32_t generation = 0;
    int64_t held_bytes = 0;
    std::shared_ptr<Arena> arena;  // lent arenas only: back to their pool when settled for reuse
    std::shared_ptr<ArenaPool> origin;
    std::shared_ptr<ReceiveBudget> budget;  // what it is held against
  };
  std::vector<LentBatch> lent_;
  std::vector<uint32_t> free_lent_;
  std::vector<uint32_t> delivery_tokens_;
  std::vector<std::unique_ptr<RecvBatch>> direct_batches_;
  napi_ref on_batch_ref_ = nullptr;
  // The direct path's counters (DirectReader publishes them here), read with recvStats(): no
  // JS array per socket (a short-lived socket's ArrayBuffers are what its GC pays for).
  double direct_stats_[kDirectStatCount] = {};
  int64_t last_kernel_drops_ = 0;
};

}  // namespace uring_udp
