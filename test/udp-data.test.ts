// Datagrams end to end with node:dgram as the peer, both directions, IPv4 and IPv6: every one
// arrives, byte-exact, in order. The file runs once per receive backend (URING_UDP_BACKEND,
// set by the udp-backends test) and reports which one ran.
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import t from 'tap';

import { createSocket, probe, type Socket } from '../src/index';

const COUNT = Number(process.env.URING_UDP_TEST_COUNT ?? 200_000);
const WINDOW = 64; // datagrams in flight: a rate the receiver keeps up with
const SIZES = [1, 7, 64, 200, 512, 1200, 1472, 4096, 9000, 16, 100, 33];
const POOL = createHash('sha512')
  .update('uring-udp')
  .digest()
  .toString('hex')
  .repeat(600)
  .slice(0, 70_000);
const POOL_BYTES = Buffer.from(POOL);

/** Datagram i: mostly small, every 1000th the largest UDP payload IPv4 allows. */
function datagram(i: number): Buffer {
  const size = i % 1000 === 999 ? 65507 : SIZES[i % SIZES.length]! + (i % 13);
  const offset = i % 997;
  return POOL_BYTES.subarray(offset, offset + size);
}

function digest(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('base64');
}

interface Receiver {
  port: number;
  received(): number;
  mismatches(): string[];
  close(): Promise<void>;
}

async function uringReceiver(type: 'udp4' | 'udp6', host: string): Promise<Receiver & { socket: Socket }> {
  const socket = createSocket({ type, recvBufferSize: 8 << 20 });
  let next = 0;
  const bad: string[] = [];
  socket.on('message', (msg) => {
    const expected = datagram(next);
    if (bad.length < 5 && (msg.length !== expected.length || digest(msg) !== digest(expected))) {
      bad.push(`datagram ${next}: ${msg.length} bytes, expected ${expected.length}`);
    }
    next++;
  });
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  return {
    socket,
    port: socket.address().port,
    received: () => next,
    mismatches: () => bad,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

async function dgramReceiver(type: 'udp4' | 'udp6', host: string): Promise<Receiver> {
  const socket = dgram.createSocket({ type, recvBufferSize: 8 << 20 });
  let next = 0;
  const bad: string[] = [];
  socket.on('message', (msg) => {
    const expected = datagram(next);
    if (bad.length < 5 && (msg.length !== expected.length || digest(msg) !== digest(expected))) {
      bad.push(`datagram ${next}: ${msg.length} bytes, expected ${expected.length}`);
    }
    next++;
  });
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  return {
    port: socket.address().port,
    received: () => next,
    mismatches: () => bad,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

/** Sends COUNT datagrams, never more than WINDOW ahead of what the receiver has counted. */
async function pump(send: (i: number, done: () => void) => void, receiver: Receiver): Promise<void> {
  let sent = 0;
  let stalled = 0;
  let last = -1;
  while (receiver.received() < COUNT) {
    while (sent < COUNT && sent - receiver.received() < WINDOW) {
      const i = sent++;
      send(i, () => {});
    }
    await new Promise((resolve) => setImmediate(resolve));
    if (receiver.received() === last) {
      if (++stalled > 20_000) throw new Error(`stalled at ${last} of ${COUNT} (sent ${sent})`);
    } else {
      stalled = 0;
      last = receiver.received();
    }
  }
}

for (const [type, host] of [
  ['udp4', '127.0.0.1'],
  ['udp6', '::1'],
] as const) {
  t.test(`${type}: node:dgram sends ${COUNT} datagrams, uring-udp receives them all, in order, byte-exact`, async (t) => {
    const receiver = await uringReceiver(type, host);
    t.teardown(() => receiver.close());
    const sender = dgram.createSocket(type);
    t.teardown(() => sender.close());
    await pump((i) => sender.send(datagram(i), receiver.port, host), receiver);
    t.same(receiver.mismatches(), [], 'every payload byte-exact and in order');
    t.equal(receiver.received(), COUNT);
    const stats = receiver.socket.stats;
    t.equal(stats.datagrams, COUNT, 'stats.datagrams');
    t.equal(stats.kernelDrops, 0, 'the kernel dropped nothing');
    t.equal(stats.truncated, 0);
    t.comment(`backend ${receiver.socket.backend}: ${stats.batches} batches, ${stats.enters} enters`);
  });

  t.test(`${type}: uring-udp sends ${COUNT} datagrams, node:dgram receives them all, in order, byte-exact`, async (t) => {
    const receiver = await dgramReceiver(type, host);
    t.teardown(() => receiver.close());
    const sender = createSocket(type);
    t.teardown(() => new Promise<void>((resolve) => sender.close(() => resolve())));
    await pump((i) => sender.send(datagram(i), receiver.port, host), receiver);
    t.same(receiver.mismatches(), [], 'every payload byte-exact and in order');
    t.equal(receiver.received(), COUNT);
  });
}

t.test('the backend in use is the one asked for', async (t) => {
  const socket = createSocket('udp4');
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const forced = process.env.URING_UDP_BACKEND;
  if (forced) t.equal(socket.backend, forced);
  else if (!(await probe()).usable) t.equal(socket.backend, 'recvmmsg', 'io_uring forbidden or missing: the recvmmsg fallback by default');
  else t.equal(socket.backend, 'recvmsg-multishot', 'the fastest path on this kernel by default');
});
