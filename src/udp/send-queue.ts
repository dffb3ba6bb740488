// How a socket's datagrams leave: a non-blocking sendmsg (or sendmmsg) straight from the JS
// thread, which cannot hang in io_uring. Three things are in the way, and this queue owns them:
// - cork: while 'message' listeners answer a batch, their replies are gathered and leave in
//   one sendmmsg once the tick queue they land in has run (one syscall per batch);
// - blocked: a full send buffer (EAGAIN) queues datagrams, in order, retried every millisecond;
// - destinations: sendmmsg takes a table of (address, port) and an index per datagram.
import os from 'node:os';

import { errnoException } from '../errors';
import type { NativeUdp } from '../native';
import { copyBytes } from './arguments';

const { EAGAIN } = os.constants.errno;

/**
 * Node's --test-udp-no-try-send: dgram then never sends at the call, every datagram waits in the
 * send queue for the event loop (Node's tests of getSendQueueSize() rely on it). Honoured the same
 * way here: each send is queued and leaves from the retry timer.
 */
const NO_TRY_SEND = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].includes('--test-udp-no-try-send');

export type SendCallback = (error: Error | null, bytes?: number) => void;

export interface QueuedSend {
  chunks: Uint8Array[];
  port: number;
  /** null: the connected peer. */
  address: string | null;
  callback: SendCallback | undefined;
}

export interface DestinationTable {
  table: Array<[string, number]>;
  index: Uint32Array;
}

/** The index of a batch whose datagrams all go to one destination: all zeros, shared, never written. */
const ZERO_INDEX = new Uint32Array(1024);

/** sendmmsg's destinations for `count` datagrams: one for all, or one per datagram (deduplicated). */
export function destinationTable(destinations: ReadonlyArray<{ address: string; port: number }>, count: number): DestinationTable {
  if (destinations.length === 1) {
    const { address, port } = destinations[0]!;
    return { table: [[address, port]], index: count <= ZERO_INDEX.length ? ZERO_INDEX : new Uint32Array(count) };
  }
  const slots = new Map<string, number>();
  const table: Array<[string, number]> = [];
  const index = new Uint32Array(count);
  for (let i = 0; i < destinations.length; i++) {
    const { address, port } = destinations[i]!;
    const key = `${address}|${port}`;
    let slot = slots.get(key);
    if (slot === undefined) {
      slot = table.length;
      slots.set(key, slot);
      table.push([address, port]);
    }
    index[i] = slot;
  }
  return { table, index };
}

/** A queued send with its own copy of its bytes: it leaves after the caller's handler returned. */
const ownCopy = (item: QueuedSend): QueuedSend => ({ ...item, chunks: item.chunks.map(copyBytes) });

/** sendBatch()'s per-datagram marks: ECN codepoints (255: none) and local addresses to send from. */
export interface SendMarks {
  ecn: Uint8Array | null;
  sources: string[] | null;
  sourceIndex: Uint32Array | null;
}

export class SendQueue {
  #cork: QueuedSend[] | null = null;
  #blocked: QueuedSend[] = [];
  #retryTimer: NodeJS.Timeout | undefined;

  /** fail: reports a send's error to its callback, or as the socket's 'error'. */
  constructor(
    private readonly native: NativeUdp,
    private readonly fail: (error: Error, callback: SendCallback | undefined) => void,
  ) {}

  /** Datagrams and bytes waiting for send buffer space. */
  get count(): number {
    return this.#blocked.length;
  }
  get bytes(): number {
    return this.#blocked.reduce((sum, item) => sum + item.chunks.reduce((s, c) => s + c.byteLength, 0), 0);
  }

  /** Starts gathering sends (a delivery's 'message' listeners are about to run); false if already. */
  cork(): boolean {
    if (NO_TRY_SEND) return false; // every send is queued already
    if (this.#cork !== null) return false;
    this.#cork = [];
    return true;
  }

  /** Sends what was gathered, and stops gathering. */
  uncork(): void {
    this.flush();
    this.#cork = null;
  }

  /** Drops what is blocked (the socket closes); what was gathered leaves first. */
  close(): void {
    this.uncork();
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#blocked = [];
  }

  /** One datagram: sent now, gathered, or queued behind blocked ones. */
  send(item: QueuedSend): void {
    if (this.#cork !== null) {
      const last = this.#cork[this.#cork.length - 1];
      // One kind per sendmmsg (to an address, or on the connected peer); order is kept by
      // flushing before anything that cannot join.
      if (item.chunks.length === 1 && this.#blocked.length === 0 && (last === undefined || (last.address === null) === (item.address === null))) {
        this.#cork.push(item);
        return;
      }
      this.flush();
    }
    if (this.#blocked.length > 0 || NO_TRY_SEND) {
      // Keep order behind datagrams waiting for send buffer space.
      this.#blocked.push(ownCopy(item));
      if (NO_TRY_SEND) this.#scheduleRetry();
      return;
    }
    const result = this.native.send(item.chunks, item.address, item.port);
    if (result === -EAGAIN) {
      this.#blocked.push(ownCopy(item));
      this.#scheduleRetry();
      return;
    }
    if (result < 0) {
      this.fail(errnoException(result, 'send', item.address ?? undefined, item.port), item.callback);
      return;
    }
    if (item.callback) process.nextTick(item.callback, null, result);
  }

  /** Sends what the cork gathered, one sendmmsg per 1024, with send()'s outcomes per datagram. */
  flush(): void {
    const items = this.#cork;
    if (items === null || items.length === 0) return;
    this.#cork = [];
    const datagrams = items.map((item) => item.chunks[0]!);
    const { table, index } =
      items[0]!.address === null ? { table: null, index: null } : destinationTable(items as Array<{ address: string; port: number }>, items.length);
    let sent = 0;
    while (sent < items.length) {
      let result: number;
      try {
        result = this.native.sendMany(datagrams, table, index, sent);
      } catch {
        // An address the batch path refuses (say, IPv6 on a udp4 socket): the rest one by
        // one, for the errors the single send gives.
        const rest = items.slice(sent);
        this.#cork = null;
        for (const item of rest) this.send(item);
        this.#cork = [];
        return;
      }
      if (result === -EAGAIN || result === 0) {
        this.#blocked.push(...items.slice(sent).map(ownCopy));
        this.#scheduleRetry();
        return;
      }
      if (result < 0) {
        // sendmmsg reports an error only for its first datagram: that one failed.
        const item = items[sent]!;
        this.fail(errnoException(result, 'send', item.address ?? undefined, item.port), item.callback);
        sent++;
        continue;
      }
      for (let i = sent; i < sent + result; i++) {
        const item = items[i]!;
        if (item.callback) process.nextTick(item.callback, null, item.chunks[0]!.byteLength);
      }
      sent += result;
    }
  }

  /**
   * sendBatch(): datagrams to `destinations` (null: the connected peer), one sendmmsg per
   * 1024. Returns how many were sent before the send buffer filled (EAGAIN); other errors
   * throw, with `sent` saying how many went out before.
   */
  sendBatch(datagrams: Uint8Array[], destinations: DestinationTable | null, marks?: SendMarks): number {
    let sent = 0;
    while (sent < datagrams.length) {
      const result = this.native.sendMany(
        datagrams,
        destinations?.table ?? null,
        destinations?.index ?? null,
        sent,
        marks?.ecn ?? null,
        marks?.sources ?? null,
        marks?.sourceIndex ?? null,
      );
      if (result === -EAGAIN) break;
      if (result < 0) {
        const error = errnoException(result, 'sendmmsg') as NodeJS.ErrnoException & { sent: number };
        error.sent = sent;
        error.message += ` (after ${sent} of ${datagrams.length} datagrams were sent)`;
        throw error;
      }
      if (result === 0) break;
      sent += result;
    }
    return sent;
  }

  /** Retries datagrams that met a full send buffer (EAGAIN) until it drains. */
  #scheduleRetry(): void {
    if (this.#retryTimer) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      const blocked = this.#blocked;
      this.#blocked = [];
      for (let i = 0; i < blocked.length; i++) {
        const item = blocked[i]!;
        const result = this.native.send(item.chunks, item.address, item.port);
        if (result === -EAGAIN) {
          this.#blocked = blocked.slice(i).concat(this.#blocked);
          this.#scheduleRetry();
          return;
        }
        if (result < 0) this.fail(errnoException(result, 'send', item.address ?? undefined, item.port), item.callback);
        else if (item.callback) item.callback(null, result);
      }
    }, 1);
  }
}
