// Sockets cost what node:dgram's cost until their traffic needs more: a bound socket is one
// descriptor read by its JS thread, with no thread, ring or buffers of its own; a burst moves it
// to a receiver of the process-wide pool, which many sockets share, and quiet moves it back and
// then off the receiver, whose thread is joined when its last socket leaves.
import { spawn } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { Worker } from 'node:worker_threads';

import { configureReceivers, createSocket, receiverInfo, type Socket } from '../src/index';
import { ROOT, SLOWDOWN, bound, closed, fdCount, run, threadCount, until } from './helpers';

const FLOOD = path.join(ROOT, 'test', 'fixtures', 'flood.js');
const LIB = path.join(ROOT, 'lib');

/** Floods the ports from another process for `ms`; resolves with how many were sent. */
function flood(ports: number[], ms: number, size = 64): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FLOOD, String(ms), String(size), ...ports.map(String)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve((JSON.parse(out) as { sent: number }).sent) : reject(new Error(`flood exited ${code}`))));
  });
}

function counting(socket: Socket): { count: number } {
  const seen = { count: 0 };
  socket.onBatch((batch) => (seen.count += batch.count));
  return seen;
}

t.test('a bound socket is one descriptor read by its JS thread: no thread, no receiver, no buffers', async (t) => {
  const warm = createSocket('udp4'); // the first bind probes the kernel once, on a thread joined at once
  await bound(warm, 0, '127.0.0.1');
  const fds = fdCount();
  const threads = threadCount();
  const sockets = Array.from({ length: 200 }, () => createSocket('udp4'));
  await Promise.all(sockets.map((s) => bound(s, 0, '127.0.0.1')));
  t.equal(fdCount() - fds, 200, 'one descriptor per socket');
  t.equal(threadCount(), threads, 'no thread per socket');
  t.equal(receiverInfo().receivers, 0, 'no receiver');
  t.ok(sockets.every((s) => s.direct), 'the JS thread reads every one');
  t.ok(sockets.every((s) => s.receiveMemory === 0), 'and none holds receive buffers');
  await Promise.all([warm, ...sockets].map(closed));
  t.equal(fdCount(), fds - 1, 'every descriptor closed');
});

t.test('a burst moves a socket to a receiver; quiet hands it back, then lets it go', async (t) => {
  const socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  const port = await bound(socket, 0, '127.0.0.1');
  const seen = counting(socket);
  const threads = threadCount();
  const sent = await flood([port], 1500);
  await until(() => seen.count + socket.stats.kernelDrops >= sent, 'every datagram received or dropped');
  const stats = socket.stats;
  if (stats.attachFailures > 0) t.fail(`no receiver could take the socket on (${stats.attachFailures} tries)`);
  t.equal(stats.attaches, 1, 'a receiver took it on once');
  t.ok(stats.handovers >= 1, `and read it (${stats.handovers} hand-overs)`);
  t.ok(stats.datagrams > 0 && stats.directReads > 0, 'both the receiver and the JS thread read it');
  t.equal(seen.count + stats.kernelDrops, sent, `received + kernelDrops = sent (${seen.count} + ${stats.kernelDrops} of ${sent})`);
  await until(() => socket.direct, 'the hand-back to the JS thread', 5_000);
  await until(() => receiverInfo().receivers === 0, 'the receiver letting it go after a quiet second', 5_000);
  t.equal(socket.receiveMemory, 0, 'its buffers are gone');
  await until(() => threadCount() === threads, "the receiver's thread joined", 5_000);
  t.equal(socket.stats.attaches, 1);
  await closed(socket);
});

t.test('sockets share receivers: no more receivers than threads, and they spread over them', async (t) => {
  const { threads } = receiverInfo();
  const sockets = Array.from({ length: 12 }, () => createSocket({ type: 'udp4', hybrid: false }));
  await Promise.all(sockets.map((s) => bound(s, 0, '127.0.0.1')));
  const info = receiverInfo();
  t.equal(info.sockets, 12, 'every socket on a receiver');
  t.equal(info.receivers, Math.min(threads, 12), `${info.receivers} receivers for 12 sockets (threads: ${threads})`);
  const tids = new Set(sockets.map((s) => (s as unknown as { _receiverThread(): number })._receiverThread()));
  t.equal(tids.size, info.receivers, 'spread over all of them');
  // Each still receives its own datagrams.
  const seen = sockets.map(counting);
  const sender = createSocket('udp4');
  await bound(sender, 0, '127.0.0.1');
  for (const s of sockets) for (let i = 0; i < 10; i++) sender.send('x', s.address().port, '127.0.0.1');
  await until(() => seen.every((c) => c.count === 10), 'ten datagrams each');
  t.pass('ten datagrams each');
  await Promise.all([...sockets, sender].map(closed));
  t.equal(receiverInfo().receivers, 0, "receivers stop with their last socket");
});

t.test('configureReceivers and URING_UDP_RECEIVERS set how many receivers sockets spread over', async (t) => {
  t.throws(() => configureReceivers({ threads: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => configureReceivers({ threads: 1.5 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => configureReceivers({ thread: 1 } as never), /Unknown configureReceivers option "thread"|Misspelled/);
  configureReceivers({ threads: 1 });
  t.teardown(() => configureReceivers({ threads: 0 }));
  const sockets = Array.from({ length: 5 }, () => createSocket({ type: 'udp4', hybrid: false }));
  await Promise.all(sockets.map((s) => bound(s, 0, '127.0.0.1')));
  t.same(receiverInfo(), { receivers: 1, sockets: 5, threads: 1 }, 'one receiver for all five');
  await Promise.all(sockets.map(closed));
  const script = `
    const { createSocket, receiverInfo } = require(${JSON.stringify(LIB)});
    const sockets = [1, 2, 3].map(() => createSocket({ type: 'udp4', hybrid: false }));
    let n = 0;
    for (const s of sockets) s.bind(0, '127.0.0.1', () => {
      if (++n < 3) return;
      console.log(JSON.stringify(receiverInfo()));
      for (const s of sockets) s.close();
    });`;
  const one = await run(process.execPath, ['-e', script], { env: { ...process.env, URING_UDP_RECEIVERS: '1' } });
  t.equal(one.code, 0, one.stderr);
  t.same(JSON.parse(one.stdout), { receivers: 1, sockets: 3, threads: 1 }, 'URING_UDP_RECEIVERS=1');
  const bad = await run(process.execPath, ['-e', script], { env: { ...process.env, URING_UDP_RECEIVERS: 'many' } });
  t.not(bad.code, 0, 'a bad URING_UDP_RECEIVERS is an error');
  t.match(bad.stderr, /URING_UDP_RECEIVERS must be an integer from 0 to 1024/);
});

t.test('closing a socket mid-flood: its receiver lets it go, everything it took is delivered or counted', async (t) => {
  const threads = threadCount();
  const fds = fdCount();
  const socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  const port = await bound(socket, 0, '127.0.0.1');
  const seen = counting(socket);
  const flooding = flood([port], 3000);
  await until(() => !socket.direct && socket.stats.datagrams > 1000, 'a receiver reading the flood');
  await closed(socket);
  t.equal(socket.fd, -1, 'closed');
  t.ok(seen.count > 0, `${seen.count} delivered before the close`);
  t.ok(seen.count <= socket.stats.datagrams + socket.stats.directReads * 256, 'none delivered that was not taken');
  await flooding;
  await until(() => receiverInfo().receivers === 0 && threadCount() === threads, 'the receiver stopped and joined', 5_000);
  t.equal(fdCount(), fds, 'no descriptor left');
});

t.test('64 sockets flooded at once all receive, over at most `threads` receivers', async (t) => {
  const sockets = Array.from({ length: 64 }, () => createSocket({ type: 'udp4', recvBufferSize: 1 << 20 }));
  const ports = await Promise.all(sockets.map((s) => bound(s, 0, '127.0.0.1')));
  const seen = sockets.map(counting);
  const sent = await flood(ports, 2000);
  const total = () => seen.reduce((n, c) => n + c.count, 0) + sockets.reduce((n, s) => n + s.stats.kernelDrops, 0);
  await until(() => total() >= sent, 'every datagram received or dropped', 15_000);
  t.equal(total(), sent, 'received + kernelDrops = sent over the 64');
  t.ok(seen.every((c) => c.count > 0), 'each socket received');
  const attaches = sockets.reduce((n, s) => n + s.stats.attaches, 0);
  t.comment(`${attaches} attaches, ${sockets.reduce((n, s) => n + s.stats.directReads, 0)} direct reads, ${sockets.reduce((n, s) => n + s.stats.datagrams, 0)} by receivers of ${sent}`);
  t.ok(receiverInfo().receivers <= receiverInfo().threads, `${receiverInfo().receivers} receivers (threads: ${receiverInfo().threads})`);
  await Promise.all(sockets.map(closed));
});

t.test('worker threads share the pool; terminating one with sockets on receivers leaves nothing behind', async (t) => {
  const threads = threadCount();
  const code = `
    const { parentPort } = require('node:worker_threads');
    const { createSocket } = require(${JSON.stringify(LIB)});
    const sockets = [1, 2, 3].map(() => createSocket({ type: 'udp4', hybrid: false }));
    let n = 0;
    for (const s of sockets) {
      s.on('message', () => {});
      s.bind(0, '127.0.0.1', () => { if (++n === 3) parentPort.postMessage(sockets.map((s) => s.address().port)); });
    }`;
  const workers = [new Worker(code, { eval: true }), new Worker(code, { eval: true })];
  const ports = (await Promise.all(workers.map((w) => new Promise<number[]>((resolve) => w.once('message', resolve))))).flat();
  const info = receiverInfo();
  t.equal(info.sockets, 6, 'six sockets from two workers on receivers');
  t.ok(info.receivers <= info.threads, `on ${info.receivers} shared receivers`);
  const flooding = flood(ports, 1500);
  await new Promise((resolve) => setTimeout(resolve, 300));
  await Promise.all(workers.map((w) => w.terminate()));
  t.equal(receiverInfo().sockets, 0, 'terminated workers left no socket on a receiver');
  await flooding;
  await until(() => receiverInfo().receivers === 0 && threadCount() === threads, 'receivers stopped and joined', 5_000);
  t.pass('threads back to where they were');
});

t.test('process.exit with sockets on receivers exits at once', async (t) => {
  const script = `
    const { createSocket } = require(${JSON.stringify(LIB)});
    const sockets = [1, 2, 3, 4].map(() => createSocket({ type: 'udp4', hybrid: false }));
    let n = 0;
    for (const s of sockets) s.bind(0, '127.0.0.1', () => { if (++n === 4) setTimeout(() => process.exit(7), 50); });`;
  // Against the same process with no socket, measured beside it: exit must not wait for a
  // receiver's join timeout (3 s), whatever a process's start and exit cost here (under
  // test:asan, LeakSanitizer's look at exit takes seconds).
  const timed = async (code: string) => {
    const started = Date.now();
    const result = await run(process.execPath, ['-e', code], { timeoutMs: 30_000 * SLOWDOWN });
    return { result, ms: Date.now() - started };
  };
  const bare = await timed(`require(${JSON.stringify(LIB)}); setTimeout(() => process.exit(7), 50);`);
  const { result, ms } = await timed(script);
  t.equal(result.code, 7, result.stderr);
  t.ok(ms < bare.ms + 2_500, `exited in ${ms} ms (the same process with no socket: ${bare.ms} ms)`);
  t.equal(result.stderr, '', 'nothing on stderr');
});
