// The compiled addon, loaded through node-gyp-build (a prebuild when one matches, else
// build/Release). Only this module touches the raw binding; everything here is internal.
import path from 'node:path';
import nodeGypBuild from 'node-gyp-build';

export interface NativeRingConfig {
  entries: number;
  cqEntries: number;
  sqpoll: boolean;
  sqThreadIdle: number;
  sqThreadCpu: number;
  coopTaskrun: -1 | 0 | 1;
  singleIssuer: -1 | 0 | 1;
  deferTaskrun: -1 | 0 | 1;
  busyWait: boolean;
  maxWaitMs: number;
  batchCount: number;
  batchDelayUs: number;
  watchdog: boolean;
  id: number;
  stuckMs: number;
  starvedMs: number;
  /** cqOverflow 'prevent': at most a CQ's worth of completions pending, polls single-shot. */
  preventOverflow: boolean;
}

export interface NativeRingInfo {
  fd: number;
  features: number;
  setupFlags: number;
  tid: number;
  cqEntries: number;
  /** Multishot polls are armed single-shot and re-armed (prevention, or no multishot poll here). */
  singleShotPolls: boolean;
}

export interface NativeRing {
  nop(id: number, slot?: number): void;
  read(id: number, fd: number, buffer: Uint8Array, offset: number, slot?: number): void;
  timeout(id: number, ms: number): void;
  poll(id: number, fd: number, events: number, multishot: boolean, slot?: number): void;
  watch(slot: number, id: number, fd: number, opcode: number, timeoutMs: number, progressMs: number, pollEvents: number): void;
  testHold(id: number, ms: number): void;
  iowqMaxWorkers(id: number, bounded: number, unbounded: number): void;
  cancel(id: number, target: number): void;
  close(): void;
  join(): void;
  ref(): void;
  unref(): void;
  info(): NativeRingInfo;
  /** The ring thread's counters, into `out` (RING_STATS order). */
  readStats(out: Float64Array): void;
  /** JS has seen these single-shot polls' events: arm them again. */
  rearm(ids: Uint32Array): void;
  /** The ring was reported stuck: its thread is left behind, never joined. */
  leave(): void;
}

export interface NativeAddress {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

export interface NativeRecvConfig {
  backend: number;
  /** The backend is a requirement: startReceiving throws where this kernel cannot run it. */
  forced?: boolean;
  maxDatagramSize: number;
  bufferSize: number;
  bufferCount: number;
  batchCount: number;
  batchDelayUs: number;
  maxWaitMs: number;
  /** Bytes the socket may hold for receiving (ring or scratch, and datagrams not yet handed to JS). */
  receiveBudget: number;
  watchdog?: boolean;
  stuckMs?: number;
  starvedMs?: number;
  hybrid?: boolean;
  /** UDP_GRO is set on the socket: coalesced reads are split into their datagrams. */
  gro?: boolean;
  /** IP_RECVTOS / IPV6_RECVTCLASS are set: each datagram's TOS byte, in its extra. */
  tos?: boolean;
  /** IP_PKTINFO / IPV6_RECVPKTINFO are set: each datagram's local address and interface, in its extra. */
  pktinfo?: boolean;
  /** The reproducer's ring only (src/repro.ts). */
  cqEntries?: number;
  busyWait?: boolean;
}

export interface NativeUdp {
  setOption(name: string, value: number): void;
  getOption(name: string): number;
  bind(address: string, port: number): void;
  /** The socket becomes a duplicate of `fd`, a bound socket of its family (a cluster primary's). */
  adopt(fd: number): void;
  connect(address: string, port: number): void;
  disconnect(): void;
  localAddress(): NativeAddress;
  remoteAddress(): NativeAddress;
  /** Bytes sent, or -errno. */
  send(chunks: Uint8Array[], address: string | null, port: number): number;
  /** Datagrams sent from `start` (one sendmmsg, at most 1024), or -errno. */
  sendMany(
    datagrams: Uint8Array[],
    destinations: Array<[string, number]> | null,
    index: Uint32Array | null,
    start: number,
    ecn?: Uint8Array | null,
    sources?: string[] | null,
    sourceIndex?: Uint32Array | null,
  ): number;
  /** setGso(on): UDP GSO for sendMany where this kernel has it; returns whether it is on. */
  setGso(on: boolean): boolean;
  /** sendStats(): [GSO on, GSO sends, datagrams they carried, GSO fallbacks, ECN fallbacks]. */
  sendStats(): [boolean, number, number, number, number];
  /** Test-only (URING_UDP_TEST_HOOKS=1): ECN marks go as a TOS byte the kernel refuses, to drive the fallback. */
  testRefuseTos(): void;
  testLatePause(): void;
  membership(add: boolean, group: string, iface: string | null): void;
  sourceMembership(add: boolean, source: string, group: string, iface: string | null): void;
  multicastInterface(iface: string): void;
  /** The backend its receivers use. The JS thread reads the socket until a burst moves it to one. */
  /**
   * config: the fields of NativeRecvConfig packed into a Float64Array in RECV_CONFIG's order
   * (flags 0 or 1; an absent cqEntries 0); id: the socket's, in watchdog reports.
   */
  startReceiving(config: Float64Array, id: number): number;
  /** true: nothing reads the socket any more; false: a receiver lets it go first ('stopped' follows). */
  stopReceiving(): boolean;
  closeFd(): void;
  backend(): number | null;
  ref(): void;
  unref(): void;
  readonly fd: number;
  readonly threadId: number;
  testDisarm(): void;
  readonly direct: boolean;
  /** A receiver holds the socket (its buffers set up or being set up). */
  readonly attached: boolean;
  /** The receivers' counters for this socket, into `out` (RECV_STATS order). */
  /** The receivers' counters (RECV_STATS), then the direct path's (DIRECT_STATS), into out. */
  recvStats(out: Float64Array): void;
  /** The kernel's drop counter for the socket (SO_MEMINFO); after close, its value at close. */
  kernelDrops(): number;
  /**
   * JS is done with a batch whose settling it deferred (a batches() loop moved on): its bytes
   * leave the receive budget; reuse: its arena may take later batches (false: the batch was kept).
   */
  settle(token: number, reuse: boolean): void;
  /** That receiver was reported stuck: 'direct' (the socket left it), 'closed' (it was closing), '' (not on it). */
  failover(receiverId: number): '' | 'direct' | 'closed';
  /** Test hook (URING_UDP_TEST_HOOKS=1): the receiver thread spends ms in state D. */
  testHoldReceiver(ms: number): void;
}

export interface ReceiveLayout {
  /** One provided buffer: the recvmsg header, a sender's address and a whole datagram. */
  bufferSize: number;
  /** Datagrams per recvmmsg call, and the scratch space they take. */
  recvmmsgBatch: number;
  scratchBytes: number;
  /** Provided buffers that fit in half the budget (after a hybrid socket's scratch). */
  maxRingBuffers: number;
}

export interface NativeProbe {
  usable: boolean;
  setupError?: Error & { code: string; errno: number; syscall: string };
  features: number;
  lastOp: number;
  opcodes: number[];
  tried: Record<string, { supported: boolean; code?: string }>;
}

export interface NativeBinding {
  NativeRing: new (config: NativeRingConfig, onBatch: (records: Int32Array, closed: boolean) => void) => NativeRing;
  configureReceivers(threads: number): void;
  receiverInfo(): { receivers: number; sockets: number; threads: number };
  NativeUdp: new (
    family: 4 | 6,
    /** batches: [arena, records, token] per batch. Returns the tokens whose settling JS defers. */
    onBatch: (batches: Array<ArrayBuffer | Uint32Array | number>, errno: number, stopped: boolean) => number[] | undefined,
  ) => NativeUdp;
  probe(): Promise<NativeProbe>;
  setWatchdogHandler(handler: (reports: unknown[]) => void): void;
  configureWatchdog(stuckMs: number, starvedMs: number, intervalMs: number): void;
  watchdogInfo(): { watched: number };
  /** Test-only helpers (test/ uses them; not part of the public API). */
  testing: {
    eventfd(): number;
    udpSocket(): [number, number];
  };
  /** interfaceName(index): the network interface's name (if_indextoname), or the number as text. */
  interfaceName(index: number): string;
  /** receiveLayout(maxDatagramSize, receiveBudget, hybrid, control?): what a socket's receive path is sized by (control: room for control messages). */
  receiveLayout(maxDatagramSize: number, receiveBudget: number, hybrid: boolean, control?: boolean): ReceiveLayout;
  /** The contract with the addon (native/boundary.cc): indices, offsets, flag bits and sizes. */
  constants: {
    /** Counter names, in the order of their Float64Array. */
    RING_STATS: readonly string[];
    RECV_STATS: readonly string[];
    DIRECT_STATS: readonly string[];
    /** startReceiving()'s config slots (NativeRecvConfig's names), in index order. */
    RECV_CONFIG: readonly (keyof NativeRecvConfig)[];
    /** 32-bit words per ring completion record: id, res, cqe flags, info. */
    COMPLETION_WORDS: number;
    INFO_FINAL: number;
    INFO_REARMED: number;
    CQE_F_MORE: number;
    /** A datagram record: its size in 32-bit words and each field's word index. */
    RECORD: { WORDS: number; OFFSET: number; LENGTH: number; PORT_FAMILY_FLAGS: number; ADDRESS: number; WIRE_LENGTH: number; SCOPE_ID: number; FLAG_TRUNCATED: number };
    /** A datagram's extra words (ecn, pktinfo), after the records in the same buffer. */
    EXTRA: { WORDS: number; TOS_FLAGS: number; IFINDEX: number; LOCAL: number; FLAG_TOS: number; FLAG_LOCAL: number; FLAG_LOCAL6: number };
    /** Receive backends by name, in the addon's order. */
    BACKENDS: readonly ['recvmsg-multishot', 'poll-recvmmsg', 'recvmmsg'];
    /** A batch token's bit for "its arena is lent". */
    TOKEN_LENT: number;
    SETUP: { SQPOLL: number; COOP_TASKRUN: number; SINGLE_ISSUER: number; DEFER_TASKRUN: number };
    OP: { NOP: number; POLL_ADD: number; READ: number; RECVMSG: number };
    DEADLINE_SLOTS: number;
  };
}

/**
 * URING_UDP_ADDON=/path/to/uring_udp.node loads that file instead of what node-gyp-build
 * finds: `npm run test:asan` points it at the sanitizer build (build-sanitize/), and child
 * processes and worker threads inherit it through the environment. Unset, or empty, means
 * the normal lookup (a matching prebuild, else build/Release).
 */
function loadBinding(): NativeBinding {
  const override = process.env.URING_UDP_ADDON;
  if (!override) return nodeGypBuild(path.join(__dirname, '..')) as NativeBinding;
  const file = path.resolve(override);
  try {
    return require(file) as NativeBinding;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `URING_UDP_ADDON=${override}: cannot load ${file}: ${reason}. Unset URING_UDP_ADDON to load the normal build; ` +
        'a sanitizer build also needs its runtime preloaded (npm run test:asan sets LD_PRELOAD).',
      { cause: error },
    );
  }
}

export const binding: NativeBinding = loadBinding();
