// The JavaScript face of a RingCore: argument checks, delivery of completion batches, and
// teardown on close, garbage collection, worker termination and process exit.
#pragma once

#include <napi.h>

#include <memory>

#include "js_waker.h"
#include "ring_core.h"
#include "watchdog.h"

namespace uring_udp {

// Owned by the wrapper; leaked on purpose when the ring thread is stuck in the kernel and is
// detached (it keeps using the core and the waker).
class RingWrap;
struct RingShared {
  std::unique_ptr<RingCore> core;
  // The counters the ring thread publishes: native memory, leaked with the rest should the thread
  // be left stuck (a JS array could be collected under a thread that comes back).
  double stats[kStatCount] = {};
  JsWaker waker;              // the ring thread's "completions are waiting", as a socket's (JsWaker says why not a TSFN)
  RingWrap* owner = nullptr;  // JS thread only; cleared before the wrapper goes away
};

class RingWrap : public Napi::ObjectWrap<RingWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit RingWrap(const Napi::CallbackInfo& info);
  ~RingWrap() override;

  RingCore* core() { return shared_ ? shared_->core.get() : nullptr; }

 private:
  Napi::Value Nop(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Timeout(const Napi::CallbackInfo& info);
  Napi::Value Poll(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Join(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Watch(const Napi::CallbackInfo& info);
  Napi::Value TestHold(const Napi::CallbackInfo& info);
  Napi::Value IowqMaxWorkers(const Napi::CallbackInfo& info);
  Napi::Value ReadStats(const Napi::CallbackInfo& info);
  Napi::Value Rearm(const Napi::CallbackInfo& info);
  Napi::Value Leave(const Napi::CallbackInfo& info);

  RingCore& LiveCore(const Napi::CallbackInfo& info);
  static void OnEnvCleanup(void* arg);
  static void OnWake(void* arg);
  // Hands JS the completions waiting, as libuv I/O callbacks are called (microtasks and ticks after).
  void Deliver();
  // Stops the ring thread (waiting at most timeout_ms for it), joins it and closes the
  // wake-up. Idempotent.
  void Shutdown(int timeout_ms);

  std::shared_ptr<RingShared> shared_;
  std::shared_ptr<ThreadObservation> observation_;
  std::shared_ptr<DeadlineTable> deadlines_;
  size_t external_bytes_ = 0;  // reported to V8 with napi_adjust_external_memory
  std::shared_ptr<Watched> watched_;
  napi_env env_ = nullptr;
  Napi::FunctionReference on_batch_;
  napi_async_context async_context_ = nullptr;
  bool delivering_ = false;  // inside Deliver: the async context is in use
  bool cleanup_hook_registered_ = false;
  bool close_requested_ = false;
  bool shut_down_ = false;
};

}  // namespace uring_udp
