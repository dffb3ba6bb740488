// What the harness reads and changes outside its peers: /proc (a process's memory, threads and
// fds; a UDP socket's queue and drops), `ss` (a socket's buffer size), and the socket-buffer
// sysctls, which it changes only for a moment and always puts back — in `finally`, on SIGINT,
// SIGTERM and SIGHUP, and, should the harness die without a chance to (SIGKILL), from a guard
// process (guard.ts) that does it when the harness's end of its stdin pipe closes.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface ProcStatus {
  rssKb: number;
  hwmKb: number;
  threads: number;
}

/** VmRSS, VmHWM and Threads of a process from /proc/PID/status; null once it is gone. */
export function procStatus(pid: number): ProcStatus | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM'), threads: field('Threads') };
}

/** Entries of /proc/PID/task and /proc/PID/fd: threads and open fds (-1 if the process is gone). */
export function countTasks(pid: number): number {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).length;
  } catch {
    return -1;
  }
}

export function countFds(pid: number): number {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

export interface UdpQueue {
  /** Bytes waiting in the socket's receive queue (sk_rmem_alloc, skb truesize). */
  rxQueueBytes: number;
  /** The kernel's drop counter of the socket (sk_drops). */
  drops: number;
}

/** The receive queue and drops of the IPv4 UDP sockets bound to `ports`, from /proc/net/udp (one read). */
export function udpQueues(ports: number[]): Map<number, UdpQueue> {
  const out = new Map<number, UdpQueue>();
  let text: string;
  try {
    text = fs.readFileSync('/proc/net/udp', 'utf8');
  } catch {
    return out;
  }
  const wanted = new Set(ports);
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer drops
    if (cols.length < 13) continue;
    const port = parseInt(cols[1]!.split(':')[1]!, 16);
    if (wanted.has(port)) out.set(port, { rxQueueBytes: parseInt(cols[4]!.split(':')[1]!, 16), drops: Number(cols[12]) });
  }
  return out;
}

/** The receive queue and drops of the IPv4 UDP socket bound to `port`. */
export function udpQueue(port: number): UdpQueue | null {
  return udpQueues([port]).get(port) ?? null;
}

/** The receive buffer size the kernel gave the UDP socket on `port` (`ss -m`: skmem rb), or null. */
export function socketRecvBuffer(port: number): number | null {
  try {
    const out = execFileSync('ss', ['-u', '-a', '-n', '-m', 'sport', '=', `:${port}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const match = /\brb(\d+)/.exec(out);
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

const sysctlPath = (name: string) => path.join('/proc/sys', ...name.split('.'));

export function readSysctl(name: string): string {
  return fs.readFileSync(sysctlPath(name), 'utf8').trim();
}

/** Whether this process may write the socket-buffer sysctls (root, or CAP_NET_ADMIN and /proc/sys writable). */
export function canWriteSysctls(): boolean {
  try {
    fs.accessSync(sysctlPath('net.core.rmem_default'), fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The sysctls the harness changes, the guard that restores them if the harness dies, and the
 * processes it stopped (SIGSTOP), which are continued and killed on any way out.
 */
class SystemChanges {
  readonly #saved = new Map<string, string>();
  readonly #stopped = new Set<number>();
  #guard: ChildProcess | undefined;
  #handlersInstalled = false;

  #send(line: string): void {
    if (!this.#guard) {
      // Detached (its own process group): a Ctrl-C at the terminal reaches the harness, not it.
      this.#guard = spawn(process.execPath, [path.join(__dirname, 'guard.js')], { stdio: ['pipe', 'ignore', 'inherit'], detached: true });
      this.#guard.unref();
      this.#guard.stdin!.on('error', () => {}); // a guard that died early: the harness restores by itself
      (this.#guard.stdin as unknown as { unref(): void }).unref(); // a waiting guard never keeps the harness alive
    }
    this.#guard.stdin!.write(`${line}\n`);
  }

  #installHandlers(): void {
    if (this.#handlersInstalled) return;
    this.#handlersInstalled = true;
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        this.restoreAll();
        process.kill(process.pid, signal); // then die of it, as without the handler
      });
    }
    process.once('exit', () => this.restoreAll());
  }

  /** Sets a sysctl, remembering (and telling the guard) its value before the first change. */
  set(name: string, value: string): void {
    this.#installHandlers();
    if (!this.#saved.has(name)) {
      const before = readSysctl(name);
      this.#saved.set(name, before);
      this.#send(`sysctl ${name} ${before}`);
    }
    fs.writeFileSync(sysctlPath(name), value);
  }

  restore(name: string): void {
    const before = this.#saved.get(name);
    if (before === undefined) return;
    fs.writeFileSync(sysctlPath(name), before);
    this.#saved.delete(name);
    this.#send(`restored ${name}`);
  }

  /** SIGSTOP a process, remembered until resume(). */
  stop(pid: number): void {
    this.#installHandlers();
    this.#stopped.add(pid);
    this.#send(`stopped ${pid}`);
    process.kill(pid, 'SIGSTOP');
  }

  resume(pid: number): void {
    process.kill(pid, 'SIGCONT');
    this.#stopped.delete(pid);
    this.#send(`resumed ${pid}`);
  }

  /** Synchronous: callable from a signal handler or 'exit'. */
  restoreAll(): void {
    for (const [name, before] of this.#saved) {
      try {
        fs.writeFileSync(sysctlPath(name), before);
      } catch {
        // nothing more to do here; the guard tries again
      }
    }
    this.#saved.clear();
    for (const pid of this.#stopped) {
      try {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.#stopped.clear();
    if (this.#guard) {
      this.#guard.stdin!.write('release\n');
      this.#guard.stdin!.end();
      this.#guard = undefined;
    }
  }
}

export const system = new SystemChanges();

/**
 * Runs `fn` with the socket-buffer defaults (net.core.rmem_default, wmem_default) set, for
 * peers that cannot set their own buffer (Bun, Deno) or must not (the drain scenario). A
 * socket takes the default when it is created, so the defaults are put back as soon as `fn`
 * resolves (the peer reported ready): other processes on the machine see them for a moment.
 * Without the permission to write them, `fn` runs with the machine's defaults; the result says which.
 */
export async function withSocketDefaults<T>(defaults: { rmem?: number; wmem?: number }, fn: () => Promise<T>): Promise<{ value: T; applied: boolean }> {
  const changes: Array<[string, number]> = [];
  if (defaults.rmem) changes.push(['net.core.rmem_default', defaults.rmem]);
  if (defaults.wmem) changes.push(['net.core.wmem_default', defaults.wmem]);
  if (!changes.length || !canWriteSysctls()) return { value: await fn(), applied: false };
  try {
    for (const [name, value] of changes) system.set(name, String(value));
    return { value: await fn(), applied: true };
  } finally {
    for (const [name] of changes) system.restore(name);
  }
}
