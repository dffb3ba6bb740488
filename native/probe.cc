// probe(): what this kernel's io_uring can do, found by trying (liburing's test style:
// -EINVAL means "not here"), never by version number. Runs on a libuv pool thread, not the
// JS thread: it sets up, enters, registers with and closes short-lived rings.
#include "probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <liburing.h>

#include "errors.h"
#include "ring_thread.h"

namespace uring_udp {

namespace {

// IOU_PBUF_RING_INC (6.12) lives in io_uring_buf_reg.flags, which liburing 2.3 calls "pad".
constexpr uint16_t kPbufRingInc = 2;

struct Feature {
  const char* name;
  bool supported = false;
  int error = 0;  // errno of the attempt that said no (0 when it said yes or had no errno)
};

struct ProbeResult {
  bool usable = false;
  int setup_errno = 0;
  uint32_t features = 0;
  unsigned last_op = 0;
  std::vector<unsigned> opcodes;
  std::vector<Feature> tried;
};

// One setup with exactly these flags: no fallback, the answer is what the probe wants to know.
int TrySetup(unsigned flags, io_uring* ring, io_uring_params* params) {
  io_uring_params base;
  std::memset(&base, 0, sizeof(base));
  if (flags & IORING_SETUP_SQPOLL) base.sq_thread_idle = 10;
  return SetupWithFallback(ring, 8, base, {flags}, params);
}

Feature TryFlags(const char* name, unsigned flags) {
  Feature feature{name};
  io_uring ring;
  io_uring_params params;
  int result = TrySetup(flags, &ring, &params);
  if (result == 0) {
    feature.supported = true;
    io_uring_queue_exit(&ring);
  } else {
    feature.error = -result;
  }
  return feature;
}

// Waits up to 1 s for one CQE.
int WaitOne(io_uring* ring, io_uring_cqe** cqe) {
  __kernel_timespec ts{1, 0};
  return io_uring_submit_and_wait_timeout(ring, cqe, 1, &ts, nullptr);
}

Feature TryMultishotPoll(io_uring* ring) {
  Feature feature{"multishotPoll"};
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
    feature.error = errno;
    return feature;
  }
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  io_uring_prep_poll_multishot(sqe, fds[0], POLLIN);
  io_uring_sqe_set_data64(sqe, 1);
  char byte = 'x';
  if (write(fds[1], &byte, 1) == 1) {
    io_uring_cqe* cqe = nullptr;
    if (WaitOne(ring, &cqe) >= 0 && cqe) {
      if (cqe->res >= 0 && (cqe->flags & IORING_CQE_F_MORE)) feature.supported = true;
      else if (cqe->res < 0) feature.error = -cqe->res;
      io_uring_cqe_seen(ring, cqe);
    }
  }
  // Cancel whatever is still armed before the pipe goes away.
  sqe = io_uring_get_sqe(ring);
  io_uring_prep_poll_remove(sqe, 1);
  io_uring_sqe_set_data64(sqe, 2);
  io_uring_submit(ring);
  for (int i = 0; i < 2; i++) {
    io_uring_cqe* cqe = nullptr;
    if (WaitOne(ring, &cqe) < 0 || !cqe) break;
    io_uring_cqe_seen(ring, cqe);
  }
  close(fds[0]);
  close(fds[1]);
  return feature;
}

struct BufRing {
  io_uring_buf_ring* ring = nullptr;
  size_t bytes = 0;
  std::vector<char> storage;
};

int RegisterBufRing(io_uring* ring, BufRing* br, unsigned entries, uint16_t group, uint16_t flags) {
  br->bytes = entries * sizeof(io_uring_buf);
  void* memory = mmap(nullptr, br->bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (memory == MAP_FAILED) return -errno;
  br->ring = static_cast<io_uring_buf_ring*>(memory);
  io_uring_buf_ring_init(br->ring);
  io_uring_buf_reg reg;
  std::memset(&reg, 0, sizeof(reg));
  reg.ring_addr = reinterpret_cast<uintptr_t>(memory);
  reg.ring_entries = entries;
  reg.bgid = group;
  reg.pad = flags;
  int result = io_uring_register_buf_ring(ring, &reg, 0);
  if (result < 0) {
    munmap(memory, br->bytes);
    br->ring = nullptr;
  }
  return result;
}

void FreeBufRing(io_uring* ring, BufRing* br, uint16_t group) {
  if (!br->ring) return;
  io_uring_unregister_buf_ring(ring, group);
  munmap(br->ring, br->bytes);
  br->ring = nullptr;
}

void TryBufferRings(io_uring* ring, std::vector<Feature>* out) {
  Feature buf_ring{"providedBufferRings"};
  Feature recvmsg{"multishotRecvmsg"};
  Feature incremental{"incrementalBuffers"};

  BufRing br;
  int result = RegisterBufRing(ring, &br, 8, 7, 0);
  if (result < 0) {
    buf_ring.error = -result;
    recvmsg.error = -result;
    incremental.error = -result;
    out->push_back(buf_ring);
    out->push_back(recvmsg);
    out->push_back(incremental);
    return;
  }
  buf_ring.supported = true;

  // Multishot recvmsg: one loopback datagram into a socket with the request armed.
  constexpr unsigned kBufSize = 256;
  br.storage.resize(8 * kBufSize);
  for (unsigned i = 0; i < 8; i++)
    io_uring_buf_ring_add(br.ring, br.storage.data() + i * kBufSize, kBufSize, i, io_uring_buf_ring_mask(8), i);
  io_uring_buf_ring_advance(br.ring, 8);

  int receiver = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int sender = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (receiver >= 0 && sender >= 0 && bind(receiver, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(receiver, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    msghdr header{};
    header.msg_namelen = sizeof(sockaddr_in6);
    io_uring_sqe* sqe = io_uring_get_sqe(ring);
    io_uring_prep_recvmsg_multishot(sqe, receiver, &header, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 7;
    io_uring_sqe_set_data64(sqe, 3);
    io_uring_submit(ring);
    const char payload[] = "probe";
    sendto(sender, payload, sizeof(payload), 0, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    io_uring_cqe* cqe = nullptr;
    if (WaitOne(ring, &cqe) >= 0 && cqe) {
      if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_MORE) && (cqe->flags & IORING_CQE_F_BUFFER))
        recvmsg.supported = true;
      else if (cqe->res < 0)
        recvmsg.error = -cqe->res;
      io_uring_cqe_seen(ring, cqe);
    }
    sqe = io_uring_get_sqe(ring);
    io_uring_prep_cancel64(sqe, 3, 0);
    io_uring_sqe_set_data64(sqe, 4);
    io_uring_submit(ring);
    for (int i = 0; i < 2; i++) {
      cqe = nullptr;
      if (WaitOne(ring, &cqe) < 0 || !cqe) break;
      io_uring_cqe_seen(ring, cqe);
    }
  } else {
    recvmsg.error = errno;
  }
  if (receiver >= 0) close(receiver);
  if (sender >= 0) close(sender);
  FreeBufRing(ring, &br, 7);

  BufRing inc;
  result = RegisterBufRing(ring, &inc, 8, 8, kPbufRingInc);
  if (result == 0) incremental.supported = true;
  else incremental.error = -result;
  FreeBufRing(ring, &inc, 8);

  out->push_back(buf_ring);
  out->push_back(recvmsg);
  out->push_back(incremental);
}

// receive_only: what a socket's receive path needs (ReceiveCapabilitiesOnce), not the whole report.
ProbeResult RunProbe(bool receive_only) {
  ProbeResult result;
  io_uring ring;
  io_uring_params params;
  int setup = TrySetup(0, &ring, &params);
  if (setup < 0) {
    result.setup_errno = -setup;
    return result;
  }
  result.usable = true;
  result.features = params.features;

  io_uring_probe* probe = receive_only ? nullptr : io_uring_get_probe_ring(&ring);
  if (probe) {
    result.last_op = probe->last_op;
    for (unsigned op = 0; op < probe->ops_len; op++)
      if (probe->ops[op].flags & IO_URING_OP_SUPPORTED) result.opcodes.push_back(probe->ops[op].op);
    io_uring_free_probe(probe);
  }

  result.tried.push_back(TryMultishotPoll(&ring));
  TryBufferRings(&ring, &result.tried);
  io_uring_queue_exit(&ring);
  if (receive_only) return result;

  result.tried.push_back(TryFlags("singleIssuer", IORING_SETUP_SINGLE_ISSUER));
  result.tried.push_back(TryFlags("deferTaskrun", IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN));
  result.tried.push_back(TryFlags("coopTaskrun", IORING_SETUP_COOP_TASKRUN));
  result.tried.push_back(TryFlags("sqpoll", IORING_SETUP_SQPOLL));
  return result;
}

class ProbeWorker : public Napi::AsyncWorker {
 public:
  ProbeWorker(Napi::Env env, Napi::Promise::Deferred deferred)
      : Napi::AsyncWorker(env, "uring-udp probe"), deferred_(deferred) {}

  void Execute() override { result_ = RunProbe(false); }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("usable", result_.usable);
    if (!result_.usable) {
      out.Set("setupError", ErrnoError(env, result_.setup_errno, "io_uring_setup").Value());
    }
    out.Set("features", Napi::Number::New(env, result_.features));
    out.Set("lastOp", Napi::Number::New(env, result_.last_op));
    Napi::Array opcodes = Napi::Array::New(env, result_.opcodes.size());
    for (size_t i = 0; i < result_.opcodes.size(); i++) opcodes.Set(i, Napi::Number::New(env, result_.opcodes[i]));
    out.Set("opcodes", opcodes);
    Napi::Object tried = Napi::Object::New(env);
    for (const Feature& feature : result_.tried) {
      Napi::Object entry = Napi::Object::New(env);
      entry.Set("supported", feature.supported);
      if (feature.error) entry.Set("code", Napi::String::New(env, ErrnoName(feature.error)));
      tried.Set(feature.name, entry);
    }
    out.Set("tried", tried);
    deferred_.Resolve(out);
  }

 private:
  Napi::Promise::Deferred deferred_;
  ProbeResult result_;
};

}  // namespace

namespace {
// Errnos that say "not now" rather than "not here": a probe that met one is not remembered.
bool Transient(int err) { return err == EMFILE || err == ENFILE || err == ENOMEM || err == EAGAIN || err == ENOBUFS; }
}  // namespace

ReceiveCapabilities ReceiveCapabilitiesNow() {
  static std::mutex mutex;
  static ReceiveCapabilities known;
  static bool settled = false;
  std::lock_guard<std::mutex> lock(mutex);
  if (settled) return known;
  ReceiveCapabilities found;
  try {
    // On a thread of its own, joined at once: the probe sets up, enters and closes a ring, which
    // the JS thread never does. A fresh ring and a loopback datagram: the wait is bounded (each
    // completion waited for at most a second).
    std::thread([&found] {
      const ProbeResult result = RunProbe(true);
      found.io_uring = result.usable;
      found.setup_errno = result.setup_errno;
      for (const Feature& feature : result.tried) {
        const std::string name = feature.name;
        if (name == "multishotPoll") {
          found.multishot_poll = feature.supported;
          found.multishot_poll_errno = feature.error;
        } else if (name == "multishotRecvmsg") {
          found.multishot_recvmsg = feature.supported;
          found.multishot_recvmsg_errno = feature.error;
        }
      }
    }).join();
  } catch (const std::system_error& e) {
    found.setup_errno = e.code().value() ? e.code().value() : EAGAIN;  // no thread to probe on
  }
  if (!Transient(found.setup_errno) && !Transient(found.multishot_poll_errno) && !Transient(found.multishot_recvmsg_errno)) {
    known = found;
    settled = true;
  }
  return found;
}

Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(info.Env());
  ProbeWorker* worker = new ProbeWorker(info.Env(), deferred);
  worker->Queue();
  return deferred.Promise();
}

}  // namespace uring_udp
