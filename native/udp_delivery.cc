// How a socket's received batches reach JavaScript (UdpWrap's delivery): the JS callback's
// arguments, the tokens that lend batches to JS, and their settling once JS is done with them.
// Raw Node-API throughout: this runs from libuv callbacks, where a failed status means the
// environment is going away and a C++ exception would terminate the process.
#include <algorithm>
#include <cstring>

#include "errors.h"
#include "udp_wrap.h"

namespace uring_udp {

// settle(token, reuse): JS is done with a batch whose settling it deferred (a batches() loop
// asked for the next one).
Napi::Value UdpWrap::SettleMethod(const Napi::CallbackInfo& info) {
  Settle(ArgUint32(info, 0, "token"), ArgBool(info, 1, "reuse"));
  AfterRelease();
  return info.Env().Undefined();
}

void UdpWrap::AfterRelease() {
  if (!direct_paused_ || !receive_) return;
  if (receive_->budget->room() < static_cast<int64_t>(receive_->config.max_datagram + sizeof(DatagramRecord))) return;
  direct_paused_ = false;
  // Still the JS thread's to read (a burst may have moved it to a receiver meanwhile).
  if (where_ == Where::kDirect || where_ == Where::kAttaching || where_ == Where::kWarm) StartDirect();
}

// Batches of up to kCopyArenaBytes payload bytes are copied into a JS ArrayBuffer (a request, a
// sparse socket's datagram) and their arena goes back to its pool at once; bigger ones are lent
// (an external ArrayBuffer over the arena), which pays off only for a busy socket's batches.

// Every batch comes to JS with a token: its entry in lent_ (index and generation), and a low bit
// set when its arena is lent (what JS keeps of it past the batch's handler, it must copy or
// keep()). A token is settled once: after the handler returns (CallOnBatch does it unless JS
// deferred it), or when a batches() loop is done with the batch (JS calls settle()).
constexpr uint32_t kTokenIndexMask = (1u << 20) - 1;
constexpr uint32_t kTokenGenerationShift = 21;
constexpr uint32_t kTokenGenerationMask = (1u << 11) - 1;
uint32_t UdpWrap::Lend(std::unique_ptr<RecvBatch>& batch, bool lent) {
  uint32_t index;
  if (!free_lent_.empty()) {
    index = free_lent_.back();
    free_lent_.pop_back();
  } else {
    index = static_cast<uint32_t>(lent_.size());
    lent_.emplace_back();
  }
  LentBatch& entry = lent_[index];
  entry.active = true;
  entry.generation = (entry.generation + 1) & kTokenGenerationMask;
  entry.held_bytes = batch->held_bytes;
  entry.arena = lent ? batch->arena : nullptr;
  entry.origin = lent ? batch->origin : nullptr;
  entry.budget = batch->budget;
  return (entry.generation << kTokenGenerationShift) | (index << 1) | (lent ? 1u : 0u);
}

// reuse: the arena may take later batches (JS let go of it); false: it is JS's for good (the
// batch was kept), freed when its last ArrayBuffer is collected. Either way its bytes leave the
// budget. A token that is not outstanding is ignored.
void UdpWrap::Settle(uint32_t token, bool reuse) {
  const uint32_t index = (token >> 1) & kTokenIndexMask;
  if (index >= lent_.size() || !lent_[index].active || lent_[index].generation != token >> kTokenGenerationShift) return;
  LentBatch& entry = lent_[index];
  entry.active = false;
  if (reuse && entry.arena && entry.origin) entry.origin->Give(std::move(entry.arena));
  entry.arena.reset();
  entry.origin.reset();
  if (entry.held_bytes && entry.budget) entry.budget->Release(entry.held_bytes);
  entry.budget.reset();
  entry.held_bytes = 0;
  free_lent_.push_back(index);
}

// The three arguments of the JS batch callback: [arena, records, token, ...], errno, stopped.
// Raw Node-API, as in DeliverBatch: a failed status means the environment is going away.
bool UdpWrap::BatchArguments(std::vector<std::unique_ptr<RecvBatch>>& batches, int error, bool stopped,
                             napi_value args[3], std::vector<uint32_t>* tokens) {
  napi_env env = env_;
  napi_value list;
  if (napi_create_array_with_length(env, batches.size() * 3, &list) != napi_ok) return false;
  uint32_t slot = 0;
  for (std::unique_ptr<RecvBatch>& batch : batches) {
    const bool copy = batch->size <= kCopyArenaBytes;
    const size_t record_bytes = batch->records.size() * sizeof(DatagramRecord);
    // A socket's extras (ecn, pktinfo) follow the records in the same buffer; the records'
    // typed array covers the records only.
    const size_t extra_bytes = batch->extras.size() == batch->records.size() ? batch->extras.size() * sizeof(DatagramExtra) : 0;
    napi_value arena;
    napi_value records_buffer;
    size_t records_at = 0;
    uint8_t* records_data = nullptr;
    if (copy) {
      // One ArrayBuffer for the whole batch: the payloads, then (4-byte aligned, as a
      // Uint32Array must start) the records and extras. A request's single datagram makes one
      // backing store, not two (less for V8's collector to sweep, per short-lived socket).
      records_at = (batch->size + 3) & ~static_cast<size_t>(3);
      void* copied = nullptr;
      if (napi_create_arraybuffer(env, records_at + record_bytes + extra_bytes, &copied, &arena) != napi_ok) return false;
      if (batch->size) std::memcpy(copied, batch->arena->data(), batch->size);  // the padding: zeroed by V8
      if (batch->origin) batch->origin->Give(std::move(batch->arena));
      records_buffer = arena;
      records_data = static_cast<uint8_t*>(copied) + records_at;
    } else {
      // The ArrayBuffer holds a reference to the arena: its memory outlives every view of it.
      auto* hold = new std::shared_ptr<Arena>(batch->arena);
      if (napi_create_external_arraybuffer(
              env, batch->arena->data(), batch->size,
              [](napi_env, void*, void* hint) { delete static_cast<std::shared_ptr<Arena>*>(hint); }, hold, &arena) != napi_ok) {
        delete hold;
        return false;
      }
      void* data = nullptr;
      if (napi_create_arraybuffer(env, record_bytes + extra_bytes, &data, &records_buffer) != napi_ok) return false;
      records_data = static_cast<uint8_t*>(data);
    }
    napi_value records;
    napi_value token_value;
    if (record_bytes) std::memcpy(records_data, batch->records.data(), record_bytes);
    if (extra_bytes) std::memcpy(records_data + record_bytes, batch->extras.data(), extra_bytes);
    if (napi_create_typedarray(env, napi_uint32_array, record_bytes / 4, records_buffer, records_at, &records) != napi_ok) return false;
    const uint32_t token = Lend(batch, !copy);
    tokens->push_back(token);
    if (napi_create_uint32(env, token, &token_value) != napi_ok) return false;
    napi_set_element(env, list, slot++, arena);
    napi_set_element(env, list, slot++, records);
    napi_set_element(env, list, slot++, token_value);
  }
  args[0] = list;
  return napi_create_int32(env, error, &args[1]) == napi_ok && napi_get_boolean(env, stopped, &args[2]) == napi_ok;
}

// What the receiver has for this socket: its batches first, then what it says — the hand-back
// (the JS thread reads again), the let-go (its buffers are gone), the close's "stopped".
void UdpWrap::OnReceiverEvents(SocketReceive* from) {
  std::vector<std::unique_ptr<RecvBatch>> batches;
  RecvEvents events;
  if (from != receive_.get()) {
    // A receive state abandoned with a receiver reported stuck, which came back: what it had
    // taken is delivered (after what the JS thread read since: received once, if late); what
    // it says about itself is over.
    from->Take(&batches, &events);
    if (!batches.empty()) CallOnBatch(batches, 0, false);
    return;
  }
  receive_->Take(&batches, &events);
  bool stopped = false;
  int error = events.error;
  if (events.stopped || (events.detached && where_ == Where::kLeaving)) {
    // Nothing reads the fd any more: the close can finish (after these last batches).
    LeaveReceiver();
    where_ = Where::kClosed;
    stopped = true;
  } else if (events.detached) {
    LeaveReceiver();
    // A socket asked to be on a receiver from bind (hybrid: false) is told why it is not.
    if (events.attach_error && !receive_->config.hybrid) error = error ? error : events.attach_error;
    if (events.attach_error) {
      direct_->CountAttachFailure();
      attach_retry_ns_ = MonotonicNs() + 1000LL * 1000000;
    }
    where_ = Where::kDirect;
    StartDirect();
  } else if (events.handoff && where_ == Where::kReceiver) {
    where_ = Where::kWarm;
    StartDirect();
    // Handed back for want of traffic: only a burst brings it back within the next second.
    if (poll_) steady_after_ms_ = uv_now(poll_->loop) + kSteadyQuietMs;
  }
  UpdateLoopRef();
  if (!batches.empty() || error || stopped) CallOnBatch(batches, error, stopped);
  // The callback may have closed the socket (owner is cleared then, when it is gone for good).
  if (receive_ && receive_->owner == this) AfterRelease();
}

void UdpWrap::CallOnBatch(std::vector<std::unique_ptr<RecvBatch>>& batches, int error, bool stopped) {
  napi_env env = env_;
  std::vector<uint32_t> tokens;
  tokens.swap(delivery_tokens_);  // reused between deliveries: no allocation per call
  tokens.clear();
  if (!on_batch_ref_) return;  // closed for good: the batches (and their budget) go with them
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value args[3];
  napi_value global;
  napi_value callback;
  napi_value result = nullptr;
  if (BatchArguments(batches, error, stopped, args, &tokens) && napi_get_global(env, &global) == napi_ok &&
      napi_get_reference_value(env, on_batch_ref_, &callback) == napi_ok) {
    // A libuv callback is outside any JS scope: make_callback runs microtasks and ticks after
    // it, as for any other I/O callback, and an exception is an uncaught exception.
    delivering_ = true;
    const napi_status status = napi_make_callback(env, async_context_, global, callback, 3, args, &result);
    delivering_ = false;
    if (status == napi_pending_exception) {
      napi_value exception;
      if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) napi_fatal_exception(env, exception);
      result = nullptr;
    }
  }
  // The handler has returned: JS is done with every batch it did not defer (the callback returns
  // the tokens batches() loops still hold, and settles those itself later).
  std::vector<uint32_t> deferred;
  bool is_array = false;
  if (result && napi_is_array(env, result, &is_array) == napi_ok && is_array) {
    uint32_t length = 0;
    napi_get_array_length(env, result, &length);
    for (uint32_t i = 0; i < length; i++) {
      napi_value item;
      uint32_t token;
      if (napi_get_element(env, result, i, &item) == napi_ok && napi_get_value_uint32(env, item, &token) == napi_ok)
        deferred.push_back(token);
    }
  }
  for (uint32_t token : tokens)
    if (std::find(deferred.begin(), deferred.end(), token) == deferred.end()) Settle(token, true);
  tokens.clear();
  tokens.swap(delivery_tokens_);
  napi_close_handle_scope(env, scope);
  // The callback may have closed the socket, which leaves the context to be released here.
  if (where_ == Where::kClosed && fd_ < 0) ReleaseAsyncContext();
}

void UdpWrap::ReleaseAsyncContext() {
  if (delivering_ || !async_context_) return;
  napi_async_destroy(env_, async_context_);
  async_context_ = nullptr;
}

}  // namespace uring_udp
