// UDP GSO on send and GRO on receive (issue 20): runs of datagrams leave as one send with
// UDP_SEGMENT; a GRO socket's coalesced reads are split into their datagrams again, so handlers
// see exactly what was sent — each datagram whole, in order, with its sender — on every backend,
// with or without the hybrid direct path, over IPv4 and IPv6; a GSO send the kernel refuses turns
// GSO off for the socket and the datagrams go again without it.
import t, { type Test } from 'tap';

import { createSocket, type Backend, type Socket } from '../src/index';
import { bound, closed, lacksKernelFeatures, until, type KernelFeature } from './helpers';

process.env.URING_UDP_TEST_HOOKS = '1';

const FAMILIES = [
  { type: 'udp4', host: '127.0.0.1' },
  { type: 'udp6', host: '::1' },
] as const;

/** A datagram of `size` bytes that says which it is: its index in the first four bytes, then a pattern. */
function datagram(index: number, size: number): Buffer {
  const bytes = Buffer.alloc(size, (index * 7 + 3) & 0xff);
  if (size >= 4) bytes.writeUInt32LE(index, 0);
  return bytes;
}

/**
 * Runs GSO packs and GRO splits differently: a run of one size ending in a shorter datagram, a
 * run cut at 64 segments, a size change that ends a run, datagrams too big for GSO, an empty
 * datagram (never in a run) and single datagrams between runs.
 */
function mixed(): Buffer[] {
  const sizes: number[] = [];
  const push = (size: number, count: number) => {
    for (let i = 0; i < count; i++) sizes.push(size);
  };
  push(1200, 40);
  push(700, 1);
  push(300, 5);
  push(1300, 1);
  push(1000, 64);
  push(100, 70);
  push(0, 1);
  push(1472, 3);
  push(1473, 2);
  push(64, 1);
  push(1200, 20);
  return sizes.map((size, i) => datagram(i, size));
}

async function pair(type: 'udp4' | 'udp6', host: string, receiver: { gro: boolean; backend?: Backend | 'auto'; hybrid?: boolean }) {
  const r = createSocket({ type, gro: receiver.gro, backend: receiver.backend ?? 'auto', hybrid: receiver.hybrid ?? true, recvBufferSize: 4 << 20 });
  const port = await bound(r, 0, host);
  const s = createSocket({ type });
  await bound(s, 0, host);
  return { r, s, port, senderPort: s.address().port };
}

/**
 * The kernel features these tests need, probed on their own (test/helpers.ts): missing, the test
 * is reported skipped naming them; there, the sockets must have found them too.
 */
async function hasFeatures(t: Test, needs: { gso?: Socket; gro?: Socket }): Promise<boolean> {
  const features: KernelFeature[] = [];
  if (needs.gso) features.push('UDP_SEGMENT');
  if (needs.gro) features.push('UDP_GRO');
  if (await lacksKernelFeatures(t, features)) return false;
  if (needs.gso) t.equal(needs.gso.gso, true, 'the sender found UDP GSO (socket.gso)');
  if (needs.gro) t.equal(needs.gro.gro, true, 'the receiver turned UDP GRO on (socket.gro)');
  return true;
}

function sameDatagrams(t: Test, got: Buffer[], sent: Buffer[], what: string): void {
  const wrong = got.findIndex((g, i) => !sent[i] || !g.equals(sent[i]!));
  t.equal(got.length, sent.length, `${what}: every datagram (${got.length} of ${sent.length})`);
  t.equal(wrong, -1, `${what}: each byte-exact and in order${wrong >= 0 ? ` (first wrong: #${wrong}, ${got[wrong]?.length} bytes for ${sent[wrong]?.length})` : ''}`);
}

t.test('GSO and GRO are probed', async (t) => {
  const s = createSocket({ type: 'udp4' });
  await bound(s, 0, '127.0.0.1');
  const r = createSocket({ type: 'udp4', gro: true });
  await bound(r, 0, '127.0.0.1');
  t.type(s.gso, 'boolean');
  t.type(r.gro, 'boolean');
  t.equal(createSocket({ type: 'udp4', gso: false }).gso, false, 'gso: false is off');
  t.equal(createSocket({ type: 'udp4' }).gro, false, 'gro is off unless asked for');
  await closed(s);
  await closed(r);
});

for (const { type, host } of FAMILIES) {
  for (const backend of ['auto', 'poll-recvmmsg', 'recvmmsg'] as const) {
    for (const hybrid of [true, false]) {
      t.test(`${type}, ${backend}${hybrid ? '' : ', hybrid: false'}: GSO runs into a GRO socket arrive as the datagrams sent`, async (t) => {
        const { r, s, port, senderPort } = await pair(type, host, { gro: true, backend, hybrid });
        if (!(await hasFeatures(t, { gso: s, gro: r }))) return;
        const got: Buffer[] = [];
        const senders = new Set<string>();
        r.onBatch((batch) => {
          for (let i = 0; i < batch.count; i++) {
            got.push(Buffer.from(batch.payload(i)));
            senders.add(`${batch.address(i)} ${batch.port(i)}`);
          }
        });
        const sent = mixed();
        t.equal(s.sendBatch(sent, { port, address: host }), sent.length, 'sendBatch took them all');
        await until(() => got.length >= sent.length, `${sent.length} datagrams`, 10_000);
        sameDatagrams(t, got, sent, 'onBatch');
        t.same([...senders], [`${host} ${senderPort}`], 'each with its sender');
        const stats = s.stats;
        t.ok(stats.gsoSends >= 6, `GSO sends (${stats.gsoSends}, carrying ${stats.gsoDatagrams})`);
        t.equal(stats.gsoFallbacks, 0, 'none refused');
        t.ok(r.stats.coalesced > 0, `datagrams arrived coalesced and were split (${r.stats.coalesced})`);
        t.equal(r.stats.datagrams, sent.length, 'stats count datagrams, not reads');
        t.equal(r.stats.truncated, 0, 'none truncated');
        await closed(r);
        await closed(s);
      });
    }
  }

  t.test(`${type}: 'message' listeners of a GRO socket get each datagram with its size`, async (t) => {
    const { r, s, port, senderPort } = await pair(type, host, { gro: true });
    if (!(await hasFeatures(t, { gso: s, gro: r }))) return;
    const got: Buffer[] = [];
    const sizes: number[] = [];
    const ports = new Set<number>();
    r.on('message', (message, rinfo) => {
      got.push(message);
      sizes.push(rinfo.size);
      ports.add(rinfo.port);
    });
    const sent = mixed();
    s.sendBatch(sent, { port, address: host });
    await until(() => got.length >= sent.length, `${sent.length} messages`, 10_000);
    sameDatagrams(t, got, sent, "'message'");
    t.same(sizes, sent.map((d) => d.length), 'rinfo.size is each datagram’s');
    t.same([...ports], [senderPort]);
    await closed(r);
    await closed(s);
  });

  t.test(`${type}: GSO runs into a socket without GRO: the kernel splits them`, async (t) => {
    const { r, s, port } = await pair(type, host, { gro: false });
    if (!(await hasFeatures(t, { gso: s }))) return;
    const got: Buffer[] = [];
    r.onBatch((batch) => {
      for (let i = 0; i < batch.count; i++) got.push(Buffer.from(batch.payload(i)));
    });
    const sent = mixed();
    s.sendBatch(sent, { port, address: host });
    await until(() => got.length >= sent.length, `${sent.length} datagrams`, 10_000);
    sameDatagrams(t, got, sent, 'onBatch');
    t.equal(r.stats.coalesced, 0, 'nothing coalesced');
    await closed(r);
    await closed(s);
  });
}

t.test("replies sent from 'message' listeners are gathered and leave through GSO, callbacks as before", async (t) => {
  const { r, s, port } = await pair('udp4', '127.0.0.1', { gro: true });
  if (!(await hasFeatures(t, { gso: s }))) return;
  const got: Buffer[] = [];
  r.onBatch((batch) => {
    for (let i = 0; i < batch.count; i++) got.push(Buffer.from(batch.payload(i)));
  });
  // An echo whose replies, sent from its 'message' listener, are gathered into one sendmmsg.
  const echo = createSocket({ type: 'udp4' });
  const echoPort = await bound(echo, 0, '127.0.0.1');
  const bytes: number[] = [];
  echo.on('message', (message) =>
    echo.send(message, port, '127.0.0.1', (error: Error | null, sent: number) => {
      if (!error) bytes.push(sent);
    }),
  );
  const sent = Array.from({ length: 50 }, (_, i) => datagram(i, 1200));
  s.sendBatch(sent, { port: echoPort, address: '127.0.0.1' });
  await until(() => got.length >= sent.length && bytes.length >= sent.length, 'the echoes and their callbacks', 10_000);
  sameDatagrams(t, got, sent, 'echoed');
  t.same(bytes, sent.map((d) => d.length), 'each send() callback got its bytes');
  t.ok(echo.stats.gsoSends > 0, `the gathered replies used GSO (${echo.stats.gsoSends} sends for ${echo.stats.gsoDatagrams} datagrams)`);
  await closed(echo);
  await closed(r);
  await closed(s);
});

t.test('a GSO send the kernel refuses turns GSO off for the socket; the datagrams go without it', async (t) => {
  const { r, s, port } = await pair('udp4', '127.0.0.1', { gro: false });
  if (!(await hasFeatures(t, { gso: s }))) return;
  const errors: Error[] = [];
  r.on('error', (e) => errors.push(e));
  s.on('error', (e) => errors.push(e));
  // Checksums off (SO_NO_CHECK): the kernel refuses every GSO send with EINVAL (udp_send_skb).
  s._testSetOption('SO_NO_CHECK', 1);
  const got: Buffer[] = [];
  r.onBatch((batch) => {
    for (let i = 0; i < batch.count; i++) got.push(Buffer.from(batch.payload(i)));
  });
  // A single datagram first: the refused run is then the second message of one sendmmsg,
  // whose error the kernel leaves pending on the socket.
  const sent = [datagram(0, 10), ...Array.from({ length: 40 }, (_, i) => datagram(i + 1, 1200))];
  t.equal(s.sendBatch(sent, { port, address: '127.0.0.1' }), sent.length, 'every datagram sent');
  await until(() => got.length >= sent.length, `${sent.length} datagrams`, 10_000);
  sameDatagrams(t, got, sent, 'after the fallback');
  t.equal(s.gso, false, 'GSO is off for the socket now');
  t.equal(s.stats.gsoFallbacks, 1, 'counted once');
  t.equal(s.stats.gsoSends, 0, 'no GSO send went');
  const more = Array.from({ length: 10 }, (_, i) => datagram(100 + i, 1200));
  s.sendBatch(more, { port, address: '127.0.0.1' });
  await until(() => got.length >= sent.length + more.length, 'the next batch', 10_000);
  t.equal(s.stats.gsoFallbacks, 1, 'and stays off: no second refusal');
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.same(errors, [], "no 'error' on either socket (the refusal left no pending error behind)");
  await closed(r);
  await closed(s);
});

t.test('gro and gso options are checked', async (t) => {
  t.throws(() => createSocket({ type: 'udp4', gro: 'yes' as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => createSocket({ type: 'udp4', gso: 1 as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => createSocket({ type: 'udp4', gro: true, maxDatagramSize: 1500 }), /"gro" needs "maxDatagramSize" at its default/);
  const ok = createSocket({ type: 'udp6', gro: true, maxDatagramSize: 65527 });
  t.equal(ok.gro, false, 'not on before bind');
  await closed(ok);
});
