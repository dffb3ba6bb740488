// Errors that carry errno's name as `code` and the failing `syscall`, like Node's own.
#pragma once

#include <napi.h>

#include <string>

namespace uring_udp {

const char* ErrnoName(int err);

// An Error whose message is "<syscall> failed: <strerror> (<CODE>)"; the TypeScript layer
// adds what to do about it.
Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall);

// Argument checks: native code is never reached with values TypeScript did not validate,
// but a caller that bypasses the TypeScript layer still gets a TypeError, not a crash.
uint32_t ArgUint32(const Napi::CallbackInfo& info, size_t index, const char* name);
int32_t ArgFd(const Napi::CallbackInfo& info, size_t index);
double ArgNumber(const Napi::CallbackInfo& info, size_t index, const char* name);
bool ArgBool(const Napi::CallbackInfo& info, size_t index, const char* name);

}  // namespace uring_udp
