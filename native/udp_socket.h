// A UDP socket's own system calls, as plain functions in the style of libuv's src/unix/udp.c:
// they know nothing of Node-API, take parsed values and return 0 (or a count) or -errno. The
// JS thread makes every one of them: none can block in io_uring (the socket is non-blocking;
// sendmsg and sendmmsg on it return EAGAIN instead of waiting).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <string>

namespace uring_udp {

// The socket options JS may set and read, by name (src/udp/socket.ts uses these names).
struct SocketOption {
  const char* name;
  int level;
  int option;
};
const SocketOption* FindSocketOption(const std::string& name);  // null when there is no such name

// An IP literal for a socket of `family` (4 or 6), with its port. An IPv6 socket takes IPv4
// literals as IPv4-mapped addresses, as a dual-stack socket must, and "addr%scope" scopes by
// interface name or number. False when the text is not a literal of that family.
bool ParseAddress(int family, const std::string& text, uint16_t port, sockaddr_storage* out, socklen_t* length);
// Text of an address ("127.0.0.1", "fe80::1%eth0"), its port, and whether it is IPv6.
std::string FormatAddress(const sockaddr_storage& address, uint16_t* port, bool* ipv6);

int UdpOpen(int family);  // a non-blocking, close-on-exec datagram socket, or -errno
int UdpSetOption(int fd, const SocketOption& option, int value);
int UdpGetOption(int fd, const SocketOption& option, int* value);
int UdpBind(int fd, int family, const std::string& address, uint16_t port);
// Makes `fd` a duplicate of `source`, a bound datagram socket of the family (a cluster primary's
// shared socket): 0, -EINVAL for anything else, or -errno.
int UdpAdopt(int fd, int family, int source);
int UdpConnect(int fd, int family, const std::string& address, uint16_t port);
int UdpDisconnect(int fd);
int UdpLocalAddress(int fd, sockaddr_storage* out);
int UdpRemoteAddress(int fd, sockaddr_storage* out);
int UdpMembership(int fd, int family, bool add, const std::string& group, const std::string& iface);
int UdpSourceMembership(int fd, int family, bool add, const std::string& source, const std::string& group,
                        const std::string& iface);
int UdpMulticastInterface(int fd, int family, const std::string& iface);
// One datagram from `count` pieces, to `to` (null: the connected peer). Bytes sent, or -errno.
// Sending a datagram is all or nothing: there are no partial writes to handle.
int64_t UdpSend(int fd, const iovec* pieces, size_t count, const sockaddr_storage* to, socklen_t to_length);
// sendmmsg: datagrams sent (from the first), or -errno when the first one failed.
int UdpSendMany(int fd, mmsghdr* messages, unsigned count);

}  // namespace uring_udp
