#pragma once

#include <napi.h>

namespace uring_udp {

Napi::Object TestingExports(Napi::Env env);

}  // namespace uring_udp
