// JsWaker: wakes the JS thread from a native thread, to run a callback on it.
//
// A uv_async_t on the JS thread's loop. Node-API's ThreadSafeFunction does the same underneath,
// but calls uv_async_send while holding a mutex that the JS thread takes to dequeue: a receiver
// thread preempted in that send (the wake-up it just caused is a reason to preempt it) left the
// JS thread blocked on the mutex, and every hand-over cost four context switches instead of
// one. Here the only lock is against Close(), which the JS thread takes once, at the end.
#pragma once

#include <uv.h>

#include <mutex>

namespace uring_udp {

class JsWaker {
 public:
  using Callback = void (*)(void* arg);

  JsWaker() = default;
  ~JsWaker();
  JsWaker(const JsWaker&) = delete;
  JsWaker& operator=(const JsWaker&) = delete;

  // JS thread. Returns 0 or a libuv error. The handle starts referenced (it keeps the loop alive).
  int Init(uv_loop_t* loop, Callback callback, void* arg);
  // JS thread. From its return on, Wake() reaches nothing and the callback never runs again;
  // the handle itself is freed by libuv's close callback. Idempotent.
  void Close();
  void Ref();
  void Unref();

  // Any thread. Coalesced by libuv: many wakes before the JS thread runs give one callback.
  void Wake();

 private:
  static void OnAsync(uv_async_t* handle);

  std::mutex mutex_;
  uv_async_t* async_ = nullptr;  // null before Init and after Close
  Callback callback_ = nullptr;
  void* arg_ = nullptr;
};

}  // namespace uring_udp
