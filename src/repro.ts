// Reproducers for the known io_uring hangs, built on this package's own Ring, ring thread and
// watchdog: the production detection path is the detector.
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

import { assessKernel, type BugVerdict } from './bugs';
import { readKernelIdentity } from './kernel';
import { Ring } from './ring';
import { createSocket, kReproRing, type Socket } from './udp';
import * as v from './validate';
import type { Stall } from './watchdog';

export type Scenario = 'overflow-flush-lock' | 'sqpoll-iowq-max-workers';
export const SCENARIOS: readonly Scenario[] = ['overflow-flush-lock', 'sqpoll-iowq-max-workers'];
export type Variant = 'poll' | 'recv' | 'nop';
export const VARIANTS: readonly Variant[] = ['poll', 'recv', 'nop'];

export interface ReproOptions {
  scenario?: Scenario;
  /**
   * overflow-flush-lock only: what floods the tiny CQ. 'poll' (default): multishot polls on a
   * flooded UDP socket, on a Ring. 'recv': a flooded uring-udp socket whose own receiver ring
   * is the tiny one (multishot recvmsg with a buffer ring). 'nop': NOPs, no socket.
   */
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
  /**
   * The kernel's own CQ overflow counter (stays 0 on 6.1, which defers instead of dropping);
   * null for the 'recv' variant, whose socket does not expose it.
   */
  cqOverflows: number | null;
  enters: number;
  rearms: number;
  completed: number;
  /** Datagrams the flood sent (poll and recv variants). */
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

  // What the watchdog watches: a Ring, or (variant 'recv') a socket's own receiver ring.
  let subject: Subject;
  try {
    subject =
      scenario === 'overflow-flush-lock'
        ? variant === 'recv'
          ? await reproSocket(stuckMs)
          : // A plain ring, as in the reports: no DEFER_TASKRUN/COOP_TASKRUN, busy-polling the CQ.
            ringSubject(new Ring({ entries: 4, cqEntries: 8, wait: 'busy', singleIssuer: false, deferTaskrun: false, coopTaskrun: false, watchdog: { stuckMs } }))
        : ringSubject(new Ring({ entries: 8, sqpoll: true, sqThreadIdle: 1000, watchdog: { stuckMs } }));
  } catch (error) {
    return { ...base, outcome: 'cannot-run', reason: (error as Error).message };
  }

  const started = performance.now();
  let stopped = false;
  let hang: Stall | undefined;
  const hung = new Promise<void>((resolve) =>
    subject.onStall((stall: Stall) => {
      if (stall.kind !== 'stuck') return;
      hang = stall;
      stopped = true;
      resolve();
    }),
  );
  const snapshot = () => {
    Object.assign(evidence, subject.stats());
    evidence.durationMs = Math.round(performance.now() - started);
  };

  let cleanup: () => Promise<void> = async () => {};
  let trigger: Promise<void>;
  try {
    if (subject.ring && scenario === 'sqpoll-iowq-max-workers') trigger = sqpollTrigger(subject.ring, () => stopped, evidence);
    else if (subject.ring && variant === 'nop') trigger = nopTrigger(subject.ring, () => stopped);
    else {
      // poll: many multishot polls on a socket drained by its own io_uring-free thread;
      // recv: the socket's receiver ring is the subject itself.
      const target = subject.socket ?? (await drainedSocket());
      const handles = subject.ring ? Array.from({ length: polls }, () => subject.ring!.poll(target.fd, 'readable')) : [];
      for (const handle of handles) handle.on('error', () => {});
      const flood = startFlood(target.address().port, evidence);
      cleanup = async () => {
        await flood.stop();
        await Promise.all(handles.map((h) => h.cancel().catch(() => {})));
        if (target !== subject.socket) await new Promise<void>((resolve) => target.close(() => resolve()));
      };
      trigger = (async () => {
        while (!stopped) await new Promise((resolve) => setTimeout(resolve, 50));
      })();
    }
  } catch (error) {
    await subject.close();
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
  await subject.close();
  return { ...base, outcome: 'no-hang' };
}

/** The reproducer's view of what it drives: stall events, the trigger's evidence, close. */
interface Subject {
  ring?: Ring;
  socket?: Socket;
  onStall(listener: (stall: Stall) => void): void;
  stats(): Pick<ReproEvidence, 'overflowFlagSeen' | 'cqOverflows' | 'enters' | 'rearms' | 'completed'>;
  close(): Promise<void>;
}

function ringSubject(ring: Ring): Subject {
  return {
    ring,
    onStall: (listener) => ring.on('stall', listener),
    stats: () => {
      const s = ring.stats;
      return { overflowFlagSeen: s.overflowFlagSeen, cqOverflows: s.cqOverflows, enters: s.enters, rearms: s.rearms, completed: s.completed };
    },
    close: () => ring.close(),
  };
}

/**
 * Variant 'recv': a socket received through multishot recvmsg with a buffer ring, on a plain
 * ring with an 8-entry CQ that its receiver thread busy-polls (the internal kReproRing
 * option). Every datagram is a CQE: the flood overflows the CQ, 6.1 ends the multishot
 * request whose CQE it could not post, and the receiver re-arms it, as the poll variant does.
 */
async function reproSocket(stuckMs: number): Promise<Subject> {
  const socket = createSocket({
    type: 'udp4',
    backend: 'recvmsg-multishot',
    hybrid: false,
    bufferCount: 64,
    maxDatagramSize: 64,
    batch: { count: 1, delayUs: 0 },
    watchdog: { stuckMs },
    [kReproRing]: { cqEntries: 8, busyWait: true },
  } as Parameters<typeof createSocket>[0]);
  socket.onBatch(() => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  // A forced backend that cannot run errors right after bind (an old kernel, no io_uring).
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    setTimeout(() => {
      socket.off('error', reject);
      resolve();
    }, 50);
  });
  socket.on('error', () => {});
  return {
    socket,
    onStall: (listener) => socket.on('stall', listener),
    stats: () => {
      const s = socket.stats;
      return { overflowFlagSeen: s.overflowFlagSeen, cqOverflows: null, enters: s.enters, rearms: s.rearms, completed: s.datagrams };
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
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

/** The poll variant's target: a UDP socket drained by its own (io_uring-free) receiver thread, so readiness keeps firing. */
async function drainedSocket(): Promise<Socket> {
  const target: Socket = createSocket({ type: 'udp4', backend: 'recvmmsg' });
  target.onBatch(() => {});
  await new Promise<void>((resolve, reject) => {
    target.once('error', reject);
    target.bind(0, '127.0.0.1', () => resolve());
  });
  return target;
}

/**
 * Floods 127.0.0.1:port from a worker thread (sendmmsg, 64 datagrams at a time). Each datagram
 * wakes every poll armed on the target (or is one recvmsg CQE): the 8-entry CQ overflows, 6.1
 * ends the multishot requests whose CQE it could not post, and the ring thread re-arms them:
 * the overflow list keeps filling while it busy-polls.
 */
function startFlood(port: number, evidence: ReproEvidence): { stop: () => Promise<void> } {
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
  };
  return { stop };
}
