// A thread stuck in the kernel must not cost the sockets or requests behind it: a socket whose
// receiver is reported stuck leaves it and goes on being read by its JS thread, on the same fd,
// no datagram delivered twice; a stuck Ring rejects what it holds; close() completes either way.
// The stuck thread is made by a test hook that holds it in a real blocking syscall (state D).
import { spawn } from 'node:child_process';
import path from 'node:path';
import t from 'tap';

import { createSocket, receiverInfo, type Socket, type Stall } from '../src/index';
import { ROOT, bound, closed, threadCount, until } from './helpers';

process.env.URING_UDP_TEST_HOOKS = '1';
const FLOOD = path.join(ROOT, 'test', 'fixtures', 'flood.js');

function flood(port: number, ms: number, size = 64): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FLOOD, String(ms), String(size), String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve((JSON.parse(out) as { sent: number }).sent) : reject(new Error(`flood exited ${code}`))));
  });
}

/** Counts each datagram's sequence number (flood.js writes it in the first four bytes). */
function sequences(socket: Socket): { seen: Uint8Array; count: number; twice: number; last: number } {
  const state = { seen: new Uint8Array(1 << 24), count: 0, twice: 0, last: 0 };
  socket.onBatch((batch) => {
    for (let i = 0; i < batch.count; i++) {
      const seq = batch.payload(i).readUInt32LE(0);
      if (seq >= state.seen.length) continue;
      if (state.seen[seq]) state.twice++;
      state.seen[seq] = 1;
      state.count++;
      state.last = Math.max(state.last, seq);
    }
  });
  return state;
}

const stalled = (socket: Socket) =>
  new Promise<Stall>((resolve) => {
    const on = (stall: Stall) => {
      if (stall.kind !== 'stuck') return;
      socket.off('stall', on);
      resolve(stall);
    };
    socket.on('stall', on);
  });

t.test("a socket on a stuck receiver fails over: its JS thread reads on, nothing delivered twice", async (t) => {
  const threads = threadCount();
  const socket = createSocket({ type: 'udp4', hybrid: false, recvBufferSize: 4 << 20, watchdog: { stuckMs: 300 } });
  const port = await bound(socket, 0, '127.0.0.1');
  const got = sequences(socket);
  const sending = flood(port, 4000);
  await until(() => got.count > 10_000, 'the receiver reading the flood');
  t.equal(socket.direct, false, 'a receiver reads it');
  const receiverThread = (socket as unknown as { _receiverThread(): number })._receiverThread();
  const stall = stalled(socket);
  socket._testHoldReceiver(2500);
  const report = await stall;
  const atStall = got.count;
  t.equal(report.owner, 'receiver');
  t.ok(report.sockets?.includes(socket.id), `the report names the socket (${JSON.stringify(report.sockets)})`);
  t.equal(report.thread.tid, receiverThread, "the receiver's thread");
  t.equal(report.failover, 'direct', 'and says the socket failed over');
  t.equal(socket.direct, true, 'the JS thread reads it now');
  t.equal(socket.backend, 'recvmmsg', 'and its receivers use no io_uring from now on');
  const sent = await sending;
  await until(() => got.count + socket.stats.kernelDrops >= sent, 'every datagram received or dropped', 15_000);
  t.ok(got.count > atStall, `the flood went on arriving after the stall (${got.count - atStall} more)`);
  t.equal(got.twice, 0, 'no datagram delivered twice');
  t.equal(got.count + socket.stats.kernelDrops, sent, `received + kernelDrops = sent (${got.count} + ${socket.stats.kernelDrops} of ${sent})`);
  // The held thread comes back after its hold: it lets the socket go (what it had taken was
  // delivered above), exits, and is joined at the next move of the pool.
  await until(() => receiverInfo().receivers === 0, 'no receiver left', 5_000);
  await closed(socket);
  const next = createSocket({ type: 'udp4', hybrid: false });
  await bound(next, 0, '127.0.0.1');
  await closed(next);
  await until(() => threadCount() === threads, 'threads back to where they were', 5_000);
  t.pass('every thread joined');
});

t.test('closing a socket whose receiver is stuck completes once the watchdog says so', async (t) => {
  const threads = threadCount();
  const socket = createSocket({ type: 'udp4', hybrid: false, watchdog: { stuckMs: 300 } });
  await bound(socket, 0, '127.0.0.1');
  const stall = stalled(socket);
  socket._testHoldReceiver(3000);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const started = performance.now();
  const closing = closed(socket);
  const report = await stall;
  await closing;
  const ms = performance.now() - started;
  t.equal(report.failover, 'direct');
  t.ok(ms < 2500, `closed in ${Math.round(ms)} ms, not after the 3 s hold`);
  t.equal(socket.fd, -1, 'and its fd closed');
  // The stuck thread was left, not joined. Once its hold ends it must leave by itself, and be
  // joined at the pool's next move. Waiting for it here also keeps this file from exiting while
  // the thread is still in the kernel: under test:asan, LeakSanitizer's exit check cannot stop a
  // thread in an uninterruptible wait and writes "Unable to get registers from thread N".
  await until(() => receiverInfo().receivers === 0, 'the left receiver gone once its hold ended', 10_000);
  const next = createSocket({ type: 'udp4', hybrid: false });
  await bound(next, 0, '127.0.0.1');
  await closed(next);
  await until(() => threadCount() === threads, 'threads back to where they were', 5_000);
  t.pass('the left thread came back and was joined');
});
