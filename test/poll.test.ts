// Multishot poll on any fd: pipes, eventfds, UDP sockets.
import dgram from 'node:dgram';
import fs from 'node:fs';
import t, { type Test } from 'tap';

import { Ring, type PollEvents, type PollHandle } from '../src/index';
import { binding } from '../src/native';
import { closeQuietly, pipe } from './helpers';

const { testing } = binding;

function nextReady(handle: PollHandle): Promise<PollEvents> {
  return new Promise((resolve, reject) => {
    handle.once('ready', resolve);
    handle.once('error', reject);
  });
}

function eventfd(t: Test): number {
  const fd = testing.eventfd();
  t.teardown(() => closeQuietly(fd));
  return fd;
}

function bump(fd: number): void {
  const value = Buffer.alloc(8);
  value.writeBigUInt64LE(1n);
  fs.writeSync(fd, value);
}

function drainEventfd(fd: number): void {
  try {
    fs.readSync(fd, Buffer.alloc(8));
  } catch {
    // EAGAIN: already drained
  }
}

// The three kinds of fd the issue names, each made ready and drained the way its kind is.
interface Source {
  fd: number;
  /** Makes the fd readable once. */
  trigger(): void;
  /** Consumes what one trigger made readable. */
  drain(): void;
}

const SOURCES: Record<string, (t: Test) => Source> = {
  pipe(t) {
    const [readFd, writeFd] = pipe(t);
    const scratch = Buffer.alloc(64);
    return { fd: readFd, trigger: () => fs.writeSync(writeFd, 'x'), drain: () => fs.readSync(readFd, scratch) };
  },
  eventfd(t) {
    const fd = eventfd(t);
    return { fd, trigger: () => bump(fd), drain: () => drainEventfd(fd) };
  },
  udp(t) {
    const [fd, port] = testing.udpSocket();
    t.teardown(() => closeQuietly(fd));
    const sender = dgram.createSocket('udp4');
    t.teardown(() => sender.close());
    const payload = Buffer.from('ping');
    const scratch = Buffer.alloc(64);
    // read(2) on a datagram socket takes one datagram.
    return { fd, trigger: () => sender.send(payload, port, '127.0.0.1'), drain: () => fs.readSync(fd, scratch) };
  },
};

for (const wait of ['block', 'busy'] as const) {
  for (const [kind, make] of Object.entries(SOURCES)) {
    t.test(`${wait} ring, ${kind}: one request survives thousands of events, re-arms counted, cancel stops it`, async (t) => {
      const ring = new Ring({ wait });
      t.teardown(() => ring.close());
      const source = make(t);
      const handle = ring.poll(source.fd, 'readable');
      const rounds = 3000;
      let seen = 0;
      let done = false;
      await new Promise<void>((resolve, reject) => {
        handle.on('error', reject);
        handle.on('ready', (events) => {
          if (done) return;
          if (!events.readable) return reject(new Error(`not readable: ${events.mask}`));
          source.drain();
          if (++seen === rounds) {
            done = true;
            return resolve();
          }
          source.trigger();
        });
        source.trigger();
      });
      t.equal(seen, rounds, `${rounds} readiness events`);
      t.equal(handle.stats.events, rounds, 'stats.events counts them');
      t.equal(handle.ended, false, 'the one request is still armed');
      t.equal(ring.stats.inFlight, 1, 'one request on the ring the whole time');
      // Submitted: this one poll, plus a request per re-arm; nothing else ran on this ring.
      await ring.nop();
      const { rearms, submitted } = ring.stats;
      t.equal(handle.stats.rearms, rearms, `re-arms counted on the handle as on the ring (${rearms})`);
      t.equal(submitted, 1 + rearms + 1, 'one poll request (plus its re-arms) served every event');

      let after = 0;
      handle.on('ready', () => after++);
      await handle.cancel();
      t.equal(handle.ended, true, 'cancel ended it');
      source.trigger();
      await ring.timeout(30);
      t.equal(after, 0, 'no event after cancel, though the fd became readable');
      t.equal(ring.stats.inFlight, 0, 'the request is gone from the ring');
    });
  }
}

t.test('an eventfd reports readable; the mask is decoded', async (t) => {
  const ring = new Ring();
  t.teardown(() => ring.close());
  const fd = eventfd(t);
  const handle = ring.poll(fd, ['readable', 'writable']);
  const first = await nextReady(handle);
  t.equal(first.writable, true, 'an eventfd is writable at once');
  bump(fd);
  let events = first;
  while (!events.readable) events = await nextReady(handle);
  t.equal(events.readable, true);
  t.equal(events.mask & 1, 1, 'raw POLLIN bit');
  await handle.cancel();
});

t.test('a UDP socket becomes readable when a datagram arrives', async (t) => {
  const ring = new Ring();
  t.teardown(() => ring.close());
  const [fd, port] = testing.udpSocket();
  t.teardown(() => closeQuietly(fd));
  const handle = ring.poll(fd, 'readable');
  const sender = dgram.createSocket('udp4');
  t.teardown(() => sender.close());
  const ready = nextReady(handle);
  sender.send('ping', port, '127.0.0.1');
  const events = await ready;
  t.equal(events.readable, true);
  await handle.cancel();
});

t.test('many ready fds in one wake-up cross into JS once, and overflowing the CQ re-arms requests', async (t) => {
  // A CQ of 2 entries and 64 polls made ready at once: the kernel ends multishot requests whose
  // CQE it cannot post, and the ring thread re-arms them. The batch wait (up to 64 CQEs or
  // 20 ms) keeps the ring thread from reaping between the wake-ups, so the CQ does overflow.
  // cqOverflow 'allow': the kernel's multishot polls, which this test overflows on purpose.
  const ring = new Ring({ entries: 2, cqEntries: 2, batch: { count: 64, delayUs: 20_000 }, cqOverflow: 'allow' });
  t.teardown(() => ring.close());
  const fds = Array.from({ length: 64 }, () => eventfd(t));
  const handles = fds.map((fd) => ring.poll(fd, 'readable'));
  const seen = new Set<number>();
  let emitted = 0;
  const allSeen = new Promise<void>((resolve) => {
    handles.forEach((handle, i) =>
      handle.on('ready', () => {
        emitted++;
        seen.add(i);
        drainEventfd(fds[i]!);
        if (seen.size === fds.length) resolve();
      }),
    );
  });
  // Whether the kernel ends a multishot poll depends on the CQ being full at the moment it posts
  // (with DEFER_TASKRUN the ring thread may reap between them): wake them all again, a few times
  // at most, until one was ended and re-armed.
  let rounds = 0;
  while ((seen.size < fds.length || ring.stats.rearms === 0) && rounds++ < 50) {
    for (const fd of fds) bump(fd);
    await Promise.race([seen.size < fds.length ? allSeen : Promise.resolve(), new Promise((r) => setTimeout(r, 20))]);
    if (seen.size === fds.length) await ring.nop(); // the stats are published after a batch
  }
  t.equal(seen.size, fds.length, 'every fd reported');
  t.ok(handles.every((h) => !h.ended), 'no request ended');
  const { batches } = ring.stats;
  t.ok(emitted > batches, `${emitted} events crossed into JS in ${batches} batches`);
  await Promise.all(handles.map((h) => h.cancel()));
  await ring.nop(); // the stats below are published after this request's batch
  const rearms = ring.stats.rearms;
  t.ok(rearms > 0, `requests re-armed after the CQ overflowed (${rearms})`);
  t.equal(handles.reduce((sum, h) => sum + h.stats.rearms, 0), rearms, 'rearms counted per handle');
});

t.test('cancel stops a handle; it never emits again; cancel is idempotent', async (t) => {
  const ring = new Ring();
  t.teardown(() => ring.close());
  const fd = eventfd(t);
  const handle = ring.poll(fd, 'readable');
  bump(fd);
  await nextReady(handle);
  let after = 0;
  handle.on('ready', () => after++);
  const first = handle.cancel();
  t.equal(handle.cancel(), first, 'same promise');
  bump(fd);
  await first;
  bump(fd);
  await ring.timeout(30);
  t.equal(after, 0, 'no event after cancel');
  t.equal(handle.ended, true);
  t.equal(ring.stats.inFlight, 0, 'the request is gone from the ring');
  // The cancel request's own answer: kernels differ (0, -ENOENT, -EALREADY), none is an error.
  t.ok([0, -2, -114].includes(handle._cancelResult!), `the kernel answered the cancel with ${handle._cancelResult}`);
});

t.test('the async iterator yields events and ends on cancel', async (t) => {
  const ring = new Ring();
  t.teardown(() => ring.close());
  const fd = eventfd(t);
  const handle = ring.poll(fd, 'readable');
  bump(fd);
  let count = 0;
  for await (const events of handle) {
    t.equal(events.readable, true);
    drainEventfd(fd);
    if (++count === 3) {
      void handle.cancel();
    } else {
      bump(fd);
    }
  }
  t.equal(count, 3);
});

t.test('closing the fd while armed ends the handle with an error, not a hang', async (t) => {
  const ring = new Ring({ maxWaitMs: 100 });
  t.teardown(() => ring.close());
  const fd = testing.eventfd();
  const handle = ring.poll(fd, 'readable');
  const failed = new Promise<Error>((resolve) => handle.once('error', resolve));
  const ended = new Promise<void>((resolve) => handle.once('end', resolve));
  fs.closeSync(fd);
  const error = (await failed) as Error & { code?: string };
  t.equal(error.code, 'EBADF');
  await ended;
  t.equal(handle.ended, true);
});

t.test('ring.close() with a thousand armed polls returns promptly', async (t) => {
  const ring = new Ring({ entries: 256 });
  const fd = eventfd(t);
  const handles = Array.from({ length: 1000 }, () => ring.poll(fd, 'readable'));
  await ring.nop(); // everything submitted
  t.equal(ring.stats.inFlight, 1000);
  const started = performance.now();
  await ring.close();
  const ms = performance.now() - started;
  t.ok(ms < 2000, `closed in ${ms.toFixed(1)} ms`);
  t.ok(handles.every((h) => h.ended), 'every handle ended');
});

t.test('bad input is a clear error', async (t) => {
  const ring = new Ring();
  const fd = eventfd(t);
  t.throws(() => ring.poll(1.5), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => ring.poll(-1), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => ring.poll('3' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => ring.poll(fd, 'sparkly' as never), { code: 'ERR_INVALID_ARG_TYPE', message: /unknown poll event "sparkly"/ });
  t.throws(() => ring.poll(fd, [] as never), { code: 'ERR_INVALID_ARG_TYPE' });
  const closed = testing.eventfd();
  fs.closeSync(closed);
  t.throws(() => ring.poll(closed), { code: 'EBADF', syscall: 'poll' });
  await ring.close();
  t.throws(() => ring.poll(fd), { code: 'ERR_RING_CLOSED' });
});
