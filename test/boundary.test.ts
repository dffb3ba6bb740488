// The contract with the addon (native/boundary.cc, typed in src/native.ts): what each native
// class offers is what its TypeScript interface says, and the counters the addon names are the
// ones the public stats types declare. The lists below are checked against the interfaces by
// the compiler (`satisfies`: a missing or an extra name does not compile) and against the addon
// here, at run time.
import t from 'tap';

import { binding, type NativeRing, type NativeUdp } from '../src/native';
import type { RingStats, SocketStats } from '../src/index';

type Members<T> = Record<keyof T, true>;

const RING_MEMBERS = {
  nop: true, read: true, timeout: true, poll: true, watch: true, testHold: true, iowqMaxWorkers: true,
  cancel: true, close: true, join: true, ref: true, unref: true, info: true, readStats: true, rearm: true, leave: true,
} satisfies Members<NativeRing>;

const UDP_MEMBERS = {
  setOption: true, getOption: true, bind: true, adopt: true, connect: true, disconnect: true, localAddress: true, remoteAddress: true,
  send: true, sendMany: true, membership: true, sourceMembership: true, multicastInterface: true, startReceiving: true,
  stopReceiving: true, closeFd: true, backend: true, ref: true, unref: true, fd: true, threadId: true,
  testDisarm: true, direct: true, attached: true, recvStats: true, kernelDrops: true, settle: true,
  failover: true, testHoldReceiver: true, setGso: true, sendStats: true, testRefuseTos: true, testLatePause: true,
} satisfies Members<NativeUdp>;

function nativeMembers(constructor: { prototype: object }): string[] {
  return Object.getOwnPropertyNames(constructor.prototype).filter((name) => name !== 'constructor').sort();
}

t.test('each native class has exactly the members its interface in src/native.ts declares', async (t) => {
  t.same(nativeMembers(binding.NativeRing), Object.keys(RING_MEMBERS).sort(), 'NativeRing');
  t.same(nativeMembers(binding.NativeUdp), Object.keys(UDP_MEMBERS).sort(), 'NativeUdp');
});

t.test("the addon's counters are the public stats' fields", async (t) => {
  // Fields the addon does not count itself: JS counts batches; the kernel counts drops; the
  // JS thread's direct reads come from DIRECT_STATS.
  const ringFields = {
    submitted: true, completed: true, cqOverflows: true, enters: true, overflowFlagSeen: true, rearms: true, inFlight: true,
    batches: true,
  } satisfies Members<RingStats>;
  const socketFields = {
    datagrams: true, bytes: true, kernelDrops: true, enobufs: true, rearms: true, truncated: true, enters: true,
    batches: true, directReads: true, overflowFlagSeen: true, budgetPauses: true, attaches: true, handovers: true,
    attachFailures: true, coalesced: true, gsoSends: true, gsoDatagrams: true, gsoFallbacks: true, ecnFallbacks: true,
  } satisfies Members<SocketStats>;
  const { RING_STATS, RECV_STATS, DIRECT_STATS } = binding.constants;
  t.same([...RING_STATS, 'batches'].sort(), Object.keys(ringFields).sort(), 'RING_STATS + batches = RingStats');
  const sendFields = ['gsoSends', 'gsoDatagrams', 'gsoFallbacks', 'ecnFallbacks']; // sendStats()
  const socketNames = new Set([
    ...RECV_STATS,
    ...DIRECT_STATS.map((name) => (name === 'reads' ? 'directReads' : name)),
    'kernelDrops',
    ...sendFields,
  ]);
  t.same([...socketNames].sort(), Object.keys(socketFields).sort(), 'RECV_STATS + DIRECT_STATS + kernelDrops + sendStats = SocketStats');
  t.equal(new Set(RING_STATS).size, RING_STATS.length, 'ring counter names are unique');
  t.equal(new Set(RECV_STATS).size, RECV_STATS.length, 'receiver counter names are unique');
});

t.test('the record layout and constants are consistent', async (t) => {
  const { RECORD, BACKENDS, COMPLETION_WORDS, INFO_FINAL, INFO_REARMED } = binding.constants;
  t.equal(RECORD.WORDS, 9, 'nine words per datagram record');
  const fields = [RECORD.OFFSET, RECORD.LENGTH, RECORD.PORT_FAMILY_FLAGS, RECORD.WIRE_LENGTH, RECORD.SCOPE_ID];
  t.ok(fields.every((w) => w >= 0 && w < RECORD.WORDS), 'every field inside the record');
  t.ok(RECORD.ADDRESS + 4 <= RECORD.WORDS, 'the 16-byte address inside the record');
  t.equal(new Set([...fields, RECORD.ADDRESS, RECORD.ADDRESS + 1, RECORD.ADDRESS + 2, RECORD.ADDRESS + 3]).size, 9, 'no two fields overlap');
  t.same(BACKENDS, ['recvmsg-multishot', 'poll-recvmmsg', 'recvmmsg']);
  t.equal(COMPLETION_WORDS, 4);
  t.equal(INFO_FINAL & INFO_REARMED, 0, 'distinct info bits');
  const layout = binding.receiveLayout(65507, 32 * 1024 * 1024, true);
  t.equal(layout.bufferSize % 64, 0, 'buffers are 64-byte aligned');
  t.ok(layout.bufferSize >= 65507, 'a buffer holds the largest datagram');
  t.equal(layout.scratchBytes, layout.recvmmsgBatch * 65507);
  t.ok(layout.maxRingBuffers * layout.bufferSize + layout.scratchBytes <= 16 * 1024 * 1024, 'the ring and scratch fit in half the budget');
  t.throws(() => binding.receiveLayout(0, 32 << 20, true), RangeError, 'bad values are refused, not used');
  t.throws(() => binding.receiveLayout(1200, 1000, true), RangeError);
});
