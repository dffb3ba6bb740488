// Shared constants and small helpers for the uring-udp addon.
#pragma once

#include <cstdint>
#include <ctime>

namespace uring_udp {

// user_data layout: the top byte says who owns the request, the low 32 bits carry
// the id JavaScript gave it. Ids never cross the boundary as pointers.
constexpr uint64_t kTagShift = 56;
constexpr uint64_t kTagUser = 0x01;      // a request JavaScript submitted; completes to JS
constexpr uint64_t kTagWake = 0x02;      // the ring thread's own wake-up poll on its eventfd
constexpr uint64_t kTagInternal = 0x03;  // cancels issued by the ring thread itself (close)
constexpr uint64_t kTagExtension = 0x10; // first tag owned by an extension (udp sockets)

inline uint64_t MakeUserData(uint64_t tag, uint32_t id) { return (tag << kTagShift) | id; }
inline uint64_t TagOf(uint64_t user_data) { return user_data >> kTagShift; }
inline uint32_t IdOf(uint64_t user_data) { return static_cast<uint32_t>(user_data); }

inline int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace uring_udp
