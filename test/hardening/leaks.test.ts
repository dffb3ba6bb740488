// Open/close churn leaves nothing behind: 10,000 Ring cycles, 10,000 UDP socket
// create/bind/close cycles and 1,000 cycles of sockets on receivers (hybrid: false: each batch
// starts receivers, which stop and are joined when their last socket closes) keep the process's
// descriptors and threads exactly flat and its RSS within a stated bound. The loops run in a child started with --expose-gc, so garbage the
// collector would free is freed before each measurement and the figures are this package's own.
import path from 'node:path';
import t from 'tap';

import { FD_KINDS, ROOT, SANITIZED, run } from '../helpers';

const LIB = path.join(ROOT, 'lib');
// Under test:asan RSS says nothing (ASan's quarantine keeps freed memory; LeakSanitizer checks
// memory there instead), so fewer cycles do: descriptors and threads must still come back exactly.
const CYCLES = SANITIZED ? 2_000 : 10_000;
const BATCH = 100; // objects open at once
/** Allowed RSS growth over a loop, measured after a warm-up loop of the same shape and a gc. */
const RSS_BOUND_MIB = 20;

interface Sample {
  fds: number;
  threads: number;
  rssMiB: number;
}
interface Report {
  baseline: Sample;
  rings: Sample & { cycles: number; ms: number };
  sockets: Sample & { cycles: number; ms: number; stoppedEarly?: string; fdKinds: Record<string, number> };
  receivers: Sample & { cycles: number; ms: number; fdKinds: Record<string, number> };
}

// The child: warm up (the watchdog thread, libuv's pool, malloc arenas, JIT), take a baseline,
// then run each loop in batches of BATCH with a gc after each batch. A socket loop that leaks
// descriptors stops early instead of running the process out of them.
const CHILD = `
const fs = require('node:fs');
const { Ring, createSocket } = require(${JSON.stringify(LIB)});
const BATCH = ${BATCH};
const fdList = () => fs.readdirSync('/proc/self/fd');
const sample = () => ({
  fds: fdList().length,
  threads: fs.readdirSync('/proc/self/task').length,
  rssMiB: process.memoryUsage().rss / 1048576,
});
const { fdKinds } = require(${JSON.stringify(FD_KINDS)});
const tick = () => new Promise((resolve) => setImmediate(resolve));
async function settle() {
  // Native finalizers run after the gc, on a later turn of the loop; thread exit is
  // asynchronous in the kernel: give both a moment.
  for (let i = 0; i < 3; i++) { global.gc(); await tick(); await new Promise((r) => setTimeout(r, 20)); }
}
async function ringCycles(cycles) {
  for (let done = 0; done < cycles; done += BATCH) {
    const rings = Array.from({ length: BATCH }, () => new Ring({ entries: 8 }));
    await Promise.all(rings.map((ring) => ring.nop()));
    await Promise.all(rings.map((ring) => ring.close()));
    global.gc();
    await tick();
  }
}
async function socketCycles(cycles, baselineFds, options = 'udp4') {
  for (let done = 0; done < cycles; done += BATCH) {
    const sockets = Array.from({ length: BATCH }, () => createSocket(options));
    await Promise.all(sockets.map((s) => new Promise((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, '127.0.0.1', resolve);
    })));
    await Promise.all(sockets.map((s) => new Promise((resolve) => s.close(resolve))));
    global.gc();
    await tick();
    if (fdList().length > baselineFds + 2000) return 'stopped after ' + (done + BATCH) + ' cycles: descriptors keep growing';
  }
  return undefined;
}
(async () => {
  await ringCycles(BATCH * 2);
  await socketCycles(BATCH * 2, Infinity);
  await settle();
  const baseline = sample();
  let started = Date.now();
  await ringCycles(${CYCLES});
  await settle();
  const rings = { ...sample(), cycles: ${CYCLES}, ms: Date.now() - started };
  started = Date.now();
  const stoppedEarly = await socketCycles(${CYCLES}, baseline.fds);
  await settle();
  const sockets = { ...sample(), cycles: ${CYCLES}, ms: Date.now() - started, stoppedEarly, fdKinds: fdKinds() };
  started = Date.now();
  await socketCycles(${CYCLES / 10}, baseline.fds, { type: 'udp4', hybrid: false });
  await settle();
  const receivers = { ...sample(), cycles: ${CYCLES / 10}, ms: Date.now() - started, fdKinds: fdKinds() };
  console.log(JSON.stringify({ baseline, rings, sockets, receivers }));
})().catch((error) => { console.error(error); process.exit(1); });
`;

t.test(`${CYCLES} Ring, ${CYCLES} socket and ${CYCLES / 10} receiver open/close cycles leave descriptors, threads and memory flat`, async (t) => {
  // ~40 s on an idle 2-core machine; the socket loop slows down as leaked sockets grow the heap.
  const result = await run(process.execPath, ['--expose-gc', '-e', CHILD], { timeoutMs: 200_000 });
  t.equal(result.timedOut, false, 'the loops finish');
  t.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as Report;
  const { baseline, rings, sockets, receivers } = report;
  t.comment(`baseline: ${baseline.fds} fds, ${baseline.threads} threads, ${baseline.rssMiB.toFixed(1)} MiB`);
  t.comment(`rings: ${rings.cycles} cycles in ${rings.ms} ms -> ${rings.fds} fds, ${rings.threads} threads, ${rings.rssMiB.toFixed(1)} MiB`);
  t.comment(`sockets: ${sockets.cycles} cycles in ${sockets.ms} ms -> ${sockets.fds} fds, ${sockets.threads} threads, ${sockets.rssMiB.toFixed(1)} MiB`);

  t.equal(rings.fds, baseline.fds, 'rings: no descriptor left behind (ring fds, eventfds)');
  t.equal(rings.threads, baseline.threads, 'rings: every ring thread joined');
  // Under npm run test:asan, ASan's allocator keeps freed memory in quarantine (up to 256 MiB)
  // and RSS grows whatever the addon frees; LeakSanitizer checks the memory there instead.
  const rss = SANITIZED ? { skip: 'ASan quarantines freed memory: RSS is no measure under test:asan (LeakSanitizer is)' } : {};
  t.ok(rings.rssMiB - baseline.rssMiB < RSS_BOUND_MIB, `rings: RSS grew ${(rings.rssMiB - baseline.rssMiB).toFixed(1)} MiB (bound ${RSS_BOUND_MIB} MiB)`, rss);

  t.equal(sockets.stoppedEarly, undefined, 'sockets: the loop ran to the end');
  t.equal(sockets.fds, baseline.fds, `sockets: no descriptor left behind (open now: ${JSON.stringify(sockets.fdKinds)})`);
  t.equal(sockets.threads, baseline.threads, 'sockets: every receiver thread joined');
  t.ok(sockets.rssMiB - baseline.rssMiB < RSS_BOUND_MIB, `sockets: RSS grew ${(sockets.rssMiB - baseline.rssMiB).toFixed(1)} MiB since the baseline (bound ${RSS_BOUND_MIB} MiB)`, rss);

  t.comment(`receivers: ${receivers.cycles} cycles in ${receivers.ms} ms -> ${receivers.fds} fds, ${receivers.threads} threads, ${receivers.rssMiB.toFixed(1)} MiB`);
  t.equal(receivers.fds, baseline.fds, `sockets on receivers: no descriptor left behind (open now: ${JSON.stringify(receivers.fdKinds)})`);
  t.equal(receivers.threads, baseline.threads, 'sockets on receivers: every receiver thread joined');
  t.ok(receivers.rssMiB - baseline.rssMiB < RSS_BOUND_MIB, `sockets on receivers: RSS grew ${(receivers.rssMiB - baseline.rssMiB).toFixed(1)} MiB since the baseline (bound ${RSS_BOUND_MIB} MiB)`, rss);
});
