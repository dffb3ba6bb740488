// Ring: one io_uring owned by one native ring thread. The JS thread never enters, registers
// with or closes the ring; it queues commands and receives completions in batches, through
// one coalesced wake-up per batch. Its options and what the kernel answered are options.ts's.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';

import { RingClosedError, RingStuckError, errnoError, fromNative, rethrowLater, type StuckReport } from '../errors';
import { binding, type NativeRing, type NativeRingConfig } from '../native';
import { PollHandle, pollMask, type PollEventName } from '../poll';
import * as v from '../validate';
import { registerOwner, unregisterOwner } from '../watchdog';
import {
  decodeFeatures,
  decodeSetup,
  parseRingOptions,
  requestTimeout,
  type PollOptions,
  type RequestOptions,
  type RingFeatures,
  type RingOptions,
  type RingSetup,
  type ValidatedRingOptions,
} from './options';

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
// The addon's contract (native/boundary.cc): counter names in index order, completion records,
// flag bits, opcodes.
const { RING_STATS, COMPLETION_WORDS, INFO_FINAL, INFO_REARMED, OP, DEADLINE_SLOTS } = binding.constants;
const { ETIME, ECANCELED, EBADF } = os.constants.errno;
const ID_LIMIT = 0xffffffff;

/** What a completion handler receives. */
interface Operation {
  complete(res: number, flags: number, info: number): void;
  /** The ring will never complete it (stuck): how it ends instead. */
  fail?(error: Error): void;
  /** Memory the kernel writes into: kept reachable until the request has ended. */
  keep?: Uint8Array;
  /** Watchdog slot, freed when the request ends. */
  slot?: number;
  /** A poll armed single-shot: armed again (rearm) once JS has seen its events. */
  singleShot?: boolean;
}

let nextRingId = 1;

export class Ring extends EventEmitter {
  /** Process-unique id, used in diagnostics. */
  readonly id: number;
  /** The options as validated; the three optional setup flags as asked ('auto' = use when the kernel has it). `setup` says what the ring got. */
  readonly options: ValidatedRingOptions;
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
  #stuck: StuckReport | undefined;
  #userRef = true;
  #loopRef = false;
  readonly #fd: number;
  readonly #features: RingFeatures;
  readonly #setup: RingSetup;
  readonly #tid: number;

  constructor(options?: RingOptions) {
    super();
    const parsed = parseRingOptions(options);
    this.options = parsed.options;
    this.id = nextRingId++;
    const watch = parsed.options.watchdog;
    this.#watched = watch !== false;
    const config: NativeRingConfig = { ...parsed.config, id: this.id };
    try {
      this.#native = new binding.NativeRing(config, (records, closed) => this.#onBatch(records, closed));
    } catch (error) {
      throw fromNative(error, 'new Ring()');
    }
    // The event loop is kept alive only while requests are in flight (see ref()).
    this.#native.unref();
    const info = this.#native.info();
    this.#fd = info.fd;
    this.#tid = info.tid;
    this.#features = decodeFeatures(info.features);
    this.#setup = decodeSetup(info.setupFlags, parsed.options.wait, info.cqEntries, parsed.options.cqOverflow, info.singleShotPolls);
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
    this.#native.readStats(this.#stats);
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
    if (this.#stuck) return Promise.reject(new RingStuckError('ring.nop()', this.#stuck));
    return new Promise((resolve, reject) => {
      const operation: Operation = {
        complete: (res) => (res < 0 ? reject(errnoError(res, 'io_uring nop')) : resolve()),
        fail: reject,
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
    if (this.#stuck) return Promise.reject(new RingStuckError('ring.read()', this.#stuck));
    return new Promise((resolve, reject) => {
      const operation: Operation = {
        keep: buffer,
        complete: (res) => (res < 0 ? reject(errnoError(res, 'read')) : resolve(res)),
        fail: reject,
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
    if (this.#stuck) return Promise.reject(new RingStuckError('ring.timeout()', this.#stuck));
    return new Promise((resolve, reject) => {
      const id = this.#register({
        complete: (res) => (res === -ETIME || res === 0 ? resolve() : reject(errnoError(res, 'io_uring timeout'))),
        fail: reject,
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
    if (this.#stuck) throw new RingStuckError('ring.poll()', this.#stuck);
    const handle: PollHandle = new PollHandle(fd, mask, (h) => this.#cancelPoll(h));
    const operation: Operation = {
      complete: (res, flags, info) => {
        handle._record(res, flags, info);
        this.#touchedPolls.add(handle);
      },
      fail: (error) => handle._fail(error),
      singleShot: this.#setup.polls === 'single-shot',
    };
    const id = this.#register(operation);
    handle._id = id;
    // Every multishot poll is watched: the watchdog checks it is answered when its fd is ready.
    const slot = this.#watch(operation, id, fd, OP.POLL_ADD, 0, progressMs, mask);
    this.#native.poll(id, fd, mask, true, slot);
    return handle;
  }

  #cancelPoll(handle: PollHandle): void {
    if (this.#closed || this.#stuck || handle._id === 0) return;
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
    if (this.#stuck) {
      // Its thread will never answer: closed now, the thread left behind (docs/kernel-bugs.md).
      this.#finishClose(false);
      process.nextTick(() => {
        try {
          this.emit('close');
        } catch (error) {
          rethrowLater(error);
        }
        this.#resolveClose?.();
      });
      return this.#closePromise;
    }
    // Keep the loop alive until the ring thread reports the ring gone.
    this.#native.ref();
    return this.#closePromise;
  }

  /**
   * @internal the watchdog reported this ring stuck: every request in flight is rejected with
   * ERR_URING_RING_STUCK (nothing on the ring can complete), and so is every new one. Returns
   * what was done, for the stall report.
   */
  _stalled(stall: StuckReport & { kind: string }): string | undefined {
    if (stall.kind !== 'stuck' || this.#closed || this.#stuck) return undefined;
    this.#stuck = stall;
    const operations = [...this.#operations.values()];
    this.#operations.clear();
    let thrown: unknown;
    for (const operation of operations) {
      try {
        if (operation.fail) operation.fail(new RingStuckError(`ring ${this.id}`, stall));
        else operation.complete(-ECANCELED, 0, INFO_FINAL);
      } catch (error) {
        thrown ??= error;
      }
    }
    this.#updateRef();
    if (thrown !== undefined) rethrowLater(thrown);
    return 'rejected';
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

  /** Whether the watchdog reported this ring stuck (its requests are rejected with ERR_URING_RING_STUCK). */
  get stuck(): boolean {
    return this.#stuck !== undefined;
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
    if (this.#closed) return; // closed while stuck: whatever it says now is for nobody
    const count = records.length / COMPLETION_WORDS;
    this.#batches++;
    let thrown: unknown;
    let rearm: number[] | undefined;
    for (let i = 0; i < count; i++) {
      const base = i * COMPLETION_WORDS; // id, res, cqe flags, info (struct Completion)
      const id = records[base]! >>> 0;
      const res = records[base + 1]!;
      const flags = records[base + 2]! >>> 0;
      const info = records[base + 3]!;
      const operation = this.#operations.get(id);
      if (!operation) continue;
      if (operation.singleShot && !(info & INFO_FINAL) && res >= 0) (rearm ??= []).push(id);
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
    // Single-shot polls go again now that their events were seen (as a multishot poll, which
    // reports a new readiness, not a fd that merely stayed ready).
    if (rearm && !closed && !this.#closePromise && !this.#stuck) this.#native.rearm(Uint32Array.from(rearm));
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

  #finishClose(join = true): void {
    if (this.#closed) return;
    this.#closed = true;
    if (join) this.#native.join();
    else this.#native.leave();
    if (this.#watched) unregisterOwner('ring', this.id);
    // Anything the kernel never answered was ended by the ring thread with ECANCELED;
    // whatever is still registered here can never complete.
    for (const [id, operation] of this.#operations) {
      this.#operations.delete(id);
      operation.complete(-ECANCELED, 0, INFO_FINAL);
    }
  }
}
