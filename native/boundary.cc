#include "boundary.h"

#include <liburing.h>

#include <net/if.h>

#include <cstddef>
#include <string>

#include "errors.h"
#include "recv_batch.h"
#include "ring_core.h"
#include "udp_direct.h"
#include "socket_receive.h"

namespace uring_udp {

namespace {

template <size_t N>
Napi::Array Names(Napi::Env env, const char* const (&names)[N]) {
  Napi::Array array = Napi::Array::New(env, N);
  for (size_t i = 0; i < N; i++) array.Set(static_cast<uint32_t>(i), Napi::String::New(env, names[i]));
  return array;
}

Napi::Number Number(Napi::Env env, double value) { return Napi::Number::New(env, value); }

}  // namespace

Napi::Object BoundaryConstants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  // Counters published into Float64Arrays, by name in index order.
  c.Set("RING_STATS", Names(env, kStatNames));
  c.Set("RECV_STATS", Names(env, kRecvStatNames));
  c.Set("DIRECT_STATS", Names(env, kDirectStatNames));
  // startReceiving()'s configuration slots, by name in index order.
  c.Set("RECV_CONFIG", Names(env, kRecvConfigNames));
  // A ring's completion records: four 32-bit words each (struct Completion).
  c.Set("COMPLETION_WORDS", Number(env, sizeof(Completion) / 4));
  c.Set("INFO_FINAL", Number(env, kInfoFinal));
  c.Set("INFO_REARMED", Number(env, kInfoRearmed));
  c.Set("CQE_F_MORE", Number(env, IORING_CQE_F_MORE));
  // A datagram record's 32-bit words (struct DatagramRecord).
  Napi::Object record = Napi::Object::New(env);
  record.Set("WORDS", Number(env, sizeof(DatagramRecord) / 4));
  record.Set("OFFSET", Number(env, offsetof(DatagramRecord, offset) / 4));
  record.Set("LENGTH", Number(env, offsetof(DatagramRecord, length) / 4));
  record.Set("PORT_FAMILY_FLAGS", Number(env, offsetof(DatagramRecord, port_family_flags) / 4));
  record.Set("ADDRESS", Number(env, offsetof(DatagramRecord, address) / 4));
  record.Set("WIRE_LENGTH", Number(env, offsetof(DatagramRecord, wire_length) / 4));
  record.Set("SCOPE_ID", Number(env, offsetof(DatagramRecord, scope_id) / 4));
  record.Set("FLAG_TRUNCATED", Number(env, kRecordTruncated));
  c.Set("RECORD", record);
  // A datagram's extra (struct DatagramExtra), after the records in the same buffer, for a
  // socket with ecn or pktinfo.
  Napi::Object extra = Napi::Object::New(env);
  extra.Set("WORDS", Number(env, sizeof(DatagramExtra) / 4));
  extra.Set("TOS_FLAGS", Number(env, offsetof(DatagramExtra, tos_flags) / 4));
  extra.Set("IFINDEX", Number(env, offsetof(DatagramExtra, ifindex) / 4));
  extra.Set("LOCAL", Number(env, offsetof(DatagramExtra, local) / 4));
  extra.Set("FLAG_TOS", Number(env, kExtraHasTos));
  extra.Set("FLAG_LOCAL", Number(env, kExtraHasLocal));
  extra.Set("FLAG_LOCAL6", Number(env, kExtraLocal6));
  c.Set("EXTRA", extra);
  // The receive backends, by name in RecvBackend order.
  const char* const backends[] = {"recvmsg-multishot", "poll-recvmmsg", "recvmmsg"};
  static_assert(static_cast<int>(RecvBackend::kMultishotRecvmsg) == 0 && static_cast<int>(RecvBackend::kRecvmmsg) == 2);
  c.Set("BACKENDS", Names(env, backends));
  // A batch token's low bit: its arena is lent (UdpWrap::Lend).
  c.Set("TOKEN_LENT", Number(env, 1));
  // The setup flags a ring reports, and the opcodes the watchdog names.
  Napi::Object setup = Napi::Object::New(env);
  setup.Set("SQPOLL", Number(env, IORING_SETUP_SQPOLL));
  setup.Set("COOP_TASKRUN", Number(env, IORING_SETUP_COOP_TASKRUN));
  setup.Set("SINGLE_ISSUER", Number(env, IORING_SETUP_SINGLE_ISSUER));
  setup.Set("DEFER_TASKRUN", Number(env, IORING_SETUP_DEFER_TASKRUN));
  c.Set("SETUP", setup);
  Napi::Object op = Napi::Object::New(env);
  op.Set("NOP", Number(env, IORING_OP_NOP));
  op.Set("POLL_ADD", Number(env, IORING_OP_POLL_ADD));
  op.Set("READ", Number(env, IORING_OP_READ));
  op.Set("RECVMSG", Number(env, IORING_OP_RECVMSG));
  c.Set("OP", op);
  c.Set("DEADLINE_SLOTS", Number(env, kDeadlineSlots));
  return c;
}

// interfaceName(index): the interface's name (if_indextoname), or its number as text when it
// has none (it went away): what an IPv6 sender's "%scope" reads, as libuv writes it.
Napi::Value InterfaceNameMethod(const Napi::CallbackInfo& info) {
  const uint32_t index = info[0].As<Napi::Number>().Uint32Value();
  char name[IF_NAMESIZE];
  return Napi::String::New(info.Env(), if_indextoname(index, name) ? std::string(name) : std::to_string(index));
}

Napi::Value ReceiveLayoutMethod(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint32_t max_datagram = ArgUint32(info, 0, "maxDatagramSize");
  const double budget = ArgNumber(info, 1, "receiveBudget");
  const bool hybrid = ArgBool(info, 2, "hybrid");
  // control: the socket asks for control messages (gro, ecn, pktinfo): room for them in each buffer.
  const bool control = info.Length() > 3 && !info[3].IsUndefined() && ArgBool(info, 3, "control");
  if (max_datagram < 1 || max_datagram > 65535) throw Napi::RangeError::New(env, "maxDatagramSize out of range");
  if (!(budget >= (1 << 18) && budget <= 1099511627776.0)) throw Napi::RangeError::New(env, "receiveBudget out of range");
  const ReceiveLayout layout = LayoutFor(max_datagram, static_cast<uint64_t>(budget), hybrid, control);
  Napi::Object out = Napi::Object::New(env);
  out.Set("bufferSize", Number(env, layout.buffer_size));
  out.Set("recvmmsgBatch", Number(env, layout.recvmmsg_batch));
  out.Set("scratchBytes", Number(env, static_cast<double>(layout.scratch_bytes)));
  out.Set("maxRingBuffers", Number(env, layout.max_ring_buffers));
  return out;
}

}  // namespace uring_udp
