// Shared test helpers. Every resource a helper makes is released by t.teardown.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';

import type { Test } from 'tap';

import { probe, type Socket } from '../src/index';
import { binding } from '../src/native';

export const ROOT = path.join(__dirname, '..');
export const CLI = path.join(ROOT, 'lib', 'cli.js');

/** A pipe (a FIFO in a per-test temp dir): [readFd, writeFd]. The read end blocks, the write end does not. */
export function pipe(t: Test): [number, number] {
  const fifo = path.join(t.testdir(), 'fifo');
  execFileSync('mkfifo', [fifo]);
  // O_RDWR opens a FIFO without waiting for a writer (Linux).
  const readFd = fs.openSync(fifo, fs.constants.O_RDWR);
  const writeFd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  t.teardown(() => {
    closeQuietly(readFd);
    closeQuietly(writeFd);
  });
  return [readFd, writeFd];
}

export function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already closed by the test
  }
}

export function which(command: string): string | null {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

/**
 * Under npm run test:asan (ASan preloaded everywhere): LeakSanitizer cannot work in a traced
 * process — it aborts with "LeakSanitizer does not work under ptrace" — so a program run
 * under strace runs without the leak check. ASan's and UBSan's error checks still apply.
 */
function envFor(command: string, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (path.basename(command) !== 'strace' || !env.ASAN_OPTIONS) return env;
  return { ...env, ASAN_OPTIONS: `${env.ASAN_OPTIONS}:detect_leaks=0` };
}

/**
 * The environment without test:asan's sanitizer build and runtimes: for a child that must load
 * the addon the normal way (node-gyp-build), e.g. to prove a prebuild loads, and for the
 * compiler building it. Unchanged outside test:asan.
 */
export function withoutSanitizerBuild(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const { URING_UDP_ADDON: _addon, ASAN_OPTIONS: _asan, LSAN_OPTIONS: _lsan, UBSAN_OPTIONS: _ubsan, URING_UDP_UBSAN_LOG_PATH: _log, ...rest } = env;
  const preload = (env.LD_PRELOAD ?? '')
    .split(/[:\s]+/)
    .filter((lib) => lib !== '' && !/\/lib(a|l|t|ub)san\.so|\/ubsan-log-path\.so$/.test(lib));
  if (preload.length > 0) rest.LD_PRELOAD = preload.join(':');
  else delete rest.LD_PRELOAD;
  return rest;
}

/**
 * How many times slower than usual this run is: npm run test:asan sets URING_UDP_TEST_SLOWDOWN
 * (everything runs under ASan's allocator and every exit runs LeakSanitizer). run() stretches
 * child processes' time limits by it; tests that assert a latency stretch their slack by it.
 */
export const SLOWDOWN = Number(process.env.URING_UDP_TEST_SLOWDOWN ?? 1) || 1;

/**
 * True under npm run test:asan (the sanitizer build loaded, ASan's runtime preloaded). ASan's
 * allocator holds freed memory in quarantine, so RSS measurements say nothing there.
 */
export const SANITIZED = Boolean(process.env.URING_UDP_ADDON) && /\/libasan\.so/.test(process.env.LD_PRELOAD ?? '');

/** Runs a command to completion, killing it after timeoutMs. */
export function run(
  command: string,
  args: string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const env = envFor(command, options.env ?? process.env);
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'], ...(options.cwd ? { cwd: options.cwd } : {}) });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, (options.timeoutMs ?? 30_000) * SLOWDOWN);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started, timedOut });
    });
    // A child that exits without reading its stdin makes this write fail with EPIPE: not an error.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

/** Open file descriptors and threads of this process. */
export function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}
export function threadCount(): number {
  return fs.readdirSync('/proc/self/task').length;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (polling every 2 ms) until condition() holds; throws after ms, naming what it waited for. */
export async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

interface Bindable {
  bind(port?: number, address?: string): unknown;
  address(): { port: number };
  once(event: 'listening', listener: () => void): unknown;
}

/** Binds a socket (node:dgram's or uring-udp's) and resolves with its port once 'listening'. */
export async function bound(socket: Bindable, port = 0, address?: string): Promise<number> {
  const listening = once(socket as unknown as NodeJS.EventEmitter, 'listening');
  socket.bind(port, address);
  await listening;
  return socket.address().port;
}

/** Closes a socket and waits for 'close'; resolves at once when it is closed or closing already. */
export function closed(socket: { close(callback?: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

/**
 * For tests of what only the recvmsg-multishot backend has (a buffer ring, the hybrid mode):
 * true there; elsewhere (the poll-recvmmsg or recvmmsg fallback, e.g. under a seccomp filter
 * that forbids io_uring) the test is reported skipped with the reason.
 */
export function needsMultishot(t: Test, socket: Socket, what: string): boolean {
  if (socket.backend === 'recvmsg-multishot') return true;
  void t.skip(`backend ${socket.backend} has no ${what}`, () => {});
  return false;
}

/** Open descriptors by kind (test/fixtures/fd-kinds.js, which child processes require too). */
export const FD_KINDS = path.join(ROOT, 'test', 'fixtures', 'fd-kinds.js');
export const { fdKinds } = require(FD_KINDS) as { fdKinds: () => Record<string, number> };

/** Kernel features a test can need, by what is tried to find them. */
export type KernelFeature = 'UDP_SEGMENT' | 'UDP_GRO' | 'multishot recvmsg';

/**
 * Probes the kernel for each feature, independently of the code under test: a setsockopt of
 * UDP_SEGMENT (GSO, Linux 4.18) or UDP_GRO (Linux 5.0) on a fresh socket, or the package's
 * probe() for io_uring's multishot recvmsg with a provided buffer ring (Linux 6.0; also missing
 * where io_uring is forbidden). When one is missing, t is reported skipped naming it and what
 * the probe said, and the result is true.
 */
export async function lacksKernelFeatures(t: Test, needs: KernelFeature[]): Promise<boolean> {
  const missing: string[] = [];
  for (const need of needs) {
    if (need === 'multishot recvmsg') {
      const report = await probe();
      const feature = report.features.multishotRecvmsg;
      if (!report.usable || !feature.supported) {
        missing.push(`io_uring multishot recvmsg (probe(): ${report.usable ? (feature.code ?? 'unsupported') : `io_uring unusable, ${report.code ?? report.reason}`})`);
      }
      continue;
    }
    const udp = new binding.NativeUdp(4, () => undefined);
    try {
      udp.setOption(need, need === 'UDP_SEGMENT' ? 1200 : 1);
    } catch (error) {
      missing.push(`${need === 'UDP_SEGMENT' ? 'UDP GSO' : 'UDP GRO'} (setsockopt ${need}: ${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    } finally {
      udp.closeFd();
    }
  }
  if (missing.length === 0) return false;
  void t.skip(`kernel feature not available here: ${missing.join('; ')}`, () => {});
  return true;
}
