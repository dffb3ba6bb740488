#include "js_waker.h"

namespace uring_udp {

JsWaker::~JsWaker() { Close(); }

int JsWaker::Init(uv_loop_t* loop, Callback callback, void* arg) {
  uv_async_t* async = new uv_async_t;
  const int result = uv_async_init(loop, async, OnAsync);
  if (result != 0) {
    delete async;
    return result;
  }
  callback_ = callback;
  arg_ = arg;
  async->data = this;
  std::lock_guard<std::mutex> lock(mutex_);
  async_ = async;
  return 0;
}

void JsWaker::Close() {
  uv_async_t* async;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    async = async_;
    async_ = nullptr;
  }
  if (!async) return;
  // A wake already sent is dropped: libuv does not call the callback of a closing handle.
  async->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(async), [](uv_handle_t* handle) { delete reinterpret_cast<uv_async_t*>(handle); });
}

void JsWaker::Ref() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (async_) uv_ref(reinterpret_cast<uv_handle_t*>(async_));
}

void JsWaker::Unref() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (async_) uv_unref(reinterpret_cast<uv_handle_t*>(async_));
}

void JsWaker::Wake() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (async_) uv_async_send(async_);
}

void JsWaker::OnAsync(uv_async_t* handle) {
  JsWaker* self = static_cast<JsWaker*>(handle->data);
  if (self && self->callback_) self->callback_(self->arg_);
}

}  // namespace uring_udp
