// DirectReader: the JS thread's own recvmmsg path for hybrid sockets. While the receiver
// thread has handed the socket over (sparse traffic), a libuv poll on the JS thread reads it
// here: one thread hop per datagram instead of two. Plain socket syscalls; no io_uring.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "recv_batch.h"
#include "recvmmsg.h"

namespace uring_udp {

enum DirectStatIndex : unsigned { kDirectDatagrams, kDirectBytes, kDirectTruncated, kDirectReads, kDirectStatCount };
constexpr const char* kDirectStatNames[] = {"datagrams", "bytes", "truncated", "reads"};
static_assert(sizeof(kDirectStatNames) / sizeof(kDirectStatNames[0]) == kDirectStatCount, "a name per direct counter");

class DirectReader {
 public:
  // batch: datagrams per recvmmsg (RecvmmsgBatchFor: its scratch is part of the socket's budget).
  DirectReader(int fd, uint32_t max_datagram, unsigned batch, double* stats);
  // Reads what the socket holds, up to `limit` datagrams, into batches appended to *out (a new
  // one, with an arena from `pool`, whenever the last is full). Returns the number read; *error
  // is an errno other than "nothing to read" (ENOMEM: a datagram was read and no arena could be
  // mapped for it), or 0. Datagrams read before an error are in *out.
  int Drain(std::vector<std::unique_ptr<RecvBatch>>* out, unsigned limit, ArenaPool& pool, int* error);
  // While nobody reads here: gives back the scratch pages big datagrams touched.
  void Trim() { scratch_.Trim(); }

 private:
  const int fd_;
  double* const stats_;
  uint64_t counters_[kDirectStatCount] = {};
  RecvmmsgScratch scratch_;
};

}  // namespace uring_udp
