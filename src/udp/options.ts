// A socket's options: their names and types, and the constructor's validation of them
// (exact messages, before anything crosses into C++). What sizes the receive path — buffers,
// scratch, budget — is the addon's arithmetic (binding.receiveLayout), not repeated here.
import dns from 'node:dns';

import { binding, type NativeRecvConfig } from '../native';
import { applyReceiverEnv } from '../receivers';
import * as v from '../validate';
import { badType, invalidArgType, outOfRange } from './errors';

export type SocketType = 'udp4' | 'udp6';
export type Backend = 'recvmsg-multishot' | 'poll-recvmmsg' | 'recvmmsg';
/** The receive backends, in the addon's order (its backend numbers index this). */
export const BACKENDS: readonly Backend[] = binding.constants.BACKENDS;

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
   * Read sparse traffic on the JS thread (recvmmsg, one thread hop per datagram instead of two,
   * and no native receiver at all until a burst) and move the socket to a pooled receiver when
   * traffic grows. Default true; false: on a receiver from bind on.
   */
  hybrid?: boolean;
  /**
   * The watchdog for this socket while a receiver reads it: starvedMs for its own request,
   * stuckMs for its receiver's thread (shared: the strictest of its sockets' applies), or false
   * to leave it out of the checks and reports.
   */
  watchdog?: false | { stuckMs?: number; starvedMs?: number };
  /**
   * UDP GRO (Linux 5.0+): the kernel may hand over several datagrams of one sender at once,
   * coalesced; they are split again, so handlers see exactly the datagrams that were sent, at a
   * fraction of the receive cost. Default false. Needs maxDatagramSize at its default (a
   * coalesced read is up to 64 KiB). Where the kernel has no UDP_GRO the socket works without it
   * (socket.gro says which).
   */
  gro?: boolean;
  /**
   * UDP GSO for sendBatch() and for send()s gathered in one tick (Linux 4.18+): runs of
   * datagrams to one destination of one size (the last may be shorter) leave as one send each.
   * Default true where the kernel has it; false: one datagram per send. Off for good for the
   * socket if the kernel refuses a GSO send (stats.gsoFallbacks).
   */
  gso?: boolean;
  /**
   * Each datagram's TOS byte (traffic class on IPv6), whose low two bits are its ECN codepoint:
   * IP_RECVTOS / IPV6_RECVTCLASS. batch.ecn(i), batch.tos(i); rinfo.ecn, rinfo.tos. Default false.
   */
  ecn?: boolean;
  /**
   * Each datagram's local address — the one it was sent to — and the interface it arrived on:
   * IP_PKTINFO / IPV6_RECVPKTINFO. batch.localAddress(i), batch.interfaceIndex(i);
   * rinfo.localAddress, rinfo.interfaceIndex. Default false.
   */
  pktinfo?: boolean;
}

export const SOCKET_OPTIONS = [
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
  'gro',
  'gso',
  'ecn',
  'pktinfo',
] as const;

/**
 * Internal, for src/repro.ts only: an option under this symbol gives the socket's receiver the
 * reproducer's ring (a CQ of `cqEntries`, set up plain, busy-polled). Not part of the API.
 */
export const kReproRing: unique symbol = Symbol('uring-udp repro ring');
export interface ReproRing {
  cqEntries: number;
  busyWait: boolean;
}
// The largest UDP payload: 65535 minus the UDP header and, for IPv4, the minimal IP header.
const MAX_UDP_PAYLOAD = { udp4: 65507, udp6: 65527 } as const;
const DEFAULT_RECEIVE_BUDGET = 32 * 1024 * 1024;
const MIN_RECEIVE_BUDGET = 256 * 1024;
const MAX_RECEIVE_BUDGET = 2 ** 40;
const MAX_DEFAULT_BUFFERS = 1024;

/** What the receive path of a socket is configured with, once validated. */
export interface ReceiveConfig {
  backend: Backend | 'auto';
  /** The backend was forced (it is a requirement, not a starting point). */
  forced: boolean;
  hybrid: boolean;
  maxDatagramSize: number;
  receiveBudget: number;
  bufferCount: number;
  bufferSize: number;
  /** recvmmsg scratch space, the fallback backends' (and a hybrid socket's direct reads'). */
  scratchBytes: number;
  batchCount: number;
  batchDelayUs: number;
  watch: false | { stuckMs?: number; starvedMs?: number };
  gro: boolean;
  gso: boolean;
  ecn: boolean;
  pktinfo: boolean;
  repro?: ReproRing;
}

export interface ParsedSocketOptions {
  type: SocketType;
  family: 4 | 6;
  lookup: LookupFunction;
  customLookup: boolean;
  receive: ReceiveConfig;
}

function defaultBackend(): Backend | 'auto' {
  const forced = process.env.URING_UDP_BACKEND;
  if (forced === undefined || forced === '' || forced === 'auto') return 'auto';
  if (!(BACKENDS as readonly string[]).includes(forced)) {
    throw v.rangeError(`URING_UDP_BACKEND must be one of auto, ${BACKENDS.join(', ')}, got ${JSON.stringify(forced)}`);
  }
  return forced as Backend;
}

/**
 * The buffer ring's size: as asked, or by default as many buffers as fit in half the budget
 * (less a hybrid socket's recvmmsg scratch for the JS thread), at most 1024. Asked-for buffers
 * that would take more than that half are refused: the rest of the budget is what holds
 * datagrams for JS.
 */
function ringBufferCount(asked: unknown, budget: number, maxDatagram: number, fit: number, bufferSize: number): number {
  if (asked === undefined) return Math.min(MAX_DEFAULT_BUFFERS, fit);
  const count = v.powerOfTwo(asked, 'bufferCount', 1, 32768);
  if (count > fit) {
    throw v.rangeError(
      `"bufferCount" ${count} × ${bufferSize}-byte buffers (for maxDatagramSize ${maxDatagram}) is more than half of "receiveBudget" ` +
        `(${budget} bytes): at most ${fit} fit; raise receiveBudget, or lower bufferCount or maxDatagramSize`,
    );
  }
  return count;
}

const warnedOptions = new Set<string>();

/**
 * dgram ignores option names it does not know, and libraries pass their own (multicast-dns
 * passes `toString`): so does this. A near miss of a known name is most likely a typo, and gets
 * a warning (once per name) saying so.
 */
function warnMisspelledOptions(options: object): void {
  for (const name of Object.keys(options)) {
    const suggestion = v.nearMiss(name, SOCKET_OPTIONS);
    if (suggestion === undefined || warnedOptions.has(name)) continue;
    warnedOptions.add(name);
    process.emitWarning(`createSocket option "${name}" is not known and is ignored; did you mean "${suggestion}"?`, {
      code: 'URING_UDP_MISSPELLED_OPTION',
    });
  }
}

const layouts = new Map<string, ReturnType<typeof binding.receiveLayout>>();

/** binding.receiveLayout, asked once per combination (a socket's bind used to pay the call). */
function receiveLayout(maxDatagramSize: number, receiveBudget: number, hybrid: boolean, control: boolean) {
  const key = `${maxDatagramSize} ${receiveBudget} ${hybrid} ${control}`;
  let layout = layouts.get(key);
  if (layout === undefined) {
    layout = binding.receiveLayout(maxDatagramSize, receiveBudget, hybrid, control);
    if (layouts.size < 64) layouts.set(key, layout);
  }
  return layout;
}

/** Parsed options of sockets given no option but their type, by type and URING_UDP_BACKEND. */
const plainParsed = new Map<string, ParsedSocketOptions>();

/** Nothing but `type` (own or inherited, enumerable), and not the reproducer's ring. */
function onlyType(options: SocketOptions): boolean {
  for (const name in options) if (name !== 'type') return false;
  return (options as { [kReproRing]?: ReproRing })[kReproRing] === undefined;
}

/**
 * createSocket()'s options, validated in dgram's order (buffer sizes, lookup, type), then ours.
 * The common case, createSocket('udp4'), is parsed once per type and URING_UDP_BACKEND and its
 * receive configuration shared: nothing changes one (a short-lived socket's creation paid the
 * whole parse, docs/benchmark.md's churn).
 */
export function parseSocketOptions(options: SocketOptions): ParsedSocketOptions {
  if ((options.type === 'udp4' || options.type === 'udp6') && onlyType(options)) {
    const key = `${options.type} ${process.env.URING_UDP_BACKEND ?? ''}`;
    let parsed = plainParsed.get(key);
    if (parsed === undefined) {
      parsed = parseAll(options);
      if (plainParsed.size < 16) plainParsed.set(key, parsed);
    }
    applyReceiverEnv();
    // dns.lookup as it is now (a test, or an APM agent, may have wrapped it since).
    return { ...parsed, lookup: dns.lookup as unknown as LookupFunction };
  }
  return parseAll(options);
}

function parseAll(options: SocketOptions): ParsedSocketOptions {
  for (const name of ['recvBufferSize', 'sendBufferSize'] as const) {
    const size = options[name];
    if (!size) continue; // as dgram: 0, null, NaN leave the kernel's default
    if (typeof size !== 'number') throw invalidArgType(`options.${name}`, 'of type number', size);
    if (!Number.isInteger(size) || size < 0 || size > 0x7fffffff) throw outOfRange(`options.${name}`, '>= 0 && <= 2147483647', size);
  }
  if (options.lookup !== undefined && typeof options.lookup !== 'function') {
    throw invalidArgType('lookup', 'of type function', options.lookup);
  }
  if (options.type !== 'udp4' && options.type !== 'udp6') throw badType();
  const type = options.type;
  warnMisspelledOptions(options);
  const backend = options.backend === undefined ? defaultBackend() : v.oneOf(options.backend, 'backend', ['auto', ...BACKENDS] as const);
  applyReceiverEnv();
  const largest = MAX_UDP_PAYLOAD[type];
  const maxDatagramSize =
    options.maxDatagramSize === undefined ? largest : v.integer(options.maxDatagramSize, 'maxDatagramSize', 1, largest);
  const watch = v.watchdogOption(options.watchdog, 'createSocket');
  const hybrid = options.hybrid === undefined ? true : v.boolean(options.hybrid, 'hybrid');
  const receiveBudget =
    options.receiveBudget === undefined
      ? DEFAULT_RECEIVE_BUDGET
      : v.integer(options.receiveBudget, 'receiveBudget', MIN_RECEIVE_BUDGET, MAX_RECEIVE_BUDGET);
  const gro = options.gro === undefined ? false : v.boolean(options.gro, 'gro');
  const gso = options.gso === undefined ? true : v.boolean(options.gso, 'gso');
  if (gro && maxDatagramSize !== largest) {
    throw v.rangeError(
      `"gro" needs "maxDatagramSize" at its default (${largest}): the kernel coalesces datagrams into reads of up to 64 KiB, got ${maxDatagramSize}`,
    );
  }
  const ecn = options.ecn === undefined ? false : v.boolean(options.ecn, 'ecn');
  const pktinfo = options.pktinfo === undefined ? false : v.boolean(options.pktinfo, 'pktinfo');
  // Room for the control messages in each receive buffer when any is asked for.
  const layout = receiveLayout(maxDatagramSize, receiveBudget, hybrid, gro || ecn || pktinfo);
  const bufferCount = ringBufferCount(options.bufferCount, receiveBudget, maxDatagramSize, layout.maxRingBuffers, layout.bufferSize);
  const batch = v.optionsObject(options.batch, 'createSocket batch');
  v.checkOptionNames(batch, ['count', 'delayUs'], 'createSocket batch');
  return {
    type,
    family: type === 'udp4' ? 4 : 6,
    lookup: options.lookup ?? (dns.lookup as unknown as LookupFunction),
    customLookup: options.lookup !== undefined,
    receive: {
      backend,
      forced: backend !== 'auto',
      hybrid,
      maxDatagramSize,
      receiveBudget,
      bufferCount,
      bufferSize: layout.bufferSize,
      scratchBytes: layout.scratchBytes,
      batchCount: batch.count === undefined ? 256 : v.integer(batch.count, 'batch.count', 1, 65536),
      batchDelayUs: batch.delayUs === undefined ? 1000 : v.integer(batch.delayUs, 'batch.delayUs', 0, 1000000),
      watch,
      gro,
      gso,
      ecn,
      pktinfo,
      repro: (options as { [kReproRing]?: ReproRing })[kReproRing],
    },
  };
}

const packed = new WeakMap<ReceiveConfig, Float64Array>();

/**
 * The addon's form of a receive configuration (startReceiving's first argument): its fields in
 * RECV_CONFIG's order, made once per configuration (sockets made with the same options share
 * one, see parseSocketOptions) and never changed after.
 */
export function packedReceiveConfig(c: ReceiveConfig): Float64Array {
  let out = packed.get(c);
  if (out !== undefined) return out;
  const fields: NativeRecvConfig = {
    backend: c.backend === 'auto' ? 0 : BACKENDS.indexOf(c.backend),
    forced: c.forced,
    maxDatagramSize: c.maxDatagramSize,
    bufferSize: c.bufferSize,
    bufferCount: c.bufferCount,
    batchCount: c.batchCount,
    batchDelayUs: c.batchDelayUs,
    maxWaitMs: 500,
    receiveBudget: c.receiveBudget,
    watchdog: c.watch !== false,
    stuckMs: c.watch ? (c.watch.stuckMs ?? 0) : 0,
    starvedMs: c.watch ? (c.watch.starvedMs ?? 0) : 0,
    hybrid: c.hybrid,
    gro: c.gro,
    tos: c.ecn,
    pktinfo: c.pktinfo,
    cqEntries: c.repro?.cqEntries ?? 0,
    busyWait: c.repro?.busyWait ?? false,
  };
  const names = binding.constants.RECV_CONFIG;
  out = new Float64Array(names.length);
  names.forEach((name, i) => {
    const value = fields[name];
    if (value === undefined) throw new Error(`internal: no value for the addon's receive config slot ${name}`);
    out![i] = Number(value);
  });
  packed.set(c, out);
  return out;
}
