#include "recv_batch.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>

namespace uring_udp {

std::shared_ptr<Arena> Arena::Map(size_t capacity) {
  void* memory = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (memory == MAP_FAILED) return nullptr;
  return std::shared_ptr<Arena>(new Arena(static_cast<uint8_t*>(memory), capacity));
}

Arena::~Arena() { munmap(data_, capacity_); }

std::shared_ptr<Arena> ArenaPool::Take() {
  takes_.fetch_add(1, std::memory_order_relaxed);
  const size_t size = arena_bytes();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // The most recently given back first: its pages are the likeliest to be resident and in cache.
    while (!free_.empty()) {
      std::shared_ptr<Arena> arena = std::move(free_.back());
      free_.pop_back();
      if (arena->capacity() == size) return arena;
    }
  }
  return Arena::Map(size);
}

void ArenaPool::Give(std::shared_ptr<Arena> arena) {
  if (!arena) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const int64_t free_bytes = static_cast<int64_t>((free_.size() + 1) * arena->capacity());
    if (arena->capacity() == arena_bytes() && free_bytes <= budget_->room()) {
      free_.push_back(std::move(arena));
      return;
    }
  }
  Drop(arena.get());
}

void ArenaPool::Clear() {
  std::vector<std::shared_ptr<Arena>> dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    dropped.swap(free_);
  }
  for (const std::shared_ptr<Arena>& arena : dropped) Drop(arena.get());
}

// An arena the pool lets go of may live on in ArrayBuffers of earlier batches that the garbage
// collector has not collected yet (it is unmapped with the last of them). Its pages go now: those
// ArrayBuffers are garbage, or views kept past their batch without keep(), which may read
// anything (zeros, here) by then. So a socket's memory returns to the OS when it goes quiet,
// not when V8 next collects.
void ArenaPool::Drop(Arena* arena) { madvise(arena->data(), arena->capacity(), MADV_DONTNEED); }

int64_t BatchBytes(const RecvBatch& batch) {
  return static_cast<int64_t>((batch.arena ? batch.arena->capacity() : 0) +
                              batch.records.capacity() * sizeof(DatagramRecord) +
                              batch.extras.capacity() * sizeof(DatagramExtra));
}

void AppendDatagram(RecvBatch* batch, const uint8_t* payload, uint32_t length, uint32_t wire_length, bool truncated,
                    const void* name, uint32_t name_length) {
  DatagramRecord record{};
  record.offset = static_cast<uint32_t>(batch->size);
  record.length = length;
  record.wire_length = wire_length;
  if (length) std::memcpy(batch->arena->data() + batch->size, payload, length);
  batch->size += length;
  uint32_t family = 0;
  uint32_t port = 0;
  // Only as many bytes as the kernel wrote, copied out (the name may be unaligned in a buffer).
  sa_family_t name_family = AF_UNSPEC;
  if (name_length >= sizeof(sa_family_t)) std::memcpy(&name_family, name, sizeof(name_family));
  if (name_family == AF_INET && name_length >= sizeof(sockaddr_in)) {
    sockaddr_in in;
    std::memcpy(&in, name, sizeof(in));
    family = 4;
    port = ntohs(in.sin_port);
    std::memcpy(record.address, &in.sin_addr, 4);
  } else if (name_family == AF_INET6 && name_length >= sizeof(sockaddr_in6)) {
    sockaddr_in6 in6;
    std::memcpy(&in6, name, sizeof(in6));
    family = 6;
    port = ntohs(in6.sin6_port);
    std::memcpy(record.address, &in6.sin6_addr, 16);
    record.scope_id = in6.sin6_scope_id;
  }
  const uint32_t flags = truncated ? kRecordTruncated : 0;
  record.port_family_flags = port | (family << 16) | (flags << 24);
  batch->records.push_back(record);
}

void ReadControlMessage(int level, int type, const uint8_t* data, size_t length, Ancillary* out) {
  if (level == SOL_UDP && type == UDP_GRO && length >= sizeof(int)) {
    int size = 0;
    std::memcpy(&size, data, sizeof(size));
    out->segment = size > 0 ? static_cast<uint32_t>(size) : 0;
  } else if (level == IPPROTO_IP && type == IP_TOS && length >= 1) {
    // IP_RECVTOS gives the byte itself.
    out->extra.tos_flags = (out->extra.tos_flags & ~0xffu) | data[0] | (kExtraHasTos << 8);
  } else if (level == IPPROTO_IPV6 && type == IPV6_TCLASS && length >= sizeof(int)) {
    int tclass = 0;
    std::memcpy(&tclass, data, sizeof(tclass));
    out->extra.tos_flags = (out->extra.tos_flags & ~0xffu) | (static_cast<uint32_t>(tclass) & 0xffu) | (kExtraHasTos << 8);
  } else if (level == IPPROTO_IP && type == IP_PKTINFO && length >= sizeof(in_pktinfo)) {
    in_pktinfo info;
    std::memcpy(&info, data, sizeof(info));
    out->extra.ifindex = static_cast<uint32_t>(info.ipi_ifindex);
    std::memset(out->extra.local, 0, sizeof(out->extra.local));
    std::memcpy(out->extra.local, &info.ipi_addr, 4);  // the header's destination address
    out->extra.tos_flags = (out->extra.tos_flags & ~((kExtraHasLocal | kExtraLocal6) << 8)) | (kExtraHasLocal << 8);
  } else if (level == IPPROTO_IPV6 && type == IPV6_PKTINFO && length >= sizeof(in6_pktinfo)) {
    in6_pktinfo info;
    std::memcpy(&info, data, sizeof(info));
    out->extra.ifindex = static_cast<uint32_t>(info.ipi6_ifindex);
    std::memcpy(out->extra.local, &info.ipi6_addr, 16);
    out->extra.tos_flags |= (kExtraHasLocal | kExtraLocal6) << 8;
  }
}

uint32_t AppendReceived(RecvBatch* batch, const uint8_t* payload, uint32_t length, uint32_t wire_length, bool truncated,
                        const void* name, uint32_t name_length, uint32_t segment, const DatagramExtra* extra) {
  if (segment == 0 || length <= segment) {
    AppendDatagram(batch, payload, length, wire_length, truncated, name, name_length);
    if (extra) batch->extras.push_back(*extra);
    return 1;
  }
  // The first datagram's record carries the sender; the others copy it.
  AppendDatagram(batch, payload, segment, segment, false, name, name_length);
  const DatagramRecord first = batch->records.back();
  uint32_t added = 1;
  for (uint32_t offset = segment; offset < length; offset += segment, added++) {
    const uint32_t piece = std::min(segment, length - offset);
    DatagramRecord record = first;
    record.offset = static_cast<uint32_t>(batch->size);
    record.length = piece;
    record.wire_length = piece;
    // A coalesced datagram cut short (its buffer too small): the last piece says so.
    const bool last = offset + piece >= length;
    if (last && truncated) {
      record.port_family_flags |= kRecordTruncated << 24;
      record.wire_length = std::min(segment, wire_length - offset);
    }
    std::memcpy(batch->arena->data() + batch->size, payload + offset, piece);
    batch->size += piece;
    batch->records.push_back(record);
  }
  // Every datagram of a coalesced read came the same way: the same extra for each.
  if (extra) batch->extras.insert(batch->extras.end(), added, *extra);
  return added;
}

}  // namespace uring_udp
