import fs from 'node:fs';
import t from 'tap';

import { Ring } from '../src/index';
import { pipe } from './helpers';

t.test('a ring opens with its own thread, runs requests and reports stats', async (t) => {
  const ring = new Ring({ entries: 8 });
  t.teardown(() => ring.close());
  t.type(ring.fd, 'number');
  t.ok(ring.fd > 2, 'ring fd is a real descriptor');
  t.not(ring.threadId, process.pid, 'ring thread is not the JS thread');
  t.ok(fs.existsSync(`/proc/self/task/${ring.threadId}`), 'ring thread exists in this process');
  t.equal(ring.features.singleMmap, true, 'IORING_FEAT_SINGLE_MMAP decoded (5.4+)');
  t.type(ring.features.extArg, 'boolean');

  await ring.nop();
  await Promise.all(Array.from({ length: 500 }, () => ring.nop()));
  const stats = ring.stats;
  t.equal(stats.submitted, 501);
  t.equal(stats.completed, 501);
  t.equal(stats.inFlight, 0);
  t.ok(stats.enters > 0, 'the ring thread entered the kernel');
  t.equal(stats.cqOverflows, 0);
});

t.test('timeout is timed by the kernel', async (t) => {
  const ring = new Ring();
  t.teardown(() => ring.close());
  const started = performance.now();
  await ring.timeout(40);
  const elapsed = performance.now() - started;
  t.ok(elapsed >= 39, `waited ${elapsed.toFixed(1)} ms`);
});

t.test('read fills the buffer from a pipe', async (t) => {
  const ring = new Ring();
  t.teardown(() => ring.close());
  const [readFd, writeFd] = pipe(t);
  const buffer = Buffer.alloc(16);
  const reading = ring.read(readFd, buffer);
  fs.writeSync(writeFd, 'hello ring');
  t.equal(await reading, 10);
  t.equal(buffer.subarray(0, 10).toString(), 'hello ring');
});

t.test('read errors carry the errno code and syscall', async (t) => {
  const ring = new Ring();
  t.teardown(() => ring.close());
  const fd = fs.openSync('/proc/self/stat', 'r');
  fs.closeSync(fd);
  await t.rejects(ring.read(fd, Buffer.alloc(8)), { code: 'EBADF', syscall: 'read' });
});

t.test('close is idempotent, cancels what is in flight and joins the thread', async (t) => {
  const ring = new Ring();
  const [readFd] = pipe(t);
  const pending = ring.read(readFd, Buffer.alloc(8));
  const tid = ring.threadId;
  const first = ring.close();
  const second = ring.close();
  t.equal(first, second, 'same promise every time');
  await t.rejects(pending, { code: 'ECANCELED' });
  await first;
  t.equal(ring.closed, true);
  t.notOk(fs.existsSync(`/proc/self/task/${tid}`), 'ring thread is gone');
  t.throws(() => ring.nop(), { code: 'ERR_RING_CLOSED' });
  t.throws(() => ring.poll(readFd), { code: 'ERR_RING_CLOSED' });
});

t.test('close with many requests in flight returns promptly', async (t) => {
  const ring = new Ring({ entries: 64 });
  const timers = Array.from({ length: 200 }, () => ring.timeout(60_000).catch((e: Error & { code?: string }) => e.code));
  const started = performance.now();
  await ring.close();
  t.ok(performance.now() - started < 2000, 'closed within 2 s');
  const codes = await Promise.all(timers);
  t.same(new Set(codes), new Set(['ECANCELED']));
});

t.test('busy wait delivers the same completions', async (t) => {
  const ring = new Ring({ wait: 'busy', entries: 16 });
  t.teardown(() => ring.close());
  t.equal(ring.setup.wait, 'busy');
  await Promise.all(Array.from({ length: 100 }, () => ring.nop()));
  await ring.timeout(5);
  t.equal(ring.stats.completed, 101);
});

t.test('batched waiting still completes single requests', async (t) => {
  const ring = new Ring({ batch: { count: 64, delayUs: 200 } });
  t.teardown(() => ring.close());
  await ring.nop();
  await Promise.all(Array.from({ length: 300 }, () => ring.nop()));
  t.equal(ring.stats.completed, 301);
});

t.test('optional setup flags fall back, required ones are honoured', async (t) => {
  const plain = new Ring({ singleIssuer: false, deferTaskrun: false, coopTaskrun: false });
  t.teardown(() => plain.close());
  t.same(
    { si: plain.setup.singleIssuer, dt: plain.setup.deferTaskrun, ct: plain.setup.coopTaskrun },
    { si: false, dt: false, ct: false },
  );
  await plain.nop();
  const sq = new Ring({ sqpoll: true, sqThreadIdle: 10 });
  t.teardown(() => sq.close());
  t.equal(sq.setup.sqpoll, true);
  await Promise.all(Array.from({ length: 50 }, () => sq.nop()));
  await sq.timeout(2);
  t.equal(sq.stats.completed, 51);
});
