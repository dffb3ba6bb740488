// Replies sent from 'message' listeners while a batch is delivered leave together, in one
// sendmmsg, once the tick queue the listeners' sends land in has run (Socket#cork in
// src/udp.ts). What must not change: every reply arrives, in order, callbacks report bytes or
// errors per datagram, sendBatch() and close() keep their place in the order.
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

import { createSocket, type Socket } from '../src/index';
import { ROOT, bound, run, which } from './helpers';

const LIB = path.join(ROOT, 'lib');

/** Bound on 127.0.0.1: the socket itself. */
async function listening<T extends Socket | dgram.Socket>(socket: T): Promise<T> {
  await bound(socket, 0, '127.0.0.1');
  return socket;
}

/** A node:dgram peer that collects what it receives. */
async function peer(): Promise<{ socket: dgram.Socket; got: Buffer[]; until: (n: number) => Promise<void> }> {
  const socket = await listening(dgram.createSocket('udp4'));
  const got: Buffer[] = [];
  const until = (n: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${n} replies`)), 10_000);
      const check = () => {
        if (got.length >= n) {
          clearTimeout(timer);
          resolve();
        } else setTimeout(check, 5);
      };
      check();
    });
  socket.on('message', (m) => got.push(m));
  return { socket, got, until };
}

/** Sends n numbered requests in one sendmmsg so they arrive as one batch. */
function burst(from: Socket, to: number, n: number, size = 8): void {
  const datagrams = Array.from({ length: n }, (_, i) => {
    const b = Buffer.alloc(size);
    b.writeUInt32BE(i, 0);
    return b;
  });
  t.equal(from.sendBatch(datagrams, { port: to, address: '127.0.0.1' }), n);
}

t.test('replies to a burst all arrive, in order, and every callback gets its byte count', async (t) => {
  // Socket buffers large enough for the whole burst: a default one holds about 270 of them.
  const server = await listening(createSocket({ type: 'udp4', hybrid: false, recvBufferSize: 4 << 20 }));
  const client = await listening(createSocket({ type: 'udp4', recvBufferSize: 4 << 20 }));
  const replies: number[] = [];
  const sizes: Array<number | null> = [];
  client.onBatch((batch) => {
    for (let i = 0; i < batch.count; i++) replies.push(batch.payload(i).readUInt32BE(0));
  });
  server.on('message', (msg, rinfo) => {
    server.send(msg, rinfo.port, rinfo.address, (error: Error | null, bytes?: number) => sizes.push(error ? null : (bytes ?? -1)));
  });
  burst(client, server.address().port, 500);
  const deadline = Date.now() + 10_000;
  while ((replies.length < 500 || sizes.length < 500) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  t.same(replies, Array.from({ length: 500 }, (_, i) => i), '500 replies, in the order of the requests');
  t.equal(sizes.length, 500, 'a callback per send');
  t.ok(sizes.every((n) => n === 8), 'each with the bytes sent');
  server.close();
  client.close();
});

t.test('order holds across send(), sendBatch() and a send that cannot be gathered', async (t) => {
  const server = await listening(createSocket({ type: 'udp4', hybrid: false }));
  const client = await listening(createSocket('udp4'));
  const { socket: watcher, got, until } = await peer();
  const to = watcher.address().port;
  let handled = 0;
  server.on('message', () => {
    const n = handled++;
    if (n > 2) return;
    // Per request: a gathered send, a two-part send (not gathered), then a batch send.
    server.send(Buffer.from(`${n}a`), to, '127.0.0.1');
    server.send([Buffer.from(`${n}`), Buffer.from('b')], to, '127.0.0.1');
    setImmediate(() => server.sendBatch([Buffer.from(`${n}c`)], { port: to, address: '127.0.0.1' }));
  });
  burst(client, server.address().port, 3);
  await until(9);
  const order = got.map((b) => b.toString());
  t.same([...order].sort(), ['0a', '0b', '0c', '1a', '1b', '1c', '2a', '2b', '2c'], 'all nine arrived');
  // The requests may come in one batch or several, which interleaves the requests' replies
  // differently; within one request the calls' order always holds.
  for (const n of [0, 1, 2]) {
    t.ok(order.indexOf(`${n}a`) < order.indexOf(`${n}b`) && order.indexOf(`${n}b`) < order.indexOf(`${n}c`), `request ${n}: a, b, c in order (${order.join(' ')})`);
  }
  t.ok(order.indexOf('0a') < order.indexOf('1a') && order.indexOf('1a') < order.indexOf('2a'), 'gathered sends keep the requests\' order');
  server.close();
  client.close();
  watcher.close();
});

t.test('a reply that fails gets its own error; the others still go', async (t) => {
  const server = await listening(createSocket({ type: 'udp4', hybrid: false }));
  const client = await listening(createSocket('udp4'));
  const { socket: watcher, got, until } = await peer();
  const outcomes: string[] = [];
  let handled = 0;
  server.on('message', () => {
    const n = handled++;
    // The second reply is one byte over what UDP over IPv4 can carry: EMSGSIZE, for it alone.
    const payload = n === 1 ? Buffer.alloc(65508) : Buffer.from([n]);
    server.send(payload, watcher.address().port, '127.0.0.1', (error: Error | null) => outcomes.push(error ? (error as NodeJS.ErrnoException).code! : 'ok'));
  });
  burst(client, server.address().port, 3);
  await until(2);
  await new Promise((r) => setTimeout(r, 50));
  t.same(outcomes, ['ok', 'EMSGSIZE', 'ok'], 'the error goes to its own callback');
  t.same(got.map((b) => b[0]), [0, 2], 'the replies around it arrive');
  server.close();
  client.close();
  watcher.close();
});

t.test('close() from a listener still sends the replies accepted before it', async (t) => {
  const server = await listening(createSocket({ type: 'udp4', hybrid: false }));
  const client = await listening(createSocket('udp4'));
  const { socket: watcher, got, until } = await peer();
  let handled = 0;
  server.on('message', (msg) => {
    handled++;
    if (handled <= 3) server.send(msg, watcher.address().port, '127.0.0.1');
    if (handled === 3) setImmediate(() => server.close());
  });
  burst(client, server.address().port, 10);
  await until(3);
  t.same(got.map((b) => b.readUInt32BE(0)), [0, 1, 2], 'the three replies sent before close()');
  client.close();
  watcher.close();
});

const strace = which('strace');
t.test('a burst of replies is one sendmmsg, not one sendto per reply', { skip: strace ? false : 'strace is not installed (npm run setup installs it)' }, async (t) => {
  const out = path.join(t.testdir(), 'strace.txt');
  const script = `
    const { createSocket } = require(${JSON.stringify(LIB)});
    const server = createSocket({ type: 'udp4', hybrid: false });
    const client = createSocket('udp4');
    let replies = 0;
    server.on('message', (msg, rinfo) => server.send(msg, rinfo.port, rinfo.address));
    client.onBatch((batch) => {
      replies += batch.count;
      if (replies === 200) { console.log(JSON.stringify({ pid: process.pid, replies })); server.close(); client.close(); }
    });
    server.bind(0, '127.0.0.1', () => client.bind(0, '127.0.0.1', () => {
      const datagrams = Array.from({ length: 200 }, () => Buffer.alloc(16));
      client.sendBatch(datagrams, { port: server.address().port, address: '127.0.0.1' });
    }));`;
  const result = await run(strace!, ['-f', '-e', 'trace=sendto,sendmsg,sendmmsg', '-o', out, process.execPath, '-e', script], { timeoutMs: 60_000 });
  t.equal(result.code, 0, `ran: ${result.stderr.slice(-500)}`);
  const { pid, replies } = JSON.parse(result.stdout.trim().split('\n').pop()!) as { pid: number; replies: number };
  t.equal(replies, 200, 'every reply arrived');
  const calls = fs
    .readFileSync(out, 'utf8')
    .split('\n')
    .map((line) => /^(\d+)\s+(sendto|sendmsg|sendmmsg)\(.*= (\d+)/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && Number(m[1]) === pid);
  const singles = calls.filter((m) => m[2] !== 'sendmmsg').length;
  const batches = calls.filter((m) => m[2] === 'sendmmsg');
  // One sendmmsg for the client's burst; the 200 replies in one per receiver batch of several
  // datagrams, and a plain send for a batch of one (it has nothing to gather).
  t.ok(batches.length >= 2, `${batches.length} sendmmsg calls carried ${batches.reduce((n, m) => n + Number(m[3]), 0)} datagrams (${batches.map((m) => m[3]).join(', ')})`);
  t.ok(singles + batches.length <= 12, `${singles + batches.length} send syscalls for 400 datagrams (${singles} single), not one per reply`);
});

t.test('a burst of requests is answered at most 32 per turn of the event loop, as node:dgram answers it: a peer with a small receive buffer in the same process loses no more', async (t) => {
  // 200 requests queued at once; the peer's buffer (16 KiB, doubled by the kernel) holds about
  // 40 of the replies. node:dgram reads 32 per turn of the event loop, so the peer reads the
  // replies to each 32 before the next 32 leave; the package reads the 200 in one turn and
  // sending all 200 replies at once overflowed the peer (39 of 200 arrived; multicast-dns's
  // querier lost most of its answers the same way).
  const answered = async (server: Socket | dgram.Socket): Promise<number> => {
    // Both have dgram's send(msg, port, address); the cast only picks one overload set.
    const s = server as dgram.Socket;
    s.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => s.send(msg, rinfo.port, rinfo.address));
    await listening(server);
    const client = await listening(dgram.createSocket({ type: 'udp4', recvBufferSize: 16384 }));
    let got = 0;
    client.on('message', () => got++);
    const payload = Buffer.alloc(100, 1);
    for (let i = 0; i < 200; i++) client.send(payload, server.address().port, '127.0.0.1');
    let last = -1;
    // Until nothing more comes for 200 ms.
    while (got !== last) {
      last = got;
      await new Promise((r) => setTimeout(r, 200));
    }
    client.close();
    server.close();
    return got;
  };
  const dgramGot = await answered(dgram.createSocket('udp4'));
  const ours = await answered(createSocket('udp4'));
  t.ok(dgramGot >= 100, `node:dgram's server: ${dgramGot} of 200 replies reached the peer`);
  t.ok(ours >= dgramGot - 10, `the package's server: ${ours} of 200 (node:dgram's: ${dgramGot})`);
});

/** Counts turns of the event loop (one immediate per turn) until stopped. */
function turns(): { readonly now: number; stop(): void } {
  let now = 0;
  let timer: NodeJS.Immediate | undefined;
  const tick = () => {
    now++;
    timer = setImmediate(tick);
  };
  timer = setImmediate(tick);
  return {
    get now() {
      return now;
    },
    stop: () => clearImmediate(timer),
  };
}

t.test("a burst read by the JS thread is emitted at most 32 'message' events per turn of the event loop, in order, and a later read waits behind it", async (t) => {
  const server = await listening(createSocket('udp4'));
  const client = await listening(createSocket('udp4'));
  t.ok(server.direct, 'the JS thread reads the socket');
  const turn = turns();
  const perTurn = new Map<number, number>();
  const order: number[] = [];
  server.on('message', (msg) => {
    perTurn.set(turn.now, (perTurn.get(turn.now) ?? 0) + 1);
    order.push(msg.readUInt32BE(0));
    // A second burst while the first still waits its turn.
    if (order.length === 1) burst(client, server.address().port, 50);
  });
  burst(client, server.address().port, 200);
  const deadline = Date.now() + 10_000;
  while (order.length < 250 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  turn.stop();
  t.equal(order.length, 250, 'every datagram is emitted');
  t.same(order, [...Array.from({ length: 200 }, (_, i) => i), ...Array.from({ length: 50 }, (_, i) => i)], 'in order: the second read behind the first');
  const most = Math.max(...perTurn.values());
  t.ok(most <= 32, `at most 32 a turn (${[...perTurn.values()].join(', ')})`);
  t.ok(perTurn.size >= 8, `over ${perTurn.size} turns`);
  client.close();
  server.close();
});

t.test("close() lets go of what waits its turn: no 'message' after it, and a listener's close() still gets the rest of its own read", async (t) => {
  const server = await listening(createSocket('udp4'));
  const client = await listening(createSocket('udp4'));
  let got = 0;
  let afterClose = 0;
  let closed = false;
  server.on('message', () => {
    got++;
    if (closed) afterClose++;
  });
  burst(client, server.address().port, 200);
  while (got === 0) await new Promise((r) => setImmediate(r));
  t.ok(got <= 32, `the first turn emitted ${got}`);
  server.close();
  closed = true;
  await new Promise((r) => server.once('close', r));
  await new Promise((r) => setTimeout(r, 50));
  t.equal(afterClose, 0, "no 'message' after close()");

  // A listener that closes the socket while its read is being emitted: the rest of the read is
  // still emitted (every datagram of a delivery is), at once.
  const second = await listening(createSocket('udp4'));
  let seen = 0;
  second.on('message', () => {
    seen++;
    if (seen === 1) second.close();
  });
  burst(client, second.address().port, 100);
  await new Promise((r) => second.once('close', r));
  t.equal(seen, 100, 'the listener that closed saw the rest of its read');
  client.close();
});
