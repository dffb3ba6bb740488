// The benchmark harness: drivers x scenarios, every run in fresh processes (better-sqlite3's
// benchmark/ is the model). A native C sender (bench/c) offers load; receivers are node:dgram,
// uring-udp's 'message' API, its batch API, and a C liburing reference receiver.
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

export const RECEIVERS = ['dgram', 'uring-message', 'uring-batch', 'c-liburing'] as const;
export type Receiver = (typeof RECEIVERS)[number];
export const ECHO_SERVERS = ['dgram', 'uring-message', 'uring-batch', 'c-recvmmsg'] as const;
export type EchoServer = (typeof ECHO_SERVERS)[number];

export interface BenchOptions {
  quick?: boolean;
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
  /** Repeats of the saturation and echo runs; the report takes the median (default: 1 quick, 3 full). */
  rounds?: number;
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
}

export interface BenchResults {
  date: string;
  quick: boolean;
  machine: { cpus: number; model: string; memoryGiB: number };
  kernel: string;
  node: string;
  seconds: number;
  /** Unmeasured flood seconds each receiver took before its measured run. */
  warmupSeconds: number;
  flood: FloodRow[];
  echo: EchoRow[];
  watchdog: WatchdogRow[];
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

/** Builds the C peers (bench/c/build.sh) into bench/build; returns the directory. */
export function buildPeers(): string {
  const out = path.join(PACKAGE_ROOT, 'bench', 'build');
  execFileSync('bash', [path.join(PACKAGE_ROOT, 'bench', 'c', 'build.sh'), out], { stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}

class Peer {
  readonly child: ChildProcessWithoutNullStreams;
  readonly #lines: string[] = [];
  #waiters: Array<(line: string) => void> = [];
  readonly exited: Promise<number | null>;

  constructor(command: string, args: string[]) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const lines = readline.createInterface({ input: this.child.stdout });
    lines.on('line', (line) => {
      const waiter = this.#waiters.shift();
      if (waiter) waiter(line);
      else this.#lines.push(line);
    });
    let stderr = '';
    this.child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    this.exited = new Promise((resolve) =>
      this.child.on('close', (code) => {
        if (code !== 0 && code !== null) process.stderr.write(`bench: ${command} ${args.join(' ')} exited ${code}: ${stderr}\n`);
        for (const waiter of this.#waiters.splice(0)) waiter('{}');
        resolve(code);
      }),
    );
  }

  line(timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const ready = this.#lines.shift();
    const next = ready !== undefined ? Promise.resolve(ready) : new Promise<string>((resolve) => this.#waiters.push(resolve));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((_, reject) => {
      timer = setTimeout(() => reject(new Error('benchmark peer did not answer')), timeoutMs);
    });
    return Promise.race([next, timeout])
      .finally(() => clearTimeout(timer))
      .then((line) => JSON.parse(line) as Record<string, unknown>);
  }

  send(command: string): void {
    this.child.stdin.write(`${command}\n`);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

function receiverPeer(driver: Receiver, peers: string, watchdog = true): Peer {
  if (driver === 'c-liburing') return new Peer(path.join(peers, 'uring-receiver'), ['--port', '0', '--buffers', '4096', '--buffer-size', '2048']);
  return new Peer(process.execPath, [path.join(__dirname, 'receiver.js'), '--driver', driver, '--watchdog', watchdog ? 'on' : 'off']);
}

function echoPeer(driver: EchoServer, peers: string): Peer {
  if (driver === 'c-recvmmsg') return new Peer(path.join(peers, 'udp-echo-server'), ['--port', '0']);
  return new Peer(process.execPath, [path.join(__dirname, 'echo-server.js'), '--driver', driver]);
}

const num = (value: unknown): number => (typeof value === 'number' ? value : 0);

async function floodRun(driver: Receiver, size: number, rate: number, seconds: number, warmupSeconds: number, peers: string, watchdog = true): Promise<FloodRow> {
  const receiver = receiverPeer(driver, peers, watchdog);
  try {
    const ready = await receiver.line();
    const port = num(ready.port);
    const warmup = new Peer(path.join(peers, 'udp-sender'), ['--port', String(port), '--size', String(size), '--rate', String(rate), '--duration', String(warmupSeconds)]);
    await warmup.line(warmupSeconds * 1000 + 30_000);
    await warmup.exited;
    await new Promise((resolve) => setTimeout(resolve, 300));
    receiver.send('start');
    const sender = new Peer(path.join(peers, 'udp-sender'), ['--port', String(port), '--size', String(size), '--rate', String(rate), '--duration', String(seconds)]);
    const sent = await sender.line(seconds * 1000 + 30_000);
    await sender.exited;
    // Let the receiver drain what is queued in its socket before the window closes.
    await new Promise((resolve) => setTimeout(resolve, 300));
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
      maxRssKb: num(got.maxRssKb),
    };
    if (got.watchdogCpuUs !== undefined) row.watchdogCpuUs = num(got.watchdogCpuUs);
    if (got.kernelDrops !== undefined) row.kernelDrops = num(got.kernelDrops);
    if (got.batches !== undefined) row.batches = num(got.batches);
    if (typeof got.backend === 'string') row.backend = got.backend;
    return row;
  } finally {
    receiver.kill();
  }
}

async function echoRun(driver: EchoServer, inflight: number, seconds: number, peers: string): Promise<EchoRow> {
  const server = echoPeer(driver, peers);
  const samples = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'uring-bench-')), 'samples.bin');
  try {
    const ready = await server.line();
    server.send('start');
    const client = new Peer(path.join(peers, 'udp-echo-client'), [
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
  const quick = options.quick ?? false;
  const seconds = options.seconds ?? (quick ? 1 : 3);
  const warmupSeconds = options.warmupSeconds ?? (quick ? QUICK_WARMUP_SECONDS : WARMUP_SECONDS);
  const rates = options.rates ?? (quick ? [100_000, 0] : [50_000, 100_000, 200_000, 300_000, 400_000, 0]);
  const sizes = options.sizes ?? (quick ? [64] : [64, 1200]);
  const receivers = options.receivers ?? [...RECEIVERS];
  const echoServers = options.echoServers ?? [...ECHO_SERVERS];
  const inflight = options.inflight ?? [1, 64];
  const peers = buildPeers();

  const jobs: Array<{ label: string; run: () => Promise<void> }> = [];
  const results: BenchResults = {
    date: new Date().toISOString(),
    quick,
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
    kernel: os.release(),
    node: process.version,
    seconds,
    warmupSeconds,
    flood: [],
    echo: [],
    watchdog: [],
  };
  // The runs the targets are judged on (the sender's maximum, the echo runs) are repeated,
  // drivers interleaved round by round, and the report takes the median run: single runs on
  // a 2-core machine shared with the sender vary by 10-30 %.
  const rounds = options.rounds ?? (quick ? 1 : 3);
  for (const size of sizes) {
    for (const rate of rates) {
      for (let round = 1; round <= (rate === 0 ? rounds : 1); round++) {
        for (const driver of receivers) {
          jobs.push({
            label: `flood ${driver} ${size} B @ ${rate || 'max'}${rate === 0 && rounds > 1 ? ` #${round}` : ''}`,
            run: async () => {
              results.flood.push({ ...(await floodRun(driver, size, rate, seconds, warmupSeconds, peers)), round });
            },
          });
        }
      }
    }
  }
  for (const k of inflight) {
    for (let round = 1; round <= rounds; round++) {
      for (const driver of echoServers) {
        jobs.push({
          label: `echo ${driver} inflight ${k}${rounds > 1 ? ` #${round}` : ''}`,
          run: async () => {
            results.echo.push({ ...(await echoRun(driver, k, seconds, peers)), round });
          },
        });
      }
    }
  }
  if (!options.skipWatchdog) {
    // Watchdog overhead: the same flood with the watchdog off and on, alternated round by round
    // to spread drift; the report compares medians. A fixed rate every driver receives whole
    // (no loss), so both sides handle the same datagrams and CPU per datagram compares like
    // with like; the watchdog thread's own CPU time is measured directly as well.
    const rounds = options.watchdogRounds ?? (quick ? 1 : 5);
    for (const driver of ['uring-batch', 'uring-message'] as const) {
      for (let round = 0; round < rounds; round++) {
        for (const watchdog of (round % 2 ? ['on', 'off'] : ['off', 'on']) as Array<'on' | 'off'>) {
          jobs.push({
            label: `watchdog ${watchdog} ${driver} #${round + 1}`,
            run: async () => {
              const row = await floodRun(driver, 64, WATCHDOG_RATE, seconds, warmupSeconds, peers, watchdog === 'on');
              results.watchdog.push({
                driver,
                watchdog,
                round: round + 1,
                offered: WATCHDOG_RATE,
                deliveredPerSec: row.deliveredPerSec,
                lossPct: row.lossPct,
                cpuPerDatagramUs: row.cpuPerDatagramUs,
                watchdogCpuPerDatagramUs: row.delivered > 0 ? (row.watchdogCpuUs ?? 0) / row.delivered : 0,
              });
            },
          });
        }
      }
    }
  }
  let done = 0;
  for (const job of jobs) {
    options.onProgress?.(done, jobs.length, job.label);
    await job.run();
    done++;
  }
  options.onProgress?.(done, jobs.length, 'done');
  return results;
}
