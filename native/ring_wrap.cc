#include "ring_wrap.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common.h"
#include "errors.h"
#include "thread_owner.h"

namespace uring_udp {

namespace {

// A watchdog slot index, or -1 (undefined) for an unwatched request.
int32_t SlotArg(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() <= index || info[index].IsUndefined()) return -1;
  uint32_t slot = ArgUint32(info, index, "slot");
  if (slot >= kDeadlineSlots) throw Napi::RangeError::New(info.Env(), "slot out of range");
  return static_cast<int32_t>(slot);
}

Want WantFrom(const Napi::Object& config, const char* key) {
  Napi::Value value = config.Get(key);
  if (!value.IsNumber()) throw Napi::TypeError::New(config.Env(), std::string(key) + " must be -1, 0 or 1");
  int32_t number = value.As<Napi::Number>().Int32Value();
  if (number < -1 || number > 1) throw Napi::RangeError::New(config.Env(), std::string(key) + " must be -1, 0 or 1");
  return static_cast<Want>(number);
}

uint32_t Uint32From(const Napi::Object& config, const char* key, uint32_t min, uint32_t max) {
  Napi::Value value = config.Get(key);
  if (!value.IsNumber()) throw Napi::TypeError::New(config.Env(), std::string(key) + " must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= min && number <= max) || static_cast<double>(static_cast<uint32_t>(number)) != number)
    throw Napi::RangeError::New(config.Env(), std::string(key) + " out of range");
  return static_cast<uint32_t>(number);
}

bool BoolFrom(const Napi::Object& config, const char* key) {
  Napi::Value value = config.Get(key);
  if (!value.IsBoolean()) throw Napi::TypeError::New(config.Env(), std::string(key) + " must be a boolean");
  return value.As<Napi::Boolean>().Value();
}

// The env cleanup hook waits this long for a ring thread to leave; a thread stuck in the
// kernel (state D) never will, and is detached rather than blocking worker or process exit.
constexpr int kShutdownWaitMs = 3000;

}  // namespace

Napi::Function RingWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeRing",
                     {
                         InstanceMethod<&RingWrap::Nop>("nop"),
                         InstanceMethod<&RingWrap::Read>("read"),
                         InstanceMethod<&RingWrap::Timeout>("timeout"),
                         InstanceMethod<&RingWrap::Poll>("poll"),
                         InstanceMethod<&RingWrap::Cancel>("cancel"),
                         InstanceMethod<&RingWrap::Close>("close"),
                         InstanceMethod<&RingWrap::Join>("join"),
                         InstanceMethod<&RingWrap::Ref>("ref"),
                         InstanceMethod<&RingWrap::Unref>("unref"),
                         InstanceMethod<&RingWrap::Info>("info"),
                         InstanceMethod<&RingWrap::Watch>("watch"),
                         InstanceMethod<&RingWrap::TestHold>("testHold"),
                         InstanceMethod<&RingWrap::IowqMaxWorkers>("iowqMaxWorkers"),
                         InstanceMethod<&RingWrap::ReadStats>("readStats"),
                         InstanceMethod<&RingWrap::Rearm>("rearm"),
                         InstanceMethod<&RingWrap::Leave>("leave"),
                     });
}

// new NativeRing(config, onBatch(Int32Array, closed))
RingWrap::RingWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RingWrap>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction())
    throw Napi::TypeError::New(env, "NativeRing(config, onBatch): bad arguments");
  Napi::Object config_object = info[0].As<Napi::Object>();

  RingConfig config;
  config.entries = Uint32From(config_object, "entries", 1, 32768);
  config.cq_entries = Uint32From(config_object, "cqEntries", 0, 65536);
  config.sqpoll = BoolFrom(config_object, "sqpoll");
  config.sq_thread_idle_ms = Uint32From(config_object, "sqThreadIdle", 0, 3600000);
  double cpu = config_object.Get("sqThreadCpu").ToNumber().DoubleValue();
  config.sq_thread_cpu = cpu >= 0 && cpu < 4096 ? static_cast<int>(cpu) : -1;
  config.coop_taskrun = WantFrom(config_object, "coopTaskrun");
  config.single_issuer = WantFrom(config_object, "singleIssuer");
  config.defer_taskrun = WantFrom(config_object, "deferTaskrun");
  config.busy_wait = BoolFrom(config_object, "busyWait");
  config.max_wait_ms = Uint32From(config_object, "maxWaitMs", 1, 60000);
  config.batch_count = Uint32From(config_object, "batchCount", 1, 65536);
  config.batch_delay_us = Uint32From(config_object, "batchDelayUs", 0, 1000000);
  config.prevent_overflow = BoolFrom(config_object, "preventOverflow");
  const bool watch = BoolFrom(config_object, "watchdog");
  const uint32_t ring_id = Uint32From(config_object, "id", 0, 0xffffffffu);
  const uint32_t stuck_ms = Uint32From(config_object, "stuckMs", 0, 3600000);
  const uint32_t starved_ms = Uint32From(config_object, "starvedMs", 0, 3600000);

  shared_ = std::make_shared<RingShared>();
  RingShared* raw = shared_.get();
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) throw Napi::Error::New(env, "no event loop");
  if (const int err = raw->waker.Init(loop, OnWake, raw); err != 0) throw ErrnoError(env, -err, "uv_async_init");
  on_batch_ = Napi::Persistent(info[1].As<Napi::Function>());
  observation_ = std::make_shared<ThreadObservation>();
  deadlines_ = std::make_shared<DeadlineTable>();
  // Tell V8 what a Ring holds outside its heap (the deadline table, ~56 KiB), so that many
  // closed, unreferenced Ring objects prompt a collection instead of piling up.
  int64_t external = 0;
  napi_adjust_external_memory(env, static_cast<int64_t>(sizeof(DeadlineTable)), &external);
  external_bytes_ = sizeof(DeadlineTable);
  shared_->core = std::make_unique<RingCore>(
      config, shared_->stats,
      [raw] {
        // Ring thread. The shared state outlives the thread: the thread is joined before the
        // waker is closed, or detached with the state leaked on purpose.
        raw->waker.Wake();
      },
      observation_, deadlines_);

  std::string failed_syscall;
  int result = shared_->core->Start(&failed_syscall);
  if (result < 0) {
    shared_->waker.Close();
    shut_down_ = true;
    throw ErrnoError(env, -result, failed_syscall);
  }
  shared_->owner = this;
  napi_value resource_name;
  napi_create_string_utf8(env, "uring-udp ring", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, nullptr, resource_name, &async_context_);
  napi_add_env_cleanup_hook(env, OnEnvCleanup, this);
  cleanup_hook_registered_ = true;

  if (watch) {
    watched_ = WatchThread(env, "ring", ring_id, observation_, deadlines_, stuck_ms, starved_ms);
  }
}

RingWrap::~RingWrap() {
  Shutdown(kShutdownWaitMs);
  int64_t external = 0;
  if (external_bytes_) napi_adjust_external_memory(env_, -static_cast<int64_t>(external_bytes_), &external);
}

void RingWrap::OnEnvCleanup(void* arg) {
  RingWrap* self = static_cast<RingWrap*>(arg);
  self->cleanup_hook_registered_ = false;  // Node removes a hook as it runs it
  self->Shutdown(kShutdownWaitMs);
}

void RingWrap::Shutdown(int timeout_ms) {
  if (shut_down_) return;
  shut_down_ = true;
  if (cleanup_hook_registered_) {
    napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this);
    cleanup_hook_registered_ = false;
  }
  Unwatch(&watched_);
  shared_->core->RequestClose();
  JoinOrLeave(*shared_->core, shared_, timeout_ms, "ring");
  shared_->owner = nullptr;
  shared_->waker.Close();
  if (!delivering_ && async_context_) {
    napi_async_destroy(env_, async_context_);
    async_context_ = nullptr;
  }
  if (!on_batch_.IsEmpty()) on_batch_.Reset();
}

void RingWrap::OnWake(void* arg) {
  RingWrap* self = static_cast<RingShared*>(arg)->owner;
  if (self) self->Deliver();
}

void RingWrap::Deliver() {
  std::vector<Completion> batch;
  bool closed = false;
  shared_->core->TakeCompletions(&batch, &closed);
  if ((batch.empty() && !closed) || on_batch_.IsEmpty()) return;
  // The raw C API on purpose: while a worker is being terminated JS cannot run, and
  // node-addon-api's C++ exceptions would turn that expected failure into a fatal error.
  // A failed status here means "the environment is going away": drop the batch quietly.
  napi_env env = env_;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  const size_t bytes = batch.size() * sizeof(Completion);
  void* data = nullptr;
  napi_value buffer;
  napi_value args[2];
  napi_value global;
  if (napi_create_arraybuffer(env, bytes, &data, &buffer) == napi_ok &&
      napi_create_typedarray(env, napi_int32_array, batch.size() * (sizeof(Completion) / 4), buffer, 0, &args[0]) == napi_ok &&
      napi_get_boolean(env, closed, &args[1]) == napi_ok && napi_get_global(env, &global) == napi_ok) {
    if (bytes) std::memcpy(data, batch.data(), bytes);
    // As any I/O callback: microtasks and ticks after it; a throw is an uncaught exception.
    napi_value result;
    delivering_ = true;
    const napi_status status = napi_make_callback(env, async_context_, global, on_batch_.Value(), 2, args, &result);
    delivering_ = false;
    if (status == napi_pending_exception) {
      napi_value exception;
      if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) napi_fatal_exception(env, exception);
    }
  }
  napi_close_handle_scope(env, scope);
  // The callback may have shut the ring down (the closed batch: join), which leaves the
  // context to be released here.
  if (shut_down_ && async_context_) {
    napi_async_destroy(env_, async_context_);
    async_context_ = nullptr;
  }
}

RingCore& RingWrap::LiveCore(const Napi::CallbackInfo& info) {
  if (shut_down_ || close_requested_) throw Napi::Error::New(info.Env(), "ring is closed");
  return *shared_->core;
}

Napi::Value RingWrap::Nop(const Napi::CallbackInfo& info) {
  RingCore& core = LiveCore(info);
  Command command;
  command.kind = OpKind::kNop;
  command.id = ArgUint32(info, 0, "id");
  command.slot = SlotArg(info, 1);
  core.Push(command);
  return info.Env().Undefined();
}

// read(id, fd, buffer, fileOffset): the caller keeps buffer alive until the completion.
Napi::Value RingWrap::Read(const Napi::CallbackInfo& info) {
  RingCore& core = LiveCore(info);
  if (!info[2].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "buffer must be a Uint8Array");
  Napi::Uint8Array buffer = info[2].As<Napi::Uint8Array>();
  Command command;
  command.kind = OpKind::kRead;
  command.id = ArgUint32(info, 0, "id");
  command.fd = ArgFd(info, 1);
  command.buf = buffer.Data();
  command.len = static_cast<uint32_t>(buffer.ByteLength());
  double offset = ArgNumber(info, 3, "offset");
  // -1 means "the file position" (what read(2) would use); otherwise an absolute offset.
  command.offset = offset < 0 ? static_cast<uint64_t>(-1) : static_cast<uint64_t>(offset);
  command.slot = SlotArg(info, 4);
  core.Push(command);
  return info.Env().Undefined();
}

Napi::Value RingWrap::Timeout(const Napi::CallbackInfo& info) {
  RingCore& core = LiveCore(info);
  Command command;
  command.kind = OpKind::kTimeout;
  command.id = ArgUint32(info, 0, "id");
  double ms = ArgNumber(info, 1, "ms");
  if (ms < 0 || ms > 1e12) throw Napi::RangeError::New(info.Env(), "ms out of range");
  command.timeout_ns = static_cast<uint64_t>(ms * 1e6);
  core.Push(command);
  return info.Env().Undefined();
}

// poll(id, fd, mask, multishot)
Napi::Value RingWrap::Poll(const Napi::CallbackInfo& info) {
  RingCore& core = LiveCore(info);
  Command command;
  command.id = ArgUint32(info, 0, "id");
  command.fd = ArgFd(info, 1);
  command.poll_mask = ArgUint32(info, 2, "events");
  command.kind = ArgBool(info, 3, "multishot") ? OpKind::kPollMultishot : OpKind::kPollOnce;
  command.slot = SlotArg(info, 4);
  core.Push(command);
  return info.Env().Undefined();
}

// cancel(id, targetId)
Napi::Value RingWrap::Cancel(const Napi::CallbackInfo& info) {
  RingCore& core = LiveCore(info);
  Command command;
  command.kind = OpKind::kCancel;
  command.id = ArgUint32(info, 0, "id");
  command.target = ArgUint32(info, 1, "target");
  core.Push(command);
  return info.Env().Undefined();
}

Napi::Value RingWrap::Close(const Napi::CallbackInfo& info) {
  if (!shut_down_ && !close_requested_) {
    close_requested_ = true;
    shared_->core->RequestClose();
  }
  return info.Env().Undefined();
}

// After the closed batch arrived: the thread has finished, so this join does not block.
// readStats(out: Float64Array): the ring thread's counters, into out.
Napi::Value RingWrap::ReadStats(const Napi::CallbackInfo& info) {
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[0].As<Napi::TypedArray>().ElementLength() < kStatCount)
    throw Napi::TypeError::New(info.Env(), "readStats(out: Float64Array of " + std::to_string(kStatCount) + ")");
  double* out = info[0].As<Napi::Float64Array>().Data();
  for (unsigned i = 0; i < kStatCount; i++) __atomic_load(&shared_->stats[i], &out[i], __ATOMIC_RELAXED);
  return info.Env().Undefined();
}

// rearm(ids: Uint32Array): JS has seen these single-shot polls' events: arm them again.
Napi::Value RingWrap::Rearm(const Napi::CallbackInfo& info) {
  RingCore& core = LiveCore(info);
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
    throw Napi::TypeError::New(info.Env(), "rearm(ids: Uint32Array)");
  Napi::Uint32Array ids = info[0].As<Napi::Uint32Array>();
  for (size_t i = 0; i < ids.ElementLength(); i++) {
    Command command;
    command.kind = OpKind::kRearm;
    command.id = ids[i];
    core.Push(command);
  }
  return info.Env().Undefined();
}

// leave(): the ring was reported stuck: stop waiting for its thread. It is left (never joined)
// with everything it uses, and the wrap lets go of the event loop.
Napi::Value RingWrap::Leave(const Napi::CallbackInfo& info) {
  Shutdown(0);
  return info.Env().Undefined();
}

Napi::Value RingWrap::Join(const Napi::CallbackInfo& info) {
  if (!shut_down_) {
    if (!shared_->core->Exited()) throw Napi::Error::New(info.Env(), "ring thread has not exited");
    Shutdown(0);
  }
  return info.Env().Undefined();
}

Napi::Value RingWrap::Ref(const Napi::CallbackInfo& info) {
  if (!shut_down_) shared_->waker.Ref();
  return info.Env().Undefined();
}

Napi::Value RingWrap::Unref(const Napi::CallbackInfo& info) {
  if (!shut_down_) shared_->waker.Unref();
  return info.Env().Undefined();
}

// watch(slot, id, fd, opcode, timeoutMs, progressMs, pollEvents): arms a watchdog slot for a
// request about to be submitted. JS owns slot allocation; the ring thread frees the slot (id 0)
// when the request ends, before JS learns of it.
Napi::Value RingWrap::Watch(const Napi::CallbackInfo& info) {
  uint32_t slot_index = ArgUint32(info, 0, "slot");
  if (slot_index >= kDeadlineSlots) throw Napi::RangeError::New(info.Env(), "slot out of range");
  DeadlineSlot& slot = deadlines_->slots[slot_index];
  const int64_t now = MonotonicNs();
  const double timeout_ms = ArgNumber(info, 4, "timeoutMs");
  const double progress_ms = ArgNumber(info, 5, "progressMs");
  slot.fd.store(static_cast<int32_t>(ArgNumber(info, 2, "fd")), std::memory_order_relaxed);
  slot.opcode.store(ArgUint32(info, 3, "opcode"), std::memory_order_relaxed);
  slot.submitted_ns.store(now, std::memory_order_relaxed);
  slot.last_cqe_ns.store(0, std::memory_order_relaxed);
  slot.deadline_ns.store(timeout_ms > 0 ? now + static_cast<int64_t>(timeout_ms * 1e6) : 0, std::memory_order_relaxed);
  slot.progress_ns.store(progress_ms > 0 ? static_cast<int64_t>(progress_ms * 1e6) : 0, std::memory_order_relaxed);
  slot.poll_events.store(ArgUint32(info, 6, "pollEvents"), std::memory_order_relaxed);
  // Release: the watchdog reads the fields above only after it sees the id.
  slot.id.store(ArgUint32(info, 1, "id"), std::memory_order_release);
  if (timeout_ms > 0 || progress_ms > 0) Watchdog::Instance().DeadlineArmed();
  return info.Env().Undefined();
}

// testHold(id, ms): test-only (URING_UDP_TEST_HOOKS=1): the ring thread spends ms in state D.
Napi::Value RingWrap::TestHold(const Napi::CallbackInfo& info) {
  const char* hooks = std::getenv("URING_UDP_TEST_HOOKS");
  if (!hooks || std::string(hooks) != "1") throw Napi::Error::New(info.Env(), "test hooks are disabled");
  RingCore& core = LiveCore(info);
  Command command;
  command.kind = OpKind::kTestHold;
  command.id = ArgUint32(info, 0, "id");
  command.timeout_ns = static_cast<uint64_t>(ArgNumber(info, 1, "ms") * 1e6);
  core.Push(command);
  return info.Env().Undefined();
}

// iowqMaxWorkers(id, bounded, unbounded): IORING_REGISTER_IOWQ_MAX_WORKERS, on the ring thread.
Napi::Value RingWrap::IowqMaxWorkers(const Napi::CallbackInfo& info) {
  RingCore& core = LiveCore(info);
  Command command;
  command.kind = OpKind::kIowqMaxWorkers;
  command.id = ArgUint32(info, 0, "id");
  command.offset = ArgUint32(info, 1, "bounded");
  command.len = ArgUint32(info, 2, "unbounded");
  core.Push(command);
  return info.Env().Undefined();
}

Napi::Value RingWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  RingCore* core = shared_ ? shared_->core.get() : nullptr;
  result.Set("fd", Napi::Number::New(env, core ? core->fd() : -1));
  result.Set("features", Napi::Number::New(env, core ? core->features() : 0));
  result.Set("setupFlags", Napi::Number::New(env, core ? core->setup_flags() : 0));
  result.Set("tid", Napi::Number::New(env, core ? core->tid() : 0));
  result.Set("cqEntries", Napi::Number::New(env, core ? core->cq_entries() : 0));
  result.Set("singleShotPolls", Napi::Boolean::New(env, core && core->single_shot_polls()));
  return result;
}

}  // namespace uring_udp
