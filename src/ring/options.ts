// A Ring's options: their names and types and the constructor's validation of them (exact
// messages, before anything crosses into C++); and what the kernel answered — the features and
// setup flags the ring got.
import type { NativeRingConfig } from '../native';
import { binding } from '../native';
import { resolveCqOverflow } from '../prevention';
import * as v from '../validate';

const { SETUP } = binding.constants;

export interface RingOptions {
  /** Submission queue size: a power of two in 1..32768. Default 256. */
  entries?: number;
  /** Completion queue size: a power of two, at least `entries`, at most 65536. Default: the kernel's (2 x entries). */
  cqEntries?: number;
  /** Let a kernel thread poll the submission queue (IORING_SETUP_SQPOLL). Default false. */
  sqpoll?: boolean;
  /** SQPOLL thread idle time before it sleeps, in ms. Needs `sqpoll`. */
  sqThreadIdle?: number;
  /** CPU to pin the SQPOLL thread to. Needs `sqpoll`. */
  sqThreadCpu?: number;
  /** IORING_SETUP_COOP_TASKRUN. Default: used when the kernel has it; true requires it. */
  coopTaskrun?: boolean;
  /** IORING_SETUP_SINGLE_ISSUER. Default: used when the kernel has it; true requires it. */
  singleIssuer?: boolean;
  /** IORING_SETUP_DEFER_TASKRUN (implies singleIssuer). Default: used when the kernel has it; true requires it. */
  deferTaskrun?: boolean;
  /** 'block' (default): the ring thread sleeps in io_uring_enter. 'busy': it polls the CQ without sleeping. */
  wait?: 'block' | 'busy';
  /** Bound on one wait inside io_uring_enter, in ms (1..60000). Default 500. */
  maxWaitMs?: number;
  /** Once one completion is there, wait up to `delayUs` for `count` of them before waking JS. Default { count: 1, delayUs: 0 }. */
  batch?: { count?: number; delayUs?: number };
  /** Watchdog thresholds for this ring, or false to leave it unwatched. Default: the process-wide ones. */
  watchdog?: false | { stuckMs?: number; starvedMs?: number };
  /**
   * 'prevent': the CQ cannot overflow — at most a CQ's worth of completions pending (requests
   * beyond wait in the ring thread's queue) and polls armed single-shot, re-armed by the ring
   * thread after each event. 'allow': the kernel's own multishot polls, unbounded. Default
   * URING_UDP_CQ_OVERFLOW, else 'prevent' unless this kernel is known free of overflow-flush-lock.
   */
  cqOverflow?: 'prevent' | 'allow';
}

/** Per-request options for one-shot requests. */
export interface RequestOptions {
  /** Raise a 'deadline' stall when the request has not completed after this many ms. */
  timeoutMs?: number;
}

/** Options of ring.poll(). */
export interface PollOptions {
  /** Raise a 'deadline' stall when no event came for this many ms (multishot progress). */
  progressMs?: number;
}

export const RING_OPTIONS = [
  'entries',
  'cqEntries',
  'sqpoll',
  'sqThreadIdle',
  'sqThreadCpu',
  'coopTaskrun',
  'singleIssuer',
  'deferTaskrun',
  'wait',
  'maxWaitMs',
  'batch',
  'watchdog',
  'cqOverflow',
] as const;

/** The kernel's IORING_FEAT_* bits, by name. */
export interface RingFeatures {
  singleMmap: boolean;
  nodrop: boolean;
  submitStable: boolean;
  rwCurPos: boolean;
  curPersonality: boolean;
  fastPoll: boolean;
  poll32Bits: boolean;
  sqpollNonfixed: boolean;
  extArg: boolean;
  nativeWorkers: boolean;
  rsrcTags: boolean;
  cqeSkip: boolean;
  linkedFile: boolean;
  regRegRing: boolean;
  recvsendBundle: boolean;
  minTimeout: boolean;
  rwAttr: boolean;
  noIowait: boolean;
}

const FEATURE_BITS: Array<keyof RingFeatures> = [
  'singleMmap',
  'nodrop',
  'submitStable',
  'rwCurPos',
  'curPersonality',
  'fastPoll',
  'poll32Bits',
  'sqpollNonfixed',
  'extArg',
  'nativeWorkers',
  'rsrcTags',
  'cqeSkip',
  'linkedFile',
  'regRegRing',
  'recvsendBundle',
  'minTimeout',
  'rwAttr',
  'noIowait',
];

function wantName(want: -1 | 0 | 1): boolean | 'auto' {
  return want === -1 ? 'auto' : want === 1;
}

export function requestTimeout(options: RequestOptions | undefined): number {
  const o = v.optionsObject(options, 'request');
  v.checkOptionNames(o, ['timeoutMs'], 'request');
  return o.timeoutMs === undefined ? 0 : v.integer(o.timeoutMs, 'timeoutMs', 1, 3600000);
}

export function decodeFeatures(bits: number): RingFeatures {
  const out = {} as RingFeatures;
  FEATURE_BITS.forEach((name, bit) => {
    out[name] = (bits & (1 << bit)) !== 0;
  });
  return out;
}

/** Which setup flags the ring actually got (the optional ones are dropped where the kernel lacks them). */
export interface RingSetup {
  sqpoll: boolean;
  coopTaskrun: boolean;
  singleIssuer: boolean;
  deferTaskrun: boolean;
  wait: 'block' | 'busy';
  /** The CQ's size, as the kernel made it. */
  cqEntries: number;
  /** The overflow policy in force ('prevent' or 'allow'). */
  cqOverflow: 'prevent' | 'allow';
  /** How ring.poll() requests are armed: 'multishot', or 'single-shot' re-armed by the ring thread (prevention, or a kernel without multishot poll). */
  polls: 'multishot' | 'single-shot';
}

export function decodeSetup(
  setupFlags: number,
  wait: 'block' | 'busy',
  cqEntries: number,
  cqOverflow: 'prevent' | 'allow',
  singleShotPolls: boolean,
): RingSetup {
  return {
    sqpoll: (setupFlags & SETUP.SQPOLL) !== 0,
    coopTaskrun: (setupFlags & SETUP.COOP_TASKRUN) !== 0,
    singleIssuer: (setupFlags & SETUP.SINGLE_ISSUER) !== 0,
    deferTaskrun: (setupFlags & SETUP.DEFER_TASKRUN) !== 0,
    wait,
    cqEntries,
    cqOverflow,
    polls: singleShotPolls ? 'single-shot' : 'multishot',
  };
}

/** What ring.options holds: the options as validated, the optional setup flags as asked. */
export type ValidatedRingOptions = Readonly<Required<Omit<RingOptions, 'batch' | 'sqThreadCpu' | 'cqEntries' | 'watchdog' | 'coopTaskrun' | 'singleIssuer' | 'deferTaskrun' | 'cqOverflow'>>> & {
  cqOverflow: 'prevent' | 'allow';
  coopTaskrun: boolean | 'auto';
  singleIssuer: boolean | 'auto';
  deferTaskrun: boolean | 'auto';
  cqEntries: number | undefined;
  sqThreadCpu: number | undefined;
  batch: { count: number; delayUs: number };
  watchdog: false | { stuckMs?: number; starvedMs?: number };
};

/** new Ring()'s options, validated; and the addon's configuration of them (the ring's id aside). */
export function parseRingOptions(options: RingOptions | undefined): { options: ValidatedRingOptions; config: Omit<NativeRingConfig, 'id'> } {
  const o = v.optionsObject(options, 'Ring');
  v.checkOptionNames(o, RING_OPTIONS, 'Ring');
  const entries = o.entries === undefined ? 256 : v.powerOfTwo(o.entries, 'entries', 1, 32768);
  const cqEntries = o.cqEntries === undefined ? undefined : v.powerOfTwo(o.cqEntries, 'cqEntries', 1, 65536);
  if (cqEntries !== undefined && cqEntries < entries) {
    throw v.rangeError(`"cqEntries" must be at least "entries" (${entries}), got ${cqEntries}`);
  }
  const sqpoll = o.sqpoll === undefined ? false : v.boolean(o.sqpoll, 'sqpoll');
  const sqThreadIdle = o.sqThreadIdle === undefined ? 0 : v.integer(o.sqThreadIdle, 'sqThreadIdle', 0, 3600000);
  const sqThreadCpu = o.sqThreadCpu === undefined ? undefined : v.integer(o.sqThreadCpu, 'sqThreadCpu', 0, 4095);
  if (!sqpoll && o.sqThreadIdle !== undefined) throw v.valueError('"sqThreadIdle" needs "sqpoll: true"');
  if (!sqpoll && o.sqThreadCpu !== undefined) throw v.valueError('"sqThreadCpu" needs "sqpoll: true"');
  const want = (name: 'coopTaskrun' | 'singleIssuer' | 'deferTaskrun'): -1 | 0 | 1 =>
    o[name] === undefined ? -1 : v.boolean(o[name], name) ? 1 : 0;
  const coopTaskrun = want('coopTaskrun');
  const singleIssuer = want('singleIssuer');
  const deferTaskrun = want('deferTaskrun');
  if (deferTaskrun === 1 && singleIssuer === 0) {
    throw v.valueError('"deferTaskrun: true" needs "singleIssuer" (the kernel requires IORING_SETUP_SINGLE_ISSUER with it)');
  }
  if (sqpoll && (deferTaskrun === 1 || coopTaskrun === 1)) {
    throw v.valueError('"sqpoll" cannot be combined with "deferTaskrun" or "coopTaskrun" (the kernel rejects both)');
  }
  const wait = o.wait === undefined ? 'block' : v.oneOf(o.wait, 'wait', ['block', 'busy'] as const);
  const maxWaitMs = o.maxWaitMs === undefined ? 500 : v.integer(o.maxWaitMs, 'maxWaitMs', 1, 60000);
  const batchOptions = v.optionsObject(o.batch, 'Ring batch');
  v.checkOptionNames(batchOptions, ['count', 'delayUs'], 'Ring batch');
  const batch = {
    count: batchOptions.count === undefined ? 1 : v.integer(batchOptions.count, 'batch.count', 1, 65536),
    delayUs: batchOptions.delayUs === undefined ? 0 : v.integer(batchOptions.delayUs, 'batch.delayUs', 0, 1000000),
  };
  const watch = v.watchdogOption(o.watchdog, 'Ring');
  const cqOverflow = resolveCqOverflow(o.cqOverflow);

  const validated: ValidatedRingOptions = {
    entries,
    cqEntries,
    sqpoll,
    sqThreadIdle,
    sqThreadCpu,
    coopTaskrun: wantName(coopTaskrun),
    singleIssuer: wantName(singleIssuer),
    deferTaskrun: wantName(deferTaskrun),
    wait,
    maxWaitMs,
    batch,
    watchdog: watch,
    cqOverflow,
  };
  const config: Omit<NativeRingConfig, 'id'> = {
    entries,
    cqEntries: cqEntries ?? 0,
    sqpoll,
    sqThreadIdle,
    sqThreadCpu: sqThreadCpu ?? -1,
    coopTaskrun,
    singleIssuer,
    deferTaskrun,
    busyWait: wait === 'busy',
    maxWaitMs,
    batchCount: batch.count,
    batchDelayUs: batch.delayUs,
    watchdog: watch !== false,
    stuckMs: watch ? (watch.stuckMs ?? 0) : 0,
    starvedMs: watch ? (watch.starvedMs ?? 0) : 0,
    preventOverflow: cqOverflow === 'prevent',
  };
  return { options: validated, config };
}
