// The JavaScript face of a RingCore: argument checks, delivery of completion batches, and
// teardown on close, garbage collection, worker termination and process exit.
#pragma once

#include <napi.h>

#include <memory>

#include "ring_core.h"
#include "watchdog.h"

namespace uring_udp {

struct RingShared;
using SharedHolder = std::shared_ptr<RingShared>;
void DeliverBatch(Napi::Env env, Napi::Function callback, SharedHolder* context, void* unused);
using DeliverFunction = Napi::TypedThreadSafeFunction<SharedHolder, void, DeliverBatch>;

// Owned jointly by the RingWrap and the delivery function's context, so a delivery that runs
// after the wrapper was collected still finds live memory. The ring thread notifies with a
// data-less NonBlockingCall: nothing is allocated per batch.
struct RingShared {
  std::unique_ptr<RingCore> core;
  DeliverFunction deliver;
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

  RingCore& LiveCore(const Napi::CallbackInfo& info);
  static void OnEnvCleanup(void* arg);
  // Stops the ring thread (waiting at most timeout_ms for it), joins it and releases the
  // delivery function. Idempotent.
  void Shutdown(int timeout_ms);

  std::shared_ptr<RingShared> shared_;
  std::shared_ptr<ThreadObservation> observation_;
  std::shared_ptr<DeadlineTable> deadlines_;
  size_t external_bytes_ = 0;  // reported to V8 with napi_adjust_external_memory
  std::shared_ptr<Watched> watched_;
  Napi::Reference<Napi::Float64Array> stats_ref_;
  napi_env env_ = nullptr;
  bool cleanup_hook_registered_ = false;
  bool close_requested_ = false;
  bool shut_down_ = false;
};

}  // namespace uring_udp
