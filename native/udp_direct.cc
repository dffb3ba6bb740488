#include "udp_direct.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace uring_udp {

namespace {
constexpr unsigned kBatch = 64;
}  // namespace

DirectReader::DirectReader(int fd, uint32_t max_datagram, double* stats)
    : fd_(fd), max_datagram_(max_datagram), stats_(stats) {}

int DirectReader::Drain(RecvBatch* batch, unsigned limit) {
  if (!scratch_) {
    scratch_.reset(new uint8_t[static_cast<size_t>(kBatch) * max_datagram_]);
    messages_.resize(kBatch);
    iovecs_.resize(kBatch);
    names_.resize(kBatch);
  }
  unsigned total = 0;
  while (total < limit) {
    const unsigned want = std::min(kBatch, limit - total);
    for (unsigned i = 0; i < want; i++) {
      iovecs_[i].iov_base = scratch_.get() + static_cast<size_t>(i) * max_datagram_;
      iovecs_[i].iov_len = max_datagram_;
      msghdr& header = messages_[i].msg_hdr;
      header.msg_name = &names_[i];
      header.msg_namelen = sizeof(sockaddr_storage);
      header.msg_iov = &iovecs_[i];
      header.msg_iovlen = 1;
      header.msg_control = nullptr;
      header.msg_controllen = 0;
      header.msg_flags = 0;
    }
    // MSG_TRUNC: msg_len becomes the datagram's real length, so a cut is reported.
    const int received = recvmmsg(fd_, messages_.data(), want, MSG_DONTWAIT | MSG_TRUNC, nullptr);
    counters_[kDirectReads]++;
    if (received < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      // Datagrams already read go out first; the error stays pending on the socket and ends
      // the next read.
      if (total > 0) break;
      const int err = errno;
      for (unsigned i = 0; i < kDirectStatCount; i++) stats_[i] = static_cast<double>(counters_[i]);
      return -err;
    }
    for (int i = 0; i < received; i++) {
      const msghdr& header = messages_[i].msg_hdr;
      const uint32_t wire = messages_[i].msg_len;
      const uint32_t copied = std::min(wire, max_datagram_);
      const bool truncated = (header.msg_flags & MSG_TRUNC) != 0 || wire > max_datagram_;
      AppendDatagram(batch, static_cast<const uint8_t*>(iovecs_[i].iov_base), copied, wire, truncated, header.msg_name,
                     header.msg_namelen);
      counters_[kDirectDatagrams]++;
      counters_[kDirectBytes] += copied;
      if (truncated) counters_[kDirectTruncated]++;
    }
    total += static_cast<unsigned>(received);
    if (static_cast<unsigned>(received) < want) break;
  }
  // JS thread: the stats array is this thread's own (the receiver thread has its own).
  for (unsigned i = 0; i < kDirectStatCount; i++) stats_[i] = static_cast<double>(counters_[i]);
  return static_cast<int>(total);
}

}  // namespace uring_udp
