// The watchdog, shown with real faults: a read that never completes, a ring thread held in
// the kernel in state D, a CQ that overflows. The detection path is the production one.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

import { Ring, configureWatchdog, stallChannel, watchdog, type Recovery, type Stall } from '../src/index';
import { binding } from '../src/native';
import { ROOT, SLOWDOWN, closeQuietly, pipe, run } from './helpers';

// Test hooks (the ring thread's hold) exist only with this set.
process.env.URING_UDP_TEST_HOOKS = '1';
const INTERVAL_MS = 10;
configureWatchdog({ intervalMs: INTERVAL_MS });

/**
 * The next `event`. Events do not keep a process alive (a ring with nothing in flight does
 * not either), so a timer does while the test waits.
 */
function next<T>(emitter: NodeJS.EventEmitter, event: string): Promise<T> {
  const keepAlive = setInterval(() => {}, 1000);
  return new Promise<T>((resolve) => emitter.once(event, resolve)).finally(() => clearInterval(keepAlive));
}

t.test("a one-shot read with timeoutMs: 200 raises 'deadline' on time, and no 'recover' while pending", async (t) => {
  const ring = new Ring();
  t.teardown(() => ring.close());
  const [readFd, writeFd] = pipe(t);
  const started = performance.now();
  const reading = ring.read(readFd, Buffer.alloc(8), { timeoutMs: 200 });
  const stall = await next<Stall>(ring, 'stall');
  const elapsed = performance.now() - started;
  t.equal(stall.kind, 'deadline');
  t.equal(stall.owner, 'ring');
  t.equal(stall.id, ring.id);
  t.equal(stall.fd, readFd);
  t.equal(stall.opcode, 'READ');
  t.ok(stall.requestId > 0, 'names the request');
  t.ok(elapsed >= 200, `raised after ${elapsed.toFixed(1)} ms, not before 200`);
  // One watchdog tick of lateness, plus the hop to the JS thread (slower under test:asan).
  // Detected within one watchdog tick (plus scheduling) of the deadline, as the watchdog
  // thread itself measured it; the hop to a busy JS thread may add more, so delivery gets a
  // looser bound.
  t.ok(stall.ageMs >= 200, `ageMs ${stall.ageMs}`);
  t.ok(stall.ageMs <= 200 + (INTERVAL_MS + 25) * SLOWDOWN, `detected within a tick: ageMs ${stall.ageMs.toFixed(1)}`);
  t.ok(elapsed <= 200 + 1000 * SLOWDOWN, `delivered to JS after ${elapsed.toFixed(1)} ms`);
  t.equal(stall.kernel.release, require('node:os').release());
  t.equal(stall.kernel.bugs.length, 2, 'the known bugs, with verdicts');
  t.type(stall.thread.tid, 'number');
  t.ok(stall.ring.fdinfo.some((line) => /SqHead|CqHead|SqMask/.test(line)), 'the io_uring lines of fdinfo');

  let recovered = false;
  ring.on('recover', () => (recovered = true));
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(recovered, false, "no 'recover' while the read stays pending");

  const recovery = next<Recovery>(ring, 'recover');
  fs.writeSync(writeFd, 'late');
  t.equal(await reading, 4);
  const r = await recovery;
  t.equal(r.recovered, 'deadline', "'recover' once it completed");
  t.equal(r.requestId, stall.requestId);
});

t.test("a ring thread held in the kernel raises 'stuck' while JS timers keep running", async (t) => {
  const ring = new Ring({ watchdog: { stuckMs: 400 } });
  t.teardown(() => ring.close());
  await ring.nop();
  const stalls: Stall[] = [];
  const onWatchdog = (stall: Stall) => stalls.push(stall);
  watchdog.on('stall', onWatchdog);
  t.teardown(() => watchdog.off('stall', onWatchdog));
  const published: unknown[] = [];
  const onPublish = (message: unknown) => published.push(message);
  stallChannel.subscribe(onPublish);
  t.teardown(() => stallChannel.unsubscribe(onPublish));

  // Timer lag while the ring thread is held: the JS thread must not notice.
  let worstLag = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    worstLag = Math.max(worstLag, now - last - 10);
    last = now;
  }, 10);
  t.teardown(() => clearInterval(timer));

  const held = ring._testHold(1500);
  const stall = await next<Stall>(ring, 'stall');
  t.equal(stall.kind, 'stuck');
  t.equal(stall.thread.tid, ring.threadId, 'the ring thread');
  t.match(stall.thread.state, /^D/, `state ${stall.thread.state}`);
  t.not(stall.thread.wchan, '', `wchan ${stall.thread.wchan}`);
  t.not(stall.thread.syscall, '', `syscall ${stall.thread.syscall}`);
  t.ok(stall.ageMs >= 400, `stuck for ${stall.ageMs} ms`);
  t.ok(stalls.some((s) => s.kind === 'stuck' && s.id === ring.id), 'also on the process-wide emitter');
  t.ok(published.some((s) => (s as Stall).kind === 'stuck'), 'and on diagnostics_channel uring-udp:stall');
  // A stuck ring cannot complete anything: it says so instead of leaving promises pending.
  t.equal(stall.failover, 'rejected', 'the stall says the ring rejects its requests');
  t.equal(ring.stuck, true);
  await t.rejects(ring.nop(), { code: 'ERR_URING_RING_STUCK', message: /ring \d+ is stuck: its thread \d+ has been/ }, 'a new request is rejected');
  t.throws(() => ring.poll(0, 'readable'), { code: 'ERR_URING_RING_STUCK' });
  await held; // the hold itself: ended with the ring's requests
  const recovery = await next<Recovery>(ring, 'recover');
  t.equal(recovery.recovered, 'stuck');
  clearInterval(timer);
  // Far below the 1500 ms hold either way; slower under test:asan.
  t.ok(worstLag < 100 * SLOWDOWN, `JS timers ran on time throughout (worst lag ${worstLag.toFixed(1)} ms)`);
  await t.rejects(ring.nop(), { code: 'ERR_URING_RING_STUCK' }, 'a ring that was stuck stays failed');
});

t.test("a flood into a tiny CQ raises 'overflow' with the kernel's counters", async (t) => {
  const ring = new Ring({ entries: 2, cqEntries: 2, batch: { count: 64, delayUs: 20_000 }, cqOverflow: 'allow' });
  t.teardown(() => ring.close());
  // 64 multishot polls on one eventfd, woken by one write: the kernel posts 64 CQEs at once
  // into a CQ of 2, whatever the scheduler does. (64 eventfds written one by one let the ring
  // thread reap between writes on a loaded machine: no overflow, seen under CI.)
  const fd = binding.testing.eventfd();
  t.teardown(() => closeQuietly(fd));
  const handles = Array.from({ length: 64 }, () => ring.poll(fd, 'readable'));
  // Commands run in order: once this NOP completes, every poll is armed.
  await ring.nop();
  const overflow = next<Stall>(ring, 'stall');
  const one = Buffer.alloc(8);
  one.writeBigUInt64LE(1n);
  fs.writeSync(fd, one);
  const stall = await overflow;
  t.equal(stall.kind, 'overflow');
  t.ok(stall.ring.overflowFlagSeen > 0, `IORING_SQ_CQ_OVERFLOW seen ${stall.ring.overflowFlagSeen} times`);
  t.type(stall.ring.cqOverflow, 'number', `kernel counter ${stall.ring.cqOverflow}`);
  t.ok(stall.kernel.bugs.some((b) => b.id === 'overflow-flush-lock'), "with the kernel's verdict on overflow-flush-lock");
  await Promise.all(handles.map((h) => h.cancel()));
});

t.test('an unwatched ring is not observed; closing a ring stops watching it', async (t) => {
  const before = (await import('../src/watchdog')).watchedCount();
  const unwatched = new Ring({ watchdog: false });
  const watched = new Ring();
  const { watchedCount } = await import('../src/watchdog');
  t.equal(watchedCount(), before + 1);
  await watched.close();
  await unwatched.close();
  t.equal(watchedCount(), before);
});

t.test('with no listener, a stall leaves one line on stderr', async (t) => {
  const script = `
    process.env.URING_UDP_TEST_HOOKS = '1';
    const { Ring, configureWatchdog } = require(${JSON.stringify(path.join(ROOT, 'lib'))});
    configureWatchdog({ stuckMs: 200 });
    const ring = new Ring();
    ring._testHold(700).then(() => ring.close());`;
  const result = await run(process.execPath, ['-e', script], { timeoutMs: 15_000 });
  t.equal(result.code, 0, result.stderr);
  const lines = result.stderr.split('\n').filter((l) => l.startsWith('uring-udp watchdog:'));
  t.equal(lines.length, 1, `one line: ${lines.join(' | ')}`);
  t.match(lines[0]!, /stuck on ring 1 .* state D/);
});

t.test('bad watchdog options are clear errors', async (t) => {
  t.throws(() => configureWatchdog({ stuckMs: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => configureWatchdog({ onStall: 'explode' as never }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => configureWatchdog({ stuckms: 5 } as never), { message: /Misspelled configureWatchdog option "stuckms" should be "stuckMs"/ });
  t.throws(() => new Ring({ watchdog: { stuckMs: -1 } }), { code: 'ERR_OUT_OF_RANGE' });
  const ring = new Ring();
  t.teardown(() => ring.close());
  t.throws(() => ring.read(0, Buffer.alloc(1), { timeoutMs: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => ring.poll(0, 'readable', { progress: 5 } as never), { code: 'ERR_INVALID_ARG_VALUE' });
});

t.test("a socket whose receive request was cancelled behind its back raises 'starved'", async (t) => {
  const { createSocket } = await import('../src/index');
  const dgram = await import('node:dgram');
  // hybrid: false — the ring thread must own the socket for its request to be sabotaged.
  const socket = createSocket({ type: 'udp4', backend: 'recvmsg-multishot', hybrid: false, watchdog: { starvedMs: 300 } });
  t.teardown(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  let received = 0;
  socket.on('message', () => received++);
  socket._testDisarm();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const sender = dgram.createSocket('udp4');
  t.teardown(() => sender.close());
  const started = performance.now();
  const stalled = next<Stall>(socket, 'stall');
  sender.send('nobody is listening', socket.address().port, '127.0.0.1');
  const stall = await stalled;
  t.equal(stall.kind, 'starved');
  t.equal(stall.owner, 'socket');
  t.equal(stall.id, socket.id);
  t.equal(stall.fd, socket.fd);
  t.equal(stall.opcode, 'RECVMSG');
  t.ok(performance.now() - started >= 300, 'after starvedMs');
  t.equal(received, 0, 'the datagram really was never received');
});

t.test('a socket with watchdog: false is not observed', async (t) => {
  const { createSocket } = await import('../src/index');
  const { watchedCount } = await import('../src/watchdog');
  const bind = (s: ReturnType<typeof createSocket>) => new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const before = watchedCount();
  const idle = createSocket('udp4');
  await bind(idle);
  t.equal(watchedCount(), before, 'a socket its JS thread reads has no thread to watch');
  // hybrid: false puts a socket on a receiver from bind on.
  const unwatched = createSocket({ type: 'udp4', hybrid: false, watchdog: false });
  await bind(unwatched);
  t.equal(watchedCount(), before, 'a receiver whose only socket opted out is not observed');
  const watched = createSocket({ type: 'udp4', hybrid: false });
  await bind(watched);
  t.equal(watchedCount(), before + 1, "the watched socket's receiver is observed");
  await Promise.all([idle, unwatched, watched].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  t.equal(watchedCount(), before, 'nothing is observed once they are closed');
});
