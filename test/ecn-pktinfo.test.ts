// ECN on send and receive, and each datagram's local address (issue 20): sendBatch() marks
// datagrams with an ECN codepoint (a TOS cmsg) and sends from a given local address (pktinfo);
// a socket with `ecn: true` / `pktinfo: true` reads each datagram's TOS byte and the address and
// interface it arrived on, on every backend, over IPv4, IPv6 and dual stack — so a server bound
// to the wildcard replies from the address it was asked on (two loopback addresses here).
import t from 'tap';

import { createSocket, type Backend, type Socket } from '../src/index';
import { bound, closed, until } from './helpers';

process.env.URING_UDP_TEST_HOOKS = '1';

interface Seen {
  payload: string;
  address: string;
  ecn: number | undefined;
  tos: number | undefined;
  local: string | undefined;
  ifindex: number | undefined;
}

function collect(socket: Socket): Seen[] {
  const seen: Seen[] = [];
  socket.onBatch((batch) => {
    for (let i = 0; i < batch.count; i++) {
      seen.push({
        payload: batch.payload(i).toString(),
        address: batch.address(i),
        ecn: batch.ecn(i),
        tos: batch.tos(i),
        local: batch.localAddress(i),
        ifindex: batch.interfaceIndex(i),
      });
    }
  });
  return seen;
}

const BACKENDS = ['auto', 'poll-recvmmsg', 'recvmmsg'] as const;
const CODEPOINTS = [0, 1, 2, 3, 2, 2, 1, 0, 3, 3];

for (const { type, host } of [
  { type: 'udp4', host: '127.0.0.1' },
  { type: 'udp6', host: '::1' },
] as const) {
  for (const backend of BACKENDS) {
    t.test(`${type}, ${backend}: ECN codepoints sent with sendBatch() arrive with each datagram`, async (t) => {
      const r = createSocket({ type, ecn: true, backend: backend as Backend | 'auto' });
      const port = await bound(r, 0, host);
      const seen = collect(r);
      const s = createSocket({ type });
      await bound(s, 0, host);
      const datagrams = CODEPOINTS.map((_, i) => Buffer.from(`d${i}`));
      t.equal(s.sendBatch(datagrams, { port, address: host }, { ecn: CODEPOINTS }), datagrams.length);
      await until(() => seen.length >= datagrams.length, 'every datagram');
      t.same(seen.map((d) => d.payload), datagrams.map(String), 'in order');
      t.same(seen.map((d) => d.ecn), CODEPOINTS, 'each with its codepoint');
      t.same(seen.map((d) => d.tos), CODEPOINTS, 'the TOS byte: the codepoint and no DSCP');
      t.ok(seen.every((d) => d.local === undefined && d.ifindex === undefined), 'no local address unless pktinfo is asked for');
      t.equal(s.stats.ecnFallbacks, 0);
      await closed(r);
      await closed(s);
    });
  }

  t.test(`${type}: 'message' listeners get rinfo.ecn and rinfo.tos; a socket that did not ask gets neither`, async (t) => {
    const marked = createSocket({ type, ecn: true });
    const plain = createSocket({ type });
    const ports = [await bound(marked, 0, host), await bound(plain, 0, host)];
    const infos: Array<Record<string, unknown>> = [];
    marked.on('message', (_m, rinfo) => infos.push({ ...rinfo }));
    plain.on('message', (_m, rinfo) => infos.push({ ...rinfo }));
    const s = createSocket({ type });
    await bound(s, 0, host);
    s.sendBatch([Buffer.from('x')], { port: ports[0]!, address: host }, { ecn: 3 });
    await until(() => infos.length >= 1, 'the marked one');
    s.sendBatch([Buffer.from('y')], { port: ports[1]!, address: host }, { ecn: 1 });
    await until(() => infos.length >= 2, 'the plain one');
    t.match(infos[0], { ecn: 3, tos: 3 });
    t.notOk('ecn' in infos[1]! || 'tos' in infos[1]!, `no ECN fields without the option (${JSON.stringify(infos[1])})`);
    await closed(marked);
    await closed(plain);
    await closed(s);
  });
}

t.test('ECN marks end GSO runs: runs of one mark, datagrams and marks exact into a GRO socket', async (t) => {
  const r = createSocket({ type: 'udp4', ecn: true, gro: true });
  const port = await bound(r, 0, '127.0.0.1');
  const seen = collect(r);
  const s = createSocket({ type: 'udp4' });
  await bound(s, 0, '127.0.0.1');
  const marks = Array.from({ length: 120 }, (_, i) => (i < 50 ? 2 : i < 60 ? 3 : i < 100 ? 1 : 0));
  const datagrams = marks.map((_, i) => Buffer.alloc(1000, i).fill(`n${i} `, 0, 6));
  s.sendBatch(datagrams, { port, address: '127.0.0.1' }, { ecn: marks });
  await until(() => seen.length >= datagrams.length, 'every datagram');
  t.same(seen.map((d) => d.payload), datagrams.map(String), 'every datagram, byte-exact, in order');
  t.same(seen.map((d) => d.ecn), marks, 'each with its own mark');
  if (s.gso) t.ok(s.stats.gsoSends >= 4, `a GSO run per mark (${s.stats.gsoSends} sends)`);
  await closed(r);
  await closed(s);
});

for (const { type, wildcard, addresses } of [
  { type: 'udp4', wildcard: '0.0.0.0', addresses: ['127.0.0.1', '127.0.0.2'] },
  { type: 'udp6', wildcard: '::', addresses: ['::1'] },
  { type: 'udp6', wildcard: '::', addresses: ['127.0.0.1', '127.0.0.2'], dualStack: true },
] as const) {
  for (const backend of BACKENDS) {
    t.test(`${type} on ${wildcard}${addresses[0]!.includes('.') && type === 'udp6' ? ' (dual stack)' : ''}, ${backend}: a server replies from the address it was asked on`, async (t) => {
      const server = createSocket({ type, pktinfo: true, backend: backend as Backend | 'auto' });
      const port = await bound(server, 0, wildcard);
      const asked: Seen[] = [];
      server.onBatch((batch) => {
        const replies: Buffer[] = [];
        const to: Array<{ address: string; port: number }> = [];
        const from: string[] = [];
        for (let i = 0; i < batch.count; i++) {
          asked.push({ payload: batch.payload(i).toString(), address: batch.address(i), ecn: batch.ecn(i), tos: batch.tos(i), local: batch.localAddress(i), ifindex: batch.interfaceIndex(i) });
          replies.push(Buffer.from(batch.payload(i)));
          to.push({ address: batch.address(i), port: batch.port(i) });
          from.push(batch.localAddress(i)!);
        }
        server.sendBatch(replies, to, { from });
      });
      const clientType = addresses[0]!.includes('.') ? 'udp4' : 'udp6';
      const client = createSocket({ type: clientType });
      await bound(client, 0, clientType === 'udp4' ? '127.0.0.1' : '::1');
      const replies: Array<{ payload: string; from: string }> = [];
      client.on('message', (message, rinfo) => replies.push({ payload: message.toString(), from: rinfo.address }));
      for (const address of addresses) client.send(`to ${address}`, port, address);
      await until(() => replies.length >= addresses.length, 'a reply to each');
      const mapped = (a: string) => (type === 'udp6' && a.includes('.') ? `::ffff:${a}` : a);
      t.same(asked.map((a) => a.local), addresses.map(mapped), 'the server saw the address each was sent to');
      t.ok(asked.every((a) => typeof a.ifindex === 'number' && a.ifindex > 0), `and the interface (${asked.map((a) => a.ifindex).join(', ')})`);
      t.ok(asked.every((a) => a.ecn === undefined), 'no TOS byte unless ecn is asked for');
      t.same(
        replies.map((r) => `${r.payload} from ${r.from}`).sort(),
        addresses.map((a) => `to ${a} from ${a}`).sort(),
        'each reply came from the address its request went to',
      );
      await closed(server);
      await closed(client);
    });
  }
}

t.test("rinfo.localAddress and rinfo.interfaceIndex for 'message' listeners", async (t) => {
  const server = createSocket({ type: 'udp4', pktinfo: true });
  const port = await bound(server, 0, '0.0.0.0');
  const infos: Array<Record<string, unknown>> = [];
  server.on('message', (_m, rinfo) => infos.push({ ...rinfo }));
  const client = createSocket({ type: 'udp4' });
  await bound(client, 0, '127.0.0.1');
  client.send('hello', port, '127.0.0.2');
  await until(() => infos.length >= 1, 'the datagram');
  t.match(infos[0], { address: '127.0.0.1', localAddress: '127.0.0.2', interfaceIndex: Number });
  await closed(server);
  await closed(client);
});

t.test('a TOS byte the kernel refuses turns ECN marks off for the socket; the datagrams go unmarked', async (t) => {
  const r = createSocket({ type: 'udp4', ecn: true });
  const port = await bound(r, 0, '127.0.0.1');
  const seen = collect(r);
  const errors: Error[] = [];
  r.on('error', (e) => errors.push(e));
  const s = createSocket({ type: 'udp4' });
  s.on('error', (e) => errors.push(e));
  await bound(s, 0, '127.0.0.1');
  s._testRefuseTos();
  const datagrams = Array.from({ length: 20 }, (_, i) => Buffer.from(`m${i}`));
  t.equal(s.sendBatch(datagrams, { port, address: '127.0.0.1' }, { ecn: 2 }), datagrams.length, 'every datagram sent');
  await until(() => seen.length >= datagrams.length, 'every datagram');
  t.same(seen.map((d) => d.payload), datagrams.map(String));
  t.ok(seen.every((d) => d.ecn === 0), 'unmarked (Not-ECT), as quinn-udp sends after the kernel refuses');
  t.equal(s.stats.ecnFallbacks, 1, 'counted once');
  s.sendBatch([Buffer.from('later')], { port, address: '127.0.0.1' }, { ecn: 1 });
  await until(() => seen.length > datagrams.length, 'a later one');
  t.equal(s.stats.ecnFallbacks, 1, 'and off for good: no second refusal');
  t.same(errors, [], "no 'error' on either socket");
  await closed(r);
  await closed(s);
});

t.test('sendBatch() options and the ecn/pktinfo options are checked', async (t) => {
  const s = createSocket({ type: 'udp4' });
  await bound(s, 0, '127.0.0.1');
  const to = { port: 9, address: '127.0.0.1' };
  const one = [Buffer.from('x')];
  t.throws(() => s.sendBatch(one, to, { ecn: 4 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => s.sendBatch(one, to, { ecn: 1.5 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => s.sendBatch(one, to, { ecn: [1, 2] }), /"ecn" must hold one codepoint per datagram \(1\), got 2/);
  t.throws(() => s.sendBatch(one, to, { from: 'localhost' }), { code: 'ERR_INVALID_ARG_VALUE' });
  t.throws(() => s.sendBatch(one, to, { from: '::1' }), /udp4 socket cannot send from the IPv6 address/);
  t.throws(() => s.sendBatch(one, to, { from: ['127.0.0.1', '127.0.0.1'] }), /"from" must hold one local address per datagram/);
  t.throws(() => s.sendBatch(one, to, { ecm: 1 } as never), /ecn/);
  t.throws(() => s.sendBatch(one, to, 'fast' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => createSocket({ type: 'udp4', ecn: 'on' as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => createSocket({ type: 'udp4', pktinfo: 1 as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' });
  // From an address that is not this host's: the kernel says so, as for any send.
  t.throws(() => s.sendBatch(one, to, { from: '192.0.2.1' }), /^sendmmsg E/);
  t.throws(() => s.sendBatch(one, to, { from: '192.0.2.1', ecn: 1 }), /^sendmmsg E/, 'with a mark too');
  t.equal(s.stats.ecnFallbacks, 0, 'a send refused for its address does not turn ECN off');
  t.equal(s.stats.gsoFallbacks, 0, 'nor GSO');
  await closed(s);
});
