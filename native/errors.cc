#include "errors.h"

#include <cerrno>
#include <cmath>
#include <cstring>

namespace uring_udp {

const char* ErrnoName(int err) {
  // glibc >= 2.32; every distribution this package supports has it.
  const char* name = strerrorname_np(err);
  return name ? name : "UNKNOWN";
}

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& syscall) {
  std::string message = syscall + " failed: " + std::strerror(err) + " (" + ErrnoName(err) + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, ErrnoName(err)));
  error.Set("errno", Napi::Number::New(env, -err));
  error.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

uint32_t ArgUint32(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value value = info[index];
  if (!value.IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= 0 && number <= 4294967295.0) || std::floor(number) != number)
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be an integer in 0..4294967295");
  return static_cast<uint32_t>(number);
}

int32_t ArgFd(const Napi::CallbackInfo& info, size_t index) {
  uint32_t fd = ArgUint32(info, index, "fd");
  if (fd > 0x7fffffffu) throw Napi::RangeError::New(info.Env(), "fd must be an integer in 0..2147483647");
  return static_cast<int32_t>(fd);
}

double ArgNumber(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value value = info[index];
  if (!value.IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number)) throw Napi::RangeError::New(info.Env(), std::string(name) + " must be finite");
  return number;
}

bool ArgBool(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Value value = info[index];
  if (!value.IsBoolean()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a boolean");
  return value.As<Napi::Boolean>().Value();
}

}  // namespace uring_udp
