// The watchdog's JavaScript side: stall reports from the native watchdog thread, turned into
// 'stall' / 'recover' events on the ring or socket concerned, on the process-wide `watchdog`
// emitter, and on node:diagnostics_channel.
import diagnosticsChannel from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';

import { assessKernel, type BugAssessment } from './bugs';
import { rethrowLater } from './errors';
import { readKernelIdentity } from './kernel';
import { binding } from './native';
import { opcodeName } from './opcodes';
import * as v from './validate';

export type StallKind = 'deadline' | 'stuck' | 'starved' | 'overflow';

export interface StallThread {
  tid: number;
  /** From /proc/self/task/TID/stat: "D (disk sleep)" is the signature of the known bugs. */
  state: string;
  wchan: string;
  /** /proc/self/task/TID/syscall: the syscall number and arguments, "running" or "-1 ...". */
  syscall: string;
  /** /proc/self/task/TID/stack (readable by root only; "" otherwise). */
  stack: string;
  /** Whether the thread was inside io_uring_enter. */
  inKernel: boolean;
}

export interface StallRing {
  sqHead: number;
  sqTail: number;
  cqHead: number;
  cqTail: number;
  /** The kernel's CQ overflow counter. */
  cqOverflow: number;
  /** Times the ring thread saw IORING_SQ_CQ_OVERFLOW (a non-empty overflow list). */
  overflowFlagSeen: number;
  /** /proc/self/fdinfo/RINGFD, line by line. */
  fdinfo: string[];
}

export interface StallKernel {
  release: string;
  /** The upstream version, when it can be known. */
  version: string | null;
  /** The known bugs and this kernel's verdict for each. */
  bugs: BugAssessment[];
}

/** Whose thread or request a report is about: a Ring's, a socket's request, or a receiver thread (which serves many sockets). */
export type StallOwner = 'ring' | 'socket' | 'receiver';

export interface Stall {
  kind: StallKind;
  owner: StallOwner;
  /** Ring.id, Socket.id, or the receiver's id */
  id: number;
  /** For a receiver: the ids of this environment's sockets on it (each gets the event too). */
  sockets?: number[];
  /**
   * What the package did about a 'stuck' thread: 'direct' — the sockets on that receiver left it
   * and their JS threads read them (no io_uring from then on); 'rejected' — the ring's requests,
   * and any new one, were rejected with ERR_URING_RING_STUCK. Absent otherwise.
   */
  failover?: 'direct' | 'rejected';
  fd: number;
  /** The request's opcode, by name ("READ", "POLL_ADD", "RECVMSG"); "" when not about one request. */
  opcode: string;
  /** The request's id on its ring (its user_data); 0 when not about one request. */
  requestId: number;
  ageMs: number;
  thread: StallThread;
  ring: StallRing;
  kernel: StallKernel;
}

export interface Recovery {
  kind: 'recover';
  /** What ended: the kind of the stall reported before. */
  recovered: StallKind;
  owner: StallOwner;
  id: number;
  /** For a receiver: the ids of this environment's sockets on it. */
  sockets?: number[];
  requestId: number;
}

export interface WatchdogOptions {
  /** A thread in io_uring_enter past its bounded wait by this much, or in state D this long, is stuck. Default 2000. */
  stuckMs?: number;
  /** A multishot request whose fd stays ready this long with no completion is starved. Default 2000. */
  starvedMs?: number;
  /** How often the watchdog thread looks while a request with timeoutMs/progressMs is armed, in ms (default 10); otherwise every 100 ms. */
  intervalMs?: number;
  /** 'emit' (default): events only. 'abort': after the events, abort the process (a core dump for post-mortems). */
  onStall?: 'emit' | 'abort';
}

class WatchdogEmitter extends EventEmitter {}

/** Process-wide: every ring's and socket's stalls and recoveries. */
export const watchdog = new WatchdogEmitter();

/** node:diagnostics_channel channels the watchdog publishes to. */
export const stallChannel = diagnosticsChannel.channel('uring-udp:stall');
export const recoverChannel = diagnosticsChannel.channel('uring-udp:recover');

let policy: 'emit' | 'abort' = 'emit';
const owners = new Map<string, WeakRef<EventEmitter>>();
let kernel: StallKernel | undefined;

/** Sets the process-wide thresholds and policy. Rings and sockets may override thresholds. */
export function configureWatchdog(options: WatchdogOptions): void {
  const o = v.optionsObject(options, 'configureWatchdog');
  v.checkOptionNames(o, ['stuckMs', 'starvedMs', 'intervalMs', 'onStall'], 'configureWatchdog');
  const stuckMs = o.stuckMs === undefined ? 0 : v.integer(o.stuckMs, 'stuckMs', 1, 3600000);
  const starvedMs = o.starvedMs === undefined ? 0 : v.integer(o.starvedMs, 'starvedMs', 1, 3600000);
  const intervalMs = o.intervalMs === undefined ? 0 : v.integer(o.intervalMs, 'intervalMs', 1, 10000);
  if (o.onStall !== undefined) policy = v.oneOf(o.onStall, 'onStall', ['emit', 'abort'] as const);
  binding.configureWatchdog(stuckMs, starvedMs, intervalMs);
}

/** @internal rings and sockets register to receive their own reports */
export function registerOwner(owner: 'ring' | 'socket', id: number, target: EventEmitter): void {
  owners.set(`${owner}:${id}`, new WeakRef(target));
}

/** @internal */
export function unregisterOwner(owner: 'ring' | 'socket', id: number): void {
  owners.delete(`${owner}:${id}`);
}

function kernelInfo(): StallKernel {
  if (!kernel) {
    const identity = readKernelIdentity();
    kernel = { release: identity.release, version: identity.upstreamString, bugs: assessKernel(identity) };
  }
  return kernel;
}

interface NativeReport {
  kind: StallKind | 'recover';
  recovered?: StallKind;
  owner: StallOwner;
  id: number;
  sockets: number[];
  fd: number;
  opcode: number;
  requestId: number;
  ageMs: number;
  thread: StallThread;
  ring: StallRing;
}

function describe(stall: Stall): string {
  if (stall.kind === 'overflow') {
    return (
      `uring-udp watchdog: CQ overflow on ${stall.owner} ${stall.id}: overflow list seen non-empty ` +
      `${stall.ring.overflowFlagSeen} times, kernel counter ${stall.ring.cqOverflow} (kernel ${stall.kernel.release})`
    );
  }
  const what = stall.opcode
    ? ` ${stall.opcode} request ${stall.requestId} on fd ${stall.fd}`
    : stall.sockets
      ? ` (sockets ${stall.sockets.join(', ')})`
      : stall.fd >= 0
        ? ` fd ${stall.fd}`
        : '';
  const where = stall.thread.wchan ? `, wchan ${stall.thread.wchan}` : '';
  const affected = stall.kernel.bugs.filter((b) => b.verdict === 'affected').map((b) => b.id);
  return (
    `uring-udp watchdog: ${stall.kind} on ${stall.owner} ${stall.id}${what} for ${Math.round(stall.ageMs)} ms ` +
    `(thread ${stall.thread.tid} state ${stall.thread.state || '?'}${where}; kernel ${stall.kernel.release}` +
    `${affected.length ? `, affected by ${affected.join(', ')}` : ''})` +
    (stall.failover === 'direct'
      ? '; its sockets failed over to their JS threads and receive on'
      : stall.failover === 'rejected' && stall.owner === 'ring'
        ? `; its requests were rejected (ERR_URING_RING_STUCK)`
        : '')
  );
}

function onReports(reports: NativeReport[]): void {
  for (const report of reports) {
    try {
      dispatch(report);
    } catch (error) {
      rethrowLater(error);
    }
  }
}

/** Who hears a report: the ring or socket it is about, or every socket on a receiver. */
function targetsOf(report: NativeReport): EventEmitter[] {
  const ids = report.owner === 'receiver' ? report.sockets : [report.id];
  const kind = report.owner === 'receiver' ? 'socket' : report.owner;
  const out: EventEmitter[] = [];
  for (const id of ids) {
    const target = owners.get(`${kind}:${id}`)?.deref();
    if (target) out.push(target);
  }
  return out;
}

function dispatch(report: NativeReport): void {
  {
    const targets = targetsOf(report);
    const sockets = report.owner === 'receiver' ? { sockets: report.sockets } : {};
    if (report.kind === 'recover') {
      const recovery: Recovery = {
        kind: 'recover',
        recovered: report.recovered ?? 'deadline',
        owner: report.owner,
        id: report.id,
        ...sockets,
        requestId: report.requestId,
      };
      for (const target of targets) target.emit('recover', recovery);
      watchdog.emit('recover', recovery);
      if (recoverChannel.hasSubscribers) recoverChannel.publish(recovery);
      return;
    }
    const stall: Stall = {
      kind: report.kind,
      owner: report.owner,
      id: report.id,
      ...sockets,
      fd: report.fd,
      opcode: report.kind === 'stuck' || report.kind === 'overflow' ? '' : opcodeName(report.opcode),
      requestId: report.requestId,
      ageMs: report.ageMs,
      thread: report.thread,
      ring: report.ring,
      kernel: kernelInfo(),
    };
    if (stall.kind === 'stuck' && stall.thread.state.startsWith('D')) {
      // Before anyone hears of it: the sockets on a stuck receiver fail over, a stuck ring
      // rejects what it holds. Only for a thread in state D, which the known hangs leave it in
      // and which nothing wakes: both are for good, and a thread merely slow inside
      // io_uring_enter (running, or asleep past its bound, as on a starved VM) may come back.
      for (const target of targets) {
        const done = (target as { _stalled?: (s: Stall) => string | undefined })._stalled?.(stall);
        if (done === 'direct' || done === 'rejected') stall.failover = done;
      }
    }
    const heard =
      targets.reduce((n, target) => n + target.listenerCount('stall'), 0) + watchdog.listenerCount('stall') + (stallChannel.hasSubscribers ? 1 : 0);
    for (const target of targets) target.emit('stall', stall);
    watchdog.emit('stall', stall);
    if (stallChannel.hasSubscribers) stallChannel.publish(stall);
    // Nobody listening: one line per new stall, so a production process leaves a trace. A CQ
    // overflow is ordinary backpressure on a kernel without the overflow-flush bug: it only
    // gets a line where that bug may be present.
    const quietOverflow = stall.kind === 'overflow' && !stall.kernel.bugs.some((b) => b.id === 'overflow-flush-lock' && (b.verdict === 'affected' || b.verdict === 'unknown'));
    if ((heard === 0 && !quietOverflow) || policy === 'abort') process.stderr.write(`${describe(stall)}\n`);
    if (policy === 'abort' && stall.kind !== 'overflow') process.abort();
  }
}

binding.setWatchdogHandler(onReports as (reports: unknown[]) => void);

/** @internal how many threads (rings and receivers) the watchdog thread observes (for tests) */
export function watchedCount(): number {
  return binding.watchdogInfo().watched;
}
