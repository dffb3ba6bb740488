// PollHandle: one multishot poll request (IORING_POLL_ADD_MULTI) that stays armed across
// many events. The ring thread re-arms it when the kernel ends it without an error.
import { EventEmitter } from 'node:events';
import os from 'node:os';

import { errnoError } from './errors';
import { binding } from './native';
import * as v from './validate';

const POLL_BITS = {
  readable: 0x001, // POLLIN
  priority: 0x002, // POLLPRI
  writable: 0x004, // POLLOUT
  error: 0x008, // POLLERR
  hangup: 0x010, // POLLHUP
  invalid: 0x020, // POLLNVAL
  readHangup: 0x2000, // POLLRDHUP
} as const;

/** Events one can ask for. error and hangup are always reported, as with poll(2). */
export type PollEventName = 'readable' | 'writable' | 'priority' | 'readHangup';
const REQUESTABLE: readonly PollEventName[] = ['readable', 'writable', 'priority', 'readHangup'];

export interface PollEvents {
  readable: boolean;
  writable: boolean;
  priority: boolean;
  error: boolean;
  hangup: boolean;
  invalid: boolean;
  readHangup: boolean;
  /** The raw revents mask from the kernel. */
  mask: number;
}

export interface PollStats {
  /** Readiness events delivered. */
  events: number;
  /** Times the ring thread re-armed the request after the kernel ended it. */
  rearms: number;
}

export function pollMask(events: unknown): number {
  const list = typeof events === 'string' ? [events] : events;
  if (!Array.isArray(list) || list.length === 0) {
    throw v.typeError(`"events" must be one of ${REQUESTABLE.join(', ')} or a non-empty array of them, got ${v.describe(events)}`);
  }
  let mask = 0;
  for (const name of list) {
    if (typeof name !== 'string' || !(REQUESTABLE as readonly string[]).includes(name)) {
      throw v.typeError(`unknown poll event ${v.describe(name)}; use ${REQUESTABLE.join(', ')}`);
    }
    mask |= POLL_BITS[name as PollEventName];
  }
  return mask;
}

export function decodePollEvents(mask: number): PollEvents {
  return {
    readable: (mask & POLL_BITS.readable) !== 0,
    writable: (mask & POLL_BITS.writable) !== 0,
    priority: (mask & POLL_BITS.priority) !== 0,
    error: (mask & POLL_BITS.error) !== 0,
    hangup: (mask & POLL_BITS.hangup) !== 0,
    invalid: (mask & POLL_BITS.invalid) !== 0,
    readHangup: (mask & POLL_BITS.readHangup) !== 0,
    mask,
  };
}

const { ECANCELED, ENOENT } = os.constants.errno;
const { INFO_FINAL, INFO_REARMED } = binding.constants;

/**
 * Events: 'ready' (PollEvents) for each readiness event, 'error' when the request ends with
 * an error (the fd was closed, say), 'end' once the request has ended for good.
 */
export class PollHandle extends EventEmitter {
  readonly fd: number;
  readonly events: number;
  /** @internal request id on the ring */
  _id = 0;
  #ended = false;
  #cancelled = false;
  #cancelPromise: Promise<void> | undefined;
  #cancelResolve: (() => void) | undefined;
  #cancelConfirmed = false;
  #pending: number[] = [];
  #endError: Error | undefined;
  #ending = false;
  #stats: PollStats = { events: 0, rearms: 0 };
  readonly #requestCancel: (handle: PollHandle) => void;
  #waiters: Array<() => void> = [];
  #queue: PollEvents[] = [];
  #iterating = false;

  /** @internal created by Ring.poll() */
  constructor(fd: number, events: number, requestCancel: (handle: PollHandle) => void) {
    super();
    this.fd = fd;
    this.events = events;
    this.#requestCancel = requestCancel;
  }

  get stats(): PollStats {
    return { ...this.#stats };
  }

  /** True once the request has ended (cancelled, closed or failed). */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Cancels the request. Idempotent; the promise settles when the kernel has confirmed the
   * request is gone. A cancelled handle never emits 'ready' again.
   */
  cancel(): Promise<void> {
    if (this.#cancelPromise) return this.#cancelPromise;
    this.#cancelled = true;
    this.#pending = [];
    this.#queue = [];
    this.#cancelPromise = new Promise((resolve) => {
      this.#cancelResolve = resolve;
    });
    if (this.#ended || this.#ending) {
      this.#cancelConfirmed = true;
      this.#settleCancel();
    } else {
      this.#requestCancel(this);
    }
    return this.#cancelPromise;
  }

  /** @internal one CQE for this request */
  _record(res: number, _flags: number, info: number): void {
    const final = (info & INFO_FINAL) !== 0;
    if (info & INFO_REARMED) this.#stats.rearms++;
    if (res >= 0 && !this.#cancelled) this.#pending.push(res);
    if (final) {
      this.#ending = true;
      // ECANCELED (and ENOENT, seen on some kernels when the request had just ended) is
      // what a cancel or a ring close produces: not an error for the user.
      if (res < 0 && res !== -ECANCELED && res !== -ENOENT && !this.#cancelled) {
        this.#endError = errnoError(res, 'poll', `poll on fd ${this.fd}`);
      }
    }
  }

  /**
   * @internal what the kernel answered the cancel request (IORING_OP_ASYNC_CANCEL): 0 (found
   * and cancelled), -ENOENT (the request had already ended) or -EALREADY; kernels differ, and
   * none of them is an error here. Undefined until a cancel completed.
   */
  _cancelResult: number | undefined;

  /** @internal the ring can never complete the request (stuck): it ends with this error */
  _fail(error: Error): void {
    if (this.#ended || this.#ending) return;
    this.#endError = error;
    this.#ending = true;
    this.#cancelConfirmed = true;
    this._flush();
  }

  /** @internal the cancel request itself completed */
  _cancelConfirmed(res: number): void {
    this._cancelResult = res;
    this.#cancelConfirmed = true;
    this.#settleCancel();
  }

  /** @internal end of a batch: emit what accumulated */
  _flush(): void {
    const pending = this.#pending;
    this.#pending = [];
    let thrown: unknown;
    for (const mask of pending) {
      if (this.#cancelled) break;
      this.#stats.events++;
      const events = decodePollEvents(mask);
      if (this.#iterating) this.#queue.push(events);
      try {
        this.emit('ready', events);
      } catch (error) {
        thrown ??= error;
      }
    }
    if (this.#ending && !this.#ended) {
      this.#ended = true;
      this.#settleCancel();
      // An iterator reports the error by throwing it; 'error' is emitted when someone listens
      // for it, or when nobody iterates (then an unheard 'error' throws, as EventEmitter does).
      if (this.#endError && (this.listenerCount('error') > 0 || !this.#iterating)) {
        try {
          this.emit('error', this.#endError);
        } catch (error) {
          thrown ??= error;
        }
      }
      try {
        this.emit('end');
      } catch (error) {
        thrown ??= error;
      }
    }
    this.#wake();
    if (thrown !== undefined) throw thrown;
  }

  #settleCancel(): void {
    if (this.#cancelResolve && this.#cancelConfirmed && (this.#ended || this.#ending)) {
      const resolve = this.#cancelResolve;
      this.#cancelResolve = undefined;
      resolve();
    }
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  /** for await (const events of handle): ends when the request ends; throws its error. */
  async *[Symbol.asyncIterator](): AsyncGenerator<PollEvents, void, undefined> {
    this.#iterating = true;
    try {
      for (;;) {
        const next = this.#queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (this.#ended || this.#cancelled) {
          if (this.#endError) throw this.#endError;
          return;
        }
        await new Promise<void>((resolve) => this.#waiters.push(resolve));
      }
    } finally {
      this.#iterating = false;
    }
  }
}
