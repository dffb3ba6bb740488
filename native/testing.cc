// Test-only helpers, exported as binding.testing and used by test/ only: descriptors Node
// has no API for (an eventfd, a bare UDP socket nobody else reads from).
#include "testing.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "errors.h"

namespace uring_udp {

namespace {

Napi::Value Eventfd(const Napi::CallbackInfo& info) {
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) throw ErrnoError(info.Env(), errno, "eventfd");
  return Napi::Number::New(info.Env(), fd);
}

// udpSocket(): [fd, port] of a non-blocking UDP socket bound to 127.0.0.1 on an ephemeral port.
Napi::Value UdpSocket(const Napi::CallbackInfo& info) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw ErrnoError(info.Env(), errno, "socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) < 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) < 0) {
    int err = errno;
    close(fd);
    throw ErrnoError(info.Env(), err, "bind");
  }
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(0u, Napi::Number::New(info.Env(), fd));
  result.Set(1u, Napi::Number::New(info.Env(), ntohs(address.sin_port)));
  return result;
}

}  // namespace

Napi::Object TestingExports(Napi::Env env) {
  Napi::Object testing = Napi::Object::New(env);
  testing.Set("eventfd", Napi::Function::New(env, Eventfd, "eventfd"));
  testing.Set("udpSocket", Napi::Function::New(env, UdpSocket, "udpSocket"));
  return testing;
}

}  // namespace uring_udp
