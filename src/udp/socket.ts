// A UDP socket: a drop-in for node:dgram's Socket. This file keeps its state machine (bind,
// connect, receive, close); options, errors, batches and the send path live beside it
// (options.ts, errors.ts, batch.ts, send-queue.ts), as node's lib/dgram.js leans on internal/.
// Receiving runs on the JS thread itself (as node:dgram's does) until a burst moves the socket to
// a pooled native receiver (io_uring, or a fallback), and back when it goes quiet; it reaches JS
// once per batch either way.
import type dns from 'node:dns';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import util from 'node:util';

import { errnoException, fromNativeErrno, rethrowLater } from '../errors';
import { binding, type NativeUdp } from '../native';
import * as v from '../validate';
import { registerOwner, unregisterOwner } from '../watchdog';
import { copyBytes, toBytes, validPort, type DatagramData } from './arguments';
import { BatchQueue, DatagramBatch, datagramsIn, type BatchHandler } from './batch';
import {
  alreadyBound,
  backendUnavailable,
  badBufferSize,
  badPort,
  bufferSizeError,
  invalidArgType,
  invalidArgValue,
  isConnected,
  missingArgs,
  notConnected,
  notRunning,
  outOfBounds,
} from './errors';
import { BACKENDS, packedReceiveConfig, parseSocketOptions, type Backend, type LookupFunction, type ReceiveConfig, type SocketOptions, type SocketType } from './options';
import { ASYNC_DISPOSE, DEFAULT_LOOKUP_SKIPS_IP_LITERALS, HAS_DEP0112_MEMBERS } from './versions';
import { SendQueue, destinationTable, type DestinationTable, type QueuedSend, type SendCallback, type SendMarks } from './send-queue';

const { RECV_STATS, DIRECT_STATS } = binding.constants;
const { EBADF, EINVAL } = os.constants.errno;
/** 'message' events per turn of the event loop while the JS thread reads a socket: libuv's 32 reads per turn for node:dgram. */
const PACE = 32;
// libuv's bind flags, as dgram passes them to a cluster primary (uv.h: UV_UDP_IPV6ONLY, UV_UDP_REUSEADDR).
const UV_UDP_IPV6ONLY = 1;
const UV_UDP_REUSEADDR = 4;

/** What dgram uses of node:cluster's worker side: _getServer (not in @types/node). */
interface ClusterHandle {
  fd: number;
  close(...args: unknown[]): unknown;
  unref?(): void;
}
interface ClusterWorkerSide {
  isWorker: boolean;
  _getServer(
    owner: EventEmitter,
    options: { address: string; port: number; addressType: SocketType; fd: number; flags: number },
    callback: (errno: number, handle: ClusterHandle) => void,
  ): void;
}
let cluster: ClusterWorkerSide | undefined;
// Loaded on a socket's first bind, as dgram does.
const clusterModule = (): ClusterWorkerSide => (cluster ??= require('node:cluster') as ClusterWorkerSide);
const isClusterWorker = (): boolean => clusterModule().isWorker;
let nextSocketId = 1;

export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
  /** Present (true) only when the datagram was longer than maxDatagramSize and was cut. */
  truncated?: boolean;
  /** With `ecn: true`: the datagram's TOS byte (IPv6: traffic class) and its ECN codepoint (the low two bits). */
  tos?: number;
  ecn?: number;
  /** With `pktinfo: true`: the local address the datagram was sent to, and the interface it arrived on. */
  localAddress?: string;
  interfaceIndex?: number;
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
  /** Waits of its receiver (io_uring_enter, or epoll_wait) that brought this socket datagrams. */
  enters: number;
  /** Batches handed to JS (one JS call each), by a receiver or the JS thread's own reads. */
  batches: number;
  /** recvmmsg calls the JS thread made itself (the direct path: sparse traffic). */
  directReads: number;
  /** Times a receiver took the socket on: a burst on the direct path, its buffers set up and warmed. */
  attaches: number;
  /** Times the receiver took over reading from the JS thread (each followed, once traffic is sparse, by a hand-back). */
  handovers: number;
  /**
   * Bursts that found no receiver to take the socket on — out of descriptors, memory or threads,
   * or every receiver full — so it went on being read by the JS thread (tried again a second later).
   */
  attachFailures: number;
  /**
   * Waits after which the kernel flagged a CQ overflow (IORING_SQ_CQ_OVERFLOW): completions
   * outran the receiver thread. The precondition of the 6.1.113–115 hang (docs/kernel-bugs.md).
   */
  overflowFlagSeen: number;
  /** Times the receiver stopped taking datagrams from the kernel because receiveBudget was full (JS was behind). */
  budgetPauses: number;
  /** Datagrams that arrived coalesced by UDP GRO (the `gro` option) and were split into their own records. */
  coalesced: number;
  /** Sends that carried several datagrams through UDP GSO (the `gso` option). */
  gsoSends: number;
  /** Datagrams those GSO sends carried. */
  gsoDatagrams: number;
  /** Times the kernel refused a GSO send: GSO went off for this socket and the datagrams were sent one by one. */
  gsoFallbacks: number;
  /** Times the kernel refused an ECN mark (a TOS byte) on send: the socket sends unmarked from then on. */
  ecnFallbacks: number;
}
export interface Destination {
  port: number;
  address: string;
}
/** sendBatch()'s third argument. */
export interface SendBatchOptions {
  /** The ECN codepoint to send with (0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE): one for all, or one per datagram. */
  ecn?: number | readonly number[];
  /** The local address to send from (IP_PKTINFO / IPV6_PKTINFO): one for all, or one per datagram. */
  from?: string | readonly string[];
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

export class Socket extends EventEmitter {
  readonly type: SocketType;
  readonly #family: 4 | 6;
  readonly #native: NativeUdp;
  readonly #lookup: LookupFunction;
  /** A `lookup` option was given: it is asked about IP literals too, on every Node. */
  readonly #customLookup: boolean;
  readonly #options: SocketOptions;
  readonly #receive: ReceiveConfig;
  /** The receivers' counters, then the direct path's, as last read (made on the first read of `stats`). */
  #stats: Float64Array | undefined;
  /** Process-unique id, used in watchdog reports. */
  readonly id = nextSocketId++;
  #batchesDelivered = 0;
  /**
   * 'message' events of a delivery from the JS thread's own read beyond the first PACE: they wait
   * for later turns of the event loop, PACE per turn (see #onBatches). Each batch here is held.
   */
  #paced: Array<{ batch: DatagramBatch; next: number }> = [];
  #pacer: NodeJS.Immediate | undefined;
  readonly #settle = (token: number, reuse: boolean): void => this.#native.settle(token, reuse);
  readonly #sends: SendQueue;
  #bindState = BindState.Unbound;
  #connectState = ConnectState.None;
  #closed = false;
  #receiving = false;
  /** _stopReceiving() (DEP0112) was called: datagrams are no longer emitted. */
  #muted = false;
  #reuseAddr: boolean | undefined;
  #groOn = false;
  /** A cluster worker's share of the primary's socket (Node's handle), closed with the socket. */
  #clusterHandle: ClusterHandle | undefined;
  #stopped = false;
  #refed = true;
  #backend: Backend | null = null;
  #queue: Array<() => void> | undefined;
  #batchHandler: BatchHandler | undefined;
  #iterators = new Set<BatchQueue>();
  #closeCallbacks: Array<() => void> = [];
  /** new Socket(type | options, listener?): the same as createSocket(), as in dgram. */
  constructor(type: SocketType | SocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void) {
    super();
    // As dgram: an object is the options, anything else the type (a bad one: ERR_SOCKET_BAD_TYPE).
    const options: SocketOptions = type !== null && typeof type === 'object' ? type : ({ type } as SocketOptions);
    const parsed = parseSocketOptions(options);
    this.type = parsed.type;
    this.#family = parsed.family;
    this.#options = options;
    this.#reuseAddr = options.reuseAddr;
    this.#lookup = parsed.lookup;
    this.#customLookup = parsed.customLookup;
    this.#receive = parsed.receive;
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
    this.#sends = new SendQueue(this.#native, (error, callback) => this.#fail(error, callback));
    if (this.#receive.gso) this.#native.setGso(true);
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

  /** Whether UDP GRO is on: asked for (`gro: true`), the kernel has it, and the socket is bound. */
  get gro(): boolean {
    return this.#groOn;
  }

  /** Whether sendBatch() and gathered send()s use UDP GSO now (off where the kernel has none, or after it refused one). */
  get gso(): boolean {
    return this.#native.sendStats()[0];
  }

  /** File descriptor of the socket (-1 once closed). */
  get fd(): number {
    return this.#native.fd;
  }

  get stats(): SocketStats {
    const stats = (this.#stats ??= new Float64Array(RECV_STATS.length + DIRECT_STATS.length));
    if (this.#receiving) this.#native.recvStats(stats);
    const out = {} as Record<string, number>;
    RECV_STATS.forEach((name, i) => {
      out[name] = stats[i] ?? 0;
    });
    // The JS thread's own reads add to the receivers' counts.
    DIRECT_STATS.forEach((name, i) => {
      const key = name === 'reads' ? 'directReads' : name;
      out[key] = (out[key] ?? 0) + (stats[RECV_STATS.length + i] ?? 0);
    });
    out.batches = this.#batchesDelivered;
    out.kernelDrops = this.#native.kernelDrops(); // asked of the kernel now
    const [, gsoSends, gsoDatagrams, gsoFallbacks, ecnFallbacks] = this.#native.sendStats();
    out.gsoSends = gsoSends;
    out.gsoDatagrams = gsoDatagrams;
    out.gsoFallbacks = gsoFallbacks;
    out.ecnFallbacks = ecnFallbacks;
    return out as unknown as SocketStats;
  }

  /**
   * Memory this socket holds for receiving now, in bytes, besides the datagrams waiting for JS:
   * on a receiver, its provided buffers (recvmsg-multishot; virtual, resident once a datagram
   * has touched a page); otherwise none of its own (the JS thread's direct reads use scratch
   * space the thread's sockets share, and recvmmsg receivers share theirs).
   */
  get receiveMemory(): number {
    if (!this.#receiving || this.#stopped || !this.#native.attached) return 0;
    return this.backend === 'recvmsg-multishot' ? this.#receive.bufferCount * this.#receive.bufferSize : 0;
  }

  /** The most this socket holds for receiving, in bytes (the `receiveBudget` option). */
  get receiveBudget(): number {
    return this.#receive.receiveBudget;
  }

  #healthCheck(): void {
    if (this.#closed) throw notRunning();
  }

  // ---- bind ---------------------------------------------------------------------------------

  bind(port?: number | BindOptions | (() => void), address?: string | (() => void), callback?: () => void): this {
    this.#healthCheck();
    if (this.#bindState !== BindState.Unbound) throw alreadyBound();
    let options: { port: unknown; address: unknown };
    let exclusive = false;
    if (typeof port === 'function') {
      callback = port;
      options = { port: 0, address: undefined };
    } else if (port !== null && typeof port === 'object') {
      if (typeof address === 'function') callback = address;
      if (port.fd !== undefined) throw invalidArgValue('bind({ fd }) is not supported by uring-udp sockets');
      options = { port: port.port ?? 0, address: port.address };
      exclusive = !!port.exclusive;
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
    // A bind that fails takes its callback back before its 'error' (as Node 24 does): repeated
    // failed binds leave no listeners behind.
    const fail = (error: Error) => {
      this.#bindState = BindState.Unbound;
      if (callback !== undefined) this.removeListener('listening', callback);
      this.emit('error', error);
    };
    this.#bindState = BindState.Binding;
    const host = (options.address as string | undefined) || (this.#family === 4 ? '0.0.0.0' : '::');
    this.#resolve(host, (error, ip) => {
      if (this.#closed) return;
      if (error) {
        fail(error);
        return;
      }
      // As dgram: a cluster worker's bind is the primary's (one socket shared by the workers
      // that bind the same address), unless exclusive. reusePort is the other way to share a
      // port, each process with its own socket: such a socket binds here.
      if (!exclusive && !this.#options.reusePort && isClusterWorker()) {
        this.#bindThroughCluster(ip, boundPort, fail, () => this.#listen(callback));
        return;
      }
      try {
        this.#applyPreBindOptions();
        this.#native.bind(ip, boundPort);
        this.#applyPostBindOptions();
      } catch (e) {
        fail(fromNativeErrno(e, 'bind', ip, boundPort));
        return;
      }
      this.#listen(callback);
    });
    return this;
  }

  /** The cluster primary binds (or has bound) the socket and hands every worker its descriptor. */
  #bindThroughCluster(ip: string, port: number, fail: (error: Error) => void, listen: () => void): void {
    const cluster = clusterModule();
    let flags = 0;
    if (this.#reuseAddr) flags |= UV_UDP_REUSEADDR;
    if (this.#family === 6 && this.#options.ipv6Only) flags |= UV_UDP_IPV6ONLY;
    cluster._getServer(this, { address: ip, port, addressType: this.type, fd: -1, flags }, (err, handle) => {
      if (err) {
        fail(errnoException(err, 'bind', ip, port));
        return;
      }
      if (this.#closed) {
        handle.close(); // closed while the primary was binding: the worker lets its share go
        return;
      }
      try {
        this.#native.adopt(handle.fd);
        this.#applyPostBindOptions();
      } catch (e) {
        handle.close();
        fail(fromNativeErrno(e, 'bind', ip, port));
        return;
      }
      // The worker's share stays open until the socket closes (the primary counts its users);
      // when the cluster closes it (the worker disconnects), the socket closes with it.
      const close = handle.close;
      handle.close = (...args: unknown[]) => {
        handle.close = close;
        this.#clusterHandle = undefined;
        if (!this.#closed) this.close();
        return close.apply(handle, args);
      };
      // Node's handle only holds the share: the socket's own ref()/unref() keep the process alive.
      handle.unref?.();
      this.#clusterHandle = handle;
      listen();
    });
  }

  /** The socket is bound: it starts receiving and says so (or the bind fails, if it cannot). */
  #listen(callback: (() => void) | undefined): void {
    this.#bindState = BindState.Bound;
    try {
      this.#startReceiving();
    } catch (e) {
      // The receiver could not start (a forced backend that cannot run here, no descriptor
      // left for its wake-up): the bind fails as a bind fails, before any 'listening'.
      this.close();
      if (callback !== undefined) this.removeListener('listening', callback);
      this.emit('error', e);
      return;
    }
    this.emit('listening');
    this.#flushQueue();
  }

  #applyPreBindOptions(): void {
    const o = this.#options;
    if (this.#reuseAddr) this.#native.setOption('SO_REUSEADDR', 1);
    if (o.reusePort) this.#native.setOption('SO_REUSEPORT', 1);
    if (this.#family === 6 && o.ipv6Only !== undefined) this.#native.setOption('IPV6_V6ONLY', o.ipv6Only ? 1 : 0);
    // The TOS byte and pktinfo of every datagram; a udp6 socket asks for IPv4's too, for what
    // reaches it over IPv4 (dual stack), where the kernel has that.
    const both = (v4: string, v6: string) => {
      if (this.#family === 4) return this.#native.setOption(v4, 1);
      this.#native.setOption(v6, 1);
      try {
        this.#native.setOption(v4, 1);
      } catch {
        // an IPv6-only stack: IPv4's option does not apply
      }
    };
    if (this.#receive.ecn) both('IP_RECVTOS', 'IPV6_RECVTCLASS');
    if (this.#receive.pktinfo) both('IP_PKTINFO', 'IPV6_RECVPKTINFO');
    if (this.#receive.gro) {
      // A kernel without UDP_GRO (before 5.0) refuses it: the socket then reads datagram by datagram.
      try {
        this.#native.setOption('UDP_GRO', 1);
        this.#groOn = true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOPROTOOPT') throw e;
        this.#groOn = false;
      }
    }
  }

  #applyPostBindOptions(): void {
    const o = this.#options;
    if (o.recvBufferSize) {
      this.#native.setOption('SO_RCVBUF', o.recvBufferSize);
      warnIfRecvBufferCapped(o.recvBufferSize, this.#native.getOption('SO_RCVBUF'));
    }
    if (o.sendBufferSize) this.#native.setOption('SO_SNDBUF', o.sendBufferSize);
  }

  /** Starts the receive path; throws (a coded error) when it cannot. */
  #startReceiving(): void {
    const c = this.#receive;
    let started: number;
    try {
      started = this.#native.startReceiving(packedReceiveConfig(c), this.id);
    } catch (e) {
      const cause = e as NodeJS.ErrnoException;
      // A forced backend is a requirement (tests rely on it), not a starting point.
      if (c.forced && c.backend !== 'recvmmsg') throw backendUnavailable(c.backend, cause);
      throw fromNativeErrno(e, cause.syscall ?? 'startReceiving');
    }
    this.#backend = BACKENDS[started] ?? null;
    this.#receiving = true;
    if (c.watch !== false) registerOwner('socket', this.id, this);
    if (!this.#refed) this.#native.unref();
  }

  /** Binds to an ephemeral port when a send or connect needs a bound socket (as dgram does). */
  #ensureBound(): void {
    if (this.#bindState === BindState.Unbound) this.bind({ port: 0, exclusive: true }); // as dgram: not through a cluster primary
  }

  /** Whether the lookup is asked about `host` (on Node 20 and 22, dgram asks even about IP literals). */
  #looksUp(host: string): boolean {
    return this.#customLookup || !DEFAULT_LOOKUP_SKIPS_IP_LITERALS || net.isIP(host) === 0;
  }

  #resolve(host: string, callback: (error: Error | null, ip: string) => void): void {
    if (!this.#looksUp(host)) {
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
    if (this.#bindState !== BindState.Bound) throw errnoException(-EBADF, 'getsockname');
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
    let callback: SendCallback | undefined;
    const connected = this.#connectState !== ConnectState.None;
    // send(msg, offset, length, [port, address], [callback]) for a single buffer with numbers
    if (!Array.isArray(msg) && typeof args[0] === 'number' && typeof args[1] === 'number' && (connected || args.length >= 3)) {
      const offset = args[0];
      const length = args[1];
      const bytes = toBytes(msg as DatagramData, 'buffer');
      if (offset < 0 || offset > bytes.byteLength) throw outOfBounds('offset');
      if (length < 0 || length > bytes.byteLength - offset) throw outOfBounds('length');
      list = [bytes.subarray(offset, offset + length)];
      args = args.slice(2);
    } else {
      list = Array.isArray(msg) ? bufferList(msg) : [toBytes(msg as DatagramData, 'buffer')];
    }
    if (connected) {
      if (typeof args[0] === 'function') callback = args[0] as SendCallback;
      else if (args[0] !== undefined && args[0] !== null) throw isConnected();
    } else {
      [port, address] = args;
      if (typeof address === 'function') {
        callback = address as SendCallback;
        address = undefined;
      } else if (typeof args[2] === 'function') {
        callback = args[2] as SendCallback;
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
    // dns.lookup answers an IP literal on the next tick (before the batch is released); a name,
    // or a lookup of the caller's, may take longer.
    if (later || (!connected && (this.#customLookup || net.isIP((address as string | undefined) || '127.0.0.1') === 0))) {
      list = list.map(copyBytes);
    }
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
    if (!this.#closed) this.#sends.send(item);
  }

  #fail(error: Error, callback: SendCallback | undefined): void {
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
  sendBatch(datagrams: readonly Uint8Array[], to?: Destination | readonly Destination[], options?: SendBatchOptions): number {
    this.#healthCheck();
    this.#sends.flush(); // datagrams send() accepted earlier leave first
    if (!Array.isArray(datagrams)) throw invalidArgType('datagrams', 'an array of Buffer or Uint8Array', datagrams);
    // The addon gets a plain array of what was checked, each element read once: an accessor (or
    // a Proxy) on the caller's array must not run inside the addon's send, where it could send
    // again on this thread or hand over something else than was checked.
    const checked: Uint8Array[] = new Array(datagrams.length);
    for (let i = 0; i < checked.length; i++) {
      const datagram: unknown = datagrams[i];
      if (!(datagram instanceof Uint8Array)) throw invalidArgType(`datagrams[${i}]`, 'an instance of Buffer or Uint8Array', datagram);
      checked[i] = datagram;
    }
    this.#ensureBoundNow('sendBatch');
    let destinations: DestinationTable | null = null;
    if (to === undefined) {
      if (this.#connectState !== ConnectState.Connected) throw badPort(undefined, false);
    } else {
      if (this.#connectState !== ConnectState.None) throw isConnected();
      const list = Array.isArray(to) ? (to as readonly Destination[]) : [to as Destination];
      if (Array.isArray(to) && list.length !== checked.length) {
        throw v.rangeError(`"to" must hold one destination per datagram (${checked.length}), got ${list.length}`);
      }
      for (let i = 0; i < list.length; i++) {
        const d = list[i];
        if (d === null || typeof d !== 'object') throw invalidArgType('to', 'an object with port and address', d);
        validPort(d.port, false);
        const family = typeof d.address === 'string' ? net.isIP(d.address) : 0;
        if (family === 0) throw invalidArgValue(`sendBatch() needs IP literals, got ${util.inspect(d.address)}; resolve names first`);
        if (family === 6 && this.#family === 4) throw invalidArgValue(`sendBatch() on a udp4 socket cannot send to the IPv6 address ${d.address}`);
      }
      // One destination for all (the common case, and a reply to one request): a shared index.
      destinations = destinationTable(list, checked.length);
    }
    return this.#sends.sendBatch(checked, destinations, options === undefined ? undefined : this.#sendMarks(options, checked.length));
  }

  /** sendBatch()'s options, checked, as the addon takes them. */
  #sendMarks(options: SendBatchOptions, count: number): SendMarks {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'an object', options);
    v.checkOptionNames(options, ['ecn', 'from'], 'sendBatch');
    let ecn: Uint8Array | null = null;
    if (options.ecn !== undefined) {
      const codepoint = (value: unknown, name: string) => v.integer(value, name, 0, 3);
      ecn = new Uint8Array(count);
      if (Array.isArray(options.ecn)) {
        if (options.ecn.length !== count) throw v.rangeError(`"ecn" must hold one codepoint per datagram (${count}), got ${options.ecn.length}`);
        for (let i = 0; i < count; i++) ecn[i] = codepoint(options.ecn[i], `ecn[${i}]`);
      } else {
        ecn.fill(codepoint(options.ecn, 'ecn'));
      }
    }
    let sources: string[] | null = null;
    let sourceIndex: Uint32Array | null = null;
    if (options.from !== undefined) {
      const list = Array.isArray(options.from) ? (options.from as readonly string[]) : [options.from as string];
      if (Array.isArray(options.from) && list.length !== count) {
        throw v.rangeError(`"from" must hold one local address per datagram (${count}), got ${list.length}`);
      }
      for (const address of list) {
        const family = typeof address === 'string' ? net.isIP(address) : 0;
        if (family === 0) throw invalidArgValue(`sendBatch() sends from IP literals, got ${util.inspect(address)}`);
        if (family === 6 && this.#family === 4) throw invalidArgValue(`sendBatch() on a udp4 socket cannot send from the IPv6 address ${address}`);
      }
      const table = destinationTable(
        list.map((address) => ({ address, port: 0 })),
        count,
      );
      sources = table.table.map(([address]) => address);
      sourceIndex = table.index;
    }
    return { ecn, sources, sourceIndex };
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
    const emitting = !this.#batchHandler && this.#iterators.size === 0 && !this.#muted;
    const count = datagramsIn(list);
    // Gather the 'message' listeners' replies (sent from the tick queue, once their address is
    // resolved) until that queue has run: the flush is queued after the listeners have run.
    const corking = !this.#closed && emitting && (count > 1 || this.#paced.length > 0) && this.#sends.cork();
    // 'message' events at most PACE per turn of the event loop while the JS thread reads the
    // socket itself, as node:dgram's come (libuv reads 32 per turn), though one read here takes up
    // to 256: what the listeners send in answer leaves PACE at a time, and a peer in this process
    // reads each PACE before the next arrive. Answering 200 requests at once overflowed the
    // default receive buffer of multicast-dns's querier (56 of 200 answers; node:dgram 192). A
    // read while some still wait joins the queue behind them, in order. What waits is held, and
    // counts against receiveBudget: the JS thread's reads pause when it is full, and a read that
    // fills up moves the socket to a receiver (a burst). A receiver's deliveries are not paced
    // (the socket is busy, and its batches are the point): what still waits goes before them.
    let room = Infinity;
    if (emitting && !this.#closed && (this.#paced.length > 0 || count > PACE)) {
      if (this.#native.direct) room = this.#paced.length > 0 ? 0 : PACE;
      else thrown = this.#emitPaced(Infinity);
    }
    for (let i = 0; i + 2 < list.length; i += 3) {
      const batch = new DatagramBatch(list[i] as ArrayBuffer, list[i + 1] as Uint32Array, list[i + 2] as number, this.#settle);
      this.#batchesDelivered++;
      if (this.#iterators.size > 0) {
        for (const queue of this.#iterators) queue.push(batch);
        (deferred ??= []).push(batch._token);
      }
      try {
        if (this.#batchHandler) this.#batchHandler(batch);
        else if (this.#iterators.size === 0 && !this.#muted) {
          const now = Math.min(room, batch.count);
          thrown = this.#emitMessages(batch, 0, now) ?? thrown;
          room -= now;
          if (now < batch.count) {
            if (this.#closed) {
              // A listener closed the socket: the rest of what was read is delivered now, as
              // every datagram of a delivery is (none is counted as received but dropped).
              thrown = this.#emitMessages(batch, now, batch.count) ?? thrown;
            } else {
              batch._hold();
              (deferred ??= []).push(batch._token);
              this.#paced.push({ batch, next: now });
            }
          }
        }
      } catch (error) {
        thrown ??= error;
      }
      // The handler has returned: unless a loop or the pace holds it, the batch is released (the
      // addon settles it after this delivery).
      batch._unhold(false);
    }
    if (this.#paced.length > 0 && this.#pacer === undefined) {
      // This delivery runs in the poll phase; an immediate set here runs in this same turn's
      // check phase, before any socket is polled again: the next PACE wait one more turn. After
      // that, one immediate is one turn.
      this.#pacer = setImmediate(() => {
        this.#pacer = setImmediate(this.#paceTurn);
      });
    }
    if (corking) process.nextTick(() => this.#sends.uncork());
    try {
      if (errno !== 0 && !this.#closed) this.emit('error', errnoException(-errno, 'recvmsg'));
      if (stopped) this.#finishClose();
    } catch (error) {
      thrown ??= error;
    }
    if (thrown !== undefined) rethrowLater(thrown);
    return deferred;
  }

  /** One turn of the pace: the next PACE 'message' events, their replies gathered as a delivery's. */
  readonly #paceTurn = (): void => {
    this.#pacer = undefined;
    if (this.#muted) {
      this.#dropPaced();
      return;
    }
    const corking = this.#sends.cork();
    const thrown = this.#emitPaced(PACE);
    if (corking) process.nextTick(() => this.#sends.uncork());
    if (this.#paced.length > 0) this.#pacer = setImmediate(this.#paceTurn);
    if (thrown !== undefined) rethrowLater(thrown);
  };

  /** Emits up to `limit` of the datagrams waiting their turn; returns the first exception a listener threw. */
  #emitPaced(limit: number): unknown {
    let thrown: unknown;
    while (limit > 0 && this.#paced.length > 0) {
      const head = this.#paced[0]!;
      const to = Math.min(head.batch.count, head.next + limit);
      thrown = this.#emitMessages(head.batch, head.next, to) ?? thrown;
      // A listener's close() let go of what was waiting (this batch too).
      if (this.#paced[0] !== head) break;
      limit -= to - head.next;
      head.next = to;
      if (to === head.batch.count) {
        this.#paced.shift();
        head.batch._unhold(true);
      }
    }
    if (this.#paced.length === 0 && this.#pacer !== undefined) {
      clearImmediate(this.#pacer);
      this.#pacer = undefined;
    }
    return thrown;
  }

  /** Releases what waits its turn (the socket closes, or stopped receiving): the read is not delivered, as node:dgram's close leaves it in the kernel. */
  #dropPaced(): void {
    if (this.#pacer !== undefined) clearImmediate(this.#pacer);
    this.#pacer = undefined;
    const paced = this.#paced;
    this.#paced = [];
    for (const { batch } of paced) batch._unhold(true);
  }

  /** Emits one 'message' per datagram from..to-1; returns the first exception a listener threw. */
  #emitMessages(batch: DatagramBatch, from = 0, to = batch.count): unknown {
    let thrown: unknown;
    // Every datagram of a delivery was received before any close() a listener may call while it
    // runs: all of them are delivered, none is counted but dropped.
    for (let i = from; i < to; i++) {
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
    if (this.#receive.ecn) {
      const tos = batch.tos(i);
      if (tos !== undefined) {
        rinfo.tos = tos;
        rinfo.ecn = tos & 3;
      }
    }
    if (this.#receive.pktinfo) {
      const local = batch.localAddress(i);
      if (local !== undefined) {
        rinfo.localAddress = local;
        rinfo.interfaceIndex = batch.interfaceIndex(i)!;
      }
    }
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
    this.#sends.close(); // sends accepted before close() go out, as they would have uncorked; blocked ones are dropped
    this.#closed = true;
    this.#dropPaced();
    this.#queue = undefined;
    const shared = this.#clusterHandle;
    this.#clusterHandle = undefined;
    shared?.close();
    // A receiver that holds the socket lets it go first, and says so through the batch callback
    // ('stopped'); the event loop is kept alive until then.
    if (!this.#receiving || this.#native.stopReceiving()) process.nextTick(() => this.#finishClose());
    return this;
  }

  #finishClose(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#native.closeFd();
    if (this.#receive.watch !== false) unregisterOwner('socket', this.id);
    for (const queue of this.#iterators) queue.end();
    const callbacks = this.#closeCallbacks;
    this.#closeCallbacks = [];
    for (const cb of callbacks) this.once('close', cb);
    this.emit('close');
  }

  /**
   * Whether the JS thread is reading the socket itself right now: from bind on, and whenever its
   * traffic is sparse; false while a receiver reads it (a burst moved it there; hybrid: false).
   */
  get direct(): boolean {
    return this.#receiving && !this.#stopped ? this.#native.direct : false;
  }

  /**
   * @internal the watchdog reported a stall: when its receiver is stuck, the socket fails over —
   * it leaves that receiver for good, the stuck thread left behind, and its JS thread reads it
   * from now on (its receivers after that use no io_uring: 'recvmmsg'). Returns what was done,
   * for the stall report.
   */
  _stalled(stall: { kind: string; owner: string; id: number }): string | undefined {
    if (stall.kind !== 'stuck' || stall.owner !== 'receiver' || !this.#receiving || this.#stopped) return undefined;
    const done = this.#native.failover(stall.id);
    if (done === '') return undefined;
    // A close waiting for that receiver finishes now.
    if (done === 'closed') process.nextTick(() => this.#finishClose());
    return 'direct';
  }

  /** @internal test hook (URING_UDP_TEST_HOOKS=1): the socket's receiver thread spends ms in state D. */
  _testHoldReceiver(ms: number): void {
    this.#native.testHoldReceiver(ms);
  }

  /** @internal test hook (URING_UDP_TEST_HOOKS=1): sets a socket option by name (test/gso.test.ts: SO_NO_CHECK). */
  _testSetOption(name: string, value: number): void {
    if (process.env.URING_UDP_TEST_HOOKS !== '1') throw new Error('test hooks are off (URING_UDP_TEST_HOOKS=1)');
    this.#native.setOption(name, value);
  }

  /** @internal test hook (URING_UDP_TEST_HOOKS=1): ECN marks go as a TOS byte the kernel refuses (EINVAL). */
  _testRefuseTos(): void {
    this.#native.testRefuseTos();
  }

  /** @internal test hook (URING_UDP_TEST_HOOKS=1): its next budget pause on a receiver finds the room already made (the race of test/budget-race.test.ts). */
  _testLatePause(): void {
    this.#native.testLatePause();
  }

  /** @internal the thread id of the receiver the socket is on (0: none), for tests */
  _receiverThread(): number {
    return this.#native.threadId;
  }

  /** @internal test hook (URING_UDP_TEST_HOOKS=1): its receiver cancels its request and never re-arms it. */
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
    if (!valid) throw errnoException(-EINVAL, syscall); // as libuv: a bad value is EINVAL even before bind
    if (this.#bindState !== BindState.Bound) throw errnoException(-EBADF, syscall);
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
    if (this.#closed || this.#bindState !== BindState.Bound) throw bufferSizeError(`uv_${name === 'SO_RCVBUF' ? 'recv' : 'send'}_buffer_size`);
    if (size !== undefined) {
      this.#native.setOption(name, size);
      if (name === 'SO_RCVBUF') warnIfRecvBufferCapped(size, this.#native.getOption(name));
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
    return this.#sends.bytes;
  }
  getSendQueueCount(): number {
    return this.#sends.count;
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

  /**
   * sendto(buffer, offset, length, port, address, [callback]): dgram's old form of send(), its
   * numbers and address checked first, as dgram checks them.
   */
  sendto(buffer: DatagramData, offset: number, length: number, port: number, address: string, callback?: SendCallback): void {
    if (typeof offset !== 'number') throw invalidArgType('offset', 'of type number', offset);
    if (typeof length !== 'number') throw invalidArgType('length', 'of type number', length);
    if (typeof port !== 'number') throw invalidArgType('port', 'of type number', port);
    if (typeof address !== 'string') throw invalidArgType('address', 'of type string', address);
    this.send(buffer, offset, length, port, address, callback);
  }

  static {
    // await using socket = createSocket(...): closes it (an already closed socket: nothing to do).
    Object.defineProperty(Socket.prototype, ASYNC_DISPOSE, {
      configurable: true,
      writable: true,
      value: async function asyncDispose(this: Socket): Promise<void> {
        if (this.#closed) return;
        await new Promise<void>((resolve) => this.close(resolve));
      },
    });
    // dgram's deprecated members (DEP0112), on the Node versions that still have them. They
    // read this socket's state; writing _reuseAddr or _queue sets them, the others (dgram's
    // libuv handle and its flags) cannot be replaced here and ignore a write.
    if (HAS_DEP0112_MEMBERS) {
      const member = (name: string, get: (s: Socket) => unknown, set: (s: Socket, value: unknown) => void) => {
        const message = `Socket.prototype.${name} is deprecated`;
        Object.defineProperty(Socket.prototype, name, {
          configurable: true,
          get: util.deprecate(function (this: Socket) {
            return get(this);
          }, message, 'DEP0112'),
          set: util.deprecate(function (this: Socket, value: unknown) {
            set(this, value);
          }, message, 'DEP0112'),
        });
      };
      const ignore = () => {};
      member('_handle', (s) => (s.#closed ? null : s.#native), ignore);
      member('_receiving', (s) => s.#receiving && !s.#closed && !s.#muted, ignore);
      member('_bindState', (s) => s.#bindState, ignore);
      member('_queue', (s) => s.#queue, (s, value) => {
        s.#queue = Array.isArray(value) ? (value as Array<() => void>) : undefined;
      });
      member('_reuseAddr', (s) => s.#reuseAddr, (s, value) => {
        s.#reuseAddr = value as boolean | undefined;
      });
      const method = (name: string, run: (s: Socket) => void) => {
        Object.defineProperty(Socket.prototype, name, {
          configurable: true,
          writable: true,
          value: util.deprecate(function (this: Socket) {
            run(this);
          }, `Socket.prototype.${name}() is deprecated`, 'DEP0112'),
        });
      };
      method('_healthCheck', (s) => s.#healthCheck());
      // dgram stops reading the socket; here 'message' events stop (what arrives is dropped).
      method('_stopReceiving', (s) => {
        s.#muted = true;
      });
    }
  }

  /** Membership calls and sendBatch bind an unbound socket first, as libuv does for memberships. */
  #ensureBoundNow(syscall: string): void {
    if (this.#bindState === BindState.Bound) return;
    if (this.#bindState === BindState.Binding) throw errnoException(-EBADF, syscall);
    try {
      this.#applyPreBindOptions();
      this.#native.bind(this.#family === 4 ? '0.0.0.0' : '::', 0);
      this.#applyPostBindOptions();
    } catch (e) {
      throw fromNativeErrno(e, 'bind');
    }
    this.#bindState = BindState.Bound;
    try {
      this.#startReceiving();
    } catch (e) {
      this.close();
      throw e;
    }
    process.nextTick(() => this.emit('listening'));
  }
}

export interface BindOptions {
  port?: number;
  address?: string;
  exclusive?: boolean;
  fd?: number;
}


/** A send()'s list of payloads; a bad item is reported as dgram does, naming the list. */
function bufferList(list: readonly unknown[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const item of list) {
    if (typeof item !== 'string' && !ArrayBuffer.isView(item)) {
      throw invalidArgType('buffer list arguments', 'of type string or an instance of Buffer, TypedArray, or DataView', list);
    }
    out.push(toBytes(item, 'buffer list arguments'));
  }
  return out;
}

/** createSocket(type | options, listener?): a drop-in for node:dgram's. */
export function createSocket(type: SocketType | SocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void): Socket {
  return new Socket(type, listener);
}

let recvBufferWarned = false;

/**
 * SO_RCVBUF is capped by net.core.rmem_max without a word: Linux keeps min(asked, rmem_max) and
 * doubles it (its bookkeeping overhead), which getsockopt reports. So less than twice what was
 * asked means the cap cut it. Said once per process, as a user would want to know: a burst sized
 * for the asked buffer is dropped by the kernel (stats.kernelDrops).
 */
export function warnIfRecvBufferCapped(asked: number, got: number): void {
  if (recvBufferWarned || got >= 2 * asked) return;
  recvBufferWarned = true;
  process.emitWarning(
    `recvBufferSize ${asked} was capped by the kernel to ${Math.floor(got / 2)} (getRecvBufferSize() reports ${got}, twice that): ` +
      'raise net.core.rmem_max (sysctl -w net.core.rmem_max=N) to get the buffer asked for',
    { code: 'URING_UDP_RECV_BUFFER_CAPPED' },
  );
}
