// NativeUdp: a UDP socket's Node-API face. Its methods convert arguments and results; the socket
// calls themselves are plain functions (udp_socket.h), run on the JS thread because none can
// block in io_uring. Receiving runs on the socket's UdpReceiver thread, which owns its io_uring,
// or on the JS thread's direct path (udp_direct.cc); batches reach JS through udp_delivery.cc.
#include "udp_wrap.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "errors.h"
#include "thread_owner.h"
#include "udp_direct.h"
#include "udp_socket.h"

namespace uring_udp {

namespace {

constexpr int kShutdownWaitMs = 3000;
// One sendmmsg takes at most this many datagrams (UIO_MAXIOV, the kernel's limit), and one
// datagram at most this many pieces.
constexpr uint32_t kSendmmsgMax = 1024;

std::string StringArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (!info[index].IsString()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a string");
  return info[index].As<Napi::String>().Utf8Value();
}

uint16_t PortArg(const Napi::CallbackInfo& info, size_t index) {
  const uint32_t port = ArgUint32(info, index, "port");
  if (port > 65535) throw Napi::RangeError::New(info.Env(), "port out of range");
  return static_cast<uint16_t>(port);
}

const SocketOption& OptionArg(const Napi::CallbackInfo& info, size_t index) {
  const std::string name = StringArg(info, index, "name");
  const SocketOption* option = FindSocketOption(name);
  if (!option) throw Napi::TypeError::New(info.Env(), "unknown socket option " + name);
  return *option;
}

// Throws the errno error of a plain socket call that returned -errno.
void Check(Napi::Env env, int64_t result, const char* syscall) {
  if (result < 0) throw ErrnoError(env, static_cast<int>(-result), syscall);
}

Napi::Object AddressObject(Napi::Env env, const sockaddr_storage& address) {
  uint16_t port;
  bool ipv6;
  const std::string text = FormatAddress(address, &port, &ipv6);
  Napi::Object result = Napi::Object::New(env);
  result.Set("address", text);
  result.Set("family", ipv6 ? "IPv6" : "IPv4");
  result.Set("port", Napi::Number::New(env, port));
  return result;
}

}  // namespace

Napi::Function UdpWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeUdp",
                     {
                         InstanceMethod<&UdpWrap::SetOption>("setOption"),
                         InstanceMethod<&UdpWrap::GetOption>("getOption"),
                         InstanceMethod<&UdpWrap::Bind>("bind"),
                         InstanceMethod<&UdpWrap::Connect>("connect"),
                         InstanceMethod<&UdpWrap::Disconnect>("disconnect"),
                         InstanceMethod<&UdpWrap::LocalAddress>("localAddress"),
                         InstanceMethod<&UdpWrap::RemoteAddress>("remoteAddress"),
                         InstanceMethod<&UdpWrap::Send>("send"),
                         InstanceMethod<&UdpWrap::SendMany>("sendMany"),
                         InstanceMethod<&UdpWrap::Membership>("membership"),
                         InstanceMethod<&UdpWrap::SourceMembership>("sourceMembership"),
                         InstanceMethod<&UdpWrap::MulticastInterface>("multicastInterface"),
                         InstanceMethod<&UdpWrap::StartReceiving>("startReceiving"),
                         InstanceMethod<&UdpWrap::StopReceiving>("stopReceiving"),
                         InstanceMethod<&UdpWrap::Join>("join"),
                         InstanceMethod<&UdpWrap::CloseFd>("closeFd"),
                         InstanceMethod<&UdpWrap::Backend>("backend"),
                         InstanceMethod<&UdpWrap::Ref>("ref"),
                         InstanceMethod<&UdpWrap::Unref>("unref"),
                         InstanceAccessor<&UdpWrap::Fd>("fd"),
                         InstanceAccessor<&UdpWrap::ThreadId>("threadId"),
                         InstanceMethod<&UdpWrap::TestDisarm>("testDisarm"),
                         InstanceAccessor<&UdpWrap::Direct>("direct"),
                         InstanceMethod<&UdpWrap::KernelDropsMethod>("kernelDrops"),
                         InstanceMethod<&UdpWrap::SettleMethod>("settle"),
                     });
}

// new NativeUdp(family: 4 | 6, onBatch(batches, errno, stopped))
UdpWrap::UdpWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UdpWrap>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  family_ = static_cast<int>(ArgUint32(info, 0, "family"));
  if (family_ != 4 && family_ != 6) throw Napi::RangeError::New(env, "family must be 4 or 6");
  if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "onBatch must be a function");
  fd_ = UdpOpen(family_);
  Check(env, fd_, "socket");
  on_batch_ = Napi::Persistent(info[1].As<Napi::Function>());
  on_batch_ref_ = on_batch_;
  napi_add_env_cleanup_hook(env, OnEnvCleanup, this);
  cleanup_hook_registered_ = true;
}

UdpWrap::~UdpWrap() { Shutdown(kShutdownWaitMs); }

void UdpWrap::OnEnvCleanup(void* arg) {
  UdpWrap* self = static_cast<UdpWrap*>(arg);
  self->cleanup_hook_registered_ = false;
  self->Shutdown(kShutdownWaitMs);
}

void UdpWrap::Shutdown(int timeout_ms) {
  if (cleanup_hook_registered_) {
    napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this);
    cleanup_hook_registered_ = false;
  }
  StopAndJoin(timeout_ms);
  if (fd_ >= 0) {
    RefreshKernelDrops();  // the total at close, for stats read afterwards
    close(fd_);
    fd_ = -1;
  }
  // The callback captures the JS socket, which holds this wrapper: a strong reference kept
  // after close would make every socket uncollectable.
  on_batch_ref_ = nullptr;
  if (!on_batch_.IsEmpty()) on_batch_.Reset();
}

void UdpWrap::StopAndJoin(int timeout_ms) {
  if (!shared_ || joined_) return;
  joined_ = true;
  CloseDirect();
  shared_->owner = nullptr;
  Unwatch(&watched_);
  shared_->receiver->RequestStop();
  // A stuck receiver still reads the socket: it must not be closed under it either.
  if (!JoinOrLeave(*shared_->receiver, shared_, timeout_ms, "receiver")) fd_ = -1;
  shared_->waker.Close();
  ReleaseAsyncContext();
}

int UdpWrap::LiveFd(const Napi::CallbackInfo& info) {
  if (fd_ < 0) throw Napi::Error::New(info.Env(), "socket is closed");
  return fd_;
}

Napi::Value UdpWrap::SetOption(const Napi::CallbackInfo& info) {
  const int fd = LiveFd(info);
  const SocketOption& option = OptionArg(info, 0);
  Check(info.Env(), UdpSetOption(fd, option, static_cast<int>(ArgNumber(info, 1, "value"))), "setsockopt");
  return info.Env().Undefined();
}

Napi::Value UdpWrap::GetOption(const Napi::CallbackInfo& info) {
  const int fd = LiveFd(info);
  const SocketOption& option = OptionArg(info, 0);
  int value = 0;
  Check(info.Env(), UdpGetOption(fd, option, &value), "getsockopt");
  return Napi::Number::New(info.Env(), value);
}

// bind(address, port): address is an IP literal (TypeScript resolved names already).
Napi::Value UdpWrap::Bind(const Napi::CallbackInfo& info) {
  const int fd = LiveFd(info);
  Check(info.Env(), UdpBind(fd, family_, StringArg(info, 0, "address"), PortArg(info, 1)), "bind");
  return info.Env().Undefined();
}

Napi::Value UdpWrap::Connect(const Napi::CallbackInfo& info) {
  const int fd = LiveFd(info);
  Check(info.Env(), UdpConnect(fd, family_, StringArg(info, 0, "address"), PortArg(info, 1)), "connect");
  return info.Env().Undefined();
}

Napi::Value UdpWrap::Disconnect(const Napi::CallbackInfo& info) {
  Check(info.Env(), UdpDisconnect(LiveFd(info)), "connect");
  return info.Env().Undefined();
}

Napi::Value UdpWrap::LocalAddress(const Napi::CallbackInfo& info) {
  sockaddr_storage storage;
  Check(info.Env(), UdpLocalAddress(LiveFd(info), &storage), "getsockname");
  return AddressObject(info.Env(), storage);
}

Napi::Value UdpWrap::RemoteAddress(const Napi::CallbackInfo& info) {
  sockaddr_storage storage;
  Check(info.Env(), UdpRemoteAddress(LiveFd(info), &storage), "getpeername");
  return AddressObject(info.Env(), storage);
}

// send(chunks: Uint8Array[], address: string | null, port): bytes sent, or -errno (EAGAIN is
// for the caller to queue; nothing is thrown for it).
Napi::Value UdpWrap::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = LiveFd(info);
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "chunks must be an array");
  Napi::Array chunks = info[0].As<Napi::Array>();
  const uint32_t count = chunks.Length();
  if (count > kSendmmsgMax) throw Napi::RangeError::New(env, "at most 1024 chunks per datagram");
  std::vector<iovec> pieces(count);
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value chunk = chunks.Get(i);
    if (!chunk.IsTypedArray()) throw Napi::TypeError::New(env, "chunks must be Uint8Arrays");
    Napi::Uint8Array bytes = chunk.As<Napi::Uint8Array>();
    pieces[i].iov_base = bytes.Data();
    pieces[i].iov_len = bytes.ByteLength();
  }
  sockaddr_storage to;
  socklen_t to_length = 0;
  const bool addressed = !info[1].IsNull();
  if (addressed && !ParseAddress(family_, StringArg(info, 1, "address"), PortArg(info, 2), &to, &to_length))
    return Napi::Number::New(env, -EINVAL);
  return Napi::Number::New(env, static_cast<double>(UdpSend(fd, pieces.data(), count, addressed ? &to : nullptr, to_length)));
}

// sendMany(datagrams: Uint8Array[], destinations: Array<[address, port]> | null,
//          destinationIndex: Uint32Array | null, start): datagrams sent (from start), or -errno
// when the first one failed. One sendmmsg per call, of at most 1024 datagrams.
Napi::Value UdpWrap::SendMany(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = LiveFd(info);
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "datagrams must be an array");
  Napi::Array datagrams = info[0].As<Napi::Array>();
  const uint32_t total = datagrams.Length();
  const uint32_t start = ArgUint32(info, 3, "start");
  // Scratch kept per thread (each JS thread calls on its own): no allocation per call once
  // warm, which a request/response server sending one datagram per call notices.
  thread_local std::vector<sockaddr_storage> destinations;
  thread_local std::vector<socklen_t> lengths;
  thread_local std::vector<mmsghdr> messages;
  thread_local std::vector<iovec> pieces;
  destinations.clear();
  lengths.clear();
  const uint32_t* index = nullptr;
  if (!info[1].IsNull()) {
    if (!info[1].IsArray() || !info[2].IsTypedArray()) throw Napi::TypeError::New(env, "bad destinations");
    Napi::Array table = info[1].As<Napi::Array>();
    Napi::Uint32Array indices = info[2].As<Napi::Uint32Array>();
    if (indices.ElementLength() < total) throw Napi::RangeError::New(env, "destinationIndex too short");
    index = indices.Data();
    destinations.resize(table.Length());
    lengths.resize(table.Length());
    for (uint32_t i = 0; i < table.Length(); i++) {
      Napi::Value entry = table.Get(i);
      if (!entry.IsArray()) throw Napi::TypeError::New(env, "bad destination");
      Napi::Array pair = entry.As<Napi::Array>();
      Napi::Value address = pair.Get(0u);
      Napi::Value port = pair.Get(1u);
      if (!address.IsString() || !port.IsNumber()) throw Napi::TypeError::New(env, "bad destination");
      uint32_t port_number = port.As<Napi::Number>().Uint32Value();
      if (port_number > 65535 ||
          !ParseAddress(family_, address.As<Napi::String>().Utf8Value(), static_cast<uint16_t>(port_number),
                        &destinations[i], &lengths[i]))
        throw Napi::RangeError::New(env, "bad destination");
    }
  }
  const uint32_t end = std::min(total, start + kSendmmsgMax);
  if (start >= end) return Napi::Number::New(env, 0);
  messages.resize(end - start);
  pieces.resize(end - start);
  for (uint32_t i = start; i < end; i++) {
    Napi::Value datagram = datagrams.Get(i);
    if (!datagram.IsTypedArray()) throw Napi::TypeError::New(env, "datagrams must be Uint8Arrays");
    Napi::Uint8Array bytes = datagram.As<Napi::Uint8Array>();
    iovec& piece = pieces[i - start];
    piece.iov_base = bytes.Data();
    piece.iov_len = bytes.ByteLength();
    msghdr& header = messages[i - start].msg_hdr;
    header = msghdr{};
    header.msg_iov = &piece;
    header.msg_iovlen = 1;
    if (index) {
      const uint32_t which = index[i];
      if (which >= destinations.size()) throw Napi::RangeError::New(env, "destination index out of range");
      header.msg_name = &destinations[which];
      header.msg_namelen = lengths[which];
    }
  }
  return Napi::Number::New(env, UdpSendMany(fd, messages.data(), end - start));
}

// membership(add: boolean, group, interface | null)
Napi::Value UdpWrap::Membership(const Napi::CallbackInfo& info) {
  const int fd = LiveFd(info);
  const bool add = ArgBool(info, 0, "add");
  const std::string group = StringArg(info, 1, "group");
  const std::string iface = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  Check(info.Env(), UdpMembership(fd, family_, add, group, iface), "setsockopt");
  return info.Env().Undefined();
}

// sourceMembership(add, source, group, interface | null): source-specific multicast.
Napi::Value UdpWrap::SourceMembership(const Napi::CallbackInfo& info) {
  const int fd = LiveFd(info);
  const bool add = ArgBool(info, 0, "add");
  const std::string source = StringArg(info, 1, "source");
  const std::string group = StringArg(info, 2, "group");
  const std::string iface = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "";
  Check(info.Env(), UdpSourceMembership(fd, family_, add, source, group, iface), "setsockopt");
  return info.Env().Undefined();
}

Napi::Value UdpWrap::MulticastInterface(const Napi::CallbackInfo& info) {
  const int fd = LiveFd(info);
  Check(info.Env(), UdpMulticastInterface(fd, family_, StringArg(info, 0, "interface")), "setsockopt");
  return info.Env().Undefined();
}

// startReceiving(config, stats: Float64Array): the backend that runs (0, 1, 2).
Napi::Value UdpWrap::StartReceiving(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = LiveFd(info);
  if (shared_) throw Napi::Error::New(env, "already receiving");
  if (!info[0].IsObject() || !info[1].IsTypedArray()) throw Napi::TypeError::New(env, "startReceiving(config, stats)");
  Napi::Object config_object = info[0].As<Napi::Object>();
  Napi::TypedArray stats_array = info[1].As<Napi::TypedArray>();
  if (stats_array.TypedArrayType() != napi_float64_array || stats_array.ElementLength() < kRecvStatCount)
    throw Napi::TypeError::New(env, "stats must be a Float64Array of at least " + std::to_string(kRecvStatCount));
  auto field = [&](const char* key, uint32_t min, uint32_t max) {
    Napi::Value value = config_object.Get(key);
    if (!value.IsNumber()) throw Napi::TypeError::New(env, std::string(key) + " must be a number");
    double number = value.As<Napi::Number>().DoubleValue();
    if (!(number >= min && number <= max)) throw Napi::RangeError::New(env, std::string(key) + " out of range");
    return static_cast<uint32_t>(number);
  };
  RecvConfig config;
  config.backend = static_cast<RecvBackend>(field("backend", 0, 2));
  {
    Napi::Value forced = config_object.Get("forced");
    if (!forced.IsUndefined() && !forced.IsBoolean()) throw Napi::TypeError::New(env, "forced must be a boolean");
    config.forced = forced.IsBoolean() && forced.As<Napi::Boolean>().Value();
  }
  config.max_datagram = field("maxDatagramSize", 1, 65535);
  config.buffer_size = field("bufferSize", 64, 1 << 24);
  config.buffer_count = field("bufferCount", 1, 32768);
  config.batch_count = field("batchCount", 1, 65536);
  config.batch_delay_us = field("batchDelayUs", 0, 1000000);
  config.max_wait_ms = field("maxWaitMs", 1, 60000);
  {
    Napi::Value budget = config_object.Get("receiveBudget");
    if (!budget.IsNumber()) throw Napi::TypeError::New(env, "receiveBudget must be a number");
    const double bytes = budget.As<Napi::Number>().DoubleValue();
    if (!(bytes >= (1 << 18) && bytes <= 1099511627776.0) || std::floor(bytes) != bytes)
      throw Napi::RangeError::New(env, "receiveBudget out of range");
    config.budget_bytes = static_cast<uint64_t>(bytes);
  }
  // The reproducer's tiny busy ring (RecvConfig); absent for every user socket.
  if (!config_object.Get("cqEntries").IsUndefined()) {
    config.cq_entries = field("cqEntries", 2, 4096);
    if ((config.cq_entries & (config.cq_entries - 1)) != 0) throw Napi::RangeError::New(env, "cqEntries must be a power of two");
  }
  Napi::Value busy_value = config_object.Get("busyWait");
  if (!busy_value.IsUndefined() && !busy_value.IsBoolean()) throw Napi::TypeError::New(env, "busyWait must be a boolean");
  config.busy_wait = busy_value.IsBoolean() && busy_value.As<Napi::Boolean>().Value();
  Napi::Value hybrid_value = config_object.Get("hybrid");
  config.hybrid = hybrid_value.IsBoolean() && hybrid_value.As<Napi::Boolean>().Value();
  if (config.hybrid) {
    if (info.Length() < 3 || !info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        info[2].As<Napi::TypedArray>().ElementLength() < kDirectStatCount)
      throw Napi::TypeError::New(env, "hybrid sockets need a direct stats Float64Array");
  }
  // Watchdog fields are optional: absent means watched with the process-wide thresholds.
  auto optional = [&](const char* key, uint32_t max) {
    return config_object.Get(key).IsUndefined() ? 0u : field(key, 0, max);
  };
  const uint32_t socket_id = optional("id", 0xffffffffu);
  const uint32_t stuck_ms = optional("stuckMs", 3600000);
  const uint32_t starved_ms = optional("starvedMs", 3600000);
  Napi::Value watch_value = config_object.Get("watchdog");
  if (!watch_value.IsUndefined() && !watch_value.IsBoolean()) throw Napi::TypeError::New(env, "watchdog must be a boolean");
  const bool watch = watch_value.IsUndefined() ? true : watch_value.As<Napi::Boolean>().Value();
  if (config.buffer_size < config.max_datagram + kRecvHeaderBytes)
    throw Napi::RangeError::New(env, "bufferSize too small for maxDatagramSize");

  Napi::Float64Array stats = info[1].As<Napi::Float64Array>();
  stats_ref_ = Napi::Reference<Napi::Float64Array>::New(stats, 1);
  shared_ = std::make_shared<UdpShared>();
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) throw Napi::Error::New(env, "no event loop");
  UdpShared* raw = shared_.get();
  if (const int err = raw->waker.Init(loop, OnWake, raw); err != 0) {
    shared_.reset();
    throw ErrnoError(env, -err, "uv_async_init");
  }
  napi_value resource_name;
  napi_create_string_utf8(env, "uring-udp socket", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, nullptr, resource_name, &async_context_);
  auto observation = std::make_shared<ThreadObservation>();
  shared_->receiver = std::make_unique<UdpReceiver>(
      fd, config, stats.Data(), [raw] { raw->waker.Wake(); }, observation, shared_->budget, shared_->pool);
  std::string failed;
  const int result = shared_->receiver->Start(&failed);
  const RecvBackend backend = shared_->receiver->backend();
  shared_->owner = this;
  if (result < 0) {
    shared_->waker.Close();
    shared_.reset();
    ReleaseAsyncContext();
    throw ErrnoError(env, -result, failed);
  }
  if (watch) {
    watched_ = WatchThread(env, "socket", socket_id, observation, nullptr, stuck_ms, starved_ms);
  }
  if (config.hybrid && backend == RecvBackend::kMultishotRecvmsg) {
    Napi::Float64Array direct_stats = info[2].As<Napi::Float64Array>();
    direct_stats_ref_ = Napi::Reference<Napi::Float64Array>::New(direct_stats, 1);
    direct_stats_ = direct_stats.Data();
    direct_ = std::make_unique<DirectReader>(fd, config.max_datagram,
                                             RecvmmsgBatchFor(config.budget_bytes, config.max_datagram), direct_stats_);
    direct_max_datagram_ = config.max_datagram;
    StartDirect();  // the receiver thread starts idle: JS reads until the traffic grows
  }
  return Napi::Number::New(env, static_cast<int>(backend));
}

Napi::Value UdpWrap::StopReceiving(const Napi::CallbackInfo& info) {
  if (shared_ && !joined_) shared_->receiver->RequestStop();
  return info.Env().Undefined();
}

Napi::Value UdpWrap::Join(const Napi::CallbackInfo& info) {
  if (shared_ && !joined_) {
    if (!shared_->receiver->Exited()) throw Napi::Error::New(info.Env(), "receiver thread has not exited");
    StopAndJoin(0);
  }
  return info.Env().Undefined();
}

Napi::Value UdpWrap::CloseFd(const Napi::CallbackInfo& info) {
  if (shared_ && !joined_) throw Napi::Error::New(info.Env(), "stop receiving before closing the socket");
  Shutdown(0);
  return info.Env().Undefined();
}

Napi::Value UdpWrap::Backend(const Napi::CallbackInfo& info) {
  if (!shared_) return info.Env().Null();
  return Napi::Number::New(info.Env(), static_cast<int>(shared_->receiver->backend()));
}

Napi::Value UdpWrap::Ref(const Napi::CallbackInfo& info) {
  refed_ = true;
  if (poll_) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
  if (shared_ && !joined_) shared_->waker.Ref();
  return info.Env().Undefined();
}

Napi::Value UdpWrap::Unref(const Napi::CallbackInfo& info) {
  refed_ = false;
  if (poll_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  if (shared_ && !joined_) shared_->waker.Unref();
  return info.Env().Undefined();
}

void UdpWrap::RefreshKernelDrops() {
  const int64_t drops = KernelDrops(fd_);
  if (drops >= 0) last_kernel_drops_ = drops;
}

// kernelDrops(): datagrams the kernel dropped for this socket (a full receive buffer), read
// from the kernel when asked; after close, the total at close. Asking costs one getsockopt; a
// control message on every datagram (SO_RXQ_OVFL) cost the receive path 15 % of its CPU.
Napi::Value UdpWrap::KernelDropsMethod(const Napi::CallbackInfo& info) {
  if (fd_ >= 0) RefreshKernelDrops();
  return Napi::Number::New(info.Env(), static_cast<double>(last_kernel_drops_));
}

// Whether the JS thread is reading the socket itself right now (hybrid sockets).
Napi::Value UdpWrap::Direct(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), polling_); }

Napi::Value UdpWrap::Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

Napi::Value UdpWrap::ThreadId(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), shared_ ? shared_->receiver->tid() : 0);
}

// testDisarm(): test-only (URING_UDP_TEST_HOOKS=1), see UdpReceiver::TestDisarm.
Napi::Value UdpWrap::TestDisarm(const Napi::CallbackInfo& info) {
  const char* hooks = std::getenv("URING_UDP_TEST_HOOKS");
  if (!hooks || std::string(hooks) != "1") throw Napi::Error::New(info.Env(), "test hooks are disabled");
  if (!shared_ || joined_) throw Napi::Error::New(info.Env(), "not receiving");
  shared_->receiver->TestDisarm();
  return info.Env().Undefined();
}

}  // namespace uring_udp
