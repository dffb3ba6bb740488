#include "udp_socket.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace uring_udp {

namespace {

const SocketOption kOptions[] = {
    {"SO_REUSEADDR", SOL_SOCKET, SO_REUSEADDR},
    {"SO_REUSEPORT", SOL_SOCKET, SO_REUSEPORT},
    {"SO_RCVBUF", SOL_SOCKET, SO_RCVBUF},
    {"SO_SNDBUF", SOL_SOCKET, SO_SNDBUF},
    {"SO_BROADCAST", SOL_SOCKET, SO_BROADCAST},
    {"IPV6_V6ONLY", IPPROTO_IPV6, IPV6_V6ONLY},
    {"IP_TTL", IPPROTO_IP, IP_TTL},
    {"IPV6_UNICAST_HOPS", IPPROTO_IPV6, IPV6_UNICAST_HOPS},
    {"IP_MULTICAST_TTL", IPPROTO_IP, IP_MULTICAST_TTL},
    {"IPV6_MULTICAST_HOPS", IPPROTO_IPV6, IPV6_MULTICAST_HOPS},
    {"IP_MULTICAST_LOOP", IPPROTO_IP, IP_MULTICAST_LOOP},
    {"IPV6_MULTICAST_LOOP", IPPROTO_IPV6, IPV6_MULTICAST_LOOP},
    {"UDP_GRO", SOL_UDP, UDP_GRO},
    {"IP_RECVTOS", IPPROTO_IP, IP_RECVTOS},
    {"IPV6_RECVTCLASS", IPPROTO_IPV6, IPV6_RECVTCLASS},
    {"IP_PKTINFO", IPPROTO_IP, IP_PKTINFO},
    {"IPV6_RECVPKTINFO", IPPROTO_IPV6, IPV6_RECVPKTINFO},
    // Test-only use (test/helpers.ts lacksKernelFeatures): a trial of the kernel's GSO.
    {"UDP_SEGMENT", SOL_UDP, UDP_SEGMENT},
    // Test-only use (test/gso.test.ts): checksums off make the kernel refuse GSO sends (EINVAL).
    {"SO_NO_CHECK", SOL_SOCKET, SO_NO_CHECK},
};

inline int Result(int value) { return value < 0 ? -errno : value; }

}  // namespace

const SocketOption* FindSocketOption(const std::string& name) {
  for (const SocketOption& option : kOptions)
    if (name == option.name) return &option;
  return nullptr;
}

bool ParseAddress(int family, const std::string& text, uint16_t port, sockaddr_storage* out, socklen_t* length) {
  std::memset(out, 0, sizeof(*out));
  if (family == 4) {
    sockaddr_in* in = reinterpret_cast<sockaddr_in*>(out);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    if (inet_pton(AF_INET, text.c_str(), &in->sin_addr) != 1) return false;
    *length = sizeof(sockaddr_in);
    return true;
  }
  sockaddr_in6* in6 = reinterpret_cast<sockaddr_in6*>(out);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  std::string host = text;
  const size_t percent = host.find('%');
  if (percent != std::string::npos) {
    const std::string scope = host.substr(percent + 1);
    host = host.substr(0, percent);
    unsigned index = if_nametoindex(scope.c_str());
    if (index == 0) index = static_cast<unsigned>(std::strtoul(scope.c_str(), nullptr, 10));
    in6->sin6_scope_id = index;
  }
  *length = sizeof(sockaddr_in6);
  if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) != 1) return false;
  in6->sin6_addr.s6_addr[10] = 0xff;
  in6->sin6_addr.s6_addr[11] = 0xff;
  std::memcpy(&in6->sin6_addr.s6_addr[12], &v4, 4);
  return true;
}

std::string FormatAddress(const sockaddr_storage& address, uint16_t* port, bool* ipv6) {
  char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = {0};
  if (address.ss_family == AF_INET) {
    const sockaddr_in* in = reinterpret_cast<const sockaddr_in*>(&address);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    *port = ntohs(in->sin_port);
    *ipv6 = false;
    return text;
  }
  const sockaddr_in6* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
  inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
  std::string formatted = text;
  if (in6->sin6_scope_id) {
    char name[IF_NAMESIZE] = {0};
    formatted += "%";
    formatted += if_indextoname(in6->sin6_scope_id, name) ? name : std::to_string(in6->sin6_scope_id);
  }
  *port = ntohs(in6->sin6_port);
  *ipv6 = true;
  return formatted;
}

int UdpOpen(int family) {
  return Result(socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
}

int UdpSetOption(int fd, const SocketOption& option, int value) {
  return Result(setsockopt(fd, option.level, option.option, &value, sizeof(value)));
}

int UdpGetOption(int fd, const SocketOption& option, int* value) {
  socklen_t length = sizeof(*value);
  return Result(getsockopt(fd, option.level, option.option, value, &length));
}

int UdpAdopt(int fd, int family, int source) {
  int type = 0;
  int domain = 0;
  socklen_t length = sizeof(type);
  if (getsockopt(source, SOL_SOCKET, SO_TYPE, &type, &length) != 0) return -errno;
  length = sizeof(domain);
  if (getsockopt(source, SOL_SOCKET, SO_DOMAIN, &domain, &length) != 0) return -errno;
  if (type != SOCK_DGRAM || domain != (family == 4 ? AF_INET : AF_INET6)) return -EINVAL;
  // dup3 onto our own descriptor number: nothing else knows the socket yet, and the number stays.
  if (dup3(source, fd, O_CLOEXEC) < 0) return -errno;
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -errno;
  return 0;
}

int UdpBind(int fd, int family, const std::string& address, uint16_t port) {
  sockaddr_storage storage;
  socklen_t length;
  if (!ParseAddress(family, address, port, &storage, &length)) return -EINVAL;
  return Result(bind(fd, reinterpret_cast<sockaddr*>(&storage), length));
}

int UdpConnect(int fd, int family, const std::string& address, uint16_t port) {
  sockaddr_storage storage;
  socklen_t length;
  if (!ParseAddress(family, address, port, &storage, &length)) return -EINVAL;
  return Result(connect(fd, reinterpret_cast<sockaddr*>(&storage), length));
}

int UdpDisconnect(int fd) {
  sockaddr_storage storage;
  std::memset(&storage, 0, sizeof(storage));
  storage.ss_family = AF_UNSPEC;
  // Linux: connect(AF_UNSPEC) dissolves the association; EAFNOSUPPORT here is harmless.
  if (connect(fd, reinterpret_cast<sockaddr*>(&storage), sizeof(sockaddr)) < 0 && errno != EAFNOSUPPORT) return -errno;
  return 0;
}

int UdpLocalAddress(int fd, sockaddr_storage* out) {
  socklen_t length = sizeof(*out);
  return Result(getsockname(fd, reinterpret_cast<sockaddr*>(out), &length));
}

int UdpRemoteAddress(int fd, sockaddr_storage* out) {
  socklen_t length = sizeof(*out);
  return Result(getpeername(fd, reinterpret_cast<sockaddr*>(out), &length));
}

int UdpMembership(int fd, int family, bool add, const std::string& group, const std::string& iface) {
  if (family == 4) {
    ip_mreq request{};
    if (inet_pton(AF_INET, group.c_str(), &request.imr_multiaddr) != 1) return -EINVAL;
    if (!iface.empty() && inet_pton(AF_INET, iface.c_str(), &request.imr_interface) != 1) return -EINVAL;
    return Result(setsockopt(fd, IPPROTO_IP, add ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &request, sizeof(request)));
  }
  ipv6_mreq request{};
  if (inet_pton(AF_INET6, group.c_str(), &request.ipv6mr_multiaddr) != 1) return -EINVAL;
  if (!iface.empty()) request.ipv6mr_interface = if_nametoindex(iface.c_str());
  return Result(setsockopt(fd, IPPROTO_IPV6, add ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP, &request, sizeof(request)));
}

int UdpSourceMembership(int fd, int family, bool add, const std::string& source, const std::string& group,
                        const std::string& iface) {
  group_source_req request{};
  request.gsr_interface = iface.empty() ? 0 : if_nametoindex(iface.c_str());
  socklen_t unused;
  if (!ParseAddress(family, group, 0, &request.gsr_group, &unused) || !ParseAddress(family, source, 0, &request.gsr_source, &unused))
    return -EINVAL;
  const int level = family == 4 ? IPPROTO_IP : IPPROTO_IPV6;
  return Result(setsockopt(fd, level, add ? MCAST_JOIN_SOURCE_GROUP : MCAST_LEAVE_SOURCE_GROUP, &request, sizeof(request)));
}

int UdpMulticastInterface(int fd, int family, const std::string& iface) {
  if (family == 4) {
    in_addr address;
    if (inet_pton(AF_INET, iface.c_str(), &address) != 1) return -EINVAL;
    return Result(setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &address, sizeof(address)));
  }
  // As libuv: an IP address ("::%eth0": its scope names the interface; an unknown scope, or an
  // IPv4 address, is the system's choice), anything else EINVAL.
  unsigned index = 0;
  const size_t percent = iface.find('%');
  const std::string host = iface.substr(0, percent);
  in6_addr address6;
  in_addr address4;
  const bool ip6 = inet_pton(AF_INET6, host.c_str(), &address6) == 1;
  if (!ip6 && (percent != std::string::npos || inet_pton(AF_INET, host.c_str(), &address4) != 1)) return -EINVAL;
  if (percent != std::string::npos) index = if_nametoindex(iface.substr(percent + 1).c_str());
  return Result(setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &index, sizeof(index)));
}

int64_t UdpSend(int fd, const iovec* pieces, size_t count, const sockaddr_storage* to, socklen_t to_length) {
  msghdr header{};
  header.msg_iov = const_cast<iovec*>(pieces);
  header.msg_iovlen = count;
  if (to) {
    header.msg_name = const_cast<sockaddr_storage*>(to);
    header.msg_namelen = to_length;
  }
  const ssize_t sent = sendmsg(fd, &header, MSG_DONTWAIT | MSG_NOSIGNAL);
  return sent < 0 ? -errno : sent;
}

int UdpSendMany(int fd, mmsghdr* messages, unsigned count) {
  return Result(sendmmsg(fd, messages, count, MSG_DONTWAIT | MSG_NOSIGNAL));
}

}  // namespace uring_udp
