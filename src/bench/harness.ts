// The benchmark harness: drivers x scenarios, every run in fresh processes (better-sqlite3's
// benchmark/ is the model). A native C sender (bench/c) offers load; receivers are node:dgram,
// uring-udp's 'message' API, its batch API, a C liburing reference receiver, and Bun and Deno
// (installed on demand, runtimes.ts). Scenarios: flood (offered rates), echo (round trips),
// watchdog (on vs off), drain (receive capacity, the sender's speed out of the picture),
// slow-handler (a handler slower than its traffic: what the process holds), churn (short-lived
// sockets), many (10,000 sockets in one process), spread (64 sockets flooded at once), poll
// (ring.poll() events, single-shot against multishot), gro (a GSO sender into receivers with and
// without UDP GRO) and gso (sendBatch() with and without GSO, into receivers with and without GRO).
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

import { ensureRuntime, runtimeCommand, runtimeEnv, RUNTIMES, type Runtime, type RuntimeInfo } from './runtimes';
import { canWriteSysctls, countFds, countTasks, procStatus, readSysctl, socketRecvBuffer, system, udpQueue, udpQueues, withSocketDefaults } from './system';

export const RECEIVERS = ['dgram', 'uring-message', 'uring-batch', 'c-liburing', 'bun', 'deno'] as const;
export type Receiver = (typeof RECEIVERS)[number];
export const ECHO_SERVERS = ['dgram', 'uring-message', 'uring-batch', 'c-recvmmsg', 'bun', 'deno'] as const;
export type EchoServer = (typeof ECHO_SERVERS)[number];
export const SCENARIOS = ['flood', 'echo', 'watchdog', 'drain', 'slow-handler', 'churn', 'many', 'spread', 'poll', 'gro', 'gso'] as const;
export type Scenario = (typeof SCENARIOS)[number];
/** Every driver name a scenario knows: `--only` takes these too, to narrow the drivers. */
export const DRIVERS = [...new Set<string>([...RECEIVERS, ...ECHO_SERVERS])];
/** The package's receive backends, forced with URING_UDP_BACKEND in the slow-handler scenario. */
export const BACKENDS = ['recvmsg-multishot', 'poll-recvmmsg', 'recvmmsg'] as const;

export interface BenchOptions {
  quick?: boolean;
  /** Scenarios to run (default: all). */
  scenarios?: Scenario[];
  /** Only these drivers, in every scenario (default: all). */
  drivers?: string[];
  /** Per-run seconds of offered load (default: 1 quick, 3 full). */
  seconds?: number;
  /** Offered rates in datagrams/s; 0 = the sender's maximum. */
  rates?: number[];
  sizes?: number[];
  receivers?: Receiver[];
  echoServers?: EchoServer[];
  inflight?: number[];
  /** Skip the watchdog on/off scenario. */
  skipWatchdog?: boolean;
  /** Repeats of the saturation, echo, churn, many and spread runs; the report takes the median (default: 1 quick, 3 full). */
  rounds?: number;
  /** Repeats of the drain runs (default: 1 quick, 2 full). */
  drainRounds?: number;
  /** Watchdog off/on pairs per receiver (default: 1 quick, 5 full). */
  watchdogRounds?: number;
  /** Unmeasured flood before each flood run, in seconds (default: QUICK_WARMUP_SECONDS quick, WARMUP_SECONDS full). */
  warmupSeconds?: number;
  onProgress?: (done: number, total: number, label: string) => void;
}

export interface FloodRow {
  driver: Receiver;
  size: number;
  offered: number; // target rate, 0 = max
  /** Which repeat of this run (runs at the sender's maximum are repeated). */
  round?: number;
  sent: number;
  sentPerSec: number;
  delivered: number;
  deliveredPerSec: number;
  lossPct: number;
  cpuPerDatagramUs: number;
  maxRssKb: number;
  /** uring-udp receivers: the watchdog thread's CPU time in the window (0 when off). */
  watchdogCpuUs?: number;
  kernelDrops?: number;
  batches?: number;
  backend?: string;
  /** The receive buffer the kernel gave the socket (`ss`: skmem rb), where read. */
  recvBufferBytes?: number;
  /** Datagrams that arrived coalesced by UDP GRO (the gro scenario). */
  coalesced?: number;
  /** A receiver (not only the JS thread's direct reads) read the package's socket in the window. */
  onReceiver?: boolean;
}

export interface EchoRow {
  driver: EchoServer;
  inflight: number;
  round?: number;
  roundTripsPerSec: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  lost: number;
}

export interface WatchdogRow {
  driver: 'uring-batch' | 'uring-message';
  watchdog: 'on' | 'off';
  round: number;
  offered: number;
  deliveredPerSec: number;
  lossPct: number;
  cpuPerDatagramUs: number;
  /** The watchdog thread's own CPU time per datagram (0 when off), from its schedstat. */
  watchdogCpuPerDatagramUs: number;
  /** A receiver read the socket in the window (else its JS thread read it all, and nothing was watched). */
  onReceiver?: boolean;
}

/** A receiver's capacity: stopped while its socket buffer fills, then timed draining it. */
export interface DrainRow {
  driver: Receiver;
  size: number;
  round: number;
  /** The socket's receive buffer (`ss`: skmem rb). */
  recvBufferBytes: number;
  /** Bytes queued in the socket when the receiver was resumed (skb truesize: more than the payloads). */
  queuedBytes: number;
  /** Seconds the sender took to fill the buffer (until the kernel dropped). */
  fillSeconds: number;
  /** Datagrams received after the resume. */
  datagrams: number;
  /** Datagrams/s between the first and the last 64th datagram after the resume. */
  drainPerSec: number;
  drainSeconds: number;
  /** The receiver process's CPU time (every thread) from the resume to the end, per datagram. */
  cpuPerDatagramUs: number;
  error?: string;
}

/** A handler slower than its traffic (issue 14): what the process holds, what the kernel drops. */
export interface SlowHandlerRow {
  driver: 'dgram' | 'uring-batch' | 'uring-message';
  /** The backend forced with URING_UDP_BACKEND (and the one that ran), or 'node:dgram'. */
  backend: string;
  size: number;
  sent: number;
  received: number;
  /** uring-udp: socket.stats.kernelDrops; node:dgram: the socket's drops in /proc/net/udp. */
  kernelDrops: number;
  /** The socket's drops in /proc/net/udp over the window (every driver). */
  procDrops: number;
  /** received + kernelDrops = sent. */
  accounted: boolean;
  /** The receiver's peak resident memory (VmHWM, sampled every 50 ms with VmRSS). */
  peakRssKb: number;
  /** Its resident memory when it had handled everything, and a few seconds later. */
  rssDrainedKb: number;
  rssAfterKb: number;
  /** Seconds inside the handler, and datagrams received per second of it. */
  handlerSeconds: number;
  perHandlerSecond: number;
  /** The sender was stopped early because the receiver passed SLOW_HANDLER_RSS_CAP_KB. */
  capped: boolean;
  /**
   * The longest the receiver took to answer 'progress' once the flood was over: how long its
   * event loop went without a turn (stdin is read there) while the handler worked through what
   * the process held.
   */
  longestStallMs: number;
  /** Bytes left in the socket of a receiver that stopped reading (then `error` says so). */
  stuckBytes?: number;
  recvBufferBytes: number;
  error?: string;
}

/** Short-lived sockets (issue 16): create, one round trip, close, in sequence. */
/** The poll scenario (issue 17): a Ring's poll events with cqOverflow 'prevent' (single-shot) and 'allow' (multishot). */
export interface PollRow {
  mode: 'prevent' | 'allow';
  round: number;
  polls: string;
  fds: number;
  eventsPerSec: number;
  /** The client process's CPU time (every thread) per event. */
  cpuPerEventUs: number;
  cqOverflows: number;
  error?: string;
}

export interface ChurnRow {
  driver: 'dgram' | 'uring-message';
  round: number;
  sockets: number;
  socketsPerSec: number;
  /** The client process's CPU time (every thread) per socket. */
  cpuPerSocketUs: number;
  lost: number;
  threadsAfter: number;
  fdsAfter: number;
  error?: string;
}

/** Many sockets in one process (issue 16), one datagram to each. */
export interface ManyRow {
  driver: 'dgram' | 'uring-message';
  round: number;
  sockets: number;
  fdLimit: number;
  bound: number;
  received: number;
  allReceived: boolean;
  threads: number;
  fds: number;
  rssKb: number;
  bindMs: number;
  deliverMs: number;
  closeMs: number;
  error?: string;
}

/** One receiver process with several sockets flooded at once by one sender, against one socket. */
export interface SpreadRow {
  driver: 'dgram' | 'uring-batch' | 'uring-message';
  sockets: number;
  size: number;
  round: number;
  sent: number;
  sentPerSec: number;
  delivered: number;
  deliveredPerSec: number;
  lossPct: number;
  cpuPerDatagramUs: number;
  maxRssKb: number;
}

/** The gro scenario: 1,200-byte datagrams from a C GSO sender (40 a send) at its maximum into one receiver, with or without UDP GRO. */
export interface GroRow {
  driver: 'uring-batch' | 'c-liburing';
  gro: boolean;
  round: number;
  sent: number;
  sentPerSec: number;
  delivered: number;
  deliveredPerSec: number;
  lossPct: number;
  cpuPerDatagramUs: number;
  /** Datagrams that arrived coalesced (the package's stats.coalesced). */
  coalesced?: number;
}

/** The gso scenario: sendBatch() of 1,200-byte datagrams with or without GSO, into a C receiver with or without GRO. */
export interface GsoRow {
  gso: boolean;
  gro: boolean;
  round: number;
  sent: number;
  sentPerSec: number;
  /** The sender process's CPU per datagram sent. */
  senderCpuPerDatagramUs: number;
  delivered: number;
  deliveredPerSec: number;
  gsoSends: number;
}

export interface BenchResults {
  date: string;
  quick: boolean;
  /** The scenarios this run was asked for. */
  scenarios?: Scenario[];
  machine: { cpus: number; model: string; memoryGiB: number };
  kernel: string;
  node: string;
  /** Bun and Deno: version, or why they did not run. */
  runtimes?: RuntimeInfo[];
  seconds: number;
  /** Unmeasured flood seconds each receiver took before its measured run. */
  warmupSeconds: number;
  /** Wall-clock seconds the whole run took. */
  durationSeconds?: number;
  flood: FloodRow[];
  echo: EchoRow[];
  watchdog: WatchdogRow[];
  drain?: DrainRow[];
  slowHandler?: SlowHandlerRow[];
  churn?: ChurnRow[];
  many?: ManyRow[];
  spread?: SpreadRow[];
  poll?: PollRow[];
  gro?: GroRow[];
  gso?: GsoRow[];
  /** What was skipped and why (a runtime that could not be installed, a scenario that needs root). */
  notes?: string[];
}

const PACKAGE_ROOT = path.join(__dirname, '..', '..');
/** Offered rate of the watchdog on/off runs: below what either uring-udp receiver takes whole. */
const WATCHDOG_RATE = 200_000;
/**
 * Seconds of unmeasured flood every receiver takes (same size and rate) before its measured
 * run, then a pause to drain. A process's first flood pays one-time costs a running server
 * paid long before: page faults in fresh receive buffers and arenas, JIT compilation, and a
 * hybrid socket's first warm-up of its buffer ring (docs/api.md "Memory" gives its cost).
 * The longest of them is the batch arenas' memory: at the sender's maximum the receiver's
 * heap grows for about two seconds before it reaches its high-water mark (minor faults 2,000/s
 * in the first two seconds of a 64-byte flood, 250/s from the fourth on; each costs ~10 us on
 * this VM). Measured paired, round by round (docs/benchmark.md): after 2 s instead of 0.25 s
 * the batch API used 0.87x the CPU per datagram, the C reference (which allocates nothing
 * per datagram) 0.99x. The table is of receivers past that, as a server is after its first
 * seconds.
 */
export const WARMUP_SECONDS = 2;
/** The warm-up of --quick runs, which must finish in under a minute: indicative only. */
export const QUICK_WARMUP_SECONDS = 0.5;
/** SO_RCVBUF the flood receivers ask for (the C ones too): the kernel clamps it to rmem_max and doubles it. */
const FLOOD_RECV_BUFFER = 4 << 20;
/** The drain scenario's socket buffer (net.core.rmem_default while the receiver starts); --quick: 64 MiB. */
export const DRAIN_BUFFER = 1 << 30;
const QUICK_DRAIN_BUFFER = 64 << 20;
/** The slow-handler scenario (issue 14): 5 s floods, recvBufferSize 8 MiB, three sizes. */
const SLOW_HANDLER_SECONDS = 5;
const SLOW_HANDLER_RECV_BUFFER = 8 << 20;
const SLOW_HANDLER_SIZES = [64, 1200, 60_000];
/** A receiver past this much resident memory stops being fed (the row says so): the machine is shared. */
export const SLOW_HANDLER_RSS_CAP_KB = 2 << 20;
/** How long a slow handler may take to catch up after its flood before the row fails (keeps a full run bounded). */
const SLOW_HANDLER_CATCH_UP_MS = 120_000;
/** The churn scenario: sockets per run, after this many unmeasured. */
const CHURN_SOCKETS = 2000;
const CHURN_WARMUP = 200;
/** The many scenario: sockets in one process; fds allowed: two per socket and 1,024 more (or the hard limit, if lower). */
const MANY_SOCKETS = 10_000;
/** The poll scenario: eventfds polled at once. */
const POLL_FDS = 64;
/** The gro and gso scenarios: datagram size, and datagrams per GSO send of the C sender. */
const GSO_SIZE = 1200;
const GSO_SEGMENTS = 40;
/** The spread scenario: sockets flooded at once. */
const SPREAD_SOCKETS = 64;

/** Builds the C peers (bench/c/build.sh) into bench/build; returns the directory. */
export function buildPeers(): string {
  const out = path.join(PACKAGE_ROOT, 'bench', 'build');
  execFileSync('bash', [path.join(PACKAGE_ROOT, 'bench', 'c', 'build.sh'), out], { stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}

interface PeerOptions {
  /** Added to the harness's environment. */
  env?: NodeJS.ProcessEnv;
  /** Instead of it. */
  envReplace?: NodeJS.ProcessEnv;
  /** Do not print the peer's stderr when it fails: the row reports the failure. */
  quiet?: boolean;
}

class Peer {
  readonly child: ChildProcessWithoutNullStreams;
  readonly #lines: string[] = [];
  #waiters: Array<(line: string) => void> = [];
  readonly exited: Promise<number | null>;
  stderr = '';
  exitCode: number | null | undefined;

  constructor(command: string, args: string[], options: PeerOptions = {}) {
    const env = options.envReplace ?? (options.env ? { ...process.env, ...options.env } : undefined);
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(env ? { env } : {}) });
    this.child.stdin.on('error', () => {}); // a peer that died: its result says so
    const lines = readline.createInterface({ input: this.child.stdout });
    lines.on('line', (line) => {
      const waiter = this.#waiters.shift();
      if (waiter) waiter(line);
      else this.#lines.push(line);
    });
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      if (this.stderr.length > 100_000) this.stderr = this.stderr.slice(-50_000);
    });
    this.exited = new Promise((resolve) =>
      this.child.on('close', (code, signal) => {
        this.exitCode = code;
        if (code !== 0 && code !== null && !options.quiet) process.stderr.write(`bench: ${command} ${args.join(' ')} exited ${code}: ${this.stderr}\n`);
        for (const waiter of this.#waiters.splice(0)) waiter(JSON.stringify({ exited: true, code, signal }));
        resolve(code);
      }),
    );
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  line(timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const ready = this.#lines.shift();
    const next =
      ready !== undefined
        ? Promise.resolve(ready)
        : this.exitCode !== undefined
          ? Promise.resolve(JSON.stringify({ exited: true, code: this.exitCode }))
          : new Promise<string>((resolve) => this.#waiters.push(resolve));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((_, reject) => {
      timer = setTimeout(() => reject(new Error('benchmark peer did not answer')), timeoutMs);
    });
    return Promise.race([next, timeout])
      .finally(() => clearTimeout(timer))
      .then((line) => JSON.parse(line) as Record<string, unknown>);
  }

  /** The next line that has `key` (skipping others, such as progress lines). */
  async lineWith(key: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = await this.line(Math.max(1, deadline - Date.now()));
      if (key in line || line.exited) return line;
    }
  }

  send(command: string): void {
    if (this.child.stdin.writable) this.child.stdin.write(`${command}\n`);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

const num = (value: unknown): number => (typeof value === 'number' ? value : 0);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The last lines of a failed peer's stderr, for its row. */
const stderrTail = (peer: Peer) => peer.stderr.trim().split('\n').slice(-3).join(' ').slice(0, 400);

/** What every run needs: the C peers, and the runtimes that could be installed. */
interface Context {
  peers: string;
  runtimes: Map<Runtime, RuntimeInfo>;
}

interface ReceiverSpec {
  watchdog?: boolean;
  /** SO_RCVBUF asked; 0: leave net.core.rmem_default (the drain scenario). */
  recvBuffer?: number;
  stamps?: boolean;
  /** receiver.js --sockets. */
  sockets?: number;
  /** Another build's receiver.js (scripts/bench-ab.js), and arguments to add to it. */
  script?: string;
  args?: string[];
  /** UDP GRO on the receiver's socket (the gro scenario). */
  gro?: boolean;
  /** More udp-sender arguments (the gro scenario's --gso). */
  senderArgs?: string[];
}

const isRuntime = (driver: string): driver is Runtime => (RUNTIMES as readonly string[]).includes(driver);

/** A Bun or Deno peer, in runtimeEnv(): without the sanitizer runtimes of npm run test:asan. */
function runtimePeer(ctx: Context, runtime: Runtime, args: string[]): Peer {
  const [command, argv] = runtimeCommand(ctx.runtimes.get(runtime)!, args);
  return new Peer(command, argv, { envReplace: runtimeEnv() });
}

/** What SO_RCVBUF / SO_SNDBUF `bytes` gives a socket here: clamped to the maximum, then doubled by the kernel. */
function effectiveBuffer(bytes: number, which: 'rmem' | 'wmem'): number {
  try {
    return 2 * Math.min(bytes, Number(readSysctl(`net.core.${which}_max`)));
  } catch {
    return 2 * bytes;
  }
}

function receiverPeer(driver: Receiver, ctx: Context, spec: ReceiverSpec = {}): Peer {
  const recvBuffer = spec.recvBuffer ?? FLOOD_RECV_BUFFER;
  if (driver === 'c-liburing') {
    // A GRO socket's buffers hold a whole coalesced read (64 KiB and its header): fewer of them.
    const buffers = spec.gro ? ['--buffers', '512', '--buffer-size', String(65536 + 256), '--gro', '1'] : ['--buffers', '4096', '--buffer-size', '2048'];
    return new Peer(path.join(ctx.peers, 'uring-receiver'), [
      '--port', '0', ...buffers, '--rcvbuf', String(recvBuffer), '--stamps', spec.stamps ? '1' : '0',
    ]);
  }
  if (isRuntime(driver)) return runtimePeer(ctx, driver, ['--mode', 'receiver', ...(spec.stamps ? ['--stamps'] : [])]);
  return new Peer(process.execPath, [
    spec.script ?? path.join(__dirname, 'receiver.js'),
    '--driver', driver,
    '--watchdog', spec.watchdog === false ? 'off' : 'on',
    '--recv-buffer', String(recvBuffer),
    ...(spec.stamps ? ['--stamps'] : []),
    ...(spec.sockets ? ['--sockets', String(spec.sockets)] : []),
    ...(spec.gro ? ['--gro'] : []),
    ...(spec.args ?? []),
  ]);
}

/**
 * Starts a receiver and waits for its ready line. Bun and Deno cannot set their socket
 * buffers, so they start with net.core.rmem_default set to what the others' SO_RCVBUF gives
 * them (root only; otherwise they keep the machine's default, and their row's buffer says so).
 */
async function startReceiver(driver: Receiver, ctx: Context, spec: ReceiverSpec = {}): Promise<{ peer: Peer; ready: Record<string, unknown> }> {
  const start = async () => {
    const peer = receiverPeer(driver, ctx, spec);
    return { peer, ready: await peer.line() };
  };
  if (!isRuntime(driver)) return start();
  return (await withSocketDefaults({ rmem: effectiveBuffer(FLOOD_RECV_BUFFER, 'rmem') }, start)).value;
}

function echoPeer(driver: EchoServer, ctx: Context): Peer {
  if (driver === 'c-recvmmsg') return new Peer(path.join(ctx.peers, 'udp-echo-server'), ['--port', '0']);
  if (isRuntime(driver)) return runtimePeer(ctx, driver, ['--mode', 'echo']);
  return new Peer(process.execPath, [path.join(__dirname, 'echo-server.js'), '--driver', driver]);
}

/** A ports file for udp-sender --ports-file. */
function portsFile(ports: number[]): { file: string; dispose: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uring-bench-'));
  const file = path.join(dir, 'ports');
  fs.writeFileSync(file, `${ports.join('\n')}\n`);
  return { file, dispose: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

function senderArgs(target: { port: number } | { portsFile: string }, size: number, rate: number, seconds: number, extra: string[] = []): string[] {
  const dest = 'port' in target ? ['--port', String(target.port)] : ['--ports-file', target.portsFile];
  return [...dest, '--size', String(size), '--rate', String(rate), '--duration', String(seconds), ...extra];
}

async function floodRun(driver: Receiver, size: number, rate: number, seconds: number, warmupSeconds: number, ctx: Context, spec: ReceiverSpec = {}): Promise<FloodRow> {
  const { peer: receiver, ready } = await startReceiver(driver, ctx, spec);
  const ports = Array.isArray(ready.ports) ? (ready.ports as number[]) : [num(ready.port)];
  // Several sockets: one unconnected sender spreads over their ports (one port is sent to the same way).
  const spread = spec.sockets !== undefined ? portsFile(ports) : undefined;
  const target = spread ? { portsFile: spread.file } : { port: ports[0]! };
  try {
    const warmup = new Peer(path.join(ctx.peers, 'udp-sender'), senderArgs(target, size, rate, warmupSeconds, spec.senderArgs));
    await warmup.line(warmupSeconds * 1000 + 30_000);
    await warmup.exited;
    // A pause, and until the warm-up's backlog is handled: none of it may count in the window.
    await sleep(300);
    await settle(receiver, ports, 30_000, 100);
    receiver.send('start');
    const sender = new Peer(path.join(ctx.peers, 'udp-sender'), senderArgs(target, size, rate, seconds, spec.senderArgs));
    const sent = await sender.line(seconds * 1000 + 30_000);
    await sender.exited;
    // Let the receiver drain what is queued in its sockets before the window closes.
    await sleep(300);
    await settle(receiver, ports, 30_000, 100);
    const recvBufferBytes = socketRecvBuffer(ports[0]!);
    const hwmKb = procStatus(receiver.pid)?.hwmKb ?? 0;
    receiver.send('stop');
    const got = await receiver.line();
    const delivered = num(got.datagrams);
    const cpuUs = got.cpuUs !== undefined ? num(got.cpuUs) : num(got.cpuUserUs) + num(got.cpuSysUs);
    const sentCount = num(sent.sent);
    const row: FloodRow = {
      driver,
      size,
      offered: rate,
      sent: sentCount,
      sentPerSec: Math.round(num(sent.rate)),
      delivered,
      deliveredPerSec: Math.round(delivered / Math.max(num(sent.seconds), 1e-9)),
      lossPct: sentCount > 0 ? Math.max(0, (1 - delivered / sentCount) * 100) : 0,
      cpuPerDatagramUs: delivered > 0 ? cpuUs / delivered : 0,
      // The peer's own getrusage where it reports one; the same figure (VmHWM) read from outside otherwise.
      maxRssKb: num(got.maxRssKb) || hwmKb,
    };
    if (got.watchdogCpuUs !== undefined) row.watchdogCpuUs = num(got.watchdogCpuUs);
    if (got.kernelDrops !== undefined) row.kernelDrops = num(got.kernelDrops);
    if (got.batches !== undefined) row.batches = num(got.batches);
    if (typeof got.backend === 'string') row.backend = got.backend;
    if (got.coalesced !== undefined) row.coalesced = num(got.coalesced);
    if (typeof got.onReceiver === 'boolean') row.onReceiver = got.onReceiver;
    if (recvBufferBytes !== null) row.recvBufferBytes = recvBufferBytes;
    return row;
  } finally {
    receiver.kill();
    spread?.dispose();
  }
}

async function echoRun(driver: EchoServer, inflight: number, seconds: number, ctx: Context): Promise<EchoRow> {
  const start = async () => {
    const peer = echoPeer(driver, ctx);
    return { peer, ready: await peer.line() };
  };
  // Bun and Deno: the buffers the others ask for, through the defaults (see startReceiver).
  const { peer: server, ready } = isRuntime(driver)
    ? (await withSocketDefaults({ rmem: effectiveBuffer(FLOOD_RECV_BUFFER, 'rmem'), wmem: effectiveBuffer(FLOOD_RECV_BUFFER, 'wmem') }, start)).value
    : await start();
  const samples = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'uring-bench-')), 'samples.bin');
  try {
    server.send('start');
    const client = new Peer(path.join(ctx.peers, 'udp-echo-client'), [
      '--port', String(num(ready.port)), '--inflight', String(inflight), '--duration', String(seconds), '--samples', samples,
    ]);
    const result = await client.line(seconds * 1000 + 30_000);
    await client.exited;
    server.send('stop');
    await server.line().catch(() => ({}));
    const percentiles = await percentilesFromSamples(samples);
    return {
      driver,
      inflight,
      roundTripsPerSec: Math.round(num(result.perSecond)),
      p50Us: percentiles?.p50Us ?? num(result.p50Us),
      p99Us: percentiles?.p99Us ?? num(result.p99Us),
      p999Us: percentiles?.p999Us ?? num(result.p999Us),
      lost: num(result.lost),
    };
  } finally {
    server.kill();
    fs.rmSync(path.dirname(samples), { recursive: true, force: true });
  }
}

/** The gso scenario: lib/bench/sender.js (sendBatch, GSO on or off) into the C receiver (GRO on or off). */
async function gsoRun(gso: boolean, gro: boolean, round: number, seconds: number, ctx: Context): Promise<GsoRow> {
  const { peer: receiver, ready } = await startReceiver('c-liburing', ctx, { gro });
  const port = num(ready.port);
  try {
    const senderPeer = (secs: number) =>
      new Peer(process.execPath, [path.join(__dirname, 'sender.js'), '--port', String(port), '--size', String(GSO_SIZE), '--seconds', String(secs), '--gso', gso ? 'on' : 'off']);
    const warmup = senderPeer(0.5);
    await warmup.line(30_000);
    await warmup.exited;
    await sleep(300);
    await settle(receiver, port, 30_000, 100);
    receiver.send('start');
    const sender = senderPeer(seconds);
    const sent = await sender.line(seconds * 1000 + 30_000);
    await sender.exited;
    await sleep(300);
    await settle(receiver, port, 30_000, 100);
    receiver.send('stop');
    const got = await receiver.line();
    const count = num(sent.sent);
    const delivered = num(got.datagrams);
    return {
      gso,
      gro,
      round,
      sent: count,
      sentPerSec: Math.round(num(sent.rate)),
      senderCpuPerDatagramUs: count > 0 ? num(sent.cpuUs) / count : 0,
      delivered,
      deliveredPerSec: Math.round(delivered / Math.max(num(sent.seconds), 1e-9)),
      gsoSends: num(sent.gsoSends),
    };
  } finally {
    receiver.kill();
  }
}

/** Polls `check` every `everyMs` until it returns true or `timeoutMs` passes; returns whether it did. */
async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(everyMs);
  }
}

/**
 * Asks a receiver how many datagrams it has had until two answers `stableMs` apart agree and
 * its sockets' queues are empty: its backlog is handled. 'stuck': the count has not moved for
 * STUCK_MS while datagrams wait in its sockets — it has stopped reading.
 */
async function settle(
  receiver: Peer,
  ports: number | number[],
  timeoutMs: number,
  stableMs = 250,
  answer?: { timeoutMs: number; longestMs: number },
): Promise<{ state: 'settled' | 'stuck' | 'timeout'; datagrams: number }> {
  let last = -1;
  let movedAt = performance.now();
  let state: 'settled' | 'stuck' | 'timeout' = 'timeout';
  const list = Array.isArray(ports) ? ports : [ports];
  await waitFor(
    async () => {
      const asked = performance.now();
      receiver.send('progress');
      const got = await receiver.lineWith('progress', answer?.timeoutMs ?? 30_000);
      if (answer) answer.longestMs = Math.max(answer.longestMs, performance.now() - asked);
      if (got.exited) return true;
      const now = num(got.datagrams);
      let queued = 0;
      for (const q of udpQueues(list).values()) queued += q.rxQueueBytes;
      if (now !== last) movedAt = performance.now();
      const done = now === last && queued === 0;
      last = now;
      if (done) state = 'settled';
      else if (queued > 0 && performance.now() - movedAt > STUCK_MS) state = 'stuck';
      return state !== 'timeout';
    },
    timeoutMs,
    stableMs,
  ).catch(() => {}); // no answer in time: 'timeout'
  return { state, datagrams: last };
}

/** A receiver whose count has not moved for this long while its socket holds datagrams has stopped reading. */
const STUCK_MS = 10_000;

/**
 * Drain (issue 21): the receiver is stopped (SIGSTOP) while one sender fills its socket's
 * buffer — `buffer` bytes, from net.core.rmem_default while the receiver starts: no receiver
 * sets its own — until the kernel drops; then resumed (SIGCONT) and timed until the buffer is
 * empty. The rate is taken between the first and the last 64th datagram after the resume
 * (every receiver records them the same way), so it is the receiver's own capacity, whatever
 * the sender could offer. CPU per datagram: the receiver's CPU time from 'start' (just before
 * the stop) to the end over the datagrams it received.
 */
async function drainRun(driver: Receiver, size: number, round: number, buffer: number, warmupSeconds: number, ctx: Context, spec: ReceiverSpec = {}): Promise<DrainRow> {
  const row: DrainRow = { driver, size, round, recvBufferBytes: 0, queuedBytes: 0, fillSeconds: 0, datagrams: 0, drainPerSec: 0, drainSeconds: 0, cpuPerDatagramUs: 0 };
  const { value: started } = await withSocketDefaults({ rmem: buffer }, async () => {
    const peer = receiverPeer(driver, ctx, { ...spec, recvBuffer: 0, stamps: true });
    return { peer, ready: await peer.line() };
  });
  const receiver = started.peer;
  let stopped = false;
  try {
    const port = num(started.ready.port);
    if (!port) throw new Error(`the receiver did not start: ${stderrTail(receiver)}`);
    row.recvBufferBytes = socketRecvBuffer(port) ?? 0;
    // A warm-up as the flood runs have (JIT, buffers), then until the socket is empty.
    const warmup = new Peer(path.join(ctx.peers, 'udp-sender'), senderArgs({ port }, size, 0, warmupSeconds));
    await warmup.line(warmupSeconds * 1000 + 30_000);
    await warmup.exited;
    await settle(receiver, port, 120_000);
    receiver.send('start');
    receiver.send('progress');
    await receiver.lineWith('progress'); // answered in order: 'start' was handled
    system.stop(receiver.pid);
    stopped = true;
    const before = udpQueue(port)?.drops ?? 0;
    const fillStart = performance.now();
    const sender = new Peer(path.join(ctx.peers, 'udp-sender'), senderArgs({ port }, size, 0, 60));
    const full = await waitFor(() => (udpQueue(port)?.drops ?? 0) > before, 60_000, 20);
    row.fillSeconds = (performance.now() - fillStart) / 1000;
    sender.child.kill('SIGTERM');
    await sender.line(10_000).catch(() => ({}));
    await sender.exited;
    if (!full) throw new Error(`the sender did not fill the ${buffer}-byte buffer in 60 s`);
    row.queuedBytes = udpQueue(port)?.rxQueueBytes ?? 0;
    system.resume(receiver.pid);
    stopped = false;
    await waitFor(() => (udpQueue(port)?.rxQueueBytes ?? 0) === 0, 300_000, 50);
    await settle(receiver, port, 300_000);
    receiver.send('stop');
    const got = await receiver.lineWith('datagrams');
    if (got.exited) throw new Error(`the receiver exited: ${stderrTail(receiver)}`);
    row.datagrams = num(got.datagrams);
    const cpuUs = got.cpuUs !== undefined ? num(got.cpuUs) : num(got.cpuUserUs) + num(got.cpuSysUs);
    row.cpuPerDatagramUs = row.datagrams > 0 ? cpuUs / row.datagrams : 0;
    const span = (num(got.lastAtMs) - num(got.firstAtMs)) / 1000;
    row.drainSeconds = span;
    row.drainPerSec = span > 0 ? Math.round((num(got.lastCount) - num(got.firstCount)) / span) : 0;
  } catch (error) {
    row.error = (error as Error).message;
  } finally {
    if (stopped) system.resume(receiver.pid);
    receiver.kill();
  }
  return row;
}

/**
 * Slow handler (issue 14): a receiver whose handler is slower than its traffic — onBatch 5 ms
 * per batch; a 'message' listener that stalls 2 ms every 100 datagrams — flooded at the C
 * sender's maximum, recvBufferSize 8 MiB, every backend forced in turn. The harness samples
 * the receiver's VmRSS and VmHWM every 50 ms (and stops the sender should it pass
 * SLOW_HANDLER_RSS_CAP_KB), then waits for the handler to catch up before it reads the counts.
 */
async function slowHandlerRun(driver: SlowHandlerRow['driver'], backend: string | undefined, size: number, seconds: number, afterMs: number, ctx: Context): Promise<SlowHandlerRow> {
  const row: SlowHandlerRow = {
    driver, backend: backend ?? (driver === 'dgram' ? 'node:dgram' : 'auto'), size, sent: 0, received: 0, kernelDrops: 0, procDrops: 0, accounted: false,
    peakRssKb: 0, rssDrainedKb: 0, rssAfterKb: 0, handlerSeconds: 0, perHandlerSecond: 0, capped: false, longestStallMs: 0, recvBufferBytes: 0,
  };
  const receiver = new Peer(
    process.execPath,
    [path.join(__dirname, 'receiver.js'), '--driver', driver, '--handler', 'slow', '--recv-buffer', String(SLOW_HANDLER_RECV_BUFFER)],
    { ...(backend ? { env: { URING_UDP_BACKEND: backend } } : {}), quiet: true },
  );
  let sender: Peer | undefined;
  let sampler: NodeJS.Timeout | undefined;
  try {
    const ready = await receiver.line();
    const port = num(ready.port);
    if (!port) throw new Error(`the receiver did not start: ${stderrTail(receiver)}`);
    receiver.send('start');
    receiver.send('progress');
    await receiver.lineWith('progress');
    const before = udpQueue(port)?.drops ?? 0;
    const sample = () => {
      const status = procStatus(receiver.pid);
      if (!status) return;
      row.peakRssKb = Math.max(row.peakRssKb, status.hwmKb, status.rssKb);
      if (status.rssKb > SLOW_HANDLER_RSS_CAP_KB && !row.capped) {
        row.capped = true;
        sender?.child.kill('SIGTERM');
      }
    };
    sampler = setInterval(sample, 50);
    sender = new Peer(path.join(ctx.peers, 'udp-sender'), senderArgs({ port }, size, 0, seconds));
    const sent = await sender.line(seconds * 1000 + 30_000);
    row.sent = num(sent.sent);
    // The handler works through what the process held, and may not let the event loop turn
    // meanwhile (then 'progress' waits): for at most SLOW_HANDLER_CATCH_UP_MS.
    const answer = { timeoutMs: SLOW_HANDLER_CATCH_UP_MS, longestMs: 0 };
    const settled = await settle(receiver, port, SLOW_HANDLER_CATCH_UP_MS, 250, answer);
    row.longestStallMs = Math.round(answer.longestMs);
    if (settled.state === 'timeout') {
      row.received = Math.max(0, settled.datagrams);
      row.longestStallMs = Math.max(row.longestStallMs, SLOW_HANDLER_CATCH_UP_MS);
      throw new Error(`still catching up ${SLOW_HANDLER_CATCH_UP_MS / 1000} s after the flood (${row.received} handled by then, at ${fmt(row.received / (SLOW_HANDLER_CATCH_UP_MS / 1000 + seconds))}/s)`);
    }
    if (settled.state === 'stuck') {
      row.stuckBytes = udpQueue(port)?.rxQueueBytes ?? 0;
      row.error = `the receiver stopped reading: ${row.stuckBytes} bytes left in its socket, nothing received for ${STUCK_MS / 1000} s`;
    }
    sample();
    row.rssDrainedKb = procStatus(receiver.pid)?.rssKb ?? 0;
    await sleep(afterMs);
    sample();
    row.rssAfterKb = procStatus(receiver.pid)?.rssKb ?? 0;
    row.procDrops = (udpQueue(port)?.drops ?? 0) - before;
    receiver.send('stop');
    const got = await receiver.lineWith('datagrams');
    if (got.exited) throw new Error(`the receiver exited: ${stderrTail(receiver)}`);
    row.received = num(got.datagrams);
    row.kernelDrops = got.kernelDrops !== undefined ? num(got.kernelDrops) : row.procDrops;
    row.accounted = row.received + row.kernelDrops === row.sent;
    row.handlerSeconds = num(got.handlerMs) / 1000;
    row.perHandlerSecond = row.handlerSeconds > 0 ? Math.round(row.received / row.handlerSeconds) : 0;
    row.recvBufferBytes = num(got.recvBufferBytes);
    if (typeof got.backend === 'string') row.backend = !backend ? `auto: ${got.backend}` : got.backend === backend ? backend : `${backend} (ran ${got.backend})`;
  } catch (error) {
    row.error = (error as Error).message;
  } finally {
    clearInterval(sampler);
    sender?.kill();
    receiver.kill();
  }
  return row;
}

/** Churn (issue 16): a client process creating, using once and closing sockets in sequence, against node:dgram's echo server. */
async function churnRun(driver: ChurnRow['driver'], round: number, sockets: number, warmup: number, ctx: Context): Promise<ChurnRow> {
  const row: ChurnRow = { driver, round, sockets, socketsPerSec: 0, cpuPerSocketUs: 0, lost: 0, threadsAfter: 0, fdsAfter: 0 };
  const server = echoPeer('dgram', ctx);
  try {
    const ready = await server.line();
    server.send('start');
    const client = new Peer(
      process.execPath,
      [path.join(__dirname, 'churn.js'), '--driver', driver, '--port', String(num(ready.port)), '--count', String(sockets), '--warmup', String(warmup)],
      { quiet: true },
    );
    const got = await client.line(600_000);
    await client.exited;
    if (got.exited || client.exitCode) throw new Error(`the client failed: ${stderrTail(client)}`);
    row.socketsPerSec = Math.round(num(got.socketsPerSec));
    row.cpuPerSocketUs = num(got.cpuUs) / sockets;
    row.lost = num(got.lost);
    row.threadsAfter = num(got.threadsAfter);
    row.fdsAfter = num(got.fdsAfter);
  } catch (error) {
    row.error = (error as Error).message;
  } finally {
    server.kill();
  }
  return row;
}

/** Poll (issue 17): one process, POLL_FDS eventfds each polled by one Ring, every event answered by a write. */
async function pollRun(mode: PollRow['mode'], round: number, seconds: number): Promise<PollRow> {
  const row: PollRow = { mode, round, polls: '', fds: POLL_FDS, eventsPerSec: 0, cpuPerEventUs: 0, cqOverflows: 0 };
  try {
    const client = new Peer(process.execPath, [path.join(__dirname, 'poll.js'), '--mode', mode, '--fds', String(POLL_FDS), '--seconds', String(seconds)], { quiet: true });
    const got = await client.line(seconds * 1000 + 60_000);
    await client.exited;
    if (got.exited || client.exitCode) throw new Error(`the client failed: ${stderrTail(client)}`);
    row.polls = String(got.polls);
    row.eventsPerSec = Math.round(num(got.eventsPerSec));
    row.cpuPerEventUs = num(got.cpuUs) / Math.max(1, num(got.events));
    row.cqOverflows = num(got.cqOverflows);
  } catch (error) {
    row.error = (error as Error).message;
  }
  return row;
}

/** The fd limit of a running process (/proc/PID/limits "Max open files", soft). */
function fdLimit(pid: number): number {
  try {
    const match = /^Max open files\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Many (issue 16): `sockets` bound sockets in one process, with two fds allowed per socket
 * (and 1,024 more): node:dgram needs one. One datagram to each from a C sender; then threads,
 * fds and resident memory of the receiver, and how long binding, delivery and closing took.
 * A receiver that dies (an uncaught EMFILE from inside bind) is a row with its error.
 */
async function manyRun(driver: ManyRow['driver'], round: number, sockets: number, ctx: Context): Promise<ManyRow> {
  const row: ManyRow = {
    driver, round, sockets, fdLimit: 0, bound: 0, received: 0, allReceived: false, threads: 0, fds: 0, rssKb: 0, bindMs: 0, deliverMs: 0, closeMs: 0,
  };
  const limit = sockets * 2 + 1024;
  const command = [process.execPath, path.join(__dirname, 'many.js'), '--driver', driver, '--sockets', String(sockets)];
  // The limit asked, or as much as the hard limit allows where it cannot be raised (no
  // CAP_SYS_RESOURCE); the row says which.
  const receiver = new Peer('bash', ['-c', `ulimit -n ${limit} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`, 'many', ...command], { quiet: true });
  let ports: { file: string; dispose: () => void } | undefined;
  try {
    let ready: Record<string, unknown>;
    for (;;) {
      ready = await receiver.line(300_000);
      if (row.fdLimit === 0) row.fdLimit = fdLimit(receiver.pid);
      if (!('bound' in ready) || 'failed' in ready) break;
      // How far it got, and what that cost, in case it dies before all are bound.
      row.bound = num(ready.bound);
      row.threads = countTasks(receiver.pid);
      row.fds = countFds(receiver.pid);
      row.rssKb = procStatus(receiver.pid)?.rssKb ?? 0;
    }
    if (ready.failed || ready.exited) {
      row.bound = num(ready.bound) || row.bound;
      const why = typeof ready.error === 'string' ? ready.error : stderrTail(receiver);
      throw new Error(`${ready.uncaught ? 'died of an uncaught exception' : 'failed'} after ${row.bound} sockets: ${why}`);
    }
    const list = ready.ports as number[];
    row.bound = list.length;
    row.bindMs = Math.round(num(ready.bindMs));
    ports = portsFile(list);
    const sender = new Peer(path.join(ctx.peers, 'udp-sender'), senderArgs({ portsFile: ports.file }, 64, 0, 60, ['--count', String(sockets)]));
    await sender.line(70_000);
    let progress: Record<string, unknown> = {};
    await waitFor(
      async () => {
        receiver.send('progress');
        progress = await receiver.lineWith('progress', 60_000);
        return num(progress.socketsReceived) >= sockets || Boolean(progress.exited);
      },
      20_000,
      100,
    );
    row.received = num(progress.socketsReceived);
    row.allReceived = row.received === sockets;
    row.deliverMs = Math.round(num(progress.deliverMs));
    row.threads = countTasks(receiver.pid);
    row.fds = countFds(receiver.pid);
    row.rssKb = procStatus(receiver.pid)?.rssKb ?? 0;
    receiver.send('close');
    const closed = await receiver.lineWith('closed', 300_000);
    row.closeMs = Math.round(num(closed.closeMs));
    receiver.send('stop');
    await receiver.lineWith('bindMs', 30_000);
  } catch (error) {
    row.error = (error as Error).message;
  } finally {
    receiver.kill();
    ports?.dispose();
  }
  return row;
}

/**
 * One drain run outside runBench (scripts/bench-ab.js MODE=drain): `script` is another build's
 * lib/bench/receiver.js (it must know --stamps and --recv-buffer), `args` more of its arguments.
 * Needs root (net.core.rmem_default); restores it and continues the receiver on every way out.
 */
export async function drainOnce(driver: Receiver, size: number, options: { script?: string; args?: string[]; buffer?: number; warmupSeconds?: number } = {}): Promise<DrainRow> {
  if (!canWriteSysctls()) throw new Error('the drain sets net.core.rmem_default for a moment, which needs root');
  const ctx: Context = { peers: buildPeers(), runtimes: new Map() };
  const spec: ReceiverSpec = { ...(options.script ? { script: options.script } : {}), ...(options.args ? { args: options.args } : {}) };
  try {
    return await drainRun(driver, size, 1, options.buffer ?? DRAIN_BUFFER, options.warmupSeconds ?? 1, ctx, spec);
  } finally {
    system.restoreAll();
  }
}

/** RTT percentiles from the client's raw samples (uint32 ns), through an HDR histogram. */
async function percentilesFromSamples(file: string): Promise<{ p50Us: number; p99Us: number; p999Us: number } | null> {
  if (!fs.existsSync(file)) return null;
  const bytes = fs.readFileSync(file);
  if (bytes.length < 4) return null;
  // A development dependency (as are the charts'): an installed package may not have it.
  const hdr = await import('hdr-histogram-js').catch(() => {
    throw new Error("the echo benchmark's percentiles need hdr-histogram-js, a development dependency of uring-udp: npm install hdr-histogram-js");
  });
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: 3 });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i + 4 <= bytes.length; i += 4) histogram.recordValue(view.getUint32(i, true));
  const us = (q: number) => Math.round(histogram.getValueAtPercentile(q) / 10) / 100;
  const out = { p50Us: us(50), p99Us: us(99), p999Us: us(99.9) };
  histogram.destroy();
  return out;
}

export async function runBench(options: BenchOptions = {}): Promise<BenchResults> {
  const began = performance.now();
  const quick = options.quick ?? false;
  const seconds = options.seconds ?? (quick ? 1 : 3);
  const warmupSeconds = options.warmupSeconds ?? (quick ? QUICK_WARMUP_SECONDS : WARMUP_SECONDS);
  const rates = options.rates ?? (quick ? [100_000, 0] : [50_000, 100_000, 200_000, 300_000, 400_000, 0]);
  const sizes = options.sizes ?? (quick ? [64] : [64, 1200]);
  const scenarios = new Set<Scenario>(options.scenarios ?? SCENARIOS);
  if (!rates.length) scenarios.delete('flood');
  if (options.skipWatchdog) scenarios.delete('watchdog');
  const allowed = (driver: string) => !options.drivers || options.drivers.includes(driver);
  const receivers = (options.receivers ?? [...RECEIVERS]).filter(allowed);
  const echoServers = (options.echoServers ?? [...ECHO_SERVERS]).filter(allowed);
  const inflight = options.inflight ?? [1, 64];
  if (!inflight.length) scenarios.delete('echo');
  const peers = buildPeers();
  const notes: string[] = [];

  // Bun and Deno, when a scenario that has them is asked for.
  const runtimes = new Map<Runtime, RuntimeInfo>();
  const runtimeInfo: RuntimeInfo[] = [];
  const wanted = RUNTIMES.filter(
    (r) => (receivers.includes(r) && (scenarios.has('flood') || scenarios.has('drain'))) || (echoServers.includes(r) && scenarios.has('echo')),
  );
  for (const runtime of wanted) {
    options.onProgress?.(0, 1, `installing ${runtime}`);
    const info = ensureRuntime(runtime);
    runtimeInfo.push(info);
    if (info.binary) runtimes.set(runtime, info);
    else notes.push(`${runtime} left out: ${info.error}`);
  }
  const available = (driver: string) => !isRuntime(driver) || runtimes.has(driver);
  const ctx: Context = { peers, runtimes };

  const jobs: Array<{ label: string; run: () => Promise<void> }> = [];
  const results: BenchResults = {
    date: new Date().toISOString(),
    quick,
    scenarios: SCENARIOS.filter((s) => scenarios.has(s)),
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
    kernel: os.release(),
    node: process.version,
    runtimes: runtimeInfo,
    seconds,
    warmupSeconds,
    flood: [],
    echo: [],
    watchdog: [],
    drain: [],
    slowHandler: [],
    churn: [],
    many: [],
    spread: [],
    poll: [],
    gro: [],
    gso: [],
    notes,
  };
  // The runs the targets are judged on (the sender's maximum, the echo runs) are repeated,
  // drivers interleaved round by round, and the report takes the median run: single runs on
  // a 2-core machine shared with the sender vary by 10-30 %.
  const rounds = options.rounds ?? (quick ? 1 : 3);
  if (scenarios.has('flood')) {
    for (const size of sizes) {
      for (const rate of rates) {
        for (let round = 1; round <= (rate === 0 ? rounds : 1); round++) {
          for (const driver of receivers.filter(available)) {
            jobs.push({
              label: `flood ${driver} ${size} B @ ${rate || 'max'}${rate === 0 && rounds > 1 ? ` #${round}` : ''}`,
              run: async () => {
                results.flood.push({ ...(await floodRun(driver, size, rate, seconds, warmupSeconds, ctx)), round });
              },
            });
          }
        }
      }
    }
  }
  if (scenarios.has('echo')) {
    for (const k of inflight) {
      for (let round = 1; round <= rounds; round++) {
        for (const driver of echoServers.filter(available)) {
          jobs.push({
            label: `echo ${driver} inflight ${k}${rounds > 1 ? ` #${round}` : ''}`,
            run: async () => {
              results.echo.push({ ...(await echoRun(driver, k, seconds, ctx)), round });
            },
          });
        }
      }
    }
  }
  if (scenarios.has('watchdog')) {
    // Watchdog overhead: the same flood with the watchdog off and on, alternated round by round
    // to spread drift; the report compares medians. A fixed rate every driver receives whole
    // (no loss), so both sides handle the same datagrams and CPU per datagram compares like
    // with like; the watchdog thread's own CPU time is measured directly as well.
    const watchdogRounds = options.watchdogRounds ?? (quick ? 1 : 5);
    for (const driver of (['uring-batch', 'uring-message'] as const).filter(allowed)) {
      for (let round = 0; round < watchdogRounds; round++) {
        for (const watchdog of (round % 2 ? ['on', 'off'] : ['off', 'on']) as Array<'on' | 'off'>) {
          jobs.push({
            label: `watchdog ${watchdog} ${driver} #${round + 1}`,
            run: async () => {
              const row = await floodRun(driver, 64, WATCHDOG_RATE, seconds, warmupSeconds, ctx, { watchdog: watchdog === 'on' });
              results.watchdog.push({
                driver,
                watchdog,
                round: round + 1,
                offered: WATCHDOG_RATE,
                deliveredPerSec: row.deliveredPerSec,
                lossPct: row.lossPct,
                cpuPerDatagramUs: row.cpuPerDatagramUs,
                watchdogCpuPerDatagramUs: row.delivered > 0 ? (row.watchdogCpuUs ?? 0) / row.delivered : 0,
                ...(row.onReceiver !== undefined ? { onReceiver: row.onReceiver } : {}),
              });
            },
          });
        }
      }
    }
  }
  if (scenarios.has('drain')) {
    if (!canWriteSysctls()) {
      notes.push('drain left out: it sets net.core.rmem_default for a moment (a 1 GiB socket buffer), which needs root');
    } else {
      const buffer = quick ? QUICK_DRAIN_BUFFER : DRAIN_BUFFER;
      const drainRounds = options.drainRounds ?? options.rounds ?? (quick ? 1 : 2);
      for (const size of options.sizes ?? (quick ? [64] : [64, 1200])) {
        for (let round = 1; round <= drainRounds; round++) {
          for (const driver of receivers.filter(available)) {
            jobs.push({
              label: `drain ${driver} ${size} B${drainRounds > 1 ? ` #${round}` : ''}`,
              run: async () => {
                results.drain!.push(await drainRun(driver, size, round, buffer, quick ? QUICK_WARMUP_SECONDS : 1, ctx));
              },
            });
          }
        }
      }
    }
  }
  if (scenarios.has('slow-handler')) {
    const slowSeconds = options.seconds ?? (quick ? 1 : SLOW_HANDLER_SECONDS);
    // --quick: one size, the package's own choice of backend; a full run forces each in turn.
    const backends: Array<string | undefined> = quick ? [undefined] : [...BACKENDS];
    for (const size of quick ? [1200] : SLOW_HANDLER_SIZES) {
      const runs: Array<[SlowHandlerRow['driver'], string | undefined]> = [['dgram', undefined]];
      for (const backend of backends) for (const driver of ['uring-batch', 'uring-message'] as const) runs.push([driver, backend]);
      for (const [driver, backend] of runs.filter(([d]) => allowed(d))) {
        jobs.push({
          label: `slow-handler ${driver}${backend ? ` ${backend}` : ''} ${size} B`,
          run: async () => {
            results.slowHandler!.push(await slowHandlerRun(driver, backend, size, slowSeconds, quick ? 500 : 3000, ctx));
          },
        });
      }
    }
  }
  if (scenarios.has('churn')) {
    for (let round = 1; round <= rounds; round++) {
      for (const driver of (['dgram', 'uring-message'] as const).filter(allowed)) {
        jobs.push({
          label: `churn ${driver}${rounds > 1 ? ` #${round}` : ''}`,
          run: async () => {
            results.churn!.push(await churnRun(driver, round, quick ? 200 : CHURN_SOCKETS, quick ? 20 : CHURN_WARMUP, ctx));
          },
        });
      }
    }
  }
  if (scenarios.has('poll')) {
    for (let round = 1; round <= rounds; round++) {
      for (const mode of ['allow', 'prevent'] as const) {
        jobs.push({
          label: `poll ${mode}${rounds > 1 ? ` #${round}` : ''}`,
          run: async () => {
            results.poll!.push(await pollRun(mode, round, seconds));
          },
        });
      }
    }
  }
  if (scenarios.has('many')) {
    for (let round = 1; round <= rounds; round++) {
      for (const driver of (['dgram', 'uring-message'] as const).filter(allowed)) {
        jobs.push({
          label: `many ${driver}${rounds > 1 ? ` #${round}` : ''}`,
          run: async () => {
            results.many!.push(await manyRun(driver, round, quick ? 500 : MANY_SOCKETS, ctx));
          },
        });
      }
    }
  }
  if (scenarios.has('spread')) {
    for (const size of quick ? [64] : [64, 1200]) {
      for (let round = 1; round <= rounds; round++) {
        for (const driver of (['dgram', 'uring-batch', 'uring-message'] as const).filter(allowed)) {
          for (const count of round % 2 ? [1, SPREAD_SOCKETS] : [SPREAD_SOCKETS, 1]) {
            jobs.push({
              label: `spread ${driver} ${count} socket${count > 1 ? 's' : ''} ${size} B${rounds > 1 ? ` #${round}` : ''}`,
              run: async () => {
                const row = await floodRun(driver, size, 0, seconds, warmupSeconds, ctx, { sockets: count });
                results.spread!.push({
                  driver,
                  sockets: count,
                  size,
                  round,
                  sent: row.sent,
                  sentPerSec: row.sentPerSec,
                  delivered: row.delivered,
                  deliveredPerSec: row.deliveredPerSec,
                  lossPct: row.lossPct,
                  cpuPerDatagramUs: row.cpuPerDatagramUs,
                  maxRssKb: row.maxRssKb,
                });
              },
            });
          }
        }
      }
    }
  }
  if (scenarios.has('gro')) {
    for (let round = 1; round <= rounds; round++) {
      for (const driver of (['uring-batch', 'c-liburing'] as const).filter(allowed)) {
        for (const gro of round % 2 ? [false, true] : [true, false]) {
          jobs.push({
            label: `gro ${driver} ${gro ? 'with' : 'without'} GRO${rounds > 1 ? ` #${round}` : ''}`,
            run: async () => {
              const row = await floodRun(driver, GSO_SIZE, 0, seconds, warmupSeconds, ctx, {
                gro,
                senderArgs: ['--gso', String(GSO_SEGMENTS), '--batch', String(GSO_SEGMENTS * 16)],
              });
              results.gro!.push({
                driver,
                gro,
                round,
                sent: row.sent,
                sentPerSec: row.sentPerSec,
                delivered: row.delivered,
                deliveredPerSec: row.deliveredPerSec,
                lossPct: row.lossPct,
                cpuPerDatagramUs: row.cpuPerDatagramUs,
                ...(row.coalesced !== undefined ? { coalesced: row.coalesced } : {}),
              });
            },
          });
        }
      }
    }
  }
  if (scenarios.has('gso')) {
    for (let round = 1; round <= rounds; round++) {
      for (const gro of [false, true]) {
        for (const gso of round % 2 ? [false, true] : [true, false]) {
          jobs.push({
            label: `gso sendBatch ${gso ? 'with' : 'without'} GSO into a receiver ${gro ? 'with' : 'without'} GRO${rounds > 1 ? ` #${round}` : ''}`,
            run: async () => {
              results.gso!.push(await gsoRun(gso, gro, round, seconds, ctx));
            },
          });
        }
      }
    }
  }
  let done = 0;
  try {
    for (const job of jobs) {
      options.onProgress?.(done, jobs.length, job.label);
      await job.run();
      done++;
    }
  } finally {
    system.restoreAll();
  }
  options.onProgress?.(done, jobs.length, 'done');
  results.durationSeconds = Math.round((performance.now() - began) / 1000);
  return results;
}
