// Reproducers for the known io_uring hangs, built on this package's own Ring, ring thread and
// watchdog: the production detection path is the detector.
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

import { assessKernel, type BugVerdict } from './bugs';
import { readKernelIdentity } from './kernel';
import { Ring } from './ring';
import { createSocket, type Socket } from './udp';
import * as v from './validate';
import type { Stall } from './watchdog';

export type Scenario = 'overflow-flush-lock' | 'sqpoll-iowq-max-workers';
export const SCENARIOS: readonly Scenario[] = ['overflow-flush-lock', 'sqpoll-iowq-max-workers'];
export type Variant = 'poll' | 'nop';
export const VARIANTS: readonly Variant[] = ['poll', 'nop'];

export interface ReproOptions {
  scenario?: Scenario;
  /** overflow-flush-lock only: what floods the tiny CQ. Default 'poll'. */
  variant?: Variant;
  /** How long to keep the trigger going when nothing hangs. Default 10000. */
  durationMs?: number;
  /** The watchdog's stuck threshold for the reproducer's ring. Default 1000. */
  stuckMs?: number;
  /** overflow-flush-lock/poll: multishot polls armed on the flooded socket. Default 32. */
  polls?: number;
}

export interface ReproEvidence {
  durationMs: number;
  /** Times the ring thread saw IORING_SQ_CQ_OVERFLOW: the overflow list was non-empty. */
  overflowFlagSeen: number;
  /** The kernel's own CQ overflow counter (stays 0 on 6.1, which defers instead of dropping). */
  cqOverflows: number;
  enters: number;
  rearms: number;
  completed: number;
  /** Datagrams the flood sent (poll variant). */
  datagramsSent: number;
  /** IORING_REGISTER_IOWQ_MAX_WORKERS calls (sqpoll scenario). */
  registers: number;
}

export interface ReproResult {
  scenario: Scenario;
  variant: Variant | null;
  outcome: 'hang' | 'no-hang' | 'cannot-run';
  kernel: { release: string; version: string | null; verdict: BugVerdict; reason: string };
  /** Until the watchdog said stuck, from the start of the trigger. */
  timeToHangMs?: number;
  stall?: Stall;
  evidence: ReproEvidence;
  /** Why it could not run. */
  reason?: string;
}

function kernelVerdict(scenario: Scenario): ReproResult['kernel'] {
  const identity = readKernelIdentity();
  const bug = assessKernel(identity).find((b) => b.id === scenario)!;
  return { release: identity.release, version: identity.upstreamString, verdict: bug.verdict, reason: bug.reason };
}

/**
 * Runs a scenario until the watchdog reports the ring thread stuck, or for durationMs.
 * On a hang it resolves at once, leaving the stuck ring behind: nothing may wait on it.
 */
export async function reproduce(options: ReproOptions = {}): Promise<ReproResult> {
  const o = v.optionsObject(options, 'reproduce');
  v.checkOptionNames(o, ['scenario', 'variant', 'durationMs', 'stuckMs', 'polls'], 'reproduce');
  const scenario = o.scenario === undefined ? 'overflow-flush-lock' : v.oneOf(o.scenario, 'scenario', SCENARIOS);
  const variant = o.variant === undefined ? 'poll' : v.oneOf(o.variant, 'variant', VARIANTS);
  const durationMs = o.durationMs === undefined ? 10_000 : v.integer(o.durationMs, 'durationMs', 100, 24 * 3600 * 1000);
  const stuckMs = o.stuckMs === undefined ? 1000 : v.integer(o.stuckMs, 'stuckMs', 50, 600_000);
  const polls = o.polls === undefined ? 32 : v.integer(o.polls, 'polls', 1, 1000);
  const kernel = kernelVerdict(scenario);
  const evidence: ReproEvidence = {
    durationMs: 0,
    overflowFlagSeen: 0,
    cqOverflows: 0,
    enters: 0,
    rearms: 0,
    completed: 0,
    datagramsSent: 0,
    registers: 0,
  };
  const base = { scenario, variant: scenario === 'overflow-flush-lock' ? variant : null, kernel, evidence };

  let ring: Ring;
  try {
    ring =
      scenario === 'overflow-flush-lock'
        ? // A plain ring, as in the reports: no DEFER_TASKRUN/COOP_TASKRUN, busy-polling the CQ.
          new Ring({ entries: 4, cqEntries: 8, wait: 'busy', singleIssuer: false, deferTaskrun: false, coopTaskrun: false, watchdog: { stuckMs } })
        : new Ring({ entries: 8, sqpoll: true, sqThreadIdle: 1000, watchdog: { stuckMs } });
  } catch (error) {
    return { ...base, outcome: 'cannot-run', reason: (error as Error).message };
  }

  const started = performance.now();
  let stopped = false;
  let hang: Stall | undefined;
  const hung = new Promise<void>((resolve) =>
    ring.on('stall', (stall: Stall) => {
      if (stall.kind !== 'stuck') return;
      hang = stall;
      stopped = true;
      resolve();
    }),
  );
  const snapshot = () => {
    const stats = ring.stats;
    evidence.durationMs = Math.round(performance.now() - started);
    evidence.overflowFlagSeen = stats.overflowFlagSeen;
    evidence.cqOverflows = stats.cqOverflows;
    evidence.enters = stats.enters;
    evidence.rearms = stats.rearms;
    evidence.completed = stats.completed;
  };

  let cleanup: () => Promise<void> = async () => {};
  let trigger: Promise<void>;
  try {
    if (scenario === 'sqpoll-iowq-max-workers') trigger = sqpollTrigger(ring, () => stopped, evidence);
    else if (variant === 'nop') trigger = nopTrigger(ring, () => stopped);
    else {
      const flood = await pollTrigger(ring, polls, evidence);
      cleanup = flood.stop;
      trigger = flood.running(() => stopped);
    }
  } catch (error) {
    await ring.close();
    return { ...base, outcome: 'cannot-run', reason: (error as Error).message };
  }

  const timer = setTimeout(() => {
    stopped = true;
  }, durationMs);
  await Promise.race([hung, trigger.then(() => undefined)]);
  clearTimeout(timer);
  snapshot();
  if (hang) {
    // The ring thread may never come back: return without waiting on it (or on the flood,
    // whose socket shares nothing with the ring but whose close is cheap to skip).
    return { ...base, outcome: 'hang', timeToHangMs: Math.round(performance.now() - started - hang.ageMs), stall: hang };
  }
  await cleanup();
  await ring.close();
  return { ...base, outcome: 'no-hang' };
}

/** Keeps the CQ overflowing with NOPs: many more in flight than the 8-entry CQ holds. */
async function nopTrigger(ring: Ring, stop: () => boolean): Promise<void> {
  while (!stop()) {
    await Promise.all(Array.from({ length: 256 }, () => ring.nop().catch(() => {})));
  }
}

/** SQPOLL kept busy while IORING_REGISTER_IOWQ_MAX_WORKERS is called in a loop (CVE-2024-41080). */
async function sqpollTrigger(ring: Ring, stop: () => boolean, evidence: ReproEvidence): Promise<void> {
  let round = 0;
  while (!stop()) {
    const nops = Array.from({ length: 64 }, () => ring.nop().catch(() => {}));
    await ring.setIowqMaxWorkers(1 + (round % 4), 1 + ((round + 1) % 4)).catch(() => {});
    evidence.registers++;
    round++;
    await Promise.all(nops);
  }
}

/** The compiled package entry for the flood worker (lib/, also when this module runs from src/ under ts-node). */
function compiledEntry(): string {
  const beside = path.join(__dirname, 'index.js');
  return fs.existsSync(beside) ? beside : path.join(__dirname, '..', 'lib', 'index.js');
}

/**
 * Many multishot polls armed on a UDP socket flooded from a worker thread. The socket is
 * drained by its own (io_uring-free) receiver thread so readiness keeps firing; each datagram
 * wakes every poll, the 8-entry CQ overflows, 6.1 ends the polls whose CQE it could not post,
 * and the ring thread re-arms them: the overflow list keeps filling while it busy-polls.
 */
async function pollTrigger(
  ring: Ring,
  polls: number,
  evidence: ReproEvidence,
): Promise<{ running: (stop: () => boolean) => Promise<void>; stop: () => Promise<void> }> {
  const target: Socket = createSocket({ type: 'udp4', backend: 'recvmmsg' });
  target.onBatch(() => {});
  await new Promise<void>((resolve, reject) => {
    target.once('error', reject);
    target.bind(0, '127.0.0.1', () => resolve());
  });
  const port = target.address().port;
  const handles = Array.from({ length: polls }, () => ring.poll(target.fd, 'readable'));
  for (const handle of handles) handle.on('error', () => {});
  const flood = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    const { createSocket } = require(workerData.lib);
    const socket = createSocket({ type: 'udp4', backend: 'recvmmsg' });
    const datagrams = Array.from({ length: 64 }, () => Buffer.alloc(16));
    const to = { port: workerData.port, address: '127.0.0.1' };
    let sent = 0;
    let running = true;
    parentPort.on('message', () => { running = false; });
    const progress = setInterval(() => parentPort.postMessage({ sent }), 100);
    socket.bind(0, '127.0.0.1', () => {
      const pump = () => {
        if (!running) { clearInterval(progress); parentPort.postMessage({ sent, done: true }); socket.close(); return; }
        for (let i = 0; i < 16; i++) sent += socket.sendBatch(datagrams, to);
        setImmediate(pump);
      };
      pump();
    });`,
    { eval: true, workerData: { lib: compiledEntry(), port } },
  );
  flood.on('message', (message: { sent: number }) => {
    evidence.datagramsSent = message.sent;
  });
  flood.unref();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const done = new Promise<void>((resolve) => flood.on('message', (m: { done?: boolean }) => m.done && resolve()));
    flood.postMessage('stop');
    await Promise.race([done, new Promise((r) => setTimeout(r, 2000))]);
    await flood.terminate();
    await Promise.all(handles.map((h) => h.cancel().catch(() => {})));
    await new Promise<void>((resolve) => target.close(() => resolve()));
  };
  const running = async (shouldStop: () => boolean) => {
    while (!shouldStop()) await new Promise((resolve) => setTimeout(resolve, 50));
  };
  return { running, stop };
}
