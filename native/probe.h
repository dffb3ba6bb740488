#pragma once

#include <napi.h>

namespace uring_udp {

// probe(): Promise<object>; see src/probe.ts for the shape.
Napi::Value Probe(const Napi::CallbackInfo& info);

// What a socket's receive path can use on this kernel, found by trying (the probe's own tests) on
// a short-lived thread of its own, and remembered for the process — unless the answer was "not
// now" (out of fds, memory, threads): then it is tried again next time. An errno says why a
// feature is missing.
struct ReceiveCapabilities {
  bool io_uring = false;
  int setup_errno = 0;
  bool multishot_poll = false;
  int multishot_poll_errno = 0;
  bool multishot_recvmsg = false;  // with a provided buffer ring
  int multishot_recvmsg_errno = 0;
};
ReceiveCapabilities ReceiveCapabilitiesNow();

}  // namespace uring_udp
