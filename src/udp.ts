// UDP sockets: a drop-in for node:dgram's Socket, received on a native thread through io_uring
// multishot recvmsg (or a fallback), with a batch API that crosses into JS once per batch.
import dns from 'node:dns';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import util from 'node:util';

import { formatIPv4, formatIPv6 } from './address';
import { binding, type NativeUdp } from './native';
import { rethrowLater } from './errors';
import * as v from './validate';
import { registerOwner, unregisterOwner } from './watchdog';
import { parseWatchdogOption } from './ring';

export type SocketType = 'udp4' | 'udp6';
export type Backend = 'recvmsg-multishot' | 'poll-recvmmsg' | 'recvmmsg';
const BACKENDS: readonly Backend[] = ['recvmsg-multishot', 'poll-recvmmsg', 'recvmmsg'];

export type LookupFunction = (
  hostname: string,
  options: dns.LookupOneOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
) => void;

export interface SocketOptions {
  type: SocketType;
  reuseAddr?: boolean;
  reusePort?: boolean;
  ipv6Only?: boolean;
  recvBufferSize?: number;
  sendBufferSize?: number;
  lookup?: LookupFunction;
  signal?: AbortSignal;
  /** Receive path: the fastest this kernel allows by default, or forced. Env: URING_UDP_BACKEND. */
  backend?: Backend | 'auto';
  /** Largest datagram delivered whole (1..65507, default 65507). Larger ones arrive truncated and are reported. */
  maxDatagramSize?: number;
  /**
   * Provided buffers in the buffer ring (a power of two, 1..32768). Default: as many as fit in
   * half of `receiveBudget` (less the recvmmsg scratch), at most 1024.
   */
  bufferCount?: number;
  /**
   * Bytes this socket may hold for receiving (default 32 MiB, at least 256 KiB): its buffer ring
   * or recvmmsg scratch, and the datagrams copied out of the kernel that JavaScript has not yet
   * been handed (or not yet taken from a batches() queue). When they reach it the socket stops
   * taking datagrams from the kernel until JS catches up; the kernel drops what its socket
   * buffer cannot hold (stats.kernelDrops).
   */
  receiveBudget?: number;
  /** Under load, wait up to `delayUs` for `count` datagrams before waking JS (default { count: 256, delayUs: 1000 }). recvmsg-multishot only. */
  batch?: { count?: number; delayUs?: number };
  /**
   * recvmsg-multishot backend: read sparse traffic on the JS thread (recvmmsg, one thread hop
   * per datagram instead of two) and hand the socket to the ring thread when traffic grows.
   * Default true.
   */
  hybrid?: boolean;
  /** Watchdog thresholds for this socket's receiver thread, or false to leave it unwatched. */
  watchdog?: false | { stuckMs?: number; starvedMs?: number };
}

const SOCKET_OPTIONS = [
  'type',
  'reuseAddr',
  'reusePort',
  'ipv6Only',
  'recvBufferSize',
  'sendBufferSize',
  'lookup',
  'signal',
  'backend',
  'maxDatagramSize',
  'bufferCount',
  'receiveBudget',
  'batch',
  'watchdog',
  'hybrid',
] as const;

export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
  /** Present (true) only when the datagram was longer than maxDatagramSize and was cut. */
  truncated?: boolean;
}

export interface SocketStats {
  datagrams: number;
  bytes: number;
  /** Datagrams the kernel dropped for this socket, mostly for a full receive buffer (its drop counter, read when asked). */
  kernelDrops: number;
  /** Times the buffer ring ran dry and the receive request was re-armed once buffers returned. */
  enobufs: number;
  /** Multishot requests re-armed after the kernel ended them. */
  rearms: number;
  truncated: number;
  /** io_uring_enter calls made by the receiver thread. */
  enters: number;
  /** Batches handed to JS (one JS call each), by the receiver thread or the JS thread's own reads. */
  batches: number;
  /** recvmmsg calls the JS thread made itself (hybrid sockets, sparse traffic). */
  directReads: number;
  /**
   * Waits after which the kernel flagged a CQ overflow (IORING_SQ_CQ_OVERFLOW): completions
   * outran the receiver thread. The precondition of the 6.1.113–115 hang (docs/kernel-bugs.md).
   */
  overflowFlagSeen: number;
  /** Times the receiver stopped taking datagrams from the kernel because receiveBudget was full (JS was behind). */
  budgetPauses: number;
}
/** sendMany's destination table: the slot of (address, port), added on first sight. */
function destinationSlot(keys: Map<string, number>, table: Array<[string, number]>, address: string, port: number): number {
  const key = `${address}|${port}`;
  let slot = keys.get(key);
  if (slot === undefined) {
    slot = table.length;
    keys.set(key, slot);
    table.push([address, port]);
  }
  return slot;
}

/** sendBatch's destination index when every datagram goes to one destination (never written). */
const ZERO_INDEX = new Uint32Array(1024);

const STAT_NAMES: Array<Exclude<keyof SocketStats, 'directReads' | 'kernelDrops'>> = [
  'datagrams',
  'bytes',
  'enobufs',
  'rearms',
  'truncated',
  'enters',
  'batches',
  'overflowFlagSeen',
  'budgetPauses',
];

/**
 * Internal, for src/repro.ts only: an option under this symbol gives the socket's receiver the
 * reproducer's ring (a CQ of `cqEntries`, set up plain, busy-polled). Not part of the API.
 */
export const kReproRing: unique symbol = Symbol('uring-udp repro ring');
export interface ReproRing {
  cqEntries: number;
  busyWait: boolean;
}
// The JS thread's direct reads (hybrid sockets): datagrams, bytes, truncated, reads.
const DIRECT_STAT_COUNT = 4;

const { RECV_STAT_COUNT, RECV_HEADER_BYTES } = binding.constants;
const RECORD_WORDS = 8;
// The largest UDP payload: 65535 minus the UDP header and, for IPv4, the minimal IP header.
const MAX_UDP_PAYLOAD = { udp4: 65507, udp6: 65527 } as const;
const DEFAULT_RECEIVE_BUDGET = 32 * 1024 * 1024;
const MIN_RECEIVE_BUDGET = 256 * 1024;
const MAX_RECEIVE_BUDGET = 2 ** 40;
const MAX_DEFAULT_BUFFERS = 1024;
// Datagrams per recvmmsg, as the addon sizes its scratch (RecvmmsgBatchFor): 64, or what a quarter of the budget holds.
const recvmmsgBatch = (budget: number, maxDatagram: number) => Math.min(64, Math.max(1, Math.floor(budget / 4 / maxDatagram)));
const bufferSizeFor = (maxDatagram: number) => Math.ceil((maxDatagram + RECV_HEADER_BYTES) / 64) * 64;
let nextSocketId = 1;

// ---- errors shaped like node:dgram's ---------------------------------------------------------

function codedError<T extends Error>(error: T, code: string): T & { code: string } {
  Object.defineProperty(error, 'code', { value: code, enumerable: true, writable: true, configurable: true });
  return error as T & { code: string };
}
const notRunning = () => codedError(new Error('Not running'), 'ERR_SOCKET_DGRAM_NOT_RUNNING');
const alreadyBound = () => codedError(new Error('Socket is already bound'), 'ERR_SOCKET_ALREADY_BOUND');
const isConnected = () => codedError(new Error('Already connected'), 'ERR_SOCKET_DGRAM_IS_CONNECTED');
const notConnected = () => codedError(new Error('Not connected'), 'ERR_SOCKET_DGRAM_NOT_CONNECTED');
const badType = () => codedError(new TypeError('Bad socket type specified. Valid types are: udp4, udp6'), 'ERR_SOCKET_BAD_TYPE');
const badBufferSize = () => codedError(new TypeError('Buffer size must be a positive integer'), 'ERR_SOCKET_BAD_BUFFER_SIZE');
function badPort(value: unknown, allowZero: boolean): RangeError {
  const received = value === undefined ? 'undefined' : `type ${typeof value} (${util.inspect(value)})`;
  return codedError(new RangeError(`Port should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${received}.`), 'ERR_SOCKET_BAD_PORT');
}
function invalidArgType(name: string, expected: string, value: unknown): TypeError {
  const received = value === null || value === undefined ? String(value) : `type ${typeof value} (${util.inspect(value)})`;
  return codedError(new TypeError(`The "${name}" argument must be ${expected}. Received ${received}`), 'ERR_INVALID_ARG_TYPE');
}
const missingArgs = (name: string) => codedError(new TypeError(`The "${name}" argument must be specified`), 'ERR_MISSING_ARGS');

/** An errno error like libuv's: "send EMSGSIZE 127.0.0.1:1234", with code, errno, syscall. */
function errnoException(negErrno: number, syscall: string, address?: string, port?: number): NodeJS.ErrnoException {
  const code = util.getSystemErrorName(negErrno);
  const where = address !== undefined ? ` ${address}${port !== undefined && port > 0 ? `:${port}` : ''}` : '';
  const error = new Error(`${syscall} ${code}${where}`) as NodeJS.ErrnoException & { address?: string; port?: number };
  error.errno = negErrno;
  error.code = code;
  error.syscall = syscall;
  if (address !== undefined) error.address = address;
  if (port !== undefined && port > 0) error.port = port;
  return error;
}

function fromNativeErrno(error: unknown, syscall: string, address?: string, port?: number): Error {
  const e = error as { errno?: number };
  if (error instanceof Error && typeof e.errno === 'number') return errnoException(e.errno, syscall, address, port);
  return error as Error;
}

function validPort(value: unknown, allowZero: boolean): number {
  if (typeof value === 'string' && value.trim() !== '' && Number.isInteger(Number(value))) value = Number(value);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1) || value > 65535) {
    throw badPort(value, allowZero);
  }
  return value;
}

// ---- batches --------------------------------------------------------------------------------

const enum BatchState {
  Live,
  Released,
  Kept,
}

const batchReleased = () =>
  codedError(
    new Error(
      'this batch was released when its handler returned (or its batches() loop moved on) and its memory now holds later ' +
        'datagrams: copy what you keep while the handler runs (Buffer.from(batch.payload(i))), or call batch.keep() there',
    ),
    'ERR_URING_BATCH_RELEASED',
  );

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
  readonly #data: Buffer;
  readonly #records: Uint32Array;
  readonly #bytes: Uint8Array;
  readonly #token: number;
  readonly #settle: (token: number, reuse: boolean) => void;
  #state = BatchState.Live;
  #holders = 1; // the delivery itself, until its handler returns; then each batches() queue it was given

  /** @internal */
  constructor(arena: ArrayBuffer, records: Uint32Array, token: number, settle: (token: number, reuse: boolean) => void) {
    this.count = records.length / RECORD_WORDS;
    this.#data = Buffer.from(arena);
    this.#records = records;
    this.#bytes = new Uint8Array(records.buffer, records.byteOffset, records.byteLength);
    this.#token = token;
    this.#settle = settle;
  }

  /** All payloads of the batch, back to back (a view; valid as long as the batch is). */
  get data(): Buffer {
    if (this.#state === BatchState.Released) throw batchReleased();
    return this.#data;
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
    return (this.#token & 1) === 1;
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
    return this.#records[i * RECORD_WORDS]!;
  }
  /** Bytes of datagram i in `data`. */
  length(i: number): number {
    return this.#records[i * RECORD_WORDS + 1]!;
  }
  /** The datagram's length on the wire (greater than length(i) when truncated). */
  wireLength(i: number): number {
    return this.#records[i * RECORD_WORDS + 7]!;
  }
  port(i: number): number {
    return this.#records[i * RECORD_WORDS + 2]! & 0xffff;
  }
  /** 4 or 6. */
  family(i: number): 4 | 6 {
    return ((this.#records[i * RECORD_WORDS + 2]! >>> 16) & 0xff) === 6 ? 6 : 4;
  }
  truncated(i: number): boolean {
    return ((this.#records[i * RECORD_WORDS + 2]! >>> 24) & 1) === 1;
  }
  /** The sender's address as text (cached per address). */
  address(i: number): string {
    const at = (i * RECORD_WORDS + 3) * 4;
    return this.family(i) === 6 ? formatIPv6(this.#bytes, at) : formatIPv4(this.#bytes, at);
  }
  /** A view of datagram i's payload (a Buffer over `data`, no copy): valid as long as the batch is. */
  payload(i: number): Buffer {
    if (this.#state === BatchState.Released) throw batchReleased();
    const offset = this.#records[i * RECORD_WORDS]!;
    return this.#data.subarray(offset, offset + this.#records[i * RECORD_WORDS + 1]!);
  }
  /** Datagrams as objects, for convenience (allocates per datagram). */
  *[Symbol.iterator](): IterableIterator<{ payload: Buffer; address: string; port: number; family: 4 | 6; truncated: boolean }> {
    for (let i = 0; i < this.count; i++) {
      yield { payload: this.payload(i), address: this.address(i), port: this.port(i), family: this.family(i), truncated: this.truncated(i) };
    }
  }
}

export type BatchHandler = (batch: DatagramBatch) => void;

export interface Destination {
  port: number;
  address: string;
}

// ---- the socket -----------------------------------------------------------------------------

type Callback = (error: Error | null, bytes?: number) => void;
interface QueuedSend {
  chunks: Uint8Array[];
  port: number;
  address: string | null;
  callback: Callback | undefined;
}

const enum BindState {
  Unbound,
  Binding,
  Bound,
}
const enum ConnectState {
  None,
  Connecting,
  Connected,
}

function defaultBackend(): Backend | 'auto' {
  const forced = process.env.URING_UDP_BACKEND;
  if (forced === undefined || forced === '' || forced === 'auto') return 'auto';
  if (!(BACKENDS as readonly string[]).includes(forced)) {
    throw v.rangeError(`URING_UDP_BACKEND must be one of auto, ${BACKENDS.join(', ')}, got ${JSON.stringify(forced)}`);
  }
  return forced as Backend;
}

export class Socket extends EventEmitter {
  readonly type: SocketType;
  readonly #family: 4 | 6;
  readonly #native: NativeUdp;
  readonly #lookup: LookupFunction;
  readonly #options: SocketOptions;
  readonly #stats = new Float64Array(RECV_STAT_COUNT);
  /** Process-unique id, used in watchdog reports. */
  readonly id = nextSocketId++;
  readonly #watch: false | { stuckMs?: number; starvedMs?: number };
  readonly #forced: boolean;
  readonly #hybrid: boolean;
  readonly #directStats = new Float64Array(DIRECT_STAT_COUNT);
  #batchesDelivered = 0;
  readonly #settle = (token: number, reuse: boolean): void => this.#native.settle(token, reuse);
  readonly #recvConfig: {
    backend: Backend | 'auto';
    maxDatagramSize: number;
    bufferCount: number;
    receiveBudget: number;
    batchCount: number;
    batchDelayUs: number;
    repro?: ReproRing;
  };
  #bindState = BindState.Unbound;
  #connectState = ConnectState.None;
  #closed = false;
  #receiving = false;
  #stopped = false;
  #refed = true;
  #backend: Backend | null = null;
  #queue: Array<() => void> | undefined;
  #blocked: QueuedSend[] = [];
  #retryTimer: NodeJS.Timeout | undefined;
  #batchHandler: BatchHandler | undefined;
  #iterators = new Set<BatchQueue>();
  #closeCallbacks: Array<() => void> = [];
  /**
   * Sends made while 'message' listeners handle a batch (their address resolution lands in the
   * same tick queue) are gathered here and leave in one sendmmsg when that queue has run:
   * a server answering each request costs one syscall per batch, not one per datagram. Null
   * when not gathering.
   */
  #cork: QueuedSend[] | null = null;

  constructor(options: SocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void) {
    super();
    v.checkOptionNames(options, SOCKET_OPTIONS, 'createSocket');
    if (options.type !== 'udp4' && options.type !== 'udp6') throw badType();
    this.type = options.type;
    this.#family = options.type === 'udp4' ? 4 : 6;
    this.#options = options;
    if (options.lookup !== undefined && typeof options.lookup !== 'function') {
      throw invalidArgType('lookup', 'of type function', options.lookup);
    }
    this.#lookup = options.lookup ?? (dns.lookup as unknown as LookupFunction);
    for (const name of ['recvBufferSize', 'sendBufferSize'] as const) {
      const size = options[name];
      if (!size) continue; // as dgram: 0, null, NaN leave the kernel's default
      if (typeof size !== 'number') throw invalidArgType(`options.${name}`, 'of type number', size);
      if (!Number.isInteger(size) || size < 0 || size > 0x7fffffff) {
        throw codedError(new RangeError(`The value of "options.${name}" is out of range. It must be >= 0 && <= 2147483647. Received ${size}`), 'ERR_OUT_OF_RANGE');
      }
    }
    const backend = options.backend === undefined ? defaultBackend() : v.oneOf(options.backend, 'backend', ['auto', ...BACKENDS] as const);
    const largest = MAX_UDP_PAYLOAD[this.type];
    const maxDatagramSize =
      options.maxDatagramSize === undefined ? largest : v.integer(options.maxDatagramSize, 'maxDatagramSize', 1, largest);
    this.#watch = parseWatchdogOption(options.watchdog, 'createSocket');
    this.#forced = backend !== 'auto';
    this.#hybrid = options.hybrid === undefined ? true : v.boolean(options.hybrid, 'hybrid');
    const receiveBudget =
      options.receiveBudget === undefined
        ? DEFAULT_RECEIVE_BUDGET
        : v.integer(options.receiveBudget, 'receiveBudget', MIN_RECEIVE_BUDGET, MAX_RECEIVE_BUDGET);
    const bufferCount = ringBufferCount(options.bufferCount, receiveBudget, maxDatagramSize, this.#hybrid);
    const batch = v.optionsObject(options.batch, 'createSocket batch');
    v.checkOptionNames(batch, ['count', 'delayUs'], 'createSocket batch');
    this.#recvConfig = {
      backend,
      maxDatagramSize,
      bufferCount,
      receiveBudget,
      batchCount: batch.count === undefined ? 256 : v.integer(batch.count, 'batch.count', 1, 65536),
      batchDelayUs: batch.delayUs === undefined ? 1000 : v.integer(batch.delayUs, 'batch.delayUs', 0, 1000000),
      repro: (options as { [kReproRing]?: ReproRing })[kReproRing],
    };
    if (listener !== undefined && listener !== null) {
      if (typeof listener !== 'function') throw invalidArgType('listener', 'of type function', listener);
      this.on('message', listener);
    }
    const signal = options.signal;
    if (
      signal !== undefined &&
      (typeof signal !== 'object' || signal === null || typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function')
    ) {
      throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
    }
    // The socket itself comes last: nothing after this throws, so a constructor that throws
    // never leaves a descriptor behind.
    this.#native = new binding.NativeUdp(this.#family, (batches, errno, stopped) => this.#onBatches(batches, errno, stopped));
    if (signal !== undefined) {
      // As dgram: an aborted signal closes the socket at once; the listener goes with the socket.
      if (signal.aborted) {
        this.#abortClose();
      } else {
        const onAbort = () => this.#abortClose();
        signal.addEventListener('abort', onAbort, { once: true });
        this.once('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
  }

  #abortClose(): void {
    if (!this.#closed) this.close();
  }

  /** Which receive path runs: 'recvmsg-multishot', 'poll-recvmmsg' or 'recvmmsg'; null before bind. */
  get backend(): Backend | null {
    if (!this.#receiving) return this.#backend;
    const live = this.#native.backend();
    return live === null ? this.#backend : (BACKENDS[live] ?? null);
  }

  /** File descriptor of the socket (-1 once closed). */
  get fd(): number {
    return this.#native.fd;
  }

  get stats(): SocketStats {
    const out = {} as SocketStats;
    STAT_NAMES.forEach((name, i) => {
      out[name] = this.#stats[i] ?? 0;
    });
    const d = this.#directStats;
    out.datagrams += d[0]!;
    out.bytes += d[1]!;
    out.truncated += d[2]!;
    out.directReads = d[3]!;
    out.batches = this.#batchesDelivered;
    out.kernelDrops = this.#native.kernelDrops(); // asked of the kernel now
    return out;
  }

  /**
   * Memory this socket holds for receiving, in bytes: the buffer ring's buffers (virtual;
   * pages are resident once a datagram has touched them) plus, for the recvmmsg backends,
   * their scratch space.
   */
  get receiveMemory(): number {
    const bufferSize = this.#bufferSize();
    // Before bind: what the configured backend will hold (auto starts with recvmsg-multishot).
    const backend = this.backend ?? (this.#recvConfig.backend === 'auto' ? 'recvmsg-multishot' : this.#recvConfig.backend);
    if (backend === 'recvmsg-multishot') return this.#recvConfig.bufferCount * bufferSize;
    return recvmmsgBatch(this.#recvConfig.receiveBudget, this.#recvConfig.maxDatagramSize) * this.#recvConfig.maxDatagramSize;
  }

  /** The most this socket holds for receiving, in bytes (the `receiveBudget` option). */
  get receiveBudget(): number {
    return this.#recvConfig.receiveBudget;
  }

  #bufferSize(): number {
    return bufferSizeFor(this.#recvConfig.maxDatagramSize);
  }

  #healthCheck(): void {
    if (this.#closed) throw notRunning();
  }

  // ---- bind ---------------------------------------------------------------------------------

  bind(port?: number | BindOptions | (() => void), address?: string | (() => void), callback?: () => void): this {
    this.#healthCheck();
    if (this.#bindState !== BindState.Unbound) throw alreadyBound();
    let options: { port: unknown; address: unknown };
    if (typeof port === 'function') {
      callback = port;
      options = { port: 0, address: undefined };
    } else if (port !== null && typeof port === 'object') {
      if (typeof address === 'function') callback = address;
      if (port.fd !== undefined) throw codedError(new TypeError('bind({ fd }) is not supported by uring-udp sockets'), 'ERR_INVALID_ARG_VALUE');
      options = { port: port.port ?? 0, address: port.address };
    } else {
      if (typeof address === 'function') {
        callback = address;
        address = undefined;
      }
      options = { port: port ?? 0, address };
    }
    const boundPort = validPort(options.port, true);
    if (options.address !== undefined && typeof options.address !== 'string') {
      throw invalidArgType('hostname', 'of type string', options.address);
    }
    if (callback !== undefined) this.once('listening', callback);
    this.#bindState = BindState.Binding;
    const host = (options.address as string | undefined) || (this.#family === 4 ? '0.0.0.0' : '::');
    this.#resolve(host, (error, ip) => {
      if (this.#closed) return;
      if (error) {
        this.#bindState = BindState.Unbound;
        this.emit('error', error);
        return;
      }
      try {
        this.#applyPreBindOptions();
        this.#native.bind(ip, boundPort);
        this.#applyPostBindOptions();
      } catch (e) {
        this.#bindState = BindState.Unbound;
        this.emit('error', fromNativeErrno(e, 'bind', ip, boundPort));
        return;
      }
      this.#bindState = BindState.Bound;
      this.#startReceiving();
      this.emit('listening');
      this.#flushQueue();
    });
    return this;
  }

  #applyPreBindOptions(): void {
    const o = this.#options;
    if (o.reuseAddr) this.#native.setOption('SO_REUSEADDR', 1);
    if (o.reusePort) this.#native.setOption('SO_REUSEPORT', 1);
    if (this.#family === 6 && o.ipv6Only !== undefined) this.#native.setOption('IPV6_V6ONLY', o.ipv6Only ? 1 : 0);
  }

  #applyPostBindOptions(): void {
    const o = this.#options;
    if (o.recvBufferSize) this.#native.setOption('SO_RCVBUF', o.recvBufferSize);
    if (o.sendBufferSize) this.#native.setOption('SO_SNDBUF', o.sendBufferSize);
  }

  #startReceiving(): void {
    const c = this.#recvConfig;
    const wanted = c.backend === 'auto' ? 0 : BACKENDS.indexOf(c.backend);
    const started = this.#native.startReceiving(
      {
        backend: wanted,
        maxDatagramSize: c.maxDatagramSize,
        bufferSize: this.#bufferSize(),
        bufferCount: c.bufferCount,
        batchCount: c.batchCount,
        batchDelayUs: c.batchDelayUs,
        maxWaitMs: 500,
        receiveBudget: c.receiveBudget,
        watchdog: this.#watch !== false,
        id: this.id,
        stuckMs: this.#watch ? (this.#watch.stuckMs ?? 0) : 0,
        starvedMs: this.#watch ? (this.#watch.starvedMs ?? 0) : 0,
        hybrid: this.#hybrid,
        ...(c.repro ? { cqEntries: c.repro.cqEntries, busyWait: c.repro.busyWait } : {}),
      },
      this.#stats,
      this.#directStats,
    );
    this.#backend = BACKENDS[started] ?? null;
    this.#receiving = true;
    if (this.#watch !== false) registerOwner('socket', this.id, this);
    if (!this.#refed) this.#native.unref();
    if (this.#forced && this.#backend !== c.backend) {
      // A forced backend is a requirement (tests rely on it), not a starting point.
      const error = codedError(
        new Error(`backend '${c.backend}' was forced but cannot run here (io_uring or a feature it needs is missing or forbidden); '${this.#backend}' would`),
        'ERR_URING_BACKEND_UNAVAILABLE',
      );
      process.nextTick(() => {
        this.emit('error', error);
        if (!this.#closed) this.close();
      });
    }
  }

  /** Binds to an ephemeral port when a send or connect needs a bound socket (as dgram does). */
  #ensureBound(): void {
    if (this.#bindState === BindState.Unbound) this.bind({ port: 0 });
  }

  #resolve(host: string, callback: (error: Error | null, ip: string) => void): void {
    if (net.isIP(host) !== 0) {
      process.nextTick(callback, null, host);
      return;
    }
    // dgram passes the family as a number (its typings say an options object); dns.lookup takes both.
    this.#lookup(host, this.#family as dns.LookupOneOptions, (error, ip) => callback(error, ip));
  }

  #flushQueue(): void {
    if (this.#bindState !== BindState.Bound || this.#connectState === ConnectState.Connecting) return;
    const queue = this.#queue;
    this.#queue = undefined;
    if (queue) for (const run of queue) run();
  }

  #enqueue(run: () => void): void {
    (this.#queue ??= []).push(run);
  }

  address(): { address: string; family: string; port: number } {
    this.#healthCheck();
    if (this.#bindState !== BindState.Bound) throw errnoException(-9, 'getsockname');
    return this.#native.localAddress();
  }

  // ---- connect ------------------------------------------------------------------------------

  connect(port: number, address?: string | ((error?: Error) => void), callback?: (error?: Error) => void): void {
    const validated = validPort(port, false);
    if (typeof address === 'function') {
      callback = address;
      address = undefined;
    }
    if (address !== undefined && typeof address !== 'string') throw invalidArgType('address', 'of type string', address);
    this.#healthCheck();
    if (this.#connectState !== ConnectState.None) throw isConnected();
    this.#connectState = ConnectState.Connecting;
    if (callback !== undefined) this.once('connect', callback);
    this.#ensureBound();
    const host = address || (this.#family === 4 ? '127.0.0.1' : '::1');
    const doConnect = () => {
      this.#resolve(host, (error, ip) => {
        if (this.#closed) return;
        if (!error) {
          try {
            this.#native.connect(ip, validated);
          } catch (e) {
            error = fromNativeErrno(e, 'connect', ip, validated);
          }
        }
        if (error) {
          this.#connectState = ConnectState.None;
          // As dgram: a failed connect goes to its callback when there is one, else to 'error'.
          if (callback) {
            this.removeListener('connect', callback);
            callback(error);
          } else {
            this.emit('error', error);
          }
          this.#flushQueue();
          return;
        }
        this.#connectState = ConnectState.Connected;
        this.emit('connect');
        this.#flushQueue();
      });
    };
    // Not through the queue: #flushQueue holds the queue while connecting.
    if (this.#bindState === BindState.Bound) doConnect();
    else this.once('listening', doConnect);
  }

  disconnect(): void {
    if (this.#connectState !== ConnectState.Connected) throw notConnected(); // before the health check, as dgram
    this.#healthCheck();
    this.#native.disconnect();
    this.#connectState = ConnectState.None;
  }

  remoteAddress(): { address: string; family: string; port: number } {
    this.#healthCheck();
    if (this.#connectState !== ConnectState.Connected) throw notConnected();
    return this.#native.remoteAddress();
  }

  // ---- send ---------------------------------------------------------------------------------

  send(msg: DatagramData | readonly DatagramData[], ...args: unknown[]): void {
    let list: Uint8Array[];
    let port: unknown;
    let address: unknown;
    let callback: Callback | undefined;
    const connected = this.#connectState !== ConnectState.None;
    // send(msg, offset, length, [port, address], [callback]) for a single buffer with numbers
    if (!Array.isArray(msg) && typeof args[0] === 'number' && typeof args[1] === 'number' && (connected || args.length >= 3)) {
      const offset = args[0];
      const length = args[1];
      const bytes = toBytes(msg as DatagramData, 'buffer');
      if (offset < 0 || offset > bytes.byteLength) throw codedError(new RangeError('"offset" is outside of buffer bounds'), 'ERR_BUFFER_OUT_OF_BOUNDS');
      if (length < 0 || length > bytes.byteLength - offset) throw codedError(new RangeError('"length" is outside of buffer bounds'), 'ERR_BUFFER_OUT_OF_BOUNDS');
      list = [bytes.subarray(offset, offset + length)];
      args = args.slice(2);
    } else {
      list = Array.isArray(msg) ? msg.map((m, i) => toBytes(m, `buffer list item ${i}`)) : [toBytes(msg as DatagramData, 'buffer')];
    }
    if (connected) {
      if (typeof args[0] === 'function') callback = args[0] as Callback;
      else if (args[0] !== undefined && args[0] !== null) throw isConnected();
    } else {
      [port, address] = args;
      if (typeof address === 'function') {
        callback = address as Callback;
        address = undefined;
      } else if (typeof args[2] === 'function') {
        callback = args[2] as Callback;
      }
      if (typeof port === 'function') throw badPort(undefined, false);
    }
    if (callback !== undefined && typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback);
    this.#healthCheck();
    if (!connected) {
      port = validPort(port, false);
      if (address !== undefined && address !== null && typeof address !== 'string') throw invalidArgType('address', 'of type string', address);
    }
    this.#ensureBound();
    // A send that cannot go at once (before the bind completes, or waiting for a name lookup)
    // keeps its own copy: the caller's bytes may be a received batch's, reused once its handler
    // returns.
    const later = this.#bindState !== BindState.Bound || this.#connectState === ConnectState.Connecting;
    if (later || (!connected && net.isIP((address as string | undefined) || '127.0.0.1') === 0)) list = list.map(copyBytes);
    const go = () => {
      if (connected) {
        this.#sendNow({ chunks: list, port: 0, address: null, callback });
        return;
      }
      const host = (address as string | undefined) || (this.#family === 4 ? '127.0.0.1' : '::1');
      this.#resolve(host, (error, ip) => {
        if (this.#closed) return;
        if (error) {
          this.#fail(error, callback);
          return;
        }
        this.#sendNow({ chunks: list, port: port as number, address: ip, callback });
      });
    };
    if (this.#bindState !== BindState.Bound || this.#connectState === ConnectState.Connecting) this.#enqueue(go);
    else go();
  }

  #sendNow(item: QueuedSend): void {
    if (this.#closed) return;
    if (this.#cork !== null) {
      const last = this.#cork[this.#cork.length - 1];
      // One kind per sendmmsg (to an address, or on the connected peer); order is kept by
      // flushing before anything that cannot join.
      if (item.chunks.length === 1 && this.#blocked.length === 0 && (last === undefined || (last.address === null) === (item.address === null))) {
        this.#cork.push(item);
        return;
      }
      this.#flushCork();
    }
    if (this.#blocked.length > 0) {
      // Keep order behind datagrams waiting for send buffer space.
      this.#blocked.push(ownCopy(item));
      return;
    }
    const result = this.#native.send(item.chunks, item.address, item.port);
    if (result === -11 /* EAGAIN */) {
      this.#blocked.push(ownCopy(item));
      this.#scheduleRetry();
      return;
    }
    if (result < 0) {
      this.#fail(errnoException(result, 'send', item.address ?? undefined, item.port), item.callback);
      return;
    }
    if (item.callback) process.nextTick(item.callback, null, result);
  }

  /** Sends what #cork gathered, one sendmmsg per 1024, with #sendNow's outcomes per datagram. */
  #flushCork(): void {
    const items = this.#cork;
    if (items === null || items.length === 0) return;
    this.#cork = [];
    const datagrams = items.map((item) => item.chunks[0]!);
    let table: Array<[string, number]> | null = null;
    let index: Uint32Array | null = null;
    if (items[0]!.address !== null) {
      const keys = new Map<string, number>();
      table = [];
      index = new Uint32Array(items.length);
      for (let i = 0; i < items.length; i++) {
        const { address, port } = items[i]!;
        index[i] = destinationSlot(keys, table, address!, port);
      }
    }
    let sent = 0;
    while (sent < items.length) {
      let result: number;
      try {
        result = this.#native.sendMany(datagrams, table, index, sent);
      } catch {
        // An address the batch path refuses (say, IPv6 on a udp4 socket): the rest one by
        // one, for the errors the single send gives.
        const rest = items.slice(sent);
        this.#cork = null;
        for (const item of rest) this.#sendNow(item);
        this.#cork = [];
        return;
      }
      if (result === -11 /* EAGAIN */ || result === 0) {
        this.#blocked.push(...items.slice(sent).map(ownCopy));
        this.#scheduleRetry();
        return;
      }
      if (result < 0) {
        // sendmmsg reports an error only for its first datagram: that one failed.
        const item = items[sent]!;
        this.#fail(errnoException(result, 'send', item.address ?? undefined, item.port), item.callback);
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

  /** Retries datagrams that met a full send buffer (EAGAIN) until it drains. */
  #scheduleRetry(): void {
    if (this.#retryTimer) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      const blocked = this.#blocked;
      this.#blocked = [];
      for (let i = 0; i < blocked.length; i++) {
        const item = blocked[i]!;
        const result = this.#native.send(item.chunks, item.address, item.port);
        if (result === -11) {
          this.#blocked = blocked.slice(i).concat(this.#blocked);
          this.#scheduleRetry();
          return;
        }
        if (result < 0) this.#fail(errnoException(result, 'send', item.address ?? undefined, item.port), item.callback);
        else if (item.callback) item.callback(null, result);
      }
    }, 1);
  }

  #fail(error: Error, callback: Callback | undefined): void {
    if (callback) process.nextTick(callback, error);
    else process.nextTick(() => this.emit('error', error));
  }

  /**
   * Sends many datagrams with one sendmmsg per 1024 (the batch send). `to` is one destination
   * for all, one per datagram, or omitted on a connected socket; addresses must be IP
   * literals of the socket's family (or IPv4 on a udp6 socket). Binds an unbound socket first.
   * Returns how many were sent: fewer than given only when the send buffer is full (EAGAIN) —
   * retry the rest later. Other errors throw, with `sent` saying how many went out before.
   */
  sendBatch(datagrams: readonly Uint8Array[], to?: Destination | readonly Destination[]): number {
    this.#healthCheck();
    this.#flushCork(); // datagrams send() accepted earlier leave first
    if (!Array.isArray(datagrams)) throw invalidArgType('datagrams', 'an array of Buffer or Uint8Array', datagrams);
    for (let i = 0; i < datagrams.length; i++) {
      if (!(datagrams[i] instanceof Uint8Array)) throw invalidArgType(`datagrams[${i}]`, 'an instance of Buffer or Uint8Array', datagrams[i]);
    }
    this.#ensureBoundNow('sendBatch');
    let table: Array<[string, number]> | null = null;
    let index: Uint32Array | null = null;
    if (to === undefined) {
      if (this.#connectState !== ConnectState.Connected) throw badPort(undefined, false);
    } else {
      if (this.#connectState !== ConnectState.None) throw isConnected();
      const list = Array.isArray(to) ? (to as readonly Destination[]) : [to as Destination];
      if (Array.isArray(to) && list.length !== datagrams.length) {
        throw v.rangeError(`"to" must hold one destination per datagram (${datagrams.length}), got ${list.length}`);
      }
      // One destination for all (the common case, and a reply to one request): no lookup
      // table, and a shared all-zero index.
      const keys = list.length > 1 ? new Map<string, number>() : null;
      table = [];
      index = list.length > 1 || datagrams.length > ZERO_INDEX.length ? new Uint32Array(datagrams.length) : ZERO_INDEX;
      for (let i = 0; i < list.length; i++) {
        const d = list[i];
        if (d === null || typeof d !== 'object') throw invalidArgType('to', 'an object with port and address', d);
        const port = validPort(d.port, false);
        const family = typeof d.address === 'string' ? net.isIP(d.address) : 0;
        if (family === 0) {
          throw codedError(new TypeError(`sendBatch() needs IP literals, got ${util.inspect(d.address)}; resolve names first`), 'ERR_INVALID_ARG_VALUE');
        }
        if (family === 6 && this.#family === 4) {
          throw codedError(new TypeError(`sendBatch() on a udp4 socket cannot send to the IPv6 address ${d.address}`), 'ERR_INVALID_ARG_VALUE');
        }
        if (keys === null) {
          table.push([d.address, port]);
          continue;
        }
        index[i] = destinationSlot(keys, table, d.address, port);
      }
    }
    let sent = 0;
    while (sent < datagrams.length) {
      const result = this.#native.sendMany(datagrams as Uint8Array[], table, index, sent);
      if (result === -11) break;
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

  // ---- receiving ----------------------------------------------------------------------------

  /**
   * Receives whole batches instead of 'message' events: the handler is called once per batch
   * with a DatagramBatch. Pass null to go back to 'message' events.
   */
  onBatch(handler: BatchHandler | null): this {
    if (handler !== null && typeof handler !== 'function') throw invalidArgType('handler', 'of type function', handler);
    this.#batchHandler = handler ?? undefined;
    return this;
  }

  /** for await (const batch of socket.batches()): batches until the socket closes. */
  batches(): AsyncIterableIterator<DatagramBatch> {
    // A batch the loop has not finished with still counts against receiveBudget: a loop that
    // falls behind slows the receiver down instead of growing the process.
    const queue = new BatchQueue(() => this.#iterators.delete(queue));
    this.#iterators.add(queue);
    if (this.#closed) queue.end();
    return queue;
  }

  /**
   * One delivery: [arena, records, token] per batch. Returns the tokens of the batches that
   * batches() loops hold; the addon settles the others when this returns (and the ticks and
   * microtasks after it have run): their memory then takes later batches.
   */
  #onBatches(list: Array<ArrayBuffer | Uint32Array | number>, errno: number, stopped: boolean): number[] | undefined {
    // A handler that throws must not cost the rest of the delivery: collect, rethrow after.
    let thrown: unknown;
    let deferred: number[] | undefined;
    // Gather the 'message' listeners' replies (sent from the tick queue, once their address is
    // resolved) until that queue has run: the flush is queued after the listeners have run.
    const corking = this.#cork === null && !this.#closed && !this.#batchHandler && this.#iterators.size === 0 &&
      (list.length > 3 || (list.length === 3 && (list[1] as Uint32Array).length > RECORD_WORDS)); // more than one datagram
    if (corking) this.#cork = [];
    for (let i = 0; i + 2 < list.length; i += 3) {
      const batch = new DatagramBatch(list[i] as ArrayBuffer, list[i + 1] as Uint32Array, list[i + 2] as number, this.#settle);
      this.#batchesDelivered++;
      if (this.#iterators.size > 0) {
        for (const queue of this.#iterators) queue.push(batch);
        (deferred ??= []).push(batch._token);
      }
      try {
        if (this.#batchHandler) this.#batchHandler(batch);
        else if (this.#iterators.size === 0) thrown = this.#emitMessages(batch) ?? thrown;
      } catch (error) {
        thrown ??= error;
      }
      // The handler has returned: unless a loop holds it, the batch is released (the addon
      // settles it after this delivery).
      batch._unhold(false);
    }
    if (corking) {
      process.nextTick(() => {
        this.#flushCork();
        this.#cork = null;
      });
    }
    try {
      if (errno !== 0 && !this.#closed) this.emit('error', errnoException(-errno, 'recvmsg'));
      if (stopped) this.#finishClose();
    } catch (error) {
      thrown ??= error;
    }
    if (thrown !== undefined) rethrowLater(thrown);
    return deferred;
  }

  /** Emits one 'message' per datagram; returns the first exception a listener threw. */
  #emitMessages(batch: DatagramBatch): unknown {
    let thrown: unknown;
    // Every datagram of a batch was received before any close() a listener may call while it
    // runs: all of them are delivered, none is counted but dropped.
    for (let i = 0; i < batch.count; i++) {
      try {
        this.#emitMessage(batch, i);
      } catch (error) {
        thrown ??= error;
      }
    }
    return thrown;
  }

  #emitMessage(batch: DatagramBatch, i: number): void {
    // 'message' hands out a copy, as node:dgram does: the batch's memory is reused once the
    // listeners have run (the batch API is the zero-copy path). A batch of one small datagram (a
    // request, sparse traffic) came in its own ArrayBuffer, never reused: lent as is.
    const view = batch.payload(i);
    const payload = batch.count === 1 && !batch._lent ? view : Buffer.from(view);
    const rinfo: RemoteInfo = {
      address: batch.address(i),
      family: batch.family(i) === 6 ? 'IPv6' : 'IPv4',
      port: batch.port(i),
      size: payload.length,
    };
    if (batch.truncated(i)) {
      rinfo.truncated = true;
      this.emit('truncated', payload, rinfo, batch.wireLength(i));
    }
    this.emit('message', payload, rinfo);
  }

  // ---- close, ref ---------------------------------------------------------------------------

  close(callback?: () => void): this {
    if (typeof callback === 'function') this.#closeCallbacks.push(callback);
    this.#healthCheck();
    this.#flushCork(); // sends accepted before close() go out, as they would have uncorked
    this.#cork = null;
    this.#closed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#blocked = [];
    this.#queue = undefined;
    if (this.#receiving) {
      this.#native.ref(); // until the receiver thread reports it stopped
      this.#native.stopReceiving();
    } else {
      process.nextTick(() => this.#finishClose());
    }
    return this;
  }

  #finishClose(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#native.join();
    this.#native.closeFd();
    if (this.#watch !== false) unregisterOwner('socket', this.id);
    for (const queue of this.#iterators) queue.end();
    const callbacks = this.#closeCallbacks;
    this.#closeCallbacks = [];
    for (const cb of callbacks) this.once('close', cb);
    this.emit('close');
  }

  /** Whether the JS thread is reading the socket itself right now (hybrid sockets, sparse traffic). */
  get direct(): boolean {
    return this.#receiving && !this.#stopped ? this.#native.direct : false;
  }

  /** @internal test hook (URING_UDP_TEST_HOOKS=1): cancels the receive request behind the receiver's back. */
  _testDisarm(): void {
    this.#native.testDisarm();
  }

  ref(): this {
    this.#refed = true;
    if (this.#receiving && !this.#closed) this.#native.ref();
    return this;
  }

  unref(): this {
    this.#refed = false;
    if (this.#receiving && !this.#closed) this.#native.unref();
    return this;
  }

  // ---- socket options -----------------------------------------------------------------------

  #boundOption(syscall: string, run: () => void, valid = true): void {
    this.#healthCheck();
    if (!valid) throw errnoException(-22, syscall); // as libuv: a bad value is EINVAL even before bind
    if (this.#bindState !== BindState.Bound) throw errnoException(-9, syscall);
    try {
      run();
    } catch (e) {
      throw fromNativeErrno(e, syscall);
    }
  }

  #bufferSizeOption(name: 'SO_RCVBUF' | 'SO_SNDBUF', size?: number): number {
    if (size !== undefined && (typeof size !== 'number' || !Number.isInteger(size) || size <= 0 || size > 0x7fffffff)) {
      throw badBufferSize();
    }
    if (this.#closed || this.#bindState !== BindState.Bound) {
      const syscall = `uv_${name === 'SO_RCVBUF' ? 'recv' : 'send'}_buffer_size`;
      const error = codedError(
        new Error(`Could not get or set buffer size: ${syscall} returned EBADF (bad file descriptor)`),
        'ERR_SOCKET_BUFFER_SIZE',
      );
      throw Object.assign(error, { errno: -9, syscall, info: { errno: -9, code: 'EBADF', message: 'bad file descriptor', syscall } });
    }
    if (size !== undefined) {
      this.#native.setOption(name, size);
      return size;
    }
    return this.#native.getOption(name);
  }

  setRecvBufferSize(size: number): void {
    this.#bufferSizeOption('SO_RCVBUF', size);
  }
  getRecvBufferSize(): number {
    return this.#bufferSizeOption('SO_RCVBUF');
  }
  setSendBufferSize(size: number): void {
    this.#bufferSizeOption('SO_SNDBUF', size);
  }
  getSendBufferSize(): number {
    return this.#bufferSizeOption('SO_SNDBUF');
  }

  /** Bytes queued for sending: datagrams waiting for send buffer space. */
  getSendQueueSize(): number {
    return this.#blocked.reduce((sum, item) => sum + item.chunks.reduce((s, c) => s + c.byteLength, 0), 0);
  }
  getSendQueueCount(): number {
    return this.#blocked.length;
  }

  setBroadcast(flag: boolean): void {
    this.#boundOption('setBroadcast', () => this.#native.setOption('SO_BROADCAST', flag ? 1 : 0));
  }

  setTTL(ttl: number): number {
    if (typeof ttl !== 'number') throw invalidArgType('ttl', 'of type number', ttl);
    this.#boundOption(
      'setTTL',
      () => this.#native.setOption(this.#family === 4 ? 'IP_TTL' : 'IPV6_UNICAST_HOPS', ttl),
      Number.isInteger(ttl) && ttl >= 1 && ttl <= 255,
    );
    return ttl;
  }

  setMulticastTTL(ttl: number): number {
    if (typeof ttl !== 'number') throw invalidArgType('ttl', 'of type number', ttl);
    this.#boundOption(
      'setMulticastTTL',
      () => this.#native.setOption(this.#family === 4 ? 'IP_MULTICAST_TTL' : 'IPV6_MULTICAST_HOPS', ttl),
      Number.isInteger(ttl) && ttl >= 0 && ttl <= 255,
    );
    return ttl;
  }

  setMulticastLoopback(flag: boolean): boolean {
    this.#boundOption('setMulticastLoopback', () =>
      this.#native.setOption(this.#family === 4 ? 'IP_MULTICAST_LOOP' : 'IPV6_MULTICAST_LOOP', flag ? 1 : 0),
    );
    return flag;
  }

  setMulticastInterface(interfaceAddress: string): void {
    this.#healthCheck();
    if (typeof interfaceAddress !== 'string') throw invalidArgType('interfaceAddress', 'of type string', interfaceAddress);
    this.#boundOption('setMulticastInterface', () => this.#native.multicastInterface(interfaceAddress));
  }

  addMembership(multicastAddress: string, interfaceAddress?: string): void {
    this.#membership(true, multicastAddress, interfaceAddress);
  }

  dropMembership(multicastAddress: string, interfaceAddress?: string): void {
    this.#membership(false, multicastAddress, interfaceAddress);
  }

  #membership(add: boolean, group: string, iface: string | undefined): void {
    this.#healthCheck();
    if (!group) throw missingArgs('multicastAddress');
    if (typeof group !== 'string') throw invalidArgType('multicastAddress', 'of type string', group);
    if (iface !== undefined && typeof iface !== 'string') throw invalidArgType('interfaceAddress', 'of type string', iface);
    const syscall = add ? 'addMembership' : 'dropMembership';
    this.#ensureBoundNow(syscall);
    try {
      this.#native.membership(add, group, iface ?? null);
    } catch (e) {
      throw fromNativeErrno(e, syscall);
    }
  }

  addSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): void {
    this.#sourceMembership(true, sourceAddress, groupAddress, interfaceAddress);
  }

  dropSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): void {
    this.#sourceMembership(false, sourceAddress, groupAddress, interfaceAddress);
  }

  #sourceMembership(add: boolean, source: string, group: string, iface: string | undefined): void {
    this.#healthCheck();
    if (typeof source !== 'string') throw invalidArgType('sourceAddress', 'of type string', source);
    if (typeof group !== 'string') throw invalidArgType('groupAddress', 'of type string', group);
    if (iface !== undefined && typeof iface !== 'string') throw invalidArgType('interfaceAddress', 'of type string', iface);
    const syscall = add ? 'addSourceSpecificMembership' : 'dropSourceSpecificMembership';
    this.#ensureBoundNow(syscall);
    try {
      this.#native.sourceMembership(add, source, group, iface ?? null);
    } catch (e) {
      throw fromNativeErrno(e, syscall);
    }
  }

  /** Membership calls and sendBatch bind an unbound socket first, as libuv does for memberships. */
  #ensureBoundNow(syscall: string): void {
    if (this.#bindState === BindState.Bound) return;
    if (this.#bindState === BindState.Binding) throw errnoException(-9, syscall);
    try {
      this.#applyPreBindOptions();
      this.#native.bind(this.#family === 4 ? '0.0.0.0' : '::', 0);
      this.#applyPostBindOptions();
    } catch (e) {
      throw fromNativeErrno(e, 'bind');
    }
    this.#bindState = BindState.Bound;
    this.#startReceiving();
    process.nextTick(() => this.emit('listening'));
  }
}

export interface BindOptions {
  port?: number;
  address?: string;
  exclusive?: boolean;
  fd?: number;
}

export type DatagramData = string | Uint8Array | DataView | ArrayBufferView;

/** A copy of bytes that must outlive the call that passed them (they may be a borrowed batch's). */
const copyBytes = (bytes: Uint8Array): Uint8Array => new Uint8Array(bytes);
/** A queued send with its own copy of its bytes: it leaves after the caller's handler returned. */
const ownCopy = (item: QueuedSend): QueuedSend => ({ ...item, chunks: item.chunks.map(copyBytes) });

function toBytes(value: unknown, name: string): Uint8Array {
  if (typeof value === 'string') return Buffer.from(value);
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw invalidArgType(name, 'of type string or an instance of Buffer, TypedArray, or DataView', value);
}

/**
 * The queue behind socket.batches(). Each batch it was given is held (not released) until the
 * loop asks for the one after it, or leaves.
 */
class BatchQueue implements AsyncIterableIterator<DatagramBatch> {
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

/**
 * The buffer ring's size: as asked, or by default as many buffers as fit in half the budget
 * (less a hybrid socket's recvmmsg scratch for the JS thread), at most 1024. Asked-for buffers
 * that would take more than that half are refused: the rest of the budget is what holds
 * datagrams for JS.
 */
function ringBufferCount(asked: unknown, budget: number, maxDatagram: number, hybrid: boolean): number {
  const bufferSize = bufferSizeFor(maxDatagram);
  const scratch = hybrid ? recvmmsgBatch(budget, maxDatagram) * maxDatagram : 0;
  const room = Math.floor((budget / 2 - scratch) / bufferSize);
  if (asked === undefined) return Math.max(1, Math.min(MAX_DEFAULT_BUFFERS, room));
  const count = v.powerOfTwo(asked, 'bufferCount', 1, 32768);
  if (count > Math.max(1, room)) {
    throw v.rangeError(
      `"bufferCount" ${count} × ${bufferSize}-byte buffers (for maxDatagramSize ${maxDatagram}) is more than half of "receiveBudget" ` +
        `(${budget} bytes): at most ${Math.max(1, room)} fit; raise receiveBudget, or lower bufferCount or maxDatagramSize`,
    );
  }
  return count;
}

/** createSocket(type | options, listener?): a drop-in for node:dgram's. */
export function createSocket(type: SocketType | SocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void): Socket {
  if (typeof type === 'string') return new Socket({ type }, listener);
  if (type === null || typeof type !== 'object') throw badType();
  return new Socket(type, listener);
}
