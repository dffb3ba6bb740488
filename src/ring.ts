// Ring: one io_uring owned by one native ring thread. The JS thread never enters, registers
// with or closes the ring; it queues commands and receives completions in batches, through
// one coalesced wake-up per batch.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';

import { RingClosedError, errnoError, fromNative, rethrowLater } from './errors';
import { binding, type NativeRing, type NativeRingConfig } from './native';
import { PollHandle, pollMask, type PollEventName } from './poll';
import * as v from './validate';
import { registerOwner, unregisterOwner } from './watchdog';

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

const RING_OPTIONS = [
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

function requestTimeout(options: RequestOptions | undefined): number {
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
}


export interface RingStats {
  /** SQEs handed to the kernel for JS requests (re-arms included). */
  submitted: number;
  /** CQEs reaped for JS requests. */
  completed: number;
  /** The kernel's CQ overflow counter (CQEs it had to drop or defer). */
  cqOverflows: number;
  /** io_uring_enter calls made by the ring thread. */
  enters: number;
  /** Times the ring thread saw IORING_SQ_CQ_OVERFLOW (a non-empty overflow list) after an enter. */
  overflowFlagSeen: number;
  /** Multishot requests the ring thread re-armed after the kernel ended them cleanly. */
  rearms: number;
  /** Requests in flight. */
  inFlight: number;
  /** Times completions were delivered to JS: one call per batch, however many it held. */
  batches: number;
}

// The addon's contract (native/boundary.cc): counter names in index order, completion records,
// flag bits, opcodes.
const { RING_STATS, COMPLETION_WORDS, INFO_FINAL, INFO_REARMED, SETUP, OP, DEADLINE_SLOTS } = binding.constants;
const { ETIME, ECANCELED, EBADF } = os.constants.errno;
const ID_LIMIT = 0xffffffff;

/** What a completion handler receives. */
interface Operation {
  complete(res: number, flags: number, info: number): void;
  /** Memory the kernel writes into: kept reachable until the request has ended. */
  keep?: Uint8Array;
  /** Watchdog slot, freed when the request ends. */
  slot?: number;
}

let nextRingId = 1;

export class Ring extends EventEmitter {
  /** Process-unique id, used in diagnostics. */
  readonly id: number;
  /** The options as validated; the three optional setup flags as asked ('auto' = use when the kernel has it). `setup` says what the ring got. */
  readonly options: Readonly<Required<Omit<RingOptions, 'batch' | 'sqThreadCpu' | 'cqEntries' | 'watchdog' | 'coopTaskrun' | 'singleIssuer' | 'deferTaskrun'>>> & {
    coopTaskrun: boolean | 'auto';
    singleIssuer: boolean | 'auto';
    deferTaskrun: boolean | 'auto';
    cqEntries: number | undefined;
    sqThreadCpu: number | undefined;
    batch: { count: number; delayUs: number };
    watchdog: false | { stuckMs?: number; starvedMs?: number };
  };
  readonly #native: NativeRing;
  readonly #stats = new Float64Array(RING_STATS.length);
  readonly #operations = new Map<number, Operation>();
  readonly #freeIds: number[] = [];
  readonly #touchedPolls = new Set<PollHandle>();
  #nextId = 1;
  #batches = 0;
  readonly #watched: boolean;
  readonly #freeSlots: number[] = [];
  #nextSlot = 0;
  #closePromise: Promise<void> | undefined;
  #resolveClose: (() => void) | undefined;
  #closed = false;
  #userRef = true;
  #loopRef = false;
  readonly #fd: number;
  readonly #features: RingFeatures;
  readonly #setup: RingSetup;
  readonly #tid: number;

  constructor(options?: RingOptions) {
    super();
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

    this.options = {
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
    };
    this.id = nextRingId++;
    this.#watched = watch !== false;
    const config: NativeRingConfig = {
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
      id: this.id,
      stuckMs: watch ? (watch.stuckMs ?? 0) : 0,
      starvedMs: watch ? (watch.starvedMs ?? 0) : 0,
    };
    try {
      this.#native = new binding.NativeRing(config, this.#stats, (records, closed) => this.#onBatch(records, closed));
    } catch (error) {
      throw fromNative(error, 'new Ring()');
    }
    // The event loop is kept alive only while requests are in flight (see ref()).
    this.#native.unref();
    const info = this.#native.info();
    this.#fd = info.fd;
    this.#tid = info.tid;
    this.#features = decodeFeatures(info.features);
    this.#setup = {
      sqpoll: (info.setupFlags & SETUP.SQPOLL) !== 0,
      coopTaskrun: (info.setupFlags & SETUP.COOP_TASKRUN) !== 0,
      singleIssuer: (info.setupFlags & SETUP.SINGLE_ISSUER) !== 0,
      deferTaskrun: (info.setupFlags & SETUP.DEFER_TASKRUN) !== 0,
      wait,
    };
    if (this.#watched) registerOwner('ring', this.id, this);
  }

  /** The ring's file descriptor. For diagnostics only: the JS thread never uses it. */
  get fd(): number {
    return this.#fd;
  }

  /** Thread id of the ring thread (as in /proc/self/task/TID). */
  get threadId(): number {
    return this.#tid;
  }

  get features(): RingFeatures {
    return { ...this.#features };
  }

  get setup(): RingSetup {
    return { ...this.#setup };
  }

  get closed(): boolean {
    return this.#closed;
  }

  get stats(): RingStats {
    const out = {} as Record<string, number>;
    RING_STATS.forEach((name, i) => {
      out[name] = this.#stats[i] ?? 0;
    });
    out.batches = this.#batches;
    return out as unknown as RingStats;
  }

  /** A no-op request: resolves when its completion comes back through the ring thread. */
  nop(options?: RequestOptions): Promise<void> {
    this.#assertOpen('ring.nop()');
    const timeoutMs = requestTimeout(options);
    return new Promise((resolve, reject) => {
      const operation: Operation = {
        complete: (res) => (res < 0 ? reject(errnoError(res, 'io_uring nop')) : resolve()),
      };
      const id = this.#register(operation);
      const slot = this.#watch(operation, id, -1, OP.NOP, timeoutMs, 0, 0);
      this.#native.nop(id, slot);
    });
  }

  /**
   * Reads into `buffer` from `fd` at `position` (default: the file's current position).
   * Resolves with the number of bytes read. The buffer must not be reused until then.
   * The third argument is the position, or options { position, timeoutMs }.
   */
  read(fd: number, buffer: Uint8Array, position?: number | null | (RequestOptions & { position?: number | null })): Promise<number> {
    this.#assertOpen('ring.read()');
    v.fd(fd);
    if (!(buffer instanceof Uint8Array)) throw v.typeError(`"buffer" must be a Buffer or Uint8Array, got ${v.describe(buffer)}`);
    if (buffer.byteLength > 0x7fffffff) throw v.rangeError(`"buffer" must be at most 2147483647 bytes, got ${buffer.byteLength}`);
    let timeoutMs = 0;
    if (position !== null && typeof position === 'object') {
      const o = v.optionsObject(position, 'read');
      v.checkOptionNames(o, ['position', 'timeoutMs'], 'read');
      timeoutMs = requestTimeout({ timeoutMs: o.timeoutMs as number | undefined });
      position = o.position as number | null | undefined;
    }
    const offset = position === undefined || position === null ? -1 : v.integer(position, 'position', 0, Number.MAX_SAFE_INTEGER);
    return new Promise((resolve, reject) => {
      const operation: Operation = {
        keep: buffer,
        complete: (res) => (res < 0 ? reject(errnoError(res, 'read')) : resolve(res)),
      };
      const id = this.#register(operation);
      const slot = this.#watch(operation, id, fd, OP.READ, timeoutMs, 0, 0);
      this.#native.read(id, fd, buffer, offset, slot);
    });
  }

  /** Resolves after `ms` milliseconds, timed by the kernel (IORING_OP_TIMEOUT). */
  timeout(ms: number): Promise<void> {
    this.#assertOpen('ring.timeout()');
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > 1e9) {
      throw (typeof ms === 'number' ? v.rangeError : v.typeError)(`"ms" must be a number in 0..1000000000, got ${v.describe(ms)}`);
    }
    return new Promise((resolve, reject) => {
      const id = this.#register({
        complete: (res) => (res === -ETIME || res === 0 ? resolve() : reject(errnoError(res, 'io_uring timeout'))),
      });
      this.#native.timeout(id, ms);
    });
  }

  /**
   * Arms a multishot poll (IORING_POLL_ADD_MULTI) on any file descriptor. One request stays
   * armed across many events; the ring thread re-arms it when the kernel ends it.
   */
  poll(fd: number, events: PollEventName | readonly PollEventName[] = 'readable', options?: PollOptions): PollHandle {
    this.#assertOpen('ring.poll()');
    v.fd(fd);
    const mask = pollMask(events);
    const o = v.optionsObject(options, 'poll');
    v.checkOptionNames(o, ['progressMs'], 'poll');
    const progressMs = o.progressMs === undefined ? 0 : v.integer(o.progressMs, 'progressMs', 1, 3600000);
    try {
      fs.fstatSync(fd);
    } catch {
      throw errnoError(-EBADF, 'poll', `ring.poll(${fd})`);
    }
    const handle: PollHandle = new PollHandle(fd, mask, (h) => this.#cancelPoll(h));
    const operation: Operation = {
      complete: (res, flags, info) => {
        handle._record(res, flags, info);
        this.#touchedPolls.add(handle);
      },
    };
    const id = this.#register(operation);
    handle._id = id;
    // Every multishot poll is watched: the watchdog checks it is answered when its fd is ready.
    const slot = this.#watch(operation, id, fd, OP.POLL_ADD, 0, progressMs, mask);
    this.#native.poll(id, fd, mask, true, slot);
    return handle;
  }

  #cancelPoll(handle: PollHandle): void {
    if (this.#closed || handle._id === 0) return;
    const target = handle._id;
    const id = this.#register({ complete: (res) => handle._cancelConfirmed(res) });
    this.#native.cancel(id, target);
  }

  /** Keeps the event loop alive while requests are in flight (the default). */
  ref(): this {
    this.#userRef = true;
    this.#updateRef();
    return this;
  }

  /** Lets the process exit even with requests in flight. */
  unref(): this {
    this.#userRef = false;
    this.#updateRef();
    return this;
  }

  /**
   * Cancels what is in flight, closes the ring on its own thread and joins the thread.
   * Idempotent: every call returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closePromise) return this.#closePromise;
    this.#closePromise = new Promise<void>((resolve) => {
      this.#resolveClose = resolve;
    });
    this.#native.close();
    // Keep the loop alive until the ring thread reports the ring gone.
    this.#native.ref();
    return this.#closePromise;
  }

  /**
   * Caps the kernel's io-wq worker threads for this ring (IORING_REGISTER_IOWQ_MAX_WORKERS):
   * `bounded` for regular-file and block work, `unbounded` for the rest; 0 leaves one unchanged.
   * Registered on the ring thread, like every call on the ring fd.
   */
  setIowqMaxWorkers(bounded: number, unbounded: number): Promise<void> {
    this.#assertOpen('ring.setIowqMaxWorkers()');
    v.integer(bounded, 'bounded', 0, 0xffffffff);
    v.integer(unbounded, 'unbounded', 0, 0xffffffff);
    return new Promise((resolve, reject) => {
      const id = this.#register({
        complete: (res) => (res < 0 ? reject(errnoError(res, 'io_uring_register')) : resolve()),
      });
      this.#native.iowqMaxWorkers(id, bounded, unbounded);
    });
  }

  /** @internal test hook (URING_UDP_TEST_HOOKS=1): holds the ring thread in state D for ms. */
  _testHold(ms: number): Promise<void> {
    this.#assertOpen('ring._testHold()');
    return new Promise((resolve) => {
      const id = this.#register({ complete: () => resolve() });
      this.#native.testHold(id, ms);
    });
  }

  /** Arms a watchdog slot for a request, when the ring is watched and the request asks for it. */
  #watch(operation: Operation, id: number, fd: number, opcode: number, timeoutMs: number, progressMs: number, pollEvents: number): number | undefined {
    if (!this.#watched || (timeoutMs === 0 && progressMs === 0 && pollEvents === 0)) return undefined;
    let slot = this.#freeSlots.pop();
    if (slot === undefined) {
      if (this.#nextSlot >= DEADLINE_SLOTS) return undefined; // all slots busy: this request goes unwatched
      slot = this.#nextSlot++;
    }
    operation.slot = slot;
    this.#native.watch(slot, id, fd, opcode, timeoutMs, progressMs, pollEvents);
    return slot;
  }

  #assertOpen(what: string): void {
    if (this.#closePromise) throw new RingClosedError(what);
  }

  #register(operation: Operation): number {
    let id = this.#freeIds.pop();
    if (id === undefined) {
      if (this.#nextId >= ID_LIMIT) throw new Error('too many requests in flight on this ring');
      id = this.#nextId++;
    }
    this.#operations.set(id, operation);
    if (this.#operations.size === 1) this.#updateRef();
    return id;
  }

  #updateRef(): void {
    if (this.#closePromise) return;
    const want = this.#userRef && this.#operations.size > 0;
    if (want === this.#loopRef) return;
    this.#loopRef = want;
    if (want) this.#native.ref();
    else this.#native.unref();
  }

  #onBatch(records: Int32Array, closed: boolean): void {
    try {
      this.#deliver(records, closed);
    } catch (error) {
      rethrowLater(error);
    }
  }

  #deliver(records: Int32Array, closed: boolean): void {
    const count = records.length / COMPLETION_WORDS;
    this.#batches++;
    let thrown: unknown;
    for (let i = 0; i < count; i++) {
      const base = i * COMPLETION_WORDS; // id, res, cqe flags, info (struct Completion)
      const id = records[base]! >>> 0;
      const res = records[base + 1]!;
      const flags = records[base + 2]! >>> 0;
      const info = records[base + 3]!;
      const operation = this.#operations.get(id);
      if (!operation) continue;
      if (info & INFO_FINAL) {
        this.#operations.delete(id);
        this.#freeIds.push(id);
        if (operation.slot !== undefined) this.#freeSlots.push(operation.slot);
      }
      try {
        operation.complete(res, flags, info & (INFO_FINAL | INFO_REARMED));
      } catch (error) {
        // A throwing callback must not cost the rest of the batch its delivery.
        thrown ??= error;
      }
    }
    if (closed) this.#finishClose();
    // Poll handles emit once per batch, after every record in it was seen.
    if (this.#touchedPolls.size > 0) {
      const handles = [...this.#touchedPolls];
      this.#touchedPolls.clear();
      for (const handle of handles) {
        try {
          handle._flush();
        } catch (error) {
          thrown ??= error;
        }
      }
    }
    if (thrown !== undefined) rethrowLater(thrown);
    if (closed) {
      try {
        this.emit('close');
      } catch (error) {
        rethrowLater(error);
      }
      this.#resolveClose?.();
    } else if (this.#operations.size === 0) {
      this.#updateRef();
    }
  }

  #finishClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.join();
    if (this.#watched) unregisterOwner('ring', this.id);
    // Anything the kernel never answered was ended by the ring thread with ECANCELED;
    // whatever is still registered here can never complete.
    for (const [id, operation] of this.#operations) {
      this.#operations.delete(id);
      operation.complete(-ECANCELED, 0, INFO_FINAL);
    }
  }
}
