// SocketReceive: one bound socket's receive state — what its JS thread and the receiver that
// serves it (when one does) share.
//
// A bound socket starts with no native receiver at all: its JS thread reads it directly (the
// direct path, udp_direct.cc), which costs what node:dgram's reads cost. A burst attaches it to
// a receiver of the process-wide pool (receiver.h), which warms its buffers; the next burst hands
// the socket over; when its traffic goes quiet the receiver hands it back, and after a quiet
// second lets its buffers go and leaves it (docs/internals.md has the state diagram). JS moves
// it with commands (Receiver::Command); the receiver answers with events (RecvEvents), which
// reach the JS thread through its environment's EnvLink.
#pragma once

#include <liburing.h>
#include <netinet/in.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "observation.h"
#include "receive_budget.h"
#include "recv_batch.h"
#include "recvmmsg.h"

namespace uring_udp {

class EnvLink;
class UdpWrap;

// Bytes a provided buffer needs besides the payload: io_uring_recvmsg_out and room for an
// IPv6 source address. No control message: the kernel's drop counter is read on demand
// (KernelDrops), not carried by every datagram.
constexpr uint32_t kRecvHeaderBytes = 16 + 28;

enum class RecvBackend : int { kMultishotRecvmsg = 0, kPollRecvmmsg = 1, kRecvmmsg = 2 };

// startReceiving()'s configuration: a Float64Array with one slot per field, in this order (JS
// builds it once per set of socket options, from RECV_CONFIG's names: reading numbers by index
// costs a fraction of an object's named properties, which every bind paid). Flags are 0 or 1;
// cqEntries 0 means none (every user socket: only the reproducer's ring has one).
enum RecvConfigSlot : unsigned {
  kCfgBackend,
  kCfgForced,
  kCfgMaxDatagram,
  kCfgBufferSize,
  kCfgBufferCount,
  kCfgBatchCount,
  kCfgBatchDelayUs,
  kCfgMaxWaitMs,
  kCfgReceiveBudget,
  kCfgWatchdog,
  kCfgStuckMs,
  kCfgStarvedMs,
  kCfgHybrid,
  kCfgGro,
  kCfgTos,
  kCfgPktinfo,
  kCfgCqEntries,
  kCfgBusyWait,
  kRecvConfigSlots
};
constexpr const char* kRecvConfigNames[] = {"backend",   "forced",     "maxDatagramSize", "bufferSize", "bufferCount",
                                            "batchCount", "batchDelayUs", "maxWaitMs",     "receiveBudget", "watchdog",
                                            "stuckMs",   "starvedMs",  "hybrid",          "gro",        "tos",
                                            "pktinfo",   "cqEntries",  "busyWait"};
static_assert(sizeof(kRecvConfigNames) / sizeof(kRecvConfigNames[0]) == kRecvConfigSlots, "a name per config slot");

struct RecvConfig {
  RecvBackend backend = RecvBackend::kMultishotRecvmsg;
  uint32_t buffer_size = 65536 + 128;  // per provided buffer: header + name + payload
  uint32_t buffer_count = 256;         // provided buffers
  uint32_t max_datagram = 65507;       // payload bytes one buffer can hold
  uint32_t batch_count = 64;           // wait for this many datagrams ...
  uint32_t batch_delay_us = 200;       // ... or this long once one has arrived
  uint32_t max_wait_ms = 500;          // bound on one wait inside the kernel
  // Everything the socket holds for receiving, in bytes: the buffer ring (or recvmmsg scratch)
  // first, the rest for datagrams copied out and not yet handed over to JS (ReceiveBudget).
  uint64_t budget_bytes = 32u << 20;
  bool hybrid = true;  // sparse traffic is read by the JS thread; false: on a receiver from bind on
  // UDP_GRO is set on the socket: a receive may return several datagrams coalesced, which are
  // split into their records; the recvmsg template and provided buffers carry its control message.
  bool gro = false;
  // The ecn and pktinfo options: each datagram's TOS byte, and the address and interface it
  // arrived on, from its control messages, in an extra per record (DatagramExtra).
  bool tos = false;
  bool pktinfo = false;
  bool control() const { return gro || tos || pktinfo; }
  bool extras() const { return tos || pktinfo; }
  // The reproducer's ring (src/repro.ts, variant 'recv'), never a user's: a private ring with a
  // CQ of this many entries (0: a pool receiver) set up plain, without the task-running flags,
  // as in the kernel bug reports ...
  uint32_t cq_entries = 0;
  // ... whose thread polls the CQ without sleeping, entering with GETEVENTS.
  bool busy_wait = false;
};

// Datagrams the kernel dropped for this socket (its sk_drops, via SO_MEMINFO), or -1 when the
// kernel does not say.
int64_t KernelDrops(int fd);
// Datagrams one recvmmsg call reads (its scratch holds that many of max_datagram bytes): 64, or
// fewer when a quarter of the budget would not hold them.
unsigned RecvmmsgBatchFor(uint64_t budget_bytes, uint32_t max_datagram);

// The memory a socket's receive path is sized by (src/udp/options.ts asks for it before bind).
struct ReceiveLayout {
  uint32_t buffer_size;     // one provided buffer: header, name and a whole datagram, 64-byte aligned
  unsigned recvmmsg_batch;  // datagrams per recvmmsg: its scratch is this many of max_datagram
  uint64_t scratch_bytes;
  uint32_t max_ring_buffers;  // buffers that fit in half the budget (after a hybrid socket's scratch)
};
// control: room for control messages (gro, ecn, pktinfo) in each provided buffer.
ReceiveLayout LayoutFor(uint32_t max_datagram, uint64_t budget_bytes, bool hybrid, bool control = false);
// Bytes a provided buffer holds besides the payload.
// With control messages the name's room is rounded up to 32 bytes, so that they start 8-byte
// aligned in the buffer (16 + 32), as struct cmsghdr must be read.
constexpr uint32_t kRecvNameBytesWithControl = 32;
inline uint32_t RecvNameBytes(bool control) { return control ? kRecvNameBytesWithControl : kRecvHeaderBytes - 16; }
inline uint32_t RecvHeaderBytes(bool control) { return 16 + RecvNameBytes(control) + (control ? kControlBytes : 0); }

enum RecvStatIndex : unsigned {
  kRecvDatagrams,
  kRecvBytes,
  kRecvEnobufs,      // times the buffer ring ran dry (-ENOBUFS) and the request was re-armed
  kRecvRearms,       // multishot requests re-armed after the kernel ended them
  kRecvTruncated,
  kRecvEnters,       // waits of its receiver that brought this socket datagrams
  kRecvBatches,
  kRecvOverflowFlagSeen,  // waits after which the kernel flagged a CQ overflow (IORING_SQ_CQ_OVERFLOW)
  kRecvBudgetPauses,      // times the receiver stopped taking datagrams because the budget was full
  kRecvAttaches,          // times a receiver took the socket on (its buffers set up and warmed)
  kRecvHandovers,         // times the receiver took over reading from the JS thread (a burst)
  kRecvCoalesced,         // datagrams that arrived coalesced by UDP_GRO (split into their records)
  kRecvStatCount
};
// The counters' names, in index order, as SocketStats names them (boundary.cc exports them).
constexpr const char* kRecvStatNames[] = {"datagrams", "bytes",        "enobufs",  "rearms",   "truncated",
                                          "enters",    "batches",      "overflowFlagSeen", "budgetPauses",
                                          "attaches",  "handovers",    "coalesced"};
static_assert(sizeof(kRecvStatNames) / sizeof(kRecvStatNames[0]) == kRecvStatCount, "a name per receiver counter");

// What a receiver has for the JS thread besides batches.
struct RecvEvents {
  int error = 0;          // an errno a receive failed with
  bool handoff = false;   // the receiver stopped reading: the JS thread reads from now on
  bool detached = false;  // the receiver let the socket go (its buffers are freed)
  int attach_error = 0;   // with detached: the receiver could not take the socket on (errno)
  bool stopped = false;   // the detach that closing asked for is done: nothing reads the fd any more
};

class SocketReceive : public std::enable_shared_from_this<SocketReceive> {
 public:
  // JS thread.
  SocketReceive(int fd, const RecvConfig& config, std::shared_ptr<EnvLink> env);
  ~SocketReceive();
  SocketReceive(const SocketReceive&) = delete;
  SocketReceive& operator=(const SocketReceive&) = delete;

  const int fd;
  const RecvConfig config;
  const std::shared_ptr<EnvLink> env;
  const std::shared_ptr<ReceiveBudget> budget = std::make_shared<ReceiveBudget>();
  // The receiver's arenas (the JS thread's direct reads take from a pool of their own).
  const std::shared_ptr<ArenaPool> arenas = std::make_shared<ArenaPool>(budget);
  const std::shared_ptr<RecvWatch> watch = std::make_shared<RecvWatch>();
  UdpWrap* owner = nullptr;  // JS thread only; cleared before the wrapper goes away
  // Set by the receiver: the buffers are warm and in the kernel's ring; an Arm now takes over
  // at once.
  std::atomic<bool> warm{false};
  // The socket left a receiver that will never answer (a thread stuck in the kernel): the
  // receiver must not touch it, nor its fd, should it ever come back.
  std::atomic<bool> abandoned{false};
  // Test hook (URING_UDP_TEST_HOOKS=1, socket._testLatePause()): the next budget pause waits for
  // JS to make the room it resumes at before it arms its wake-up, as when JS hands batches over
  // between the receiver's check and the pause (a race that stopped sockets for good).
  std::atomic<bool> test_late_pause{false};

  // JS thread: what the receiver handed over since the last call.
  void Take(std::vector<std::unique_ptr<RecvBatch>>* out, RecvEvents* events);
  // JS thread: the counters the receiver published, into out[kRecvStatCount].
  void ReadStats(double* out) const;
  // JS thread, closing without JS (environment teardown): waits up to timeout_ms for the
  // receiver's "stopped".
  bool WaitStopped(int timeout_ms);

  // The receiver thread.
  void Deliver(std::unique_ptr<RecvBatch> batch);
  void Post(const RecvEvents& events);
  bool JsBehind() const { return pending_count_.load(std::memory_order_acquire) > 0; }

  // ---- the receiver's side, its thread only ------------------------------------------------
  // Sizes the budget for what the backend holds whatever the traffic (buffer ring or scratch).
  void SizeBudget();
  // Room for one more datagram of `bytes`, counting the batch being filled.
  bool HasRoom(uint32_t bytes) const;
  int64_t NewBatchBytes() const;
  // The budget was found full: stop taking datagrams until JS has handed back a quarter of it.
  // What was taken goes to JS first (it is what JS must deliver to make room). Returns true if
  // there was room again already.
  bool PauseForBudget();
  // Room enough to end a pause: clears it (true), else false.
  bool ResumeIfRoom();
  // Copies a datagram into the batch being filled (a new one when it is full).
  // ancillary: what its control messages said (a UDP_GRO segment size, the socket's extras).
  void Append(const uint8_t* payload, uint32_t length, uint32_t wire_length, bool truncated, const void* name,
              uint32_t name_length, const Ancillary& ancillary = Ancillary{});
  void Flush();
  // End of a turn: hand the batch to JS — unless JS has not taken the ones before it yet (its
  // handler is busy); then go on filling it. A slow handler gets fewer, fuller batches.
  void FlushOrHold(bool stopping);
  // recvmmsg until the socket is empty, the budget is full or 64 rounds are done (then
  // drain_pending). false: a fatal error (reported).
  bool DrainRecvmmsg(RecvmmsgScratch& scratch, bool stopping);
  void ReportError(int err);
  void PublishStats();

  // A recv CQE the receiver could not copy out for want of budget room, kept in order.
  struct Parked {
    int32_t res;
    uint32_t flags;
  };
  enum class Served { kNone, kWarming, kIdle, kArmed, kHandingBack, kReleasing, kLeaving };
  struct ServedState {
    Served state = Served::kNone;
    bool closing = false;       // kLeaving for close: "stopped", not "detached"
    uint32_t slot = 0;          // its index on the receiver: user_data id and buffer group
    // The buffer ring (recvmsg-multishot).
    io_uring_buf_ring* buf_ring = nullptr;
    uint8_t* buffers = nullptr;
    size_t buffers_bytes = 0;
    size_t buf_ring_bytes = 0;
    unsigned ring_entries = 0;  // a power of two >= buffer_count
    bool registered = false;
    msghdr recv_template{};
    unsigned recycled = 0;      // buffers copied out in this reap, given back at its end
    // The request on the socket: a multishot recvmsg, a poll, or (plain) its epoll registration.
    bool armed = false;
    bool cancelling = false;
    bool disarmed = false;      // test hook: never re-arm
    bool trimming = false;      // the receive was cancelled to give big buffers' pages back
    bool poll_ready = false;    // poll backend: readable, not yet drained
    // Batching.
    std::unique_ptr<RecvBatch> batch;
    uint64_t turn_start = 0;    // datagrams at the start of this turn
    bool touched = false;       // CQEs (or readiness) this turn
    // The budget.
    int64_t held_limit = 0;
    bool budget_full = false;
    int64_t resume_at = 0;       // room that ends a pause (PauseForBudget)
    std::vector<Parked> parked;
    bool drain_pending = false;  // recvmmsg: the socket may still hold datagrams
    // Quiet.
    int64_t last_busy_ns = 0;    // the last turn that brought more than one datagram
    int64_t idle_since_ns = 0;   // handed back (kIdle) since
    uint64_t quiet_seen = 0;
    int64_t quiet_since_ns = 0;
    uint32_t largest_since_trim = 0;
    uint32_t recent_largest = 0;  // the largest datagram of the batch being filled (and the one before)
    uint64_t counters[kRecvStatCount] = {};
  } served;

 private:
  void Ready();

  size_t small_arena_ = 0;  // SizeBudget: the arenas of batches of small datagrams ...
  size_t big_arena_ = 0;    // ... and of big ones

  std::atomic<uint64_t> published_[kRecvStatCount] = {};
  std::atomic<bool> queued_{false};  // on its EnvLink's ready list
  std::mutex mutex_;
  std::condition_variable stopped_changed_;
  std::vector<std::unique_ptr<RecvBatch>> pending_;
  std::atomic<size_t> pending_count_{0};
  RecvEvents events_;
  bool stopped_ = false;
};

}  // namespace uring_udp
