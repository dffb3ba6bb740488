#include "udp_direct.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace uring_udp {

DirectReader::DirectReader(int fd, uint32_t max_datagram, unsigned batch, double* stats)
    : fd_(fd), max_datagram_(max_datagram), batch_(std::max(1u, batch)), stats_(stats) {}

DirectReader::~DirectReader() {
  if (scratch_) munmap(scratch_, scratch_bytes_);
}

void DirectReader::Trim() {
  if (!scratch_ || largest_since_trim_ <= 2048) return;
  madvise(scratch_, scratch_bytes_, MADV_DONTNEED);
  largest_since_trim_ = 0;
}

int DirectReader::Drain(std::vector<std::unique_ptr<RecvBatch>>* out, unsigned limit, ArenaPool& pool, int* error) {
  *error = 0;
  if (!scratch_) {
    scratch_bytes_ = static_cast<size_t>(batch_) * max_datagram_;
    void* memory = mmap(nullptr, scratch_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (memory == MAP_FAILED) {
      *error = errno;
      return 0;
    }
    scratch_ = static_cast<uint8_t*>(memory);
    messages_.resize(batch_);
    iovecs_.resize(batch_);
    names_.resize(batch_);
  }
  unsigned total = 0;
  while (total < limit) {
    const unsigned want = std::min(batch_, limit - total);
    for (unsigned i = 0; i < want; i++) {
      iovecs_[i].iov_base = scratch_ + static_cast<size_t>(i) * max_datagram_;
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
      if (total == 0) *error = errno;
      break;
    }
    for (int i = 0; i < received; i++) {
      const msghdr& header = messages_[i].msg_hdr;
      const uint32_t wire = messages_[i].msg_len;
      const uint32_t copied = std::min(wire, max_datagram_);
      const bool truncated = (header.msg_flags & MSG_TRUNC) != 0 || wire > max_datagram_;
      if (out->empty() || !out->back()->Fits(copied)) {
        std::shared_ptr<Arena> arena = pool.Take();
        if (!arena) {
          // Read but nowhere to put it: lost, and said so.
          *error = ENOMEM;
          break;
        }
        out->push_back(std::make_unique<RecvBatch>());
        out->back()->arena = std::move(arena);
        out->back()->records.reserve(std::min(limit, 256u));
      }
      AppendDatagram(out->back().get(), static_cast<const uint8_t*>(iovecs_[i].iov_base), copied, wire, truncated,
                     header.msg_name, header.msg_namelen);
      largest_since_trim_ = std::max(largest_since_trim_, copied);
      counters_[kDirectDatagrams]++;
      counters_[kDirectBytes] += copied;
      if (truncated) counters_[kDirectTruncated]++;
    }
    total += static_cast<unsigned>(received);
    if (*error || static_cast<unsigned>(received) < want) break;
  }
  // JS thread: the stats array is this thread's own (the receiver thread has its own).
  for (unsigned i = 0; i < kDirectStatCount; i++) stats_[i] = static_cast<double>(counters_[i]);
  return static_cast<int>(total);
}

}  // namespace uring_udp
