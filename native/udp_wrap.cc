// NativeUdp: a UDP socket. Socket calls that cannot block in io_uring (socket, setsockopt,
// bind, connect, sendmsg/sendmmsg on a non-blocking socket, close) run on the JS thread;
// receiving runs on the socket's UdpReceiver thread, which owns its io_uring.
#include "udp_wrap.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "errors.h"
#include "udp_direct.h"

namespace uring_udp {

namespace {

constexpr int kShutdownWaitMs = 3000;

struct NamedOption {
  const char* name;
  int level;
  int option;
};

const NamedOption kOptions[] = {
    {"SO_REUSEADDR", SOL_SOCKET, SO_REUSEADDR},
    {"SO_REUSEPORT", SOL_SOCKET, SO_REUSEPORT},
    {"SO_RCVBUF", SOL_SOCKET, SO_RCVBUF},
    {"SO_SNDBUF", SOL_SOCKET, SO_SNDBUF},
    {"SO_BROADCAST", SOL_SOCKET, SO_BROADCAST},
    {"IPV6_V6ONLY", IPPROTO_IPV6, IPV6_V6ONLY},
    {"IP_TTL", IPPROTO_IP, IP_TTL},
    {"IPV6_UNICAST_HOPS", IPPROTO_IPV6, IPV6_UNICAST_HOPS},
    {"IP_MULTICAST_TTL", IPPROTO_IP, IP_MULTICAST_TTL},
    {"IPV6_MULTICAST_HOPS", IPPROTO_IPV6, IPV6_MULTICAST_HOPS},
    {"IP_MULTICAST_LOOP", IPPROTO_IP, IP_MULTICAST_LOOP},
    {"IPV6_MULTICAST_LOOP", IPPROTO_IPV6, IPV6_MULTICAST_LOOP},
};

const NamedOption& OptionByName(Napi::Env env, const std::string& name) {
  for (const NamedOption& option : kOptions)
    if (name == option.name) return option;
  throw Napi::TypeError::New(env, "unknown socket option " + name);
}

std::string StringArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (!info[index].IsString()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a string");
  return info[index].As<Napi::String>().Utf8Value();
}

}  // namespace

// Parses an IP literal for a socket of `family` (4 or 6). An IPv6 socket takes IPv4 literals as
// IPv4-mapped addresses, as a dual-stack socket must. Returns false when it is not a literal.
bool ParseAddress(int family, const std::string& text, uint16_t port, sockaddr_storage* out, socklen_t* length) {
  std::memset(out, 0, sizeof(*out));
  if (family == 4) {
    sockaddr_in* in = reinterpret_cast<sockaddr_in*>(out);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    if (inet_pton(AF_INET, text.c_str(), &in->sin_addr) != 1) return false;
    *length = sizeof(sockaddr_in);
    return true;
  }
  sockaddr_in6* in6 = reinterpret_cast<sockaddr_in6*>(out);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  std::string host = text;
  const size_t percent = host.find('%');
  if (percent != std::string::npos) {
    const std::string scope = host.substr(percent + 1);
    host = host.substr(0, percent);
    unsigned index = if_nametoindex(scope.c_str());
    if (index == 0) index = static_cast<unsigned>(std::strtoul(scope.c_str(), nullptr, 10));
    in6->sin6_scope_id = index;
  }
  *length = sizeof(sockaddr_in6);
  if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) != 1) return false;
  in6->sin6_addr.s6_addr[10] = 0xff;
  in6->sin6_addr.s6_addr[11] = 0xff;
  std::memcpy(&in6->sin6_addr.s6_addr[12], &v4, 4);
  return true;
}

Napi::Object AddressObject(Napi::Env env, const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = {0};
  Napi::Object result = Napi::Object::New(env);
  if (address.ss_family == AF_INET) {
    const sockaddr_in* in = reinterpret_cast<const sockaddr_in*>(&address);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    result.Set("address", text);
    result.Set("family", "IPv4");
    result.Set("port", Napi::Number::New(env, ntohs(in->sin_port)));
  } else {
    const sockaddr_in6* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    std::string formatted = text;
    if (in6->sin6_scope_id) {
      char name[IF_NAMESIZE] = {0};
      formatted += "%";
      formatted += if_indextoname(in6->sin6_scope_id, name) ? name : std::to_string(in6->sin6_scope_id);
    }
    result.Set("address", formatted);
    result.Set("family", "IPv6");
    result.Set("port", Napi::Number::New(env, ntohs(in6->sin6_port)));
  }
  return result;
}

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
  fd_ = socket(family_ == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw ErrnoError(env, errno, "socket");
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
  if (watched_) {
    Watchdog::Instance().Unregister(watched_);
    watched_.reset();
  }
  UdpReceiver& receiver = *shared_->receiver;
  receiver.RequestStop();
  if (receiver.WaitExited(timeout_ms)) {
    receiver.Join();
  } else {
    std::fprintf(stderr, "uring-udp: receiver thread %d did not exit within %d ms (stuck in the kernel?); detaching it\n",
                 receiver.tid(), timeout_ms);
    receiver.Detach();
    new std::shared_ptr<UdpShared>(shared_);  // the stuck thread still uses it: never free it
    fd_ = -1;                                  // nor the socket under it
  }
  shared_->waker.Close();
  ReleaseAsyncContext();
}

int UdpWrap::LiveFd(const Napi::CallbackInfo& info) {
  if (fd_ < 0) throw Napi::Error::New(info.Env(), "socket is closed");
  return fd_;
}

Napi::Value UdpWrap::SetOption(const Napi::CallbackInfo& info) {
  int fd = LiveFd(info);
  const NamedOption& option = OptionByName(info.Env(), StringArg(info, 0, "name"));
  int value = static_cast<int>(ArgNumber(info, 1, "value"));
  if (setsockopt(fd, option.level, option.option, &value, sizeof(value)) < 0)
    throw ErrnoError(info.Env(), errno, "setsockopt");
  return info.Env().Undefined();
}

Napi::Value UdpWrap::GetOption(const Napi::CallbackInfo& info) {
  int fd = LiveFd(info);
  const NamedOption& option = OptionByName(info.Env(), StringArg(info, 0, "name"));
  int value = 0;
  socklen_t length = sizeof(value);
  if (getsockopt(fd, option.level, option.option, &value, &length) < 0)
    throw ErrnoError(info.Env(), errno, "getsockopt");
  return Napi::Number::New(info.Env(), value);
}

// bind(address, port): address is an IP literal (TypeScript resolved names already).
Napi::Value UdpWrap::Bind(const Napi::CallbackInfo& info) {
  int fd = LiveFd(info);
  std::string address = StringArg(info, 0, "address");
  uint32_t port = ArgUint32(info, 1, "port");
  if (port > 65535) throw Napi::RangeError::New(info.Env(), "port out of range");
  sockaddr_storage storage;
  socklen_t length;
  if (!ParseAddress(family_, address, static_cast<uint16_t>(port), &storage, &length))
    throw ErrnoError(info.Env(), EINVAL, "bind");
  if (bind(fd, reinterpret_cast<sockaddr*>(&storage), length) < 0) throw ErrnoError(info.Env(), errno, "bind");
  return info.Env().Undefined();
}

Napi::Value UdpWrap::Connect(const Napi::CallbackInfo& info) {
  int fd = LiveFd(info);
  std::string address = StringArg(info, 0, "address");
  uint32_t port = ArgUint32(info, 1, "port");
  if (port > 65535) throw Napi::RangeError::New(info.Env(), "port out of range");
  sockaddr_storage storage;
  socklen_t length;
  if (!ParseAddress(family_, address, static_cast<uint16_t>(port), &storage, &length))
    throw ErrnoError(info.Env(), EINVAL, "connect");
  if (connect(fd, reinterpret_cast<sockaddr*>(&storage), length) < 0) throw ErrnoError(info.Env(), errno, "connect");
  return info.Env().Undefined();
}

Napi::Value UdpWrap::Disconnect(const Napi::CallbackInfo& info) {
  int fd = LiveFd(info);
  sockaddr_storage storage;
  std::memset(&storage, 0, sizeof(storage));
  storage.ss_family = AF_UNSPEC;
  // Linux: connect(AF_UNSPEC) dissolves the association; EAFNOSUPPORT here is harmless.
  if (connect(fd, reinterpret_cast<sockaddr*>(&storage), sizeof(sockaddr)) < 0 && errno != EAFNOSUPPORT)
    throw ErrnoError(info.Env(), errno, "connect");
  return info.Env().Undefined();
}

Napi::Value UdpWrap::LocalAddress(const Napi::CallbackInfo& info) {
  int fd = LiveFd(info);
  sockaddr_storage storage;
  socklen_t length = sizeof(storage);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) < 0)
    throw ErrnoError(info.Env(), errno, "getsockname");
  return AddressObject(info.Env(), storage);
}

Napi::Value UdpWrap::RemoteAddress(const Napi::CallbackInfo& info) {
  int fd = LiveFd(info);
  sockaddr_storage storage;
  socklen_t length = sizeof(storage);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&storage), &length) < 0)
    throw ErrnoError(info.Env(), errno, "getpeername");
  return AddressObject(info.Env(), storage);
}

// send(chunks: Uint8Array[], address: string | null, port): bytes sent, or -errno (EAGAIN is
// for the caller to queue; nothing is thrown for it).
Napi::Value UdpWrap::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = LiveFd(info);
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "chunks must be an array");
  Napi::Array chunks = info[0].As<Napi::Array>();
  const uint32_t count = chunks.Length();
  if (count > 1024) throw Napi::RangeError::New(env, "at most 1024 chunks per datagram");
  std::vector<iovec> iov(count);
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value chunk = chunks.Get(i);
    if (!chunk.IsTypedArray()) throw Napi::TypeError::New(env, "chunks must be Uint8Arrays");
    Napi::Uint8Array bytes = chunk.As<Napi::Uint8Array>();
    iov[i].iov_base = bytes.Data();
    iov[i].iov_len = bytes.ByteLength();
  }
  msghdr header{};
  header.msg_iov = iov.data();
  header.msg_iovlen = count;
  sockaddr_storage storage;
  socklen_t length = 0;
  if (!info[1].IsNull()) {
    uint32_t port = ArgUint32(info, 2, "port");
    if (port > 65535) throw Napi::RangeError::New(env, "port out of range");
    if (!ParseAddress(family_, StringArg(info, 1, "address"), static_cast<uint16_t>(port), &storage, &length))
      return Napi::Number::New(env, -EINVAL);
    header.msg_name = &storage;
    header.msg_namelen = length;
  }
  ssize_t sent = sendmsg(fd, &header, MSG_DONTWAIT | MSG_NOSIGNAL);
  return Napi::Number::New(env, sent < 0 ? -errno : static_cast<double>(sent));
}

// sendMany(datagrams: Uint8Array[], destinations: Array<[address, port]> | null,
//          destinationIndex: Uint32Array | null, start): datagrams sent (from start), or -errno
// when the first one failed. One sendmmsg per 1024 datagrams.
Napi::Value UdpWrap::SendMany(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = LiveFd(info);
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "datagrams must be an array");
  Napi::Array datagrams = info[0].As<Napi::Array>();
  const uint32_t total = datagrams.Length();
  const uint32_t start = ArgUint32(info, 3, "start");
  // Scratch kept per thread (each JS thread calls on its own): no allocation per call once
  // warm, which a request/response server sending one datagram per call notices.
  thread_local std::vector<sockaddr_storage> destinations;
  thread_local std::vector<socklen_t> lengths;
  thread_local std::vector<mmsghdr> messages;
  thread_local std::vector<iovec> iov;
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
  constexpr uint32_t kChunk = 1024;  // UIO_MAXIOV: the kernel's limit per sendmmsg
  const uint32_t end = std::min(total, start + kChunk);
  if (start >= end) return Napi::Number::New(env, 0);
  messages.resize(end - start);
  iov.resize(end - start);
  for (uint32_t i = start; i < end; i++) {
    Napi::Value datagram = datagrams.Get(i);
    if (!datagram.IsTypedArray()) throw Napi::TypeError::New(env, "datagrams must be Uint8Arrays");
    Napi::Uint8Array bytes = datagram.As<Napi::Uint8Array>();
    iovec& vec = iov[i - start];
    vec.iov_base = bytes.Data();
    vec.iov_len = bytes.ByteLength();
    msghdr& header = messages[i - start].msg_hdr;
    header = msghdr{};
    header.msg_iov = &vec;
    header.msg_iovlen = 1;
    if (index) {
      uint32_t which = index[i];
      if (which >= destinations.size()) throw Napi::RangeError::New(env, "destination index out of range");
      header.msg_name = &destinations[which];
      header.msg_namelen = lengths[which];
    }
  }
  int sent = sendmmsg(fd, messages.data(), end - start, MSG_DONTWAIT | MSG_NOSIGNAL);
  return Napi::Number::New(env, sent < 0 ? -errno : sent);
}

// membership(add: boolean, group, interface | null)
Napi::Value UdpWrap::Membership(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = LiveFd(info);
  bool add = ArgBool(info, 0, "add");
  std::string group = StringArg(info, 1, "group");
  std::string iface = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  int result;
  if (family_ == 4) {
    ip_mreq request{};
    if (inet_pton(AF_INET, group.c_str(), &request.imr_multiaddr) != 1) throw ErrnoError(env, EINVAL, "setsockopt");
    if (!iface.empty() && inet_pton(AF_INET, iface.c_str(), &request.imr_interface) != 1)
      throw ErrnoError(env, EINVAL, "setsockopt");
    result = setsockopt(fd, IPPROTO_IP, add ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &request, sizeof(request));
  } else {
    ipv6_mreq request{};
    if (inet_pton(AF_INET6, group.c_str(), &request.ipv6mr_multiaddr) != 1) throw ErrnoError(env, EINVAL, "setsockopt");
    if (!iface.empty()) request.ipv6mr_interface = if_nametoindex(iface.c_str());
    result = setsockopt(fd, IPPROTO_IPV6, add ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP, &request, sizeof(request));
  }
  if (result < 0) throw ErrnoError(env, errno, "setsockopt");
  return env.Undefined();
}

// sourceMembership(add, source, group, interface | null): source-specific multicast.
Napi::Value UdpWrap::SourceMembership(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = LiveFd(info);
  bool add = ArgBool(info, 0, "add");
  std::string source = StringArg(info, 1, "source");
  std::string group = StringArg(info, 2, "group");
  std::string iface = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "";
  group_source_req request{};
  request.gsr_interface = iface.empty() ? 0 : if_nametoindex(iface.c_str());
  socklen_t unused;
  if (!ParseAddress(family_, group, 0, &request.gsr_group, &unused) ||
      !ParseAddress(family_, source, 0, &request.gsr_source, &unused))
    throw ErrnoError(env, EINVAL, "setsockopt");
  int level = family_ == 4 ? IPPROTO_IP : IPPROTO_IPV6;
  if (setsockopt(fd, level, add ? MCAST_JOIN_SOURCE_GROUP : MCAST_LEAVE_SOURCE_GROUP, &request, sizeof(request)) < 0)
    throw ErrnoError(env, errno, "setsockopt");
  return env.Undefined();
}

Napi::Value UdpWrap::MulticastInterface(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = LiveFd(info);
  std::string iface = StringArg(info, 0, "interface");
  int result;
  if (family_ == 4) {
    in_addr address;
    if (inet_pton(AF_INET, iface.c_str(), &address) != 1) throw ErrnoError(env, EINVAL, "setsockopt");
    result = setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &address, sizeof(address));
  } else {
    // "::%eth0" or "%eth0": the scope names the interface.
    unsigned index = 0;
    const size_t percent = iface.find('%');
    if (percent != std::string::npos) index = if_nametoindex(iface.substr(percent + 1).c_str());
    result = setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &index, sizeof(index));
  }
  if (result < 0) throw ErrnoError(env, errno, "setsockopt");
  return env.Undefined();
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
    watched_ = std::make_shared<Watched>();
    watched_->owner = "socket";
    watched_->owner_id = socket_id;
    watched_->observation = observation;
    watched_->channel = ChannelFor(env);
    Watchdog& watchdog = Watchdog::Instance();
    watched_->thresholds.stuck_ns.store(stuck_ms ? stuck_ms * 1000000LL : watchdog.default_stuck_ns());
    watched_->thresholds.starved_ns.store(starved_ms ? starved_ms * 1000000LL : watchdog.default_starved_ns());
    watchdog.Register(watched_);
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

// settle(token, reuse): JS is done with a batch whose settling it deferred (a batches() loop
// asked for the next one).
Napi::Value UdpWrap::SettleMethod(const Napi::CallbackInfo& info) {
  Settle(ArgUint32(info, 0, "token"), ArgBool(info, 1, "reuse"));
  AfterRelease();
  return info.Env().Undefined();
}

void UdpWrap::AfterRelease() {
  if (!direct_paused_ || !shared_ || joined_) return;
  if (shared_->budget->room() < static_cast<int64_t>(direct_max_datagram_ + sizeof(DatagramRecord))) return;
  direct_paused_ = false;
  StartDirect();
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

// Batches of up to this many payload bytes are copied into a JS ArrayBuffer (a request, a
// sparse socket's datagram) and their arena goes back to the pool at once; bigger ones are lent
// (an external ArrayBuffer over the arena), which pays off only for a busy socket's batches.
constexpr size_t kCopyArenaBytes = 4096;

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
  if (reuse && entry.arena && shared_) shared_->pool->Give(std::move(entry.arena));
  entry.arena.reset();
  if (entry.held_bytes && shared_) shared_->budget->Release(entry.held_bytes);
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
    napi_value arena;
    if (copy) {
      void* copied = nullptr;
      if (napi_create_arraybuffer(env, batch->size, &copied, &arena) != napi_ok) return false;
      if (batch->size) std::memcpy(copied, batch->arena->data(), batch->size);
      if (shared_) shared_->pool->Give(std::move(batch->arena));
    } else {
      // The ArrayBuffer holds a reference to the arena: its memory outlives every view of it.
      auto* hold = new std::shared_ptr<Arena>(batch->arena);
      if (napi_create_external_arraybuffer(
              env, batch->arena->data(), batch->size,
              [](napi_env, void*, void* hint) { delete static_cast<std::shared_ptr<Arena>*>(hint); }, hold, &arena) != napi_ok) {
        delete hold;
        return false;
      }
    }
    const size_t record_bytes = batch->records.size() * sizeof(DatagramRecord);
    void* data = nullptr;
    napi_value records_buffer;
    napi_value records;
    napi_value token_value;
    if (napi_create_arraybuffer(env, record_bytes, &data, &records_buffer) != napi_ok) return false;
    if (record_bytes) std::memcpy(data, batch->records.data(), record_bytes);
    if (napi_create_typedarray(env, napi_uint32_array, record_bytes / 4, records_buffer, 0, &records) != napi_ok) return false;
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

void UdpWrap::OnWake(void* arg) {
  UdpShared* shared = static_cast<UdpShared*>(arg);
  UdpWrap* self = shared->owner;
  if (!self) return;
  std::vector<std::unique_ptr<RecvBatch>> batches;
  int error = 0;
  bool stopped = false;
  bool handoff = false;
  shared->receiver->TakeBatches(&batches, &error, &stopped, &handoff);
  if (!batches.empty() || error || stopped) self->CallOnBatch(batches, error, stopped);
  if (shared->owner) shared->owner->AfterRelease();
  // After the ring's last batches: from now on the JS thread reads the socket itself. (The
  // callback may have closed the socket: owner is cleared then.)
  if (handoff && !stopped && shared->owner) shared->owner->StartDirect();
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
  if (joined_) ReleaseAsyncContext();
}

void UdpWrap::ReleaseAsyncContext() {
  if (delivering_ || !async_context_) return;
  napi_async_destroy(env_, async_context_);
  async_context_ = nullptr;
}

// ---- the direct path (hybrid sockets) --------------------------------------------------------

namespace {
// One poll callback reads at most this many datagrams; this many or more in one go means the
// traffic is no longer sparse, and the ring takes over again.
constexpr unsigned kDirectLimit = 256;
constexpr unsigned kBackToRing = 256;
// Reads (each delivered before the next) per readiness of the socket, at most.
constexpr unsigned kDirectRounds = 32;
}  // namespace

void UdpWrap::StartDirect() {
  if (!direct_ || joined_ || fd_ < 0) return;
  if (!poll_) {
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env_, &loop) != napi_ok || !loop) return;
    poll_ = new uv_poll_t;
    if (uv_poll_init(loop, poll_, fd_) != 0) {
      delete poll_;
      poll_ = nullptr;
      return;
    }
    poll_->data = this;
    if (!refed_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  }
  if (!polling_ && uv_poll_start(poll_, UV_READABLE, OnPoll) == 0) polling_ = true;
}

void UdpWrap::StopDirect() {
  if (poll_ && polling_) uv_poll_stop(poll_);
  polling_ = false;
}

void UdpWrap::CloseDirect() {
  StopDirect();
  if (poll_) {
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
    poll_ = nullptr;
  }
}

void UdpWrap::OnPoll(uv_poll_t* handle, int status, int) {
  // As libuv does for node:dgram, read again after delivering, before going back to the event
  // loop: a request/response peer's next request is often there by then (the reply went out
  // from the callback), and finding it saves a sleep in epoll and a wake-up, which cost more
  // than the read on this VM (an echo server here: one epoll wait per request, against one
  // per 20 for node:dgram). A read that finds nothing, or a burst, ends it.
  for (unsigned round = 0; round < kDirectRounds; round++) {
    // The callback may have closed the socket (data is cleared then) or stopped polling.
    UdpWrap* self = static_cast<UdpWrap*>(handle->data);
    if (!self || !self->polling_) return;
    // At most what the budget has room for, each datagram counted at its largest: what waits
    // in batches() queues holds part of it. None: stop reading until JS makes room (AfterRelease);
    // the socket buffer holds what comes meanwhile, as it does for the receiver thread.
    ReceiveBudget& budget = *self->shared_->budget;
    const int64_t each = static_cast<int64_t>(self->direct_max_datagram_ + sizeof(DatagramRecord));
    const unsigned limit = static_cast<unsigned>(std::clamp<int64_t>(budget.room() / each, 0, kDirectLimit));
    if (limit == 0 && status >= 0) {
      self->StopDirect();
      self->direct_paused_ = true;
      return;
    }
    std::vector<std::unique_ptr<RecvBatch>>& batches = self->direct_batches_;
    batches.clear();
    int error = status < 0 ? -status : 0;
    const int read = status < 0 ? 0 : self->direct_->Drain(&batches, limit, *self->shared_->pool, &error);
    bool burst = false;
    if (read >= static_cast<int>(std::min(limit, kBackToRing))) {
      // A burst: hand the socket back to the ring thread before the next read, once its
      // buffers are warm; until then keep reading here (the ring warms up meanwhile).
      burst = true;
      UdpReceiver& receiver = *self->shared_->receiver;
      if (receiver.Warm()) {
        self->StopDirect();
        self->direct_->Trim();  // nobody reads here until the ring hands the socket back
        receiver.ResumeRing();
      } else {
        receiver.RequestWarm();
      }
    }
    if (batches.empty() && !error) return;
    // Held while JS has them, like batches from the receiver thread (settling releases them).
    for (const std::unique_ptr<RecvBatch>& batch : batches) {
      batch->held_bytes = BatchBytes(*batch);
      budget.Hold(batch->held_bytes);
    }
    self->CallOnBatch(batches, error, false);
    batches.clear();
    if (read <= 0 || error || burst) return;
  }
}

}  // namespace uring_udp
