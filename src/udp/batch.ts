// What a receive delivers: DatagramBatch (one batch, borrowed), and the queue behind
// socket.batches(). The record layout is the addon's (native/recv_batch.h, exported by
// native/boundary.cc): a record per datagram, RECORD.WORDS 32-bit words. A batch's payloads
// are an ArrayBuffer of their own when the addon lends its memory (big batches); a small
// batch's are copied, and its records (and extras) follow them in the same ArrayBuffer.
import { formatIPv4, formatIPv4Word, formatIPv6, LITTLE_ENDIAN } from '../address';
import { binding } from '../native';
import { batchReleased } from './errors';

const { RECORD, EXTRA, TOKEN_LENT } = binding.constants;

/** Interface names by index, asked of the system once each (a link-local peer sends many datagrams). */
const scopeNames = new Map<number, string>();
function scopeName(index: number): string {
  let name = scopeNames.get(index);
  if (name === undefined) {
    name = binding.interfaceName(index);
    if (scopeNames.size >= 256) scopeNames.clear();
    scopeNames.set(index, name);
  }
  return name;
}

const enum BatchState {
  Live,
  Released,
  Kept,
}

/**
 * One batch of received datagrams, borrowed: its payloads are valid while its handler runs
 * (onBatch), or until the batches() loop asks for the next batch. Then its memory takes later
 * batches, and data/payload() throw ERR_URING_BATCH_RELEASED; a view taken earlier reads
 * whatever is there by then (never freed memory). keep() makes a batch yours for good. Reading
 * it allocates nothing per datagram unless asked to (payload(i) and address(i) make a view and a
 * string).
 */
export class DatagramBatch {
  /** Number of datagrams. */
  readonly count: number;
  readonly #arena: ArrayBuffer;
  /** `data`, made when first asked for (a request's single datagram needs only its payload). */
  #data: Buffer | undefined;
  readonly #records: Uint32Array;
  /** The records as bytes, made when an address needs them (IPv6, or a big-endian machine). */
  #bytes: Uint8Array | undefined;
  /** A socket with ecn or pktinfo: each datagram's extra words, after the records in their buffer. */
  readonly #extras: Uint32Array | null;
  readonly #token: number;
  readonly #settle: (token: number, reuse: boolean) => void;
  #state = BatchState.Live;
  #holders = 1; // the delivery itself, until its handler returns; then each batches() queue it was given

  /** @internal */
  constructor(arena: ArrayBuffer, records: Uint32Array, token: number, settle: (token: number, reuse: boolean) => void) {
    this.count = records.length / RECORD.WORDS;
    this.#arena = arena;
    this.#records = records;
    const end = records.byteOffset + records.byteLength;
    this.#extras = records.buffer.byteLength > end ? new Uint32Array(records.buffer, end, this.count * EXTRA.WORDS) : null;
    this.#token = token;
    this.#settle = settle;
  }

  /** All payloads of the batch, back to back (a view; valid as long as the batch is). */
  get data(): Buffer {
    if (this.#state === BatchState.Released) throw batchReleased();
    return (this.#data ??= Buffer.from(this.#arena, 0, this.#payloadBytes()));
  }

  /**
   * Bytes of payload at the start of the arena. A small batch comes in one ArrayBuffer, its
   * records after its payloads (4-byte aligned): they end where the last datagram does.
   */
  #payloadBytes(): number {
    if (this.#records.buffer !== this.#arena) return this.#arena.byteLength;
    if (this.count === 0) return 0;
    const last = (this.count - 1) * RECORD.WORDS;
    return this.#records[last + RECORD.OFFSET]! + this.#records[last + RECORD.LENGTH]!;
  }

  #recordBytes(): Uint8Array {
    return (this.#bytes ??= new Uint8Array(this.#records.buffer, this.#records.byteOffset, this.#records.byteLength));
  }

  /**
   * Keeps the batch and its payload views valid for good, without a copy: its memory is no
   * longer reused, and is freed when nothing references it (garbage collection). Call it while
   * the handler runs (or before the loop moves on); a released batch throws. Returns the batch.
   */
  keep(): this {
    if (this.#state === BatchState.Released) throw batchReleased();
    if (this.#state === BatchState.Live) {
      this.#state = BatchState.Kept;
      this.#settle(this.#token, false);
    }
    return this;
  }

  /** @internal true while its payloads sit in memory the socket reuses (they must be copied to be kept). */
  get _lent(): boolean {
    return (this.#token & TOKEN_LENT) !== 0;
  }
  /** @internal */
  get _token(): number {
    return this.#token;
  }
  /** @internal another holder (a batches() queue) defers its release */
  _hold(): void {
    this.#holders++;
  }
  /**
   * @internal a holder is done with it; the last one releases it. `settle`: the socket still has
   * to be told (a deferred batch); false when the delivery settles it (the handler returned).
   */
  _unhold(settle: boolean): void {
    if (--this.#holders > 0) return;
    if (this.#state !== BatchState.Live) return;
    this.#state = BatchState.Released;
    if (settle) this.#settle(this.#token, true);
  }

  /** Offset of datagram i's payload in `data`. */
  offset(i: number): number {
    return this.#records[i * RECORD.WORDS + RECORD.OFFSET]!;
  }
  /** Bytes of datagram i in `data`. */
  length(i: number): number {
    return this.#records[i * RECORD.WORDS + RECORD.LENGTH]!;
  }
  /** The datagram's length on the wire (greater than length(i) when truncated). */
  wireLength(i: number): number {
    return this.#records[i * RECORD.WORDS + RECORD.WIRE_LENGTH]!;
  }
  port(i: number): number {
    return this.#records[i * RECORD.WORDS + RECORD.PORT_FAMILY_FLAGS]! & 0xffff;
  }
  /** 4 or 6. */
  family(i: number): 4 | 6 {
    return ((this.#records[i * RECORD.WORDS + RECORD.PORT_FAMILY_FLAGS]! >>> 16) & 0xff) === 6 ? 6 : 4;
  }
  truncated(i: number): boolean {
    return ((this.#records[i * RECORD.WORDS + RECORD.PORT_FAMILY_FLAGS]! >>> 24) & RECORD.FLAG_TRUNCATED) !== 0;
  }
  /**
   * The sender's address as text (cached per address); an IPv6 sender with a scope (link-local)
   * carries its interface, "fe80::1%eth0", as in dgram.
   */
  address(i: number): string {
    const word = i * RECORD.WORDS + RECORD.ADDRESS;
    if (this.family(i) !== 6) return LITTLE_ENDIAN ? formatIPv4Word(this.#records[word]!) : formatIPv4(this.#recordBytes(), word * 4);
    const text = formatIPv6(this.#recordBytes(), word * 4);
    const scope = this.#records[i * RECORD.WORDS + RECORD.SCOPE_ID]!;
    return scope === 0 ? text : `${text}%${scopeName(scope)}`;
  }
  /** The TOS byte (IPv6: traffic class) datagram i came with; undefined unless the socket has `ecn: true` and the kernel said. */
  tos(i: number): number | undefined {
    const word = this.#extras?.[i * EXTRA.WORDS + EXTRA.TOS_FLAGS];
    return word === undefined || ((word >>> 8) & EXTRA.FLAG_TOS) === 0 ? undefined : word & 0xff;
  }
  /** Datagram i's ECN codepoint (0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE): the low two bits of tos(i); undefined as tos(i). */
  ecn(i: number): number | undefined {
    const tos = this.tos(i);
    return tos === undefined ? undefined : tos & 3;
  }
  /** The local address datagram i was sent to (a server bound to 0.0.0.0 learns which of its addresses); undefined unless the socket has `pktinfo: true`. */
  localAddress(i: number): string | undefined {
    if (!this.#extras) return undefined;
    const word = this.#extras[i * EXTRA.WORDS + EXTRA.TOS_FLAGS]!;
    const flags = word >>> 8;
    if ((flags & EXTRA.FLAG_LOCAL) === 0) return undefined;
    const bytes = new Uint8Array(this.#extras.buffer, this.#extras.byteOffset, this.#extras.byteLength);
    const at = (i * EXTRA.WORDS + EXTRA.LOCAL) * 4;
    if ((flags & EXTRA.FLAG_LOCAL6) !== 0) return formatIPv6(bytes, at);
    // An IPv4 datagram on a udp6 socket (dual stack): its local address as the sender's is, mapped.
    return this.family(i) === 6 ? `::ffff:${formatIPv4(bytes, at)}` : formatIPv4(bytes, at);
  }
  /** The index of the interface datagram i arrived on; undefined unless the socket has `pktinfo: true`. */
  interfaceIndex(i: number): number | undefined {
    if (!this.#extras) return undefined;
    const flags = this.#extras[i * EXTRA.WORDS + EXTRA.TOS_FLAGS]! >>> 8;
    return (flags & EXTRA.FLAG_LOCAL) === 0 ? undefined : this.#extras[i * EXTRA.WORDS + EXTRA.IFINDEX];
  }
  /** A view of datagram i's payload (a Buffer over `data`, no copy): valid as long as the batch is. */
  payload(i: number): Buffer {
    if (this.#state === BatchState.Released) throw batchReleased();
    const offset = this.#records[i * RECORD.WORDS + RECORD.OFFSET]!;
    const length = this.#records[i * RECORD.WORDS + RECORD.LENGTH]!;
    // A view straight over the batch's memory: no `data` made for it.
    return Buffer.from(this.#arena, offset, length);
  }
  /** Datagrams as objects, for convenience (allocates per datagram). */
  *[Symbol.iterator](): IterableIterator<{ payload: Buffer; address: string; port: number; family: 4 | 6; truncated: boolean }> {
    for (let i = 0; i < this.count; i++) {
      yield { payload: this.payload(i), address: this.address(i), port: this.port(i), family: this.family(i), truncated: this.truncated(i) };
    }
  }
}

export type BatchHandler = (batch: DatagramBatch) => void;

/** Datagrams in a delivery's list ([arena, records, token] per batch). */
export function datagramsIn(list: ReadonlyArray<ArrayBuffer | Uint32Array | number>): number {
  let n = 0;
  for (let i = 1; i < list.length; i += 3) n += (list[i] as Uint32Array).length / RECORD.WORDS;
  return n;
}

/**
 * The queue behind socket.batches(). Each batch it was given is held (not released) until the
 * loop asks for the one after it, or leaves.
 */
export class BatchQueue implements AsyncIterableIterator<DatagramBatch> {
  #items: DatagramBatch[] = [];
  #waiting: Array<(result: IteratorResult<DatagramBatch>) => void> = [];
  #current: DatagramBatch | undefined;
  #done = false;
  constructor(private readonly onReturn: () => void) {}

  push(batch: DatagramBatch): void {
    batch._hold();
    const waiter = this.#waiting.shift();
    if (waiter) {
      this.#current = batch;
      waiter({ value: batch, done: false });
    } else {
      this.#items.push(batch);
    }
  }

  end(): void {
    this.#done = true;
    for (const waiter of this.#waiting.splice(0)) waiter({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<DatagramBatch>> {
    // Asking for the next batch says the loop is done with the one it had.
    this.#current?._unhold(true);
    this.#current = undefined;
    const item = this.#items.shift();
    if (item) {
      this.#current = item;
      return Promise.resolve({ value: item, done: false });
    }
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  return(): Promise<IteratorResult<DatagramBatch>> {
    this.end();
    this.#current?._unhold(true);
    this.#current = undefined;
    for (const item of this.#items.splice(0)) item._unhold(true);
    this.onReturn();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<DatagramBatch> {
    return this;
  }
}
