// Faults under load. Each keeps the process alive or lets it exit cleanly, loses no datagram the
// kernel delivered to the socket before close, and leaves no thread or descriptor behind:
//  (a) a socket closed mid-flood            (e) the buffer ring exhausted (ENOBUFS) for seconds
//  (b) a worker terminated mid-receive       (f) io_uring forbidden by seccomp: the socket suites
//  (c) process.exit with multishot in flight     pass on the fallback
//  (d) an exception thrown by a batch handler (g) senders of every family, payloads never interpreted
// Floods come from a separate process (FLOODER) sending with sendBatch and counting what it sent.
// (f), two inner tap runs, starts in the background when the file loads and is checked in turn.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import t from 'tap';

import { createSocket, type Socket } from '../../src/index';
import { ROOT, SANITIZED, SLOWDOWN, closed, fdKinds, run, sleep, threadCount, until, which, type RunResult } from '../helpers';

const LIB = path.join(ROOT, 'lib');


/**
 * Floods HOST:PORT for MS milliseconds with SIZE-byte datagrams, 256 per sendBatch, then (after
 * a pause in which the receiver drains) sends MARKERS single datagrams 20 ms apart, so the
 * receiver's kernel drop counter (carried by each datagram) is current at the end. SIGTERM stops
 * it early. Prints { sent, floodSent, start, end } (sent: every datagram sendBatch accepted).
 */
const FLOODER = `
const { createSocket } = require(${JSON.stringify(LIB)});
const [port, host, ms, size, markers] = process.argv.slice(1);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let stop = false;
process.on('SIGTERM', () => { stop = true; });
const socket = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', sendBufferSize: 4 << 20 });
socket.bind(0, host, async () => {
  const batch = Array.from({ length: 256 }, (_, i) => Buffer.alloc(Number(size), i));
  const to = { port: Number(port), address: host };
  let sent = 0;
  let errors = 0;
  const start = Date.now();
  while (!stop && Date.now() - start < Number(ms)) {
    try { sent += socket.sendBatch(batch, to); } catch { errors++; }
    await new Promise((resolve) => setImmediate(resolve));
  }
  const end = Date.now();
  const floodSent = sent;
  if (Number(markers) > 0 && !stop) {
    await sleep(300);
    for (let i = 0; i < Number(markers); i++) {
      sent += socket.sendBatch([Buffer.from('marker')], to);
      await sleep(20);
    }
  }
  console.log(JSON.stringify({ sent, floodSent, errors, start, end }));
  socket.close();
});
`;

interface FloodResult {
  sent: number;
  floodSent: number;
  errors: number;
  start: number;
  end: number;
}

/** A child process we talk to line by line. */
class Child {
  readonly process: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  readonly done: Promise<RunResult>;
  #waiters: Array<() => void> = [];

  constructor(args: string[], env: NodeJS.ProcessEnv = process.env) {
    const started = performance.now();
    let stdout = '';
    let pending = '';
    this.process = spawn(process.execPath, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.process.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      pending += d.toString();
      const parts = pending.split('\n');
      pending = parts.pop()!;
      this.lines.push(...parts);
      for (const w of this.#waiters.splice(0)) w();
    });
    this.process.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.done = new Promise((resolve) => {
      this.process.on('close', (code, signal) => {
        for (const w of this.#waiters.splice(0)) w();
        resolve({ code, signal, stdout, stderr: this.stderr, ms: performance.now() - started, timedOut: false });
      });
    });
  }

  /** The first line (from `from` on) that matches, waiting up to ms for it. */
  async line(match: RegExp, ms = 15_000, from = 0): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.lines.slice(from).find((l) => match.test(l));
      if (found !== undefined) return found;
      if (this.process.exitCode !== null || this.process.signalCode !== null || Date.now() > deadline) {
        throw new Error(`no line matching ${match} (exit ${this.process.exitCode} ${this.process.signalCode}); stderr: ${this.stderr.slice(-1500)}`);
      }
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill(signal);
  }
}

function flood(port: number, host: string, ms: number, size = 64, markers = 0): Child {
  return new Child(['-e', FLOODER, String(port), host, String(ms), String(size), String(markers)]);
}

async function floodResult(flooder: Child): Promise<FloodResult> {
  const line = await flooder.line(/^\{/, 30_000);
  return JSON.parse(line) as FloodResult;
}

/** Inodes of this process's UDP sockets (/proc/self/net/udp and udp6). */
function fdCount(): number {
  return Object.values(fdKinds()).reduce((a, b) => a + b, 0);
}
/** What changed between two fdKinds() (kind: +n / -n), for messages. */
function fdChange(before: Record<string, number>, after: Record<string, number>): string {
  const changes = [];
  for (const kind of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const delta = (after[kind] ?? 0) - (before[kind] ?? 0);
    if (delta) changes.push(`${kind} ${delta > 0 ? '+' : ''}${delta}`);
  }
  return changes.length ? changes.join(', ') : 'none';
}

/** Waits for /proc to settle (thread exit is asynchronous in the kernel), up to ms. */
async function settled(fds: number, threads: number, ms = 1000): Promise<{ fds: number; threads: number; kinds: Record<string, number> }> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && (fdCount() !== fds || threadCount() !== threads)) await sleep(20);
  return { fds: fdCount(), threads: threadCount(), kinds: fdKinds() };
}

// ---- (a) ------------------------------------------------------------------------------------

// Closed from a timer (whatever the receiver is doing at that moment) or from inside the
// handler, in the middle of a delivery (more datagrams of it still to hand out).
const CLOSE_CASES = [
  ['onBatch', 'auto', 'a timer'],
  ['onBatch', 'auto', 'the handler'],
  ["'message'", 'auto', 'the handler'],
  ['onBatch', 'poll-recvmmsg', 'a timer'],
  ['onBatch', 'recvmmsg', 'a timer'],
] as const;
for (const [mode, backend, from] of CLOSE_CASES) {
  t.test(`(a) a socket (${backend}) closed mid-flood from ${from} counts exactly the datagrams its ${mode} handler saw, and leaves nothing behind`, async (t) => {
    // Warm up what is created once per process (the watchdog thread, libuv's pool).
    const warm = createSocket('udp4');
    await new Promise<void>((resolve) => warm.bind(0, '127.0.0.1', resolve));
    await closed(warm);
    await sleep(50);
    const before = { fds: fdCount(), threads: threadCount(), kinds: fdKinds() };

    const socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, backend });
    const THRESHOLD = 20_000;
    let seen = 0;
    let seenAfterClose = 0;
    let closing: Promise<void> | undefined;
    let started = 0;
    const close = () => {
      started = performance.now();
      closing = closed(socket);
    };
    const count = (n: number) => {
      if (closing) seenAfterClose += n;
      seen += n;
      if (from === 'the handler' && !closing && seen >= THRESHOLD) close();
    };
    if (mode === 'onBatch') socket.onBatch((batch) => count(batch.count));
    else socket.on('message', () => count(1));
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const flooder = flood(socket.address().port, '127.0.0.1', 20_000);
    t.teardown(() => flooder.kill('SIGKILL'));
    await until(() => seen >= THRESHOLD, `${THRESHOLD} datagrams`, 15_000);

    const running = socket.backend;
    if (!closing) close();
    await closing;
    const closeMs = performance.now() - started;
    const stats = socket.stats;
    t.comment(`${running}: close() after ${seen - seenAfterClose} datagrams, 'close' ${closeMs.toFixed(1)} ms later; ${seenAfterClose} more handed out after close(); stats.datagrams ${stats.datagrams}, kernelDrops ${stats.kernelDrops}`);
    t.equal(stats.datagrams, seen, `stats.datagrams equals what the handler saw (${seen}): nothing counted but undelivered`);
    t.ok(closeMs < 2000, `close() finished in ${closeMs.toFixed(1)} ms under the flood`);

    flooder.kill();
    const sender = await floodResult(flooder);
    // Stopped by the kill above, not by its own end: the socket was closed mid-flood. (Whether
    // the flooder had sent more than the socket saw by then depends on who ran last.)
    t.ok(sender.end - sender.start < 20_000, `the flood was still running at close (stopped after ${sender.end - sender.start} of 20000 ms, ${sender.sent} sent in all)`);
    t.ok(sender.sent >= seen, 'the socket saw no more than was sent');
    await flooder.done;
    const after = await settled(before.fds, before.threads);
    t.equal(after.threads, before.threads, `threads back to ${before.threads}`);
    t.equal(after.fds, before.fds, `descriptors (other than child processes' stdio) back to ${before.fds} (changed: ${fdChange(before.kinds, after.kinds)})`);
  });
}

// ---- (b) ------------------------------------------------------------------------------------

const RECEIVER_WORKER = `
const { parentPort } = require('node:worker_threads');
const { createSocket } = require(${JSON.stringify(LIB)});
const socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
let received = 0;
socket.onBatch((batch) => { received += batch.count; });
socket.bind(0, '127.0.0.1', () => parentPort.postMessage({ port: socket.address().port }));
setInterval(() => parentPort.postMessage({ received, backend: socket.backend }), 10);
`;

t.test('(b) terminating a worker mid-receive leaves no thread or descriptor in the process', async (t) => {
  const round = async () => {
    const worker = new Worker(RECEIVER_WORKER, { eval: true });
    let received = 0;
    let backend = '';
    const port = await new Promise<number>((resolve, reject) => {
      worker.on('message', (m: { port?: number; received?: number; backend?: string }) => {
        if (m.port) resolve(m.port);
        if (m.received !== undefined) received = m.received;
        if (m.backend) backend = m.backend;
      });
      worker.once('error', reject);
    });
    const flooder = flood(port, '127.0.0.1', 20_000);
    try {
      await until(() => received >= 10_000, 'the worker to receive 10,000 datagrams', 15_000);
      const started = performance.now();
      const code = await worker.terminate();
      return { received, backend, code, terminateMs: performance.now() - started };
    } finally {
      flooder.kill();
      await flooder.done;
    }
  };
  await round(); // warm-up: per-process resources created once
  await sleep(100);
  const before = { fds: fdCount(), threads: threadCount(), kinds: fdKinds() };
  const rounds = [];
  for (let i = 0; i < 3; i++) rounds.push(await round());
  for (const r of rounds) {
    t.equal(r.code, 1, `terminated (exit code 1) after ${r.received} datagrams on ${r.backend}, in ${r.terminateMs.toFixed(1)} ms`);
    t.ok(r.terminateMs < 3000, 'terminate() was not held up by the receiver thread');
  }
  const after = await settled(before.fds, before.threads);
  t.equal(after.threads, before.threads, `threads back to ${before.threads} (receiver threads joined, workers gone)`);
  t.equal(after.fds, before.fds, `descriptors back to ${before.fds} (sockets, rings, eventfds closed; changed: ${fdChange(before.kinds, after.kinds)})`);
});

t.test('(b) a worker terminated while it closes its ring and socket does not take the process down', async (t) => {
  // close() asks the native side to keep the worker's loop alive (a threadsafe function ref);
  // racing terminate(), that call fails, and the failure must not become a C++ exception
  // nobody can catch (std::terminate: the whole process aborts, main thread included).
  const script = `
    const { Worker } = require('node:worker_threads');
    const LIB = ${JSON.stringify(LIB)};
    (async () => {
      const started = Date.now();
      for (let round = 0; round < 40; round++) {
        const workers = Array.from({ length: 4 }, () => new Worker(\`
          const { parentPort } = require('node:worker_threads');
          const { Ring, createSocket } = require(\${JSON.stringify(LIB)});
          const ring = new Ring({ entries: 8 });
          ring.timeout(60000).catch(() => {});
          const socket = createSocket('udp4');
          socket.bind(0, '127.0.0.1', () => parentPort.postMessage('ready'));
          parentPort.on('message', () => { parentPort.postMessage('closing'); ring.close(); socket.close(); });
        \`, { eval: true }));
        await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
        await Promise.all(workers.map((w) => { const closing = new Promise((resolve) => w.once('message', resolve)); w.postMessage('close'); return closing; }));
        await Promise.all(workers.map((w) => w.terminate()));
      }
      console.log('40 rounds in ' + (Date.now() - started) + ' ms');
    })();`;
  const result = await run(process.execPath, ['-e', script], { timeoutMs: 60_000 });
  t.equal(result.timedOut, false, 'finished');
  t.equal(result.signal, null, `no signal (${result.signal}): ${result.stderr.slice(-300)}`);
  t.equal(result.code, 0, 'exit code 0');
  t.match(result.stdout, /^40 rounds in \d+ ms/, `every round done: ${result.stdout.trim()}`);
});

// ---- (c) ------------------------------------------------------------------------------------

t.test('(c) process.exit with multishot requests in flight exits promptly with its code', async (t) => {
  const fifo = path.join(t.testdir(), 'fifo');
  execFileSync('mkfifo', [fifo]);
  const setup = `
    const fs = require('node:fs');
    const { Ring, createSocket } = require(${JSON.stringify(LIB)});
    const fd = fs.openSync(${JSON.stringify(fifo)}, fs.constants.O_RDWR);
    const rings = [new Ring(), new Ring({ wait: 'busy' })];
    const handles = [];
    for (const ring of rings) {
      handles.push(ring.poll(fd, 'readable'), ring.poll(fd, ['readable', 'readHangup']), ring.poll(1, 'writable'));
      ring.timeout(600000).catch(() => {});
    }
    for (const h of handles) { h.on('error', () => {}); h.on('ready', () => {}); }
    const receiver = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    const sender = createSocket('udp4');
    let received = 0;
    const exit = () => { console.log('exit ' + Date.now() + ' ' + received + ' ' + receiver.backend); process.exit(0); };
  `;
  const scenarios = {
    'from a timer, mid-flood': `
      receiver.onBatch((b) => { received += b.count; });
      receiver.bind(0, '127.0.0.1', () => sender.bind(0, '127.0.0.1', () => {
        const batch = Array.from({ length: 256 }, () => Buffer.alloc(64));
        const pump = () => { sender.sendBatch(batch, { port: receiver.address().port, address: '127.0.0.1' }); setImmediate(pump); };
        pump();
        setTimeout(exit, 300);
      }));`,
    'from inside a batch handler, mid-flood': `
      receiver.onBatch((b) => { received += b.count; if (received > 20000) exit(); });
      receiver.bind(0, '127.0.0.1', () => sender.bind(0, '127.0.0.1', () => {
        const batch = Array.from({ length: 256 }, () => Buffer.alloc(64));
        const pump = () => { sender.sendBatch(batch, { port: receiver.address().port, address: '127.0.0.1' }); setImmediate(pump); };
        pump();
      }));`,
  };
  // Under test:asan, LeakSanitizer's scan of the whole heap at exit takes seconds by itself
  // (6-10 s here), and a process that calls process.exit() mid-flood leaves memory behind by
  // design: this measures the addon's part of exiting, so the scan is off for these children.
  const env = SANITIZED ? { ...process.env, ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? ''}:detect_leaks=0` } : undefined;
  for (const [name, body] of Object.entries(scenarios)) {
    const result = await run(process.execPath, ['-e', setup + body], { timeoutMs: 20_000, env });
    const exitedAt = Date.now();
    t.equal(result.timedOut, false, `${name}: the process ended`);
    t.equal(result.signal, null, `${name}: no signal`);
    t.equal(result.code, 0, `${name}: exit code 0\n${result.stderr.slice(-1500)}`);
    const [, at, received, backend] = /^exit (\d+) (\d+) (\S+)/m.exec(result.stdout) ?? [];
    const lag = exitedAt - Number(at);
    t.ok(Number(received) > 0, `${name}: the socket was receiving (${received} datagrams, ${backend})`);
    t.ok(lag < 1500 * SLOWDOWN, `${name}: gone ${lag} ms after process.exit(0)`);
    t.notMatch(result.stderr, /did not exit within/, `${name}: no thread had to be detached`);
  }
});

// ---- (d) ------------------------------------------------------------------------------------

t.test('(d) an exception thrown by a batch handler during a flood is an uncaughtException; later batches still arrive', async (t) => {
  const script = `
    const { createSocket } = require(${JSON.stringify(LIB)});
    const receiver = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    const sender = createSocket('udp4');
    const uncaught = [];
    process.on('uncaughtException', (error) => uncaught.push(error.message));
    let batches = 0, seen = 0, seenAtThrow = 0, after = 0, batchesAfter = 0;
    receiver.onBatch((batch) => {
      batches++;
      seen += batch.count;
      if (batches === 3) { seenAtThrow = seen; throw new Error('thrown by the batch handler'); }
      if (batches > 3) { after += batch.count; batchesAfter++; }
    });
    receiver.bind(0, '127.0.0.1', () => sender.bind(0, '127.0.0.1', () => {
      const batch = Array.from({ length: 64 }, () => Buffer.alloc(64));
      const to = { port: receiver.address().port, address: '127.0.0.1' };
      const start = Date.now();
      const pump = () => {
        if (Date.now() - start < 1000) { sender.sendBatch(batch, to); setImmediate(pump); return; }
        setTimeout(() => {
          const stats = receiver.stats;
          console.log(JSON.stringify({ uncaught, batches, seen, seenAtThrow, after, batchesAfter, stats, backend: receiver.backend }));
          receiver.close(); sender.close();
        }, 300);
      };
      pump();
    }));`;
  const result = await run(process.execPath, ['-e', script], { timeoutMs: 20_000 });
  t.equal(result.code, 0, result.stderr);
  const out = JSON.parse(result.stdout);
  t.comment(`${out.backend}: threw at batch 3 after ${out.seenAtThrow} datagrams; then ${out.batchesAfter} batches, ${out.after} datagrams`);
  t.same(out.uncaught, ['thrown by the batch handler'], 'surfaced once, as an uncaughtException');
  t.ok(out.batchesAfter > 0 && out.after > 0, 'later batches were delivered');
  t.equal(out.stats.datagrams, out.seen, 'every datagram counted reached the handler');
  t.notMatch(result.stderr, /DEP0168|Uncaught N-API callback exception/, 'not swallowed by Node-API');
});

// ---- (e) ------------------------------------------------------------------------------------

t.test('(e) a buffer ring exhausted for 3 s: receiving goes on, ENOBUFS is counted, every datagram sent is received or counted as dropped', async (t) => {
  const receiver = new Child([
    '-e',
    `
    const { createSocket } = require(${JSON.stringify(LIB)});
    const socket = createSocket({ type: 'udp4', bufferCount: 1 });
    let received = 0;
    const samples = [];
    socket.onBatch((batch) => { received += batch.count; });
    socket.bind(0, '127.0.0.1', () => {
      console.log('port ' + socket.address().port + ' ' + socket.backend);
      setInterval(() => samples.push([Date.now(), received]), 100);
    });
    process.stdin.on('data', () => {
      console.log(JSON.stringify({ received, samples, stats: socket.stats, backend: socket.backend }));
      socket.close(() => process.exit(0));
    });
  `,
  ]);
  t.teardown(() => receiver.kill('SIGKILL'));
  const [, port, backend] = /^port (\d+) (\S+)/.exec(await receiver.line(/^port /))!;
  if (backend !== 'recvmsg-multishot') {
    receiver.kill();
    t.plan(0, `backend ${backend} has no buffer ring`);
    return;
  }
  const flooder = flood(Number(port), '127.0.0.1', 3000, 64, 15);
  t.teardown(() => flooder.kill('SIGKILL'));
  const sent = await floodResult(flooder);
  await flooder.done;
  await sleep(500);
  receiver.process.stdin!.write('report\n');
  const report = JSON.parse(await receiver.line(/^\{/)) as {
    received: number;
    samples: Array<[number, number]>;
    stats: { datagrams: number; kernelDrops: number; enobufs: number };
  };
  const result = await receiver.done;
  t.equal(result.signal, null, 'the receiver did not crash');
  t.equal(result.code, 0, `the receiver exited cleanly ${result.stderr.slice(-1000)}`);
  const { received, stats } = report;
  t.comment(`sent ${sent.sent} (${sent.floodSent} in ${sent.end - sent.start} ms + markers); received ${received}; kernelDrops ${stats.kernelDrops}; enobufs ${stats.enobufs}`);
  t.ok(stats.enobufs > 0, `the buffer ring ran dry (${stats.enobufs} times)`);
  // Every second of the flood brought datagrams: receiving never stopped.
  const progress: number[] = [];
  for (let from = sent.start; from + 1000 <= sent.end; from += 1000) {
    const inWindow = report.samples.filter(([at]) => at >= from && at <= from + 1000);
    progress.push(inWindow.length ? inWindow[inWindow.length - 1]![1] - inWindow[0]![1] : 0);
  }
  t.ok(progress.length >= 2 && progress.every((n) => n > 0), `datagrams received in every second of the flood: ${progress.join(', ')}`);
  t.equal(received, stats.datagrams, 'stats.datagrams is what the handler saw');
  t.equal(received + stats.kernelDrops, sent.sent, `received (${received}) + kernel drops (${stats.kernelDrops}) = sent (${sent.sent})`);
});

// ---- (f) ------------------------------------------------------------------------------------

const cc = which('cc') ?? which('gcc');

/**
 * Builds the seccomp launcher and runs the two socket suites under it, both at once. Started when
 * this file loads, so the two inner tap runs (the slowest part of this file) overlap (a)-(e).
 */
async function socketSuitesWithoutIoUring(): Promise<{ built: RunResult; results: Array<[string, RunResult]> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uring-udp-faults-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const launcher = path.join(dir, 'no-io-uring');
  const built = await run(cc!, ['-O2', '-o', launcher, path.join(ROOT, 'test', 'fixtures', 'no-io-uring.c')]);
  if (built.code !== 0) return { built, results: [] };
  // A clean environment for the inner tap: none of the outer run's TAP_*/processinfo variables,
  // and no forced backend, so the fallback is chosen by the package itself.
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(TAP|_TAPJS|NODE_OPTIONS$|TS_NODE|URING_UDP_BACKEND$)/.test(key)) continue;
    env[key] = value;
  }
  env.URING_UDP_TEST_COUNT = '20000';
  // The same TypeScript set-up as the outer run (tap's plugin looks for a tsconfig in its
  // project root, which is not this package's below).
  env.TAP_TSCONFIG = path.join(ROOT, 'tsconfig.json');
  const tap = path.join(ROOT, 'node_modules', '.bin', 'tap');
  const files = ['udp-data.test.ts', 'udp-batch.test.ts'];
  const results = await Promise.all(
    files.map((file) => {
      // Each inner tap in a project root of its own: tap starts a full run by deleting its
      // project's .tap/processinfo, and in this package's root that raced the outer run's test
      // processes writing there (the inner run failed with ENOTEMPTY from rmdir).
      const project = fs.mkdtempSync(path.join(dir, 'project-'));
      fs.writeFileSync(path.join(project, '.taprc'), 'disable-coverage: true\nallow-empty-coverage: true\n');
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(project, 'node_modules')); // tap finds itself there
      return run(launcher, [tap, '--reporter=tap', '--disable-coverage', '--timeout=110', path.join(ROOT, 'test', file)], {
        timeoutMs: 115_000,
        env,
        cwd: project,
      });
    }),
  );
  return { built, results: files.map((file, i) => [file, results[i]!] as [string, RunResult]) };
}
const seccompRuns = cc ? socketSuitesWithoutIoUring() : undefined;

t.test('(f) with io_uring forbidden by seccomp, the socket suites pass on the automatic fallback', { skip: cc ? false : 'no C compiler to build the seccomp launcher' }, async (t) => {
  const { built, results } = await seccompRuns!;
  t.equal(built.code, 0, `the seccomp launcher builds ${built.stderr}`);
  for (const [name, result] of results) {
    const failures = result.stdout.split('\n').filter((line) => /^\s*not ok /.test(line));
    t.equal(result.timedOut, false, `${name}: finished`);
    t.equal(result.code, 0, `${name} passes with io_uring forbidden (${(result.ms / 1000).toFixed(1)} s)${failures.length ? `: ${failures.join('; ')}` : ''}\n${result.stderr.slice(-1000)}`);
    if (name === 'udp-data.test.ts') {
      t.match(result.stdout, /ok \d+ - io_uring forbidden or missing: the recvmmsg fallback by default/, 'and it ran on the recvmmsg fallback');
    }
  }
});

// ---- (g) ------------------------------------------------------------------------------------

interface Seen {
  payload: Buffer;
  address: string;
  family: string;
  port: number;
  size: number;
}

t.test('(g) a dual-stack udp6 socket reports an IPv4 sender as node:dgram does', async (t) => {
  const uringMessage = createSocket({ type: 'udp6', ipv6Only: false });
  const uringBatch = createSocket({ type: 'udp6', ipv6Only: false, hybrid: false });
  const reference = dgram.createSocket({ type: 'udp6', ipv6Only: false });
  const sender4 = dgram.createSocket('udp4');
  const sender6 = dgram.createSocket('udp6');
  t.teardown(() => Promise.all([closed(uringMessage), closed(uringBatch), closed(reference), closed(sender4), closed(sender6)]));
  const got: Record<'message' | 'batch' | 'dgram', Seen[]> = { message: [], batch: [], dgram: [] };
  uringMessage.on('message', (payload, r) => got.message.push({ payload, address: r.address, family: r.family, port: r.port, size: r.size }));
  uringBatch.onBatch((b) => {
    for (let i = 0; i < b.count; i++) {
      got.batch.push({ payload: Buffer.from(b.payload(i)), address: b.address(i), family: b.family(i) === 6 ? 'IPv6' : 'IPv4', port: b.port(i), size: b.length(i) });
    }
  });
  reference.on('message', (payload, r) => got.dgram.push({ payload, address: r.address, family: r.family, port: r.port, size: r.size }));
  await Promise.all([
    new Promise<void>((r) => uringMessage.bind(0, '::', r)),
    new Promise<void>((r) => uringBatch.bind(0, '::', r)),
    new Promise<void>((r) => reference.bind(0, '::', r)),
    new Promise<void>((r) => sender4.bind(0, '127.0.0.1', r)),
    new Promise<void>((r) => sender6.bind(0, '::1', r)),
  ]);
  const ports = [uringMessage.address().port, uringBatch.address().port, reference.address().port];
  for (const [sender, host, text] of [
    [sender4, '127.0.0.1', 'from IPv4'],
    [sender6, '::1', 'from IPv6'],
  ] as const) {
    for (const port of ports) sender.send(text, port, host);
  }
  await until(() => got.message.length === 2 && got.batch.length === 2 && got.dgram.length === 2, 'every datagram');
  const view = (s: Seen) => ({ payload: s.payload.toString(), address: s.address, family: s.family, port: s.port, size: s.size });
  const byPayload = (list: Seen[]) => list.map(view).sort((a, b) => a.payload.localeCompare(b.payload));
  t.same(byPayload(got.dgram)[0], { payload: 'from IPv4', address: '::ffff:127.0.0.1', family: 'IPv6', port: sender4.address().port, size: 9 }, 'node:dgram: the IPv4-mapped address');
  t.same(byPayload(got.message), byPayload(got.dgram), "'message' rinfo: exactly what node:dgram reports, for both senders");
  t.same(byPayload(got.batch), byPayload(got.dgram), 'batch.address()/family()/port(): the same');
});

t.test('(g) payloads are never interpreted: random binary datagrams round-trip byte-exact on every receive path', async (t) => {
  const paths: Array<[string, Parameters<typeof createSocket>[0]]> = [
    ['udp4 hybrid', { type: 'udp4' }],
    ['udp4 ring thread', { type: 'udp4', hybrid: false }],
    ['udp6 dual-stack, ring thread', { type: 'udp6', ipv6Only: false, hybrid: false }],
    ['udp4 poll-recvmmsg', { type: 'udp4', backend: 'poll-recvmmsg' }],
    ['udp4 recvmmsg', { type: 'udp4', backend: 'recvmmsg' }],
  ];
  const payload = fc
    .record({
      length: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 65507 }), fc.constantFrom(0, 1, 1472, 65507)),
      fill: fc.constantFrom('zeros', 'ones', 'random', 'counter'),
      seed: fc.integer(),
    })
    .map(({ length, fill, seed }) => {
      const bytes = Buffer.alloc(length, fill === 'ones' ? 0xff : 0);
      let x = seed | 1;
      if (fill === 'random') for (let i = 0; i < length; i++) bytes[i] = (x = (Math.imul(x, 1103515245) + 12345) | 0) >>> 24;
      if (fill === 'counter') for (let i = 0; i < length; i++) bytes[i] = i & 0xff;
      return bytes;
    });
  const sender = dgram.createSocket('udp4');
  t.teardown(() => closed(sender));
  await new Promise<void>((r) => sender.bind(0, '127.0.0.1', r));
  for (const [name, options] of paths) {
    const socket = createSocket({ ...(options as object), recvBufferSize: 8 << 20 } as Parameters<typeof createSocket>[0]);
    t.teardown(() => closed(socket));
    const received: Buffer[] = [];
    socket.on('message', (msg) => received.push(msg));
    await new Promise<void>((r) => socket.bind(0, socket.type === 'udp4' ? '127.0.0.1' : '::', r));
    const port = socket.address().port;
    let runs = 0;
    let datagrams = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(payload, { minLength: 1, maxLength: 20 }), async (payloads) => {
        received.length = 0;
        for (const p of payloads) await new Promise<void>((resolve, reject) => sender.send(p, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
        await until(() => received.length >= payloads.length, `${payloads.length} datagrams`, 5000);
        runs++;
        datagrams += payloads.length;
        return received.length === payloads.length && payloads.every((p, i) => received[i]!.equals(p));
      }),
      { numRuns: 40, examples: [[[Buffer.alloc(0), Buffer.alloc(65507), Buffer.alloc(65507, 0xff), Buffer.alloc(1, 0xff), Buffer.alloc(1)]]] },
    );
    t.pass(`${name} (${socket.backend}): ${runs} runs, ${datagrams} datagrams byte-exact, in order, empty ones included`);
  }
});
