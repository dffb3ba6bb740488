// The line protocol every benchmark peer process speaks (the C ones in bench/c and the Bun and
// Deno one in bench/runtimes too): print {"ready":true,"port":P} once listening, then on stdin
// 'start' begins the measured window, 'progress' prints {"progress":true,"datagrams":N,...}
// (how far a slow receiver is), and 'stop' ends it, prints one JSON result line and exits.
import fs from 'node:fs';
import readline from 'node:readline';

export interface ServeExtras {
  /** More fields of the ready line (the ports of a receiver with several sockets). */
  ready?: object;
  /** The answer to 'progress'. */
  onProgress?: () => object;
  /** Any other command line (the many scenario's 'close'). */
  onCommand?: (command: string) => void;
}

export function serve(port: number, onStart: () => void, onStop: () => object, extras: ServeExtras = {}): void {
  process.stdout.write(`${JSON.stringify({ ready: true, port, ...extras.ready })}\n`);
  const lines = readline.createInterface({ input: process.stdin });
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    process.stdout.write(`${JSON.stringify(onStop())}\n`, () => process.exit(0));
  };
  lines.on('line', (line) => {
    const command = line.trim();
    if (command === 'start') onStart();
    else if (command === 'progress') process.stdout.write(`${JSON.stringify({ progress: true, ...extras.onProgress?.() })}\n`);
    else if (command === 'stop') stop();
    else if (command) extras.onCommand?.(command);
  });
  lines.on('close', stop); // a dead harness must not leave peers running
}

export function argument(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1]! : fallback;
}

/** CPU time of the whole process (every thread), in microseconds. */
export function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** User CPU time of the whole process, in microseconds. */
export function userMicros(): number {
  return process.cpuUsage().user;
}

/**
 * CPU time (µs) of this process's threads named `name` (native threads name themselves: the
 * watchdog is 'uring-watchdog'), per thread id, from /proc/self/task/TID/schedstat (nanoseconds
 * on CPU; finer than the 10 ms ticks of /proc/.../stat). A snapshot: subtract
 * one from another with threadCpuSince, which counts each thread against its own start (a
 * thread may exit and another start between the two; a sum would then go backwards).
 */
export function threadCpuMicros(name: string): Map<string, number> {
  const times = new Map<string, number>();
  let tasks: string[] = [];
  try {
    tasks = fs.readdirSync('/proc/self/task');
  } catch {
    return times;
  }
  for (const tid of tasks) {
    try {
      if (fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() !== name) continue;
      times.set(tid, Number(fs.readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1000);
    } catch {
      // the thread exited between the listing and the read
    }
  }
  return times;
}

/** CPU time (µs) the threads of `now` used since `start` (threads new since then: all of theirs). */
export function threadCpuSince(now: Map<string, number>, start: Map<string, number>): number {
  let us = 0;
  for (const [tid, t] of now) us += Math.max(0, t - (start.get(tid) ?? 0));
  return us;
}

/**
 * Counts datagrams and keeps the count and time at the first and the latest multiple of 64
 * (the drain scenario's rate is taken between those two): a branch per datagram and a clock
 * read per 64, the same in every receiver (bench/c/uring-receiver.c --stamps 1 too).
 */
export class Stamps {
  firstCount = -1;
  firstAtMs = 0;
  lastCount = -1;
  lastAtMs = 0;

  /** `before` and `after`: the count before and after some datagrams arrived. */
  add(before: number, after: number): void {
    if (before >> 6 === after >> 6) return;
    const now = performance.now();
    if (this.firstCount < 0) {
      this.firstCount = after;
      this.firstAtMs = now;
    }
    this.lastCount = after;
    this.lastAtMs = now;
  }

  reset(): void {
    this.firstCount = this.lastCount = -1;
  }

  toJSON(): object {
    return { firstCount: this.firstCount, firstAtMs: this.firstAtMs, lastCount: this.lastCount, lastAtMs: this.lastAtMs };
  }
}

/** The slow handlers (issue 14): a batch handler that takes 5 ms; a 'message' listener that stalls 2 ms every 100. */
export const SLOW_BATCH_MS = 5;
export const SLOW_MESSAGE_EVERY = 100;
export const SLOW_MESSAGE_MS = 2;

/** Spins for `ms` milliseconds: a handler that computes (the slow-handler scenario). */
export function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}
