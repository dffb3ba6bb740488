// Prevention of the overflow-flush-lock hang (docs/kernel-bugs.md): a Ring with cqOverflow
// 'prevent' cannot overflow its CQ — at most a CQ's worth of completions pending, polls armed
// single-shot and re-armed once JS has seen their events — and behaves to ring.poll() users as
// its multishot polls do. The default follows this kernel's verdict; URING_UDP_CQ_OVERFLOW sets
// it for the process. (The VM proof, test-vm/, runs the same on the vulnerable kernels.)
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

import { Ring, type PollHandle } from '../src/index';
import { binding } from '../src/native';
import { cqOverflowDefault, overflowFlushLock } from '../src/prevention';
import { ROOT, closeQuietly, run } from './helpers';

const LIB = path.join(ROOT, 'lib');

const { testing } = binding;

function bump(fd: number): void {
  const value = Buffer.alloc(8);
  value.writeBigUInt64LE(1n);
  fs.writeSync(fd, value);
}

t.test("the default follows this kernel's overflow-flush-lock verdict", async (t) => {
  const bug = overflowFlushLock();
  const expected = bug.verdict === 'fixed' || bug.verdict === 'not-affected' ? 'allow' : 'prevent';
  const saved = process.env.URING_UDP_CQ_OVERFLOW;
  delete process.env.URING_UDP_CQ_OVERFLOW;
  t.teardown(() => {
    if (saved !== undefined) process.env.URING_UDP_CQ_OVERFLOW = saved;
  });
  t.equal(cqOverflowDefault().policy, expected, `verdict ${bug.verdict} (${bug.reason}): ${expected}`);
  const ring = new Ring();
  t.teardown(() => ring.close());
  t.equal(ring.setup.cqOverflow, expected, 'a Ring gets it');
  t.equal(ring.options.cqOverflow, expected);
  const forced = new Ring({ cqOverflow: 'prevent' });
  t.teardown(() => forced.close());
  t.equal(forced.setup.cqOverflow, 'prevent', 'the option chooses');
  t.equal(forced.setup.polls, 'single-shot', 'prevent arms polls single-shot');
  t.throws(() => new Ring({ cqOverflow: 'never' as never }), { code: 'ERR_OUT_OF_RANGE' });
});

t.test('URING_UDP_CQ_OVERFLOW sets it for the whole process; a bad value is an error', async (t) => {
  const script = `const { Ring } = require(${JSON.stringify(LIB)});
    const ring = new Ring(); console.log(ring.setup.cqOverflow, ring.setup.polls); ring.close();`;
  for (const value of ['prevent', 'allow'] as const) {
    const result = await run(process.execPath, ['-e', script], { env: { ...process.env, URING_UDP_CQ_OVERFLOW: value } });
    t.equal(result.code, 0, result.stderr);
    t.match(result.stdout.trim(), new RegExp(`^${value} `), `URING_UDP_CQ_OVERFLOW=${value}`);
  }
  const bad = await run(process.execPath, ['-e', script], { env: { ...process.env, URING_UDP_CQ_OVERFLOW: 'sometimes' } });
  t.not(bad.code, 0);
  t.match(bad.stderr, /URING_UDP_CQ_OVERFLOW must be "prevent" or "allow"/);
});

t.test('uring-udp probe says which protections are on and why, following the same default', async (t) => {
  const cli = path.join(LIB, 'cli.js');
  for (const value of ['prevent', 'allow'] as const) {
    const result = await run(process.execPath, [cli, 'probe', '--json'], { env: { ...process.env, URING_UDP_CQ_OVERFLOW: value } });
    t.equal(result.code, 0, result.stderr);
    const { protections } = JSON.parse(result.stdout) as { protections: { name: string; state: string; why: string }[] };
    const ring = protections.find((p) => p.name === 'ring-cq-overflow')!;
    t.equal(ring.state, value === 'prevent' ? 'on' : 'off', `URING_UDP_CQ_OVERFLOW=${value}: ring-cq-overflow ${ring.state}`);
    t.match(ring.why, `URING_UDP_CQ_OVERFLOW=${value}`, 'and says where the setting comes from');
    t.same(protections.map((p) => p.name), ['ring-cq-overflow', 'socket-receivers', 'stuck-ring', 'sqpoll-iowq-max-workers']);
  }
  const text = await run(process.execPath, [cli, 'probe'], { env: { ...process.env, URING_UDP_CQ_OVERFLOW: '' } });
  const verdict = overflowFlushLock().verdict;
  t.match(text.stdout, /protection\s.*state/, 'the readable report has the table');
  t.match(text.stdout.replace(/[\s│]+/g, ' '), `overflow-flush-lock verdict ${verdict}`, 'and names the verdict the default follows');
});

t.test('64 polls woken at once into the smallest CQ: prevent never overflows, allow does', async (t) => {
  for (const cqOverflow of ['prevent', 'allow'] as const) {
    const ring = new Ring({ entries: 2, cqEntries: 2, batch: { count: 64, delayUs: 20_000 }, cqOverflow });
    // prevent raises a CQ too small to hold the wake-up poll and a cancel reserve to 8 entries.
    t.equal(ring.setup.cqEntries, cqOverflow === 'prevent' ? 8 : 2, `${cqOverflow}: CQ of ${ring.setup.cqEntries}`);
    t.teardown(() => ring.close());
    // One eventfd, 64 polls, one write: the kernel would post 64 CQEs at once.
    const fd = testing.eventfd();
    t.teardown(() => closeQuietly(fd));
    const handles = Array.from({ length: 64 }, () => ring.poll(fd, 'readable'));
    const seen = new Set<PollHandle>();
    const all = new Promise<void>((resolve) =>
      handles.forEach((h) =>
        h.on('ready', () => {
          seen.add(h);
          if (seen.size === handles.length) resolve();
        }),
      ),
    );
    bump(fd); // stays readable: every poll sees it, in turn
    await Promise.race([all, new Promise((r) => setTimeout(r, 10_000))]);
    t.equal(seen.size, 64, `${cqOverflow}: every poll reported the event`);
    await ring.nop();
    const { cqOverflows, overflowFlagSeen } = ring.stats;
    if (cqOverflow === 'prevent') {
      t.equal(overflowFlagSeen, 0, 'prevent: the overflow flag was never seen');
      t.equal(cqOverflows, 0, "prevent: the kernel's overflow counter stayed 0");
    } else {
      t.ok(overflowFlagSeen > 0 || cqOverflows > 0, `allow: the CQ overflowed (flag seen ${overflowFlagSeen}, counter ${cqOverflows}) and nothing hung`);
    }
    await Promise.all(handles.map((h) => h.cancel()));
    t.ok(handles.every((h) => h.ended), `${cqOverflow}: every poll cancelled`);
    await ring.close();
  }
});

t.test('prevent: more polls than the CQ holds are armed in turn; other requests are never held up behind them', async (t) => {
  const ring = new Ring({ entries: 8, cqEntries: 16, cqOverflow: 'prevent' });
  t.teardown(() => ring.close());
  const fds = Array.from({ length: 40 }, () => testing.eventfd());
  t.teardown(() => fds.forEach(closeQuietly));
  const handles = fds.map((fd) => ring.poll(fd, 'readable'));
  // Nothing is readable: most of the 40 wait for room, and a nop still completes at once.
  await ring.nop();
  t.equal(ring.stats.inFlight, 40, 'all 40 in flight (armed or waiting their turn)');
  const seen = new Set<number>();
  const all = new Promise<void>((resolve) =>
    handles.forEach((h, i) =>
      h.on('ready', () => {
        seen.add(i);
        if (seen.size === handles.length) resolve();
      }),
    ),
  );
  for (const fd of fds) bump(fd);
  await Promise.race([all, new Promise((r) => setTimeout(r, 10_000))]);
  t.equal(seen.size, 40, 'every poll got its event');
  t.equal(ring.stats.overflowFlagSeen, 0, 'no overflow');
  // A poll waiting for its turn is cancelled at once, as an armed one is.
  const last = handles[handles.length - 1]!;
  await last.cancel();
  t.equal(last.ended, true, 'cancelled');
  await ring.close();
  t.ok(handles.every((h) => h.ended), 'close ended every poll, armed or waiting');
});

t.test('prevent: a poll left ready reports again only after JS has seen it (level, as uv_poll), and goes quiet once drained', async (t) => {
  const ring = new Ring({ cqOverflow: 'prevent' });
  t.teardown(() => ring.close());
  const fd = testing.eventfd();
  t.teardown(() => closeQuietly(fd));
  const handle = ring.poll(fd, 'readable');
  let events = 0;
  handle.on('ready', () => events++);
  const batchesBefore = ring.stats.batches;
  bump(fd); // not drained: the poll, armed again after each batch, finds it ready again
  await new Promise((r) => setTimeout(r, 200));
  const batches = ring.stats.batches - batchesBefore;
  t.ok(events > 1, `${events} events for a readiness left undrained: reported again, as a level-triggered poll is`);
  t.ok(events <= batches, `at most one event per batch JS took (${events} events in ${batches} batches): armed again only after JS saw the last`);
  fs.readSync(fd, Buffer.alloc(8)); // drained
  await new Promise((r) => setTimeout(r, 50));
  const drained = events;
  await new Promise((r) => setTimeout(r, 200));
  t.equal(events, drained, 'drained, it reports nothing more');
  await handle.cancel();
});
