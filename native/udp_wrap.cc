// NativeUdp: a UDP socket's Node-API face. Its methods convert arguments and results; the socket
// calls themselves are plain functions (udp_socket.h), run on the JS thread because none can
// block in io_uring. Receiving runs on the JS thread's direct path (udp_direct.cc) or, for busy
// sockets, on a pooled receiver that owns its io_uring (receiver.h); batches reach JS through
// udp_delivery.cc.
#include "udp_wrap.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"
#include "errors.h"
#include "probe.h"
#include "udp_direct.h"
#include "udp_socket.h"

namespace uring_udp {

namespace {

constexpr int kShutdownWaitMs = 3000;
// One sendmmsg takes at most this many datagrams (UIO_MAXIOV, the kernel's limit), and one
// datagram at most this many pieces.
constexpr uint32_t kSendmmsgMax = 1024;
// GSO (UDP_SEGMENT): at most this many datagrams per send (quinn-udp's limit; the kernel's
// UDP_MAX_SEGMENTS is at least this), at most this many bytes in all (an IPv4 datagram's
// largest payload), and datagrams of at most a 1500-byte MTU's payload: a bigger segment than
// the route's MTU is refused (EINVAL), and would turn GSO off for the socket.
constexpr uint32_t kGsoMaxSegments = 64;
constexpr size_t kGsoMaxBytes = 65507;
constexpr size_t GsoMaxSegment(int family) { return family == 4 ? 1472 : 1452; }
// A message's control messages: GSO's segment size, a TOS byte, a source address.
struct SendControl {
  alignas(cmsghdr) uint8_t bytes[CMSG_SPACE(sizeof(uint16_t)) + CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(in6_pktinfo))];
};

bool IsV4Mapped(const sockaddr_storage& address) {
  if (address.ss_family != AF_INET6) return false;
  const in6_addr& a = reinterpret_cast<const sockaddr_in6&>(address).sin6_addr;
  return IN6_IS_ADDR_V4MAPPED(&a);
}

// Whether this kernel has UDP GSO: a trial setsockopt on a socket of its own, once.
bool GsoSupported() {
  static const bool supported = [] {
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    int size = 1200;
    const bool ok = setsockopt(fd, SOL_UDP, UDP_SEGMENT, &size, sizeof(size)) == 0;
    close(fd);
    return ok;
  }();
  return supported;
}

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
                         InstanceMethod<&UdpWrap::Adopt>("adopt"),
                         InstanceMethod<&UdpWrap::Connect>("connect"),
                         InstanceMethod<&UdpWrap::Disconnect>("disconnect"),
                         InstanceMethod<&UdpWrap::LocalAddress>("localAddress"),
                         InstanceMethod<&UdpWrap::RemoteAddress>("remoteAddress"),
                         InstanceMethod<&UdpWrap::Send>("send"),
                         InstanceMethod<&UdpWrap::SendMany>("sendMany"),
                         InstanceMethod<&UdpWrap::SetGso>("setGso"),
                         InstanceMethod<&UdpWrap::SendStats>("sendStats"),
                         InstanceMethod<&UdpWrap::TestRefuseTos>("testRefuseTos"),
                         InstanceMethod<&UdpWrap::TestLatePause>("testLatePause"),
                         InstanceMethod<&UdpWrap::Membership>("membership"),
                         InstanceMethod<&UdpWrap::SourceMembership>("sourceMembership"),
                         InstanceMethod<&UdpWrap::MulticastInterface>("multicastInterface"),
                         InstanceMethod<&UdpWrap::StartReceiving>("startReceiving"),
                         InstanceMethod<&UdpWrap::StopReceiving>("stopReceiving"),
                         InstanceMethod<&UdpWrap::CloseFd>("closeFd"),
                         InstanceMethod<&UdpWrap::Backend>("backend"),
                         InstanceMethod<&UdpWrap::Ref>("ref"),
                         InstanceMethod<&UdpWrap::Unref>("unref"),
                         InstanceAccessor<&UdpWrap::Fd>("fd"),
                         InstanceAccessor<&UdpWrap::ThreadId>("threadId"),
                         InstanceMethod<&UdpWrap::TestDisarm>("testDisarm"),
                         InstanceAccessor<&UdpWrap::Direct>("direct"),
                         InstanceAccessor<&UdpWrap::Attached>("attached"),
                         InstanceMethod<&UdpWrap::RecvStats>("recvStats"),
                         InstanceMethod<&UdpWrap::KernelDropsMethod>("kernelDrops"),
                         InstanceMethod<&UdpWrap::SettleMethod>("settle"),
                         InstanceMethod<&UdpWrap::FailoverMethod>("failover"),
                         InstanceMethod<&UdpWrap::TestHoldReceiver>("testHoldReceiver"),
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

// Without JS (environment teardown, or a socket collected unclosed): a socket on a receiver
// leaves it now, waiting up to timeout_ms; one whose receiver never answers (stuck in the
// kernel) is abandoned there, and its fd left open: the stuck request may still hold it.
void UdpWrap::Shutdown(int timeout_ms) {
  if (cleanup_hook_registered_) {
    napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this);
    cleanup_hook_registered_ = false;
  }
  CloseDirect();
  if (receiver_) {
    if (where_ != Where::kLeaving) receiver_->Send({Receiver::Op::kDetach, receive_, true});
    where_ = Where::kLeaving;
    if (!receive_->WaitStopped(timeout_ms)) {
      std::fprintf(stderr, "uring-udp: receiver %u did not let socket fd %d go within %d ms (stuck in the kernel?); leaving it\n",
                   receiver_->id, fd_, timeout_ms);
      receive_->abandoned.store(true, std::memory_order_release);
      ReceiverPool::Instance().Abandon(receiver_, *receive_);
      receiver_.reset();
      fd_ = -1;
    }
    LeaveReceiver();
  }
  where_ = Where::kClosed;
  if (receive_) receive_->owner = nullptr;
  for (const std::shared_ptr<SocketReceive>& old : abandoned_) old->owner = nullptr;
  UpdateLoopRef();
  if (fd_ >= 0) {
    RefreshKernelDrops();  // the total at close, for stats read afterwards
    close(fd_);
    fd_ = -1;
  }
  ReleaseAsyncContext();
  // The callback captures the JS socket, which holds this wrapper: a strong reference kept
  // after close would make every socket uncollectable.
  on_batch_ref_ = nullptr;
  if (!on_batch_.IsEmpty()) on_batch_.Reset();
}

// The socket has left its receiver (or is abandoning it): the pool counts it gone, and stops a
// receiver left with none.
void UdpWrap::LeaveReceiver() {
  if (!receiver_) return;
  std::shared_ptr<Receiver> receiver = std::move(receiver_);
  receiver_.reset();
  ReceiverPool::Instance().Release(receiver, *receive_);
}

// A referenced socket keeps the event loop alive while it receives: through its poll handle
// while the JS thread reads it, through its environment's receiver wake-up while a receiver
// does (and while a close waits for the receiver to let it go).
void UdpWrap::UpdateLoopRef() {
  const bool want = receive_ && receiver_ && (where_ == Where::kReceiver || where_ == Where::kLeaving) &&
                    (refed_ || where_ == Where::kLeaving);
  if (want == loop_ref_) return;
  loop_ref_ = want;
  if (want) receive_->env->Ref();
  else receive_->env->Unref();
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

// adopt(fd): the socket becomes a duplicate of fd, a bound socket of its family (cluster).
Napi::Value UdpWrap::Adopt(const Napi::CallbackInfo& info) {
  const int fd = LiveFd(info);
  Check(info.Env(), UdpAdopt(fd, family_, static_cast<int>(ArgUint32(info, 0, "fd"))), "bind");
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
//          destinationIndex: Uint32Array | null, start, [ecn: Uint8Array | null,
//          sources: string[] | null, sourceIndex: Uint32Array | null]): datagrams sent (from
// start), or -errno when the first one failed. One sendmmsg per call, of at most 1024
// datagrams. ecn: each datagram's ECN codepoint (0..3; 255: none), sent as its TOS byte (IPv6:
// traffic class); sources: local addresses to send from (IP_PKTINFO / IPV6_PKTINFO), by index.
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
  const uint32_t count = end - start;
  // Per datagram: its ECN codepoint and the local address it goes from (optional).
  const uint8_t* ecn = nullptr;
  if (info.Length() > 4 && !info[4].IsNull() && !info[4].IsUndefined()) {
    if (!info[4].IsTypedArray() || info[4].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      throw Napi::TypeError::New(env, "ecn must be a Uint8Array");
    Napi::Uint8Array values = info[4].As<Napi::Uint8Array>();
    if (values.ElementLength() < total) throw Napi::RangeError::New(env, "ecn too short");
    ecn = values.Data();
    for (uint32_t i = start; i < end; i++)
      if (ecn[i] > 3 && ecn[i] != 255) throw Napi::RangeError::New(env, "ecn out of range");
  }
  thread_local std::vector<sockaddr_storage> sources;
  sources.clear();
  const uint32_t* source_index = nullptr;
  if (info.Length() > 6 && !info[5].IsNull() && !info[5].IsUndefined()) {
    if (!info[5].IsArray() || !info[6].IsTypedArray()) throw Napi::TypeError::New(env, "bad sources");
    Napi::Array table = info[5].As<Napi::Array>();
    Napi::Uint32Array indices = info[6].As<Napi::Uint32Array>();
    if (indices.ElementLength() < total) throw Napi::RangeError::New(env, "sourceIndex too short");
    source_index = indices.Data();
    sources.resize(table.Length());
    for (uint32_t i = 0; i < table.Length(); i++) {
      Napi::Value entry = table.Get(i);
      socklen_t length = 0;
      if (!entry.IsString() || !ParseAddress(family_, entry.As<Napi::String>().Utf8Value(), 0, &sources[i], &length))
        throw Napi::RangeError::New(env, "bad source address");
    }
    for (uint32_t i = start; i < end; i++)
      if (source_index[i] >= sources.size()) throw Napi::RangeError::New(env, "source index out of range");
  }
  pieces.resize(count);
  thread_local std::vector<uint32_t> targets;  // each datagram's destination (index into the table)
  targets.resize(count);
  for (uint32_t i = start; i < end; i++) {
    Napi::Value datagram = datagrams.Get(i);
    if (!datagram.IsTypedArray()) throw Napi::TypeError::New(env, "datagrams must be Uint8Arrays");
    Napi::Uint8Array bytes = datagram.As<Napi::Uint8Array>();
    iovec& piece = pieces[i - start];
    piece.iov_base = bytes.Data();
    piece.iov_len = bytes.ByteLength();
    targets[i - start] = 0;
    if (index) {
      const uint32_t which = index[i];
      if (which >= destinations.size()) throw Napi::RangeError::New(env, "destination index out of range");
      targets[i - start] = which;
    }
  }
  // Each message: a run of datagrams (one, or with GSO up to kGsoMaxSegments of one size).
  thread_local std::vector<uint32_t> runs;
  thread_local std::vector<SendControl> controls;
  const auto ecn_of = [&](uint32_t i) -> uint8_t { return ecn && ecn_send_ ? ecn[start + i] : 255; };
  const auto source_of = [&](uint32_t i) -> uint32_t { return source_index ? source_index[start + i] : 0; };
  // A fallback is tried once: if the datagrams are refused without GSO (or the TOS byte) too, the
  // refusal was not GSO's (or the mark's): it is put back, and the error is the caller's.
  int gso_tried = 0;
  int ecn_tried = 0;
  const auto pending_error = [fd] {
    int pending = 0;
    socklen_t length = sizeof(pending);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &pending, &length);
  };
  for (;;) {
    const bool gso = gso_;
    runs.clear();
    for (uint32_t i = 0; i < count;) {
      uint32_t j = i + 1;
      const size_t segment = pieces[i].iov_len;
      if (gso && segment > 0 && segment <= GsoMaxSegment(family_)) {
        size_t bytes = segment;
        while (j < count && j - i < kGsoMaxSegments && targets[j] == targets[i] && ecn_of(j) == ecn_of(i) &&
               source_of(j) == source_of(i) && pieces[j].iov_len > 0 &&
               pieces[j].iov_len <= segment && bytes + pieces[j].iov_len <= kGsoMaxBytes) {
          bytes += pieces[j].iov_len;
          // A shorter datagram ends its run (the kernel cuts every segment but the last at `segment`).
          if (pieces[j++].iov_len < segment) break;
        }
      }
      runs.push_back(j - i);
      i = j;
    }
    messages.resize(runs.size());
    controls.resize(runs.size());
    uint32_t first = 0;
    for (size_t m = 0; m < runs.size(); m++) {
      msghdr& header = messages[m].msg_hdr;
      header = msghdr{};
      header.msg_iov = &pieces[first];
      header.msg_iovlen = runs[m];
      if (index) {
        header.msg_name = &destinations[targets[first]];
        header.msg_namelen = lengths[targets[first]];
      }
      // Control messages: GSO's segment size, the TOS byte, the source address.
      SendControl& control = controls[m];
      size_t used = 0;
      const auto add = [&](int level, int type, const void* data, size_t length) {
        cmsghdr* c = reinterpret_cast<cmsghdr*>(control.bytes + used);
        std::memset(c, 0, CMSG_SPACE(length));
        c->cmsg_level = level;
        c->cmsg_type = type;
        c->cmsg_len = CMSG_LEN(length);
        std::memcpy(CMSG_DATA(c), data, length);
        used += CMSG_SPACE(length);
      };
      if (runs[m] > 1) {
        // UDP_SEGMENT: the kernel sends the message as datagrams of this size (the last shorter).
        const uint16_t size = static_cast<uint16_t>(pieces[first].iov_len);
        add(SOL_UDP, UDP_SEGMENT, &size, sizeof(size));
      }
      // An IPv4 destination (an IPv4-mapped one on a udp6 socket too) takes IPv4's control messages.
      const bool to_ipv4 = family_ == 4 || (index && IsV4Mapped(destinations[targets[first]]));
      if (const uint8_t codepoint = ecn_of(first); codepoint != 255) {
        const int tos = test_refuse_tos_ ? 256 : codepoint;
        add(to_ipv4 ? IPPROTO_IP : IPPROTO_IPV6, to_ipv4 ? IP_TOS : IPV6_TCLASS, &tos, sizeof(tos));
      }
      if (source_index) {
        const sockaddr_storage& from = sources[source_of(first)];
        if (family_ == 4) {
          in_pktinfo info{};
          info.ipi_spec_dst = reinterpret_cast<const sockaddr_in&>(from).sin_addr;
          add(IPPROTO_IP, IP_PKTINFO, &info, sizeof(info));
        } else {
          in6_pktinfo info{};
          info.ipi6_addr = reinterpret_cast<const sockaddr_in6&>(from).sin6_addr;
          add(IPPROTO_IPV6, IPV6_PKTINFO, &info, sizeof(info));
        }
      }
      header.msg_control = used ? control.bytes : nullptr;
      header.msg_controllen = used;
      first += runs[m];
    }
    const int result = UdpSendMany(fd, messages.data(), static_cast<unsigned>(runs.size()));
    if (result < 0) {
      // A GSO send the kernel refused for GSO's sake (no checksum offload on the route's device,
      // checksums off on the socket: EIO, EINVAL): GSO goes off for this socket for good and the
      // datagrams go again one by one, as quinn-udp does. The refusal of a run after others were
      // sent may also be left as the socket's pending error (sendmmsg records it): taken here.
      if (gso && runs[0] > 1 && (result == -EIO || result == -EINVAL) && gso_tried == 0) {
        gso_ = false;
        gso_tried = result;
        pending_error();
        continue;
      }
      // A TOS byte the kernel refuses (EINVAL): the socket sends without it from now on, as
      // quinn-udp does, and these datagrams go again (not ECN-capable: allowed).
      if (ecn_send_ && ecn_of(0) != 255 && result == -EINVAL && ecn_tried == 0) {
        ecn_send_ = false;
        ecn_tried = result;
        pending_error();
        continue;
      }
      // Refused whatever was left out: not GSO's nor the mark's doing. Both stay as they were.
      if (gso_tried == result) gso_ = true;
      if (ecn_tried == result) ecn_send_ = true;
      return Napi::Number::New(env, result);
    }
    if (gso_tried) gso_fallbacks_++;
    if (ecn_tried) ecn_fallbacks_++;
    uint32_t sent = 0;
    for (int m = 0; m < result; m++) {
      sent += runs[m];
      if (runs[m] > 1) {
        gso_sends_++;
        gso_datagrams_ += runs[m];
      }
    }
    return Napi::Number::New(env, sent);
  }
}

// setGso(on): turns UDP GSO on for sendMany where this kernel has it; returns whether it is on.
Napi::Value UdpWrap::SetGso(const Napi::CallbackInfo& info) {
  gso_ = ArgBool(info, 0, "on") && GsoSupported();
  return Napi::Boolean::New(info.Env(), gso_);
}

// sendStats(): [GSO on, GSO sends, datagrams they carried, GSO fallbacks, ECN fallbacks].
Napi::Value UdpWrap::SendStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, 5);
  out.Set(0u, Napi::Boolean::New(env, gso_));
  out.Set(1u, Napi::Number::New(env, static_cast<double>(gso_sends_)));
  out.Set(2u, Napi::Number::New(env, static_cast<double>(gso_datagrams_)));
  out.Set(3u, Napi::Number::New(env, static_cast<double>(gso_fallbacks_)));
  out.Set(4u, Napi::Number::New(env, static_cast<double>(ecn_fallbacks_)));
  return out;
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

// The backend a socket's receivers use, from what this kernel can do (found once per process by
// trying): the asked one, which must then be there (a forced backend is a requirement), or the
// fastest there is. 0, or -errno with *syscall naming what failed.
static int ResolveBackend(RecvBackend wanted, bool forced, RecvBackend* backend, std::string* syscall) {
  const ReceiveCapabilities can = ReceiveCapabilitiesNow();
  auto missing = [&](int err, const char* call) {
    *syscall = call;
    return -(err ? err : EINVAL);
  };
  if (forced) {
    if (wanted == RecvBackend::kMultishotRecvmsg && !can.multishot_recvmsg)
      return can.io_uring ? missing(can.multishot_recvmsg_errno, "io_uring_enter") : missing(can.setup_errno, "io_uring_setup");
    if (wanted == RecvBackend::kPollRecvmmsg && !can.io_uring) return missing(can.setup_errno, "io_uring_setup");
    *backend = wanted;
    return 0;
  }
  *backend = can.multishot_recvmsg ? RecvBackend::kMultishotRecvmsg
                                   : can.io_uring ? RecvBackend::kPollRecvmmsg : RecvBackend::kRecvmmsg;
  return 0;
}

// startReceiving(config, directStats: Float64Array): the backend its receivers use (0, 1, 2).
// The JS thread reads the socket from now on (unless config.hybrid is false: then a receiver
// does, from the start); a burst moves it to a receiver.
Napi::Value UdpWrap::StartReceiving(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = LiveFd(info);
  if (receive_) throw Napi::Error::New(env, "already receiving");
  if (!info[0].IsTypedArray() || !info[1].IsNumber()) throw Napi::TypeError::New(env, "startReceiving(config, id)");
  Napi::TypedArray config_array = info[0].As<Napi::TypedArray>();
  if (config_array.TypedArrayType() != napi_float64_array || config_array.ElementLength() != kRecvConfigSlots)
    throw Napi::TypeError::New(env, "config must be a Float64Array of " + std::to_string(kRecvConfigSlots) + " (RECV_CONFIG)");
  // Copied first: nothing below reads JS memory that a callback could change.
  double slots[kRecvConfigSlots];
  std::memcpy(slots, config_array.As<Napi::Float64Array>().Data(), sizeof(slots));
  auto field = [&](RecvConfigSlot slot, double min, double max) {
    const double number = slots[slot];
    if (!(number >= min && number <= max) || std::floor(number) != number)
      throw Napi::RangeError::New(env, std::string(kRecvConfigNames[slot]) + " out of range");
    return number;
  };
  auto flag = [&](RecvConfigSlot slot) {
    const double number = slots[slot];
    if (number != 0 && number != 1) throw Napi::TypeError::New(env, std::string(kRecvConfigNames[slot]) + " must be 0 or 1");
    return number == 1;
  };
  auto u32 = [&](RecvConfigSlot slot, uint32_t min, uint32_t max) { return static_cast<uint32_t>(field(slot, min, max)); };
  RecvConfig config;
  const RecvBackend wanted = static_cast<RecvBackend>(u32(kCfgBackend, 0, 2));
  const bool forced = flag(kCfgForced);
  config.max_datagram = u32(kCfgMaxDatagram, 1, 65535);
  config.buffer_size = u32(kCfgBufferSize, 64, 1 << 24);
  config.buffer_count = u32(kCfgBufferCount, 1, 32768);
  config.batch_count = u32(kCfgBatchCount, 1, 65536);
  config.batch_delay_us = u32(kCfgBatchDelayUs, 0, 1000000);
  config.max_wait_ms = u32(kCfgMaxWaitMs, 1, 60000);
  config.budget_bytes = static_cast<uint64_t>(field(kCfgReceiveBudget, 1 << 18, 1099511627776.0));
  // The reproducer's private ring (RecvConfig); 0 for every user socket.
  config.cq_entries = u32(kCfgCqEntries, 0, 4096);
  if (config.cq_entries == 1 || (config.cq_entries & (config.cq_entries - 1)) != 0)
    throw Napi::RangeError::New(env, "cqEntries must be 0 or a power of two from 2");
  config.busy_wait = flag(kCfgBusyWait);
  config.hybrid = flag(kCfgHybrid) && config.cq_entries == 0;
  config.gro = flag(kCfgGro);
  config.tos = flag(kCfgTos);
  config.pktinfo = flag(kCfgPktinfo);
  if (config.buffer_size < config.max_datagram + RecvHeaderBytes(config.control()))
    throw Napi::RangeError::New(env, "bufferSize too small for maxDatagramSize");
  // Watchdog thresholds: 0 means the process-wide ones.
  const double id = info[1].As<Napi::Number>().DoubleValue();
  if (!(id >= 0 && id <= 4294967295.0) || std::floor(id) != id) throw Napi::RangeError::New(env, "id out of range");
  socket_id_ = static_cast<uint32_t>(id);
  stuck_ms_ = u32(kCfgStuckMs, 0, 3600000);
  starved_ms_ = u32(kCfgStarvedMs, 0, 3600000);
  watch_ = flag(kCfgWatchdog);

  std::string syscall;
  if (const int result = ResolveBackend(wanted, forced, &config.backend, &syscall); result < 0)
    throw ErrnoError(env, -result, syscall);
  if (config.backend != RecvBackend::kMultishotRecvmsg && config.cq_entries != 0)
    throw Napi::Error::New(env, "the reproducer's ring needs recvmsg-multishot");
  receive_ = std::make_shared<SocketReceive>(fd, config, EnvLink::For(env));
  receive_->owner = this;
  napi_value resource_name;
  napi_create_string_utf8(env, "uring-udp socket", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, nullptr, resource_name, &async_context_);
  direct_ = std::make_unique<DirectReader>(fd, config.max_datagram, RecvmmsgBatchFor(config.budget_bytes, config.max_datagram),
                                           direct_stats_, config.control(), config.extras());
  where_ = Where::kDirect;
  if (!config.hybrid) {
    // On a receiver from the start: a failure to get one is the bind's.
    if (const int result = Attach(true, &syscall); result != 0) {
      receive_->owner = nullptr;
      receive_.reset();
      direct_.reset();
      where_ = Where::kUnbound;
      ReleaseAsyncContext();
      throw ErrnoError(env, result, syscall);
    }
  } else {
    StartDirect();
  }
  return Napi::Number::New(env, static_cast<int>(config.backend));
}

// A receiver takes the socket on: it sets up and warms the socket's buffers, then reads it once
// it is handed over (at once when `arm`). 0, or an errno with *syscall (the socket stays on the
// JS thread's direct path then).
int UdpWrap::Attach(bool arm, std::string* syscall) {
  int error = 0;
  receiver_ = ReceiverPool::Instance().Acquire(receive_, socket_id_, watch_, stuck_ms_, starved_ms_, &error, syscall);
  if (!receiver_) return error ? error : EAGAIN;
  receiver_->Send({Receiver::Op::kAttach, receive_});
  where_ = Where::kAttaching;
  if (arm) {
    StopDirect();
    receiver_->Send({Receiver::Op::kArm, receive_});
    where_ = Where::kReceiver;
  }
  UpdateLoopRef();
  return 0;
}

// stopReceiving(): true when nothing reads the socket any more; false when a receiver has it,
// and its "stopped" comes through the batch callback once it has let it go.
Napi::Value UdpWrap::StopReceiving(const Napi::CallbackInfo& info) {
  CloseDirect();
  if (receiver_ && where_ != Where::kLeaving) {
    receiver_->Send({Receiver::Op::kDetach, receive_, true});
    where_ = Where::kLeaving;
    UpdateLoopRef();
  }
  if (!receiver_) where_ = Where::kClosed;
  return Napi::Boolean::New(info.Env(), !receiver_);
}

Napi::Value UdpWrap::CloseFd(const Napi::CallbackInfo& info) {
  if (receiver_) throw Napi::Error::New(info.Env(), "stop receiving before closing the socket");
  Shutdown(0);
  return info.Env().Undefined();
}

Napi::Value UdpWrap::Backend(const Napi::CallbackInfo& info) {
  if (!receive_) return info.Env().Null();
  return Napi::Number::New(info.Env(), static_cast<int>(receive_->config.backend));
}

Napi::Value UdpWrap::Ref(const Napi::CallbackInfo& info) {
  refed_ = true;
  if (poll_) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
  UpdateLoopRef();
  return info.Env().Undefined();
}

Napi::Value UdpWrap::Unref(const Napi::CallbackInfo& info) {
  refed_ = false;
  if (poll_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  UpdateLoopRef();
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

// Whether the JS thread is reading the socket itself right now.
Napi::Value UdpWrap::Direct(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), polling_); }

// Whether a receiver holds the socket (its buffers set up, or being set up).
Napi::Value UdpWrap::Attached(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), receiver_ != nullptr && where_ != Where::kLeaving);
}

// recvStats(out: Float64Array): the receivers' counters for this socket (with those of receive
// states it left behind at a failover), then the direct path's (DIRECT_STATS), into out.
Napi::Value UdpWrap::RecvStats(const Napi::CallbackInfo& info) {
  constexpr unsigned kAll = static_cast<unsigned>(kRecvStatCount) + static_cast<unsigned>(kDirectStatCount);
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[0].As<Napi::TypedArray>().ElementLength() < kAll)
    throw Napi::TypeError::New(info.Env(), "recvStats(out: Float64Array of " + std::to_string(kAll) + ")");
  double* out = info[0].As<Napi::Float64Array>().Data();
  for (unsigned i = 0; i < kRecvStatCount; i++) out[i] = 0;
  double one[kRecvStatCount];
  for (const std::shared_ptr<SocketReceive>& state : abandoned_) {
    state->ReadStats(one);
    for (unsigned i = 0; i < kRecvStatCount; i++) out[i] += one[i];
  }
  if (receive_) {
    receive_->ReadStats(one);
    for (unsigned i = 0; i < kRecvStatCount; i++) out[i] += one[i];
  }
  for (unsigned i = 0; i < kDirectStatCount; i++) out[kRecvStatCount + i] = direct_stats_[i];
  return info.Env().Undefined();
}

// failover(receiverId): that receiver was reported stuck (the watchdog: state D, or past its
// bound inside io_uring_enter). The socket leaves it without waiting — the stuck thread is left
// behind — and goes on with a fresh receive state on the same fd whose receivers use no io_uring
// ('recvmmsg'): the JS thread reads it from now on. Returns 'direct', 'closed' (it was closing:
// nothing reads it any more), or '' (not on that receiver).
Napi::Value UdpWrap::FailoverMethod(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint32_t id = ArgUint32(info, 0, "receiver");
  if (!receiver_ || receiver_->id != id || !receive_) return Napi::String::New(env, "");
  std::shared_ptr<SocketReceive> old = receive_;
  old->abandoned.store(true, std::memory_order_release);
  ReceiverPool::Instance().Abandon(receiver_, *old);
  receiver_.reset();
  // Kept, owned by this wrap still: should the receiver come back, what it had taken is delivered.
  abandoned_.push_back(old);
  RecvConfig config = old->config;
  config.backend = RecvBackend::kRecvmmsg;
  config.hybrid = true;
  config.cq_entries = 0;
  config.busy_wait = false;
  receive_ = std::make_shared<SocketReceive>(fd_, config, old->env);
  receive_->owner = this;
  const bool closing = where_ == Where::kLeaving;
  where_ = closing ? Where::kClosed : Where::kDirect;
  if (!closing) StartDirect();
  UpdateLoopRef();
  return Napi::String::New(env, closing ? "closed" : "direct");
}

// testHoldReceiver(ms): test-only (URING_UDP_TEST_HOOKS=1): the socket's receiver thread spends
// ms in state D, as a thread stuck in the kernel does, so failover can be shown to work.
Napi::Value UdpWrap::TestHoldReceiver(const Napi::CallbackInfo& info) {
  const char* hooks = std::getenv("URING_UDP_TEST_HOOKS");
  if (!hooks || std::string(hooks) != "1") throw Napi::Error::New(info.Env(), "test hooks are disabled");
  const uint32_t ms = ArgUint32(info, 0, "ms");
  if (!receiver_) throw Napi::Error::New(info.Env(), "not on a receiver");
  Receiver::Command command{Receiver::Op::kTestHold, receive_};
  command.ms = ms;
  receiver_->Send(command);
  return info.Env().Undefined();
}

Napi::Value UdpWrap::Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

// The thread id of the receiver the socket is on (0: none).
Napi::Value UdpWrap::ThreadId(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), receiver_ ? receiver_->tid() : 0);
}

// testDisarm(): test-only (URING_UDP_TEST_HOOKS=1): the receiver cancels the socket's request
// and never re-arms it, so the watchdog's starvation check can be shown to work.
Napi::Value UdpWrap::TestDisarm(const Napi::CallbackInfo& info) {
  const char* hooks = std::getenv("URING_UDP_TEST_HOOKS");
  if (!hooks || std::string(hooks) != "1") throw Napi::Error::New(info.Env(), "test hooks are disabled");
  if (!receiver_ || where_ != Where::kReceiver) throw Napi::Error::New(info.Env(), "not on a receiver");
  receiver_->Send({Receiver::Op::kTestDisarm, receive_});
  return info.Env().Undefined();
}

// testRefuseTos(): test-only (URING_UDP_TEST_HOOKS=1): the next ECN marks go as a TOS byte the
// kernel refuses (256: EINVAL), to drive the fallback a kernel or route that refuses TOS takes.
Napi::Value UdpWrap::TestRefuseTos(const Napi::CallbackInfo& info) {
  const char* hooks = std::getenv("URING_UDP_TEST_HOOKS");
  if (!hooks || std::string(hooks) != "1") throw Napi::Error::New(info.Env(), "test hooks are disabled");
  test_refuse_tos_ = true;
  return info.Env().Undefined();
}

// testLatePause(): test-only (URING_UDP_TEST_HOOKS=1): the socket's next budget pause on a receiver
// finds the room already made when it arms its wake-up (SocketReceive::test_late_pause).
Napi::Value UdpWrap::TestLatePause(const Napi::CallbackInfo& info) {
  const char* hooks = std::getenv("URING_UDP_TEST_HOOKS");
  if (!hooks || std::string(hooks) != "1") throw Napi::Error::New(info.Env(), "test hooks are disabled");
  if (!receive_) throw Napi::Error::New(info.Env(), "not receiving");
  receive_->test_late_pause.store(true, std::memory_order_release);
  return info.Env().Undefined();
}

}  // namespace uring_udp
