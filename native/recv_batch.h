// The memory of received batches: the datagram records JS reads, the arenas payloads are
// copied into, and the per-socket pool that reuses arenas.
//
// A batch is borrowed by JavaScript: valid until its handler returns (or, in a batches() loop,
// until the loop asks for the next one), then its arena goes back to the pool and later batches
// are copied into it. Arena memory is reference counted — the pool, the batch being filled and
// every ArrayBuffer JS was given over it each hold a reference — so it is freed only when none is
// left: a view JS retained past its batch may come to read a later batch's bytes, but never freed
// memory, whatever native code (an fs.write in flight, say) holds a pointer into it. Lending
// arenas to the garbage collector instead (freed when their ArrayBuffer was collected) let the
// process grow by the 32-64 MB of young external memory V8 lets accumulate before it scavenges.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "receive_budget.h"

namespace uring_udp {

// One record per datagram, nine 32-bit words, read by JS from a Uint32Array.
struct DatagramRecord {
  uint32_t offset;     // payload offset in the batch arena
  uint32_t length;     // payload bytes in the arena
  uint32_t port_family_flags;  // port | family << 16 (4 or 6) | flags << 24
  uint32_t address[4];  // IPv4 in address[0] (network order bytes), IPv6 in all four
  uint32_t wire_length; // the datagram's real length (> length when truncated)
  uint32_t scope_id;    // an IPv6 sender's sin6_scope_id (its interface, for link-local), else 0
};
constexpr uint32_t kRecordTruncated = 1u;
static_assert(sizeof(DatagramRecord) == 36, "JS reads nine 32-bit words per record");

// What a socket that asked for them (the ecn and pktinfo options) gets per datagram besides its
// record: six more 32-bit words, in a second part of the records' buffer (JS reads them after
// the records).
struct DatagramExtra {
  uint32_t tos_flags;  // the TOS / traffic class byte (ECN: its low two bits) | flags << 8
  uint32_t ifindex;    // the interface it arrived on (pktinfo)
  uint32_t local[4];   // the address it was sent to: IPv4 in local[0], IPv6 in all four (pktinfo)
};
constexpr uint32_t kExtraHasTos = 1u;     // flags: the kernel gave the TOS byte
constexpr uint32_t kExtraHasLocal = 2u;   // ... the local address (IPv4)
constexpr uint32_t kExtraLocal6 = 4u;     // ... and it is an IPv6 address
static_assert(sizeof(DatagramExtra) == 24, "JS reads six 32-bit words per extra");

// What the control messages of one receive said.
struct Ancillary {
  uint32_t segment = 0;  // UDP_GRO: the size of the datagrams coalesced in it (0: one datagram)
  DatagramExtra extra{};
};
// Reads one control message into *out (UDP_GRO, IP_TOS / IPV6_TCLASS, IP_PKTINFO / IPV6_PKTINFO);
// others are ignored. `data`, `length`: its payload.
void ReadControlMessage(int level, int type, const uint8_t* data, size_t length, Ancillary* out);

// An anonymous mapping of `capacity` bytes (resident only where written), unmapped with its
// last reference.
class Arena {
 public:
  static std::shared_ptr<Arena> Map(size_t capacity);  // null when mmap fails
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  uint8_t* data() const { return data_; }
  size_t capacity() const { return capacity_; }

 private:
  Arena(uint8_t* data, size_t capacity) : data_(data), capacity_(capacity) {}
  uint8_t* const data_;
  const size_t capacity_;
};

// A socket's free arenas, all of one size. Any thread (the receiver thread takes and the JS
// thread gives back; the JS thread's direct reads take too). Reusing warm arenas is what keeps a
// flood from paying a page fault per 4 KiB of payload.
class ArenaPool {
 public:
  // Free arenas count against the socket's budget with what it holds for JS: the pool keeps
  // one only while the two fit in the limit (an arena it drops lives on in garbage ArrayBuffers
  // until they are collected, so keeping it for reuse is what bounds the socket's memory).
  explicit ArenaPool(std::shared_ptr<const ReceiveBudget> budget) : budget_(std::move(budget)) {}
  // The size of the socket's arenas.
  void Configure(size_t arena_bytes) { arena_bytes_.store(arena_bytes, std::memory_order_relaxed); }
  size_t arena_bytes() const { return arena_bytes_.load(std::memory_order_relaxed); }
  // A free arena of the socket's size, or a new one (null if mmap failed).
  std::shared_ptr<Arena> Take();
  // Back for reuse; dropped when the pool already keeps its share (or the size changed).
  void Give(std::shared_ptr<Arena> arena);
  // Drops every free arena (a quiet socket), its pages first (Drop).
  void Clear();
  // Arenas taken so far: a socket whose count does not move is quiet.
  uint64_t takes() const { return takes_.load(std::memory_order_relaxed); }

 private:
  static void Drop(Arena* arena);

  std::mutex mutex_;
  std::vector<std::shared_ptr<Arena>> free_;
  const std::shared_ptr<const ReceiveBudget> budget_;
  std::atomic<size_t> arena_bytes_{256 * 1024};
  std::atomic<uint64_t> takes_{0};
};

struct RecvBatch {
  std::shared_ptr<Arena> arena;  // payloads, back to back, from offset 0
  std::shared_ptr<ArenaPool> origin;  // where the arena goes back for reuse
  std::shared_ptr<ReceiveBudget> budget;  // what it is held against (released when settled)
  size_t size = 0;               // payload bytes in the arena
  std::vector<DatagramRecord> records;
  std::vector<DatagramExtra> extras;  // one per record, for a socket with ecn or pktinfo; else empty
  int64_t held_bytes = 0;  // what the batch counts against its socket's ReceiveBudget
  bool Fits(uint32_t length) const { return arena && size + length <= arena->capacity(); }
};

// What a batch counts against the budget: the memory it holds.
int64_t BatchBytes(const RecvBatch& batch);

// Copies one datagram into the batch (which must have room: Fits) and records its sender.
// Shared by the receiver thread and the JS thread's direct reader.
void AppendDatagram(RecvBatch* batch, const uint8_t* payload, uint32_t length, uint32_t wire_length, bool truncated,
                    const void* name, uint32_t name_length);
// The same for what one receive returned: on a UDP_GRO socket it may be several datagrams of
// one sender coalesced by the kernel, `segment` bytes each (the last may be shorter); each gets
// its own record, so JS sees exactly the datagrams that were sent. segment 0: one datagram.
// Returns the records added.
// extra: the per-datagram extra of a socket with ecn or pktinfo (null: none), one per record.
uint32_t AppendReceived(RecvBatch* batch, const uint8_t* payload, uint32_t length, uint32_t wire_length, bool truncated,
                        const void* name, uint32_t name_length, uint32_t segment, const DatagramExtra* extra = nullptr);

}  // namespace uring_udp
