// Bun and Deno, the runtimes a user would pick instead of Node, as benchmark peers. Their
// binaries come from their npm packages, installed on demand into a cache outside the clone
// (never a dependency of this package): ${XDG_CACHE_HOME:-~/.cache}/uring-udp/runtimes/<pkg>@<version>.
// A run where they cannot be installed says why and goes on without them.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const RUNTIMES = ['bun', 'deno'] as const;
export type Runtime = (typeof RUNTIMES)[number];

/** Pinned, so that runs compare; the versions issue 21's figures were measured with. */
const PACKAGES: Record<Runtime, { name: string; version: string; binary: string; versionArgs: string[] }> = {
  bun: { name: '@oven/bun-linux-x64', version: '1.4.4', binary: 'bin/bun', versionArgs: ['--version'] },
  deno: { name: '@deno/linux-x64-glibc', version: '2.9.6', binary: 'deno', versionArgs: ['--version'] },
};

export interface RuntimeInfo {
  runtime: Runtime;
  package: string;
  /** The runtime's own version line(s), e.g. "1.4.4" or "deno 2.9.6 (stable, release, x86_64-unknown-linux-gnu)". */
  version?: string;
  binary?: string;
  /** Why it is not available (then there is no binary). */
  error?: string;
}

export function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'uring-udp', 'runtimes');
}

/** The peer script both runtimes run (TypeScript, which both run directly). */
export const PEER_SCRIPT = path.join(__dirname, '..', '..', 'bench', 'runtimes', 'udp-peer.ts');

/**
 * The runtime's binary, from the cache or installed into it with `npm pack` and `tar` (into a
 * temporary directory renamed into place, so an interrupted install leaves nothing half-made).
 */
export function ensureRuntime(runtime: Runtime): RuntimeInfo {
  const pkg = PACKAGES[runtime];
  const info: RuntimeInfo = { runtime, package: `${pkg.name}@${pkg.version}` };
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    info.error = `the harness installs ${pkg.name}, a Linux x86-64 build; this is ${process.platform}-${process.arch}`;
    return info;
  }
  if (!fs.existsSync(PEER_SCRIPT)) {
    info.error = `the ${runtime} peer script is missing (${PEER_SCRIPT})`;
    return info;
  }
  const dir = path.join(cacheDir(), `${pkg.name.replace('/', '+')}@${pkg.version}`);
  const binary = path.join(dir, 'package', pkg.binary);
  try {
    if (!fs.existsSync(binary)) {
      fs.mkdirSync(cacheDir(), { recursive: true });
      const staging = fs.mkdtempSync(path.join(cacheDir(), '.install-'));
      try {
        // Two tries, not npm's default of three with back-off: a registry that cannot be reached
        // costs the run seconds, not minutes.
        const out = execFileSync('npm', ['pack', `${pkg.name}@${pkg.version}`, '--loglevel=error', '--fetch-retries=1', '--pack-destination', staging], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: 300_000,
        });
        const tarball = path.join(staging, out.trim().split('\n').pop()!.trim());
        execFileSync('tar', ['-xzf', tarball, '-C', staging], { stdio: ['ignore', 'ignore', 'pipe'] });
        fs.rmSync(tarball);
        fs.chmodSync(path.join(staging, 'package', pkg.binary), 0o755);
        fs.rmSync(dir, { recursive: true, force: true });
        fs.renameSync(staging, dir);
      } finally {
        fs.rmSync(staging, { recursive: true, force: true });
      }
    }
    info.version = execFileSync(binary, pkg.versionArgs, { encoding: 'utf8', timeout: 30_000, env: runtimeEnv() }).trim().split('\n')[0]!;
    info.binary = binary;
  } catch (error) {
    const e = error as Error & { stderr?: Buffer | string };
    const detail = (e.stderr ? String(e.stderr) : e.message).trim().split('\n').slice(-3).join(' ');
    info.error = `could not install ${info.package} into ${dir} (npm pack + tar): ${detail}`;
  }
  return info;
}

/**
 * The environment for Bun and Deno: the harness's, less the sanitizer runtimes npm run
 * test:asan preloads into every process (in another project's binaries they would only break
 * them or report their leaks).
 */
export function runtimeEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['LD_PRELOAD', 'ASAN_OPTIONS', 'LSAN_OPTIONS', 'UBSAN_OPTIONS']) delete env[name];
  return env;
}

/** The command line that runs the peer script under a runtime. */
export function runtimeCommand(info: RuntimeInfo, args: string[]): [string, string[]] {
  if (!info.binary) throw new Error(`${info.runtime} is not available: ${info.error}`);
  if (info.runtime === 'bun') return [info.binary, [PEER_SCRIPT, ...args]];
  // Deno: every permission (the peer reads its own CPU time and opens sockets), and the
  // datagram API, which is still behind --unstable-net.
  return [info.binary, ['run', '-A', '--unstable-net', '--quiet', PEER_SCRIPT, ...args]];
}
