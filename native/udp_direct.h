// DirectReader: the JS thread's own recvmmsg path. A bound socket is read here — through a libuv
// poll on the JS thread, as node:dgram reads — until a burst moves it to a receiver (receiver.h),
// and again once its traffic is sparse: one thread hop per datagram instead of two. Plain socket
// syscalls; no io_uring. The recvmmsg scratch space is the JS thread's, shared by all its sockets.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "recv_batch.h"
#include "recvmmsg.h"

namespace uring_udp {

enum DirectStatIndex : unsigned {
  kDirectDatagrams,
  kDirectBytes,
  kDirectTruncated,
  kDirectReads,
  kDirectAttachFailures,  // bursts that found no receiver to take the socket on
  kDirectCoalesced,       // datagrams that arrived coalesced by UDP_GRO (split into their records)
  kDirectStatCount
};
constexpr const char* kDirectStatNames[] = {"datagrams", "bytes", "truncated", "reads", "attachFailures", "coalesced"};
static_assert(sizeof(kDirectStatNames) / sizeof(kDirectStatNames[0]) == kDirectStatCount, "a name per direct counter");

// Batches of up to this many payload bytes are copied into a JS ArrayBuffer when delivered (a
// request, a sparse socket's datagram) and their arena goes back at once; bigger ones are lent.
constexpr size_t kCopyArenaBytes = 4096;

// After a hand-back, only a burst (not a steady load) moves the socket again for this long.
constexpr uint64_t kSteadyQuietMs = 1000;

class DirectReader {
 public:
  // batch: datagrams per recvmmsg (RecvmmsgBatchFor: a share of the socket's budget). control:
  // the socket asked for control messages (UDP_GRO: a read may hold coalesced datagrams, split
  // into their records); extras: a DatagramExtra per record (ecn, pktinfo).
  DirectReader(int fd, uint32_t max_datagram, unsigned batch, double* stats, bool control = false, bool extras = false);
  // Reads what the socket holds, up to `limit` datagrams (about: a coalesced one counts all its
  // datagrams), into batches appended to *out: a small
  // read into one of the JS thread's own copy-sized arenas, more into arenas from `pool` (the
  // socket's). Returns the number read; *error is an errno other than "nothing to read" (ENOMEM:
  // a datagram was read and no arena could be mapped for it), or 0. Datagrams read before an
  // error are in *out.
  int Drain(std::vector<std::unique_ptr<RecvBatch>>* out, unsigned limit, const std::shared_ptr<ArenaPool>& pool, int* error);
  // Gives back the scratch pages big datagrams touched (the JS thread's; nobody reads into it
  // between two reads).
  static void TrimScratch();
  // A burst found no receiver to take the socket on: it stays here.
  void CountAttachFailure() {
    counters_[kDirectAttachFailures]++;
    stats_[kDirectAttachFailures] = static_cast<double>(counters_[kDirectAttachFailures]);
  }

 private:
  const int fd_;
  const uint32_t max_datagram_;
  const unsigned batch_;
  double* const stats_;
  const bool control_;
  const bool extras_;
  uint64_t counters_[kDirectStatCount] = {};
};

}  // namespace uring_udp
