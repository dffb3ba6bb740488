#include "recvmmsg.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace uring_udp {

RecvmmsgScratch::RecvmmsgScratch(uint32_t max_datagram, unsigned capacity)
    : max_datagram_(max_datagram), capacity_(std::max(1u, capacity)) {}

RecvmmsgScratch::~RecvmmsgScratch() {
  if (data_) munmap(data_, bytes());
}

Ancillary ControlOf(const msghdr& header) {
  Ancillary out;
  if (header.msg_controllen == 0) return out;
  for (const cmsghdr* c = CMSG_FIRSTHDR(&header); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&header), const_cast<cmsghdr*>(c))) {
    ReadControlMessage(c->cmsg_level, c->cmsg_type, CMSG_DATA(c), c->cmsg_len - CMSG_LEN(0), &out);
  }
  return out;
}

int RecvmmsgScratch::Receive(int fd, unsigned count, uint32_t max_datagram, bool control) {
  call_max_ = max_datagram == 0 ? max_datagram_ : std::min(max_datagram, max_datagram_);
  call_control_ = control;
  if (!data_) {
    void* memory = mmap(nullptr, bytes(), PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (memory == MAP_FAILED) return -errno;
    data_ = static_cast<uint8_t*>(memory);
    messages_.resize(capacity_);
    pieces_.resize(capacity_);
    names_.resize(capacity_);
    controls_.resize(capacity_);
  }
  count = std::min(count, capacity_);
  for (unsigned i = 0; i < count; i++) {
    pieces_[i].iov_base = data_ + static_cast<size_t>(i) * max_datagram_;
    pieces_[i].iov_len = call_max_;
    msghdr& header = messages_[i].msg_hdr;
    header.msg_name = &names_[i];
    header.msg_namelen = sizeof(sockaddr_storage);
    header.msg_iov = &pieces_[i];
    header.msg_iovlen = 1;
    header.msg_control = control ? controls_[i].bytes : nullptr;
    header.msg_controllen = control ? sizeof(controls_[i].bytes) : 0;
    header.msg_flags = 0;
    messages_[i].msg_len = 0;
  }
  for (;;) {
    const int received = recvmmsg(fd, messages_.data(), count, MSG_DONTWAIT | MSG_TRUNC, nullptr);
    if (received >= 0) {
      for (int i = 0; i < received; i++)
        largest_since_trim_ = std::max(largest_since_trim_, std::min(messages_[i].msg_len, call_max_));
      return received;
    }
    if (errno == EINTR) continue;
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  }
}

ReceivedDatagram RecvmmsgScratch::datagram(unsigned i) const {
  const msghdr& header = messages_[i].msg_hdr;
  const uint32_t wire = messages_[i].msg_len;
  return ReceivedDatagram{
      static_cast<const uint8_t*>(pieces_[i].iov_base),
      std::min(wire, call_max_),
      wire,
      (header.msg_flags & MSG_TRUNC) != 0 || wire > call_max_,
      header.msg_name,
      header.msg_namelen,
      call_control_ ? ControlOf(header) : Ancillary{},
  };
}

void RecvmmsgScratch::Trim() {
  if (!data_ || largest_since_trim_ <= 2048) return;
  madvise(data_, bytes(), MADV_DONTNEED);
  largest_since_trim_ = 0;
}

}  // namespace uring_udp
