// The JavaScript face of a UDP socket and its receiver thread.
#pragma once

#include <napi.h>
#include <uv.h>
#include <sys/socket.h>

#include <memory>
#include <string>

#include "js_waker.h"
#include "udp_direct.h"
#include "udp_receiver.h"
#include "watchdog.h"

namespace uring_udp {

// Owned by the wrapper; leaked on purpose when the receiver thread is stuck in the kernel and
// is detached (it keeps using the receiver and the waker).
class UdpWrap;
struct UdpShared {
  std::shared_ptr<ReceiveBudget> budget = std::make_shared<ReceiveBudget>();
  std::shared_ptr<ArenaPool> pool = std::make_shared<ArenaPool>(budget);
  std::unique_ptr<UdpReceiver> receiver;
  JsWaker waker;             // the receiver thread's "batches are waiting" (JsWaker says why not a TSFN)
  UdpWrap* owner = nullptr;  // JS thread only; cleared before the wrapper goes away
};

class UdpWrap : public Napi::ObjectWrap<UdpWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit UdpWrap(const Napi::CallbackInfo& info);
  ~UdpWrap() override;

  // Hybrid sockets: the JS thread reads the socket itself (the receiver handed it over).
  void StartDirect();

 private:
  Napi::Value SetOption(const Napi::CallbackInfo& info);
  Napi::Value GetOption(const Napi::CallbackInfo& info);
  Napi::Value Bind(const Napi::CallbackInfo& info);
  Napi::Value Connect(const Napi::CallbackInfo& info);
  Napi::Value Disconnect(const Napi::CallbackInfo& info);
  Napi::Value LocalAddress(const Napi::CallbackInfo& info);
  Napi::Value RemoteAddress(const Napi::CallbackInfo& info);
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value SendMany(const Napi::CallbackInfo& info);
  Napi::Value Membership(const Napi::CallbackInfo& info);
  Napi::Value SourceMembership(const Napi::CallbackInfo& info);
  Napi::Value MulticastInterface(const Napi::CallbackInfo& info);
  Napi::Value StartReceiving(const Napi::CallbackInfo& info);
  Napi::Value StopReceiving(const Napi::CallbackInfo& info);
  Napi::Value Join(const Napi::CallbackInfo& info);
  Napi::Value CloseFd(const Napi::CallbackInfo& info);
  Napi::Value Backend(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value ThreadId(const Napi::CallbackInfo& info);
  Napi::Value TestDisarm(const Napi::CallbackInfo& info);
  Napi::Value Direct(const Napi::CallbackInfo& info);
  Napi::Value KernelDropsMethod(const Napi::CallbackInfo& info);
  Napi::Value SettleMethod(const Napi::CallbackInfo& info);
  // After the budget got room: a direct path paused for want of it reads again.
  void AfterRelease();
  void RefreshKernelDrops();
  void StopDirect();
  void CloseDirect();
  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnWake(void* arg);
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
  void StopAndJoin(int timeout_ms);

  int fd_ = -1;
  int family_ = 4;
  std::shared_ptr<UdpShared> shared_;
  std::shared_ptr<Watched> watched_;
  Napi::FunctionReference on_batch_;
  Napi::Reference<Napi::Float64Array> stats_ref_;
  napi_env env_ = nullptr;
  bool cleanup_hook_registered_ = false;
  bool joined_ = false;
  bool refed_ = true;
  // The direct path (JS thread).
  std::unique_ptr<DirectReader> direct_;
  uv_poll_t* poll_ = nullptr;
  bool polling_ = false;
  bool direct_paused_ = false;
  uint32_t direct_max_datagram_ = 0;  // the direct path stopped polling because the budget was full
  napi_async_context async_context_ = nullptr;
  bool delivering_ = false;  // inside CallOnBatch: the async context is in use
  // JS thread only: the batches JS has been handed and not yet settled (see Lend), the tokens of
  // the delivery under way, and the direct path's batch list (both kept to save mallocs).
  struct LentBatch {
    bool active = false;
    uint32_t generation = 0;
    int64_t held_bytes = 0;
    std::shared_ptr<Arena> arena;  // lent arenas only: back to the pool when settled for reuse
  };
  std::vector<LentBatch> lent_;
  std::vector<uint32_t> free_lent_;
  std::vector<uint32_t> delivery_tokens_;
  std::vector<std::unique_ptr<RecvBatch>> direct_batches_;
  napi_ref on_batch_ref_ = nullptr;
  Napi::Reference<Napi::Float64Array> direct_stats_ref_;
  double* direct_stats_ = nullptr;
  int64_t last_kernel_drops_ = 0;
};

}  // namespace uring_udp
