// RecvmmsgScratch: what one recvmmsg call reads into — the JS thread's direct reads and the
// receiver's fallback backends both use it. Its data is anonymous memory, mapped on first use
// and resident only where datagrams were written; Trim gives back what big ones touched.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <vector>

#include "recv_batch.h"

namespace uring_udp {

struct ReceivedDatagram {
  const uint8_t* data;
  uint32_t length;       // bytes in data (at most max_datagram)
  uint32_t wire_length;  // the datagram's real length
  bool truncated;
  const void* name;      // the sender's address, name_length bytes
  uint32_t name_length;
  // What its control messages said (read when the receive asked for them): a UDP_GRO socket's
  // segment size (0: one datagram), the TOS byte and local address of a socket with ecn/pktinfo.
  Ancillary ancillary;
};

// Control-message room per datagram when a socket asks for any: UDP_GRO's segment size, the TOS
// byte or traffic class, and IPv6 or IPv4 pktinfo, with room to spare.
constexpr uint32_t kControlBytes = 128;
static_assert(kControlBytes >= CMSG_SPACE(sizeof(int)) * 2 + CMSG_SPACE(sizeof(in6_pktinfo)), "room for every control message asked for");
// What a received datagram's control messages said.
Ancillary ControlOf(const msghdr& header);

class RecvmmsgScratch {
 public:
  RecvmmsgScratch(uint32_t max_datagram, unsigned capacity);
  ~RecvmmsgScratch();
  RecvmmsgScratch(const RecvmmsgScratch&) = delete;
  RecvmmsgScratch& operator=(const RecvmmsgScratch&) = delete;

  unsigned capacity() const { return capacity_; }
  size_t bytes() const { return static_cast<size_t>(capacity_) * max_datagram_; }
  // One recvmmsg of up to `count` (<= capacity) datagrams, non-blocking: how many it read, or
  // -errno (-EAGAIN when there was nothing). MSG_TRUNC: a datagram cut at max_datagram still
  // reports its real length, so the cut is known. max_datagram: this socket's (at most the
  // scratch's own; 0: the scratch's), when sockets share one scratch. control: the socket asked
  // for control messages (UDP_GRO, ecn, pktinfo): each datagram's are read.
  int Receive(int fd, unsigned count, uint32_t max_datagram = 0, bool control = false);
  ReceivedDatagram datagram(unsigned i) const;
  // While nobody reads: gives back the pages datagrams bigger than a page touched.
  void Trim();

 private:
  const uint32_t max_datagram_;
  const unsigned capacity_;
  uint32_t call_max_ = 0;  // the last Receive's max_datagram
  bool call_control_ = false;  // ... and whether it read control messages
  uint8_t* data_ = nullptr;
  uint32_t largest_since_trim_ = 0;
  std::vector<mmsghdr> messages_;
  std::vector<iovec> pieces_;
  std::vector<sockaddr_storage> names_;
  struct Control {
    alignas(cmsghdr) uint8_t bytes[kControlBytes];
  };
  std::vector<Control> controls_;
};

}  // namespace uring_udp
