#pragma once

#include <napi.h>

namespace uring_udp {

// probe(): Promise<object>; see src/probe.ts for the shape.
Napi::Value Probe(const Napi::CallbackInfo& info);

}  // namespace uring_udp
