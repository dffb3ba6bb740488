// DirectReader: the JS thread's own recvmmsg path for hybrid sockets. While the receiver
// thread has handed the socket over (sparse traffic), a libuv poll on the JS thread reads it
// here: one thread hop per datagram instead of two. Plain socket syscalls; no io_uring.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "udp_receiver.h"

namespace uring_udp {

enum DirectStatIndex : unsigned { kDirectDatagrams, kDirectBytes, kDirectTruncated, kDirectReads, kDirectStatCount };

class DirectReader {
 public:
  DirectReader(int fd, uint32_t max_datagram, double* stats);
  // Reads what the socket holds, up to `limit` datagrams, into *batch. Returns the number
  // read, or -errno for an error other than "nothing to read".
  int Drain(RecvBatch* batch, unsigned limit);

 private:
  const int fd_;
  const uint32_t max_datagram_;
  double* const stats_;
  uint64_t counters_[kDirectStatCount] = {};
  std::unique_ptr<uint8_t[]> scratch_;  // uninitialised: resident only where used
  std::vector<mmsghdr> messages_;
  std::vector<iovec> iovecs_;
  std::vector<sockaddr_storage> names_;
};

}  // namespace uring_udp
