// What the VM tests share: the two 6.1 kernels (built once and cached by
// scripts/vm/build-kernels.sh), an initramfs holding Node and this package
// (scripts/vm/make-initramfs.sh), and qemu under TCG to boot them.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';

export const ROOT = path.join(__dirname, '..');

/** Builds (or finds cached) the kernels and packs a fresh initramfs, removed at t's teardown. */
export function prepareVm(t: Test): { cache: string; initrd: string } {
  const cache = execFileSync('bash', [path.join(ROOT, 'scripts/vm/build-kernels.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    .trim()
    .split('\n')
    .pop()!;
  const initrd = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'uring-vm-')), 'initramfs.cpio.gz');
  execFileSync('bash', [path.join(ROOT, 'scripts/vm/make-initramfs.sh'), initrd], { stdio: ['ignore', 'inherit', 'inherit'] });
  t.teardown(() => fs.rmSync(path.dirname(initrd), { recursive: true, force: true }));
  return { cache, initrd };
}

/**
 * Boots kernel with initrd; its init runs `uring-udp repro ARGS` (or uring_script=SCRIPT ARGS
 * when extra says so) and powers off. limit: seconds the guest's init waits for a result.
 */
export function qemu(kernel: string, initrd: string, args: string, limit: number, extra = ''): Promise<{ output: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(
      'qemu-system-x86_64',
      [
        '-accel', 'tcg,thread=multi', '-smp', '2', '-m', '2048', '-nographic', '-no-reboot',
        '-kernel', kernel, '-initrd', initrd,
        '-append', `console=ttyS0 panic=-1 loglevel=4 uring_limit=${limit} uring_args="${args}"${extra ? ` ${extra}` : ''}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    // A wall-clock bound around qemu: a guest that never powers off is killed.
    const timer = setTimeout(() => child.kill('SIGKILL'), (limit + 90) * 1000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      resolve({ output, ms: Date.now() - started });
    });
  });
}

/**
 * The JSON report a guest printed between its markers: null when there is none, and a problem
 * that says why (no markers, or a report that is not JSON: cut off or broken on the console)
 * rather than an exception that ends the test.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function vmReport<T = Record<string, any>>(output: string): { report: T | null; problem?: string } {
  const json = /=====URING-RESULT-BEGIN=====\r?\n([\s\S]*?)=====URING-RESULT-END=====/.exec(output)?.[1]?.replace(/\r/g, '').trim();
  if (!json) return { report: null, problem: 'no report between the markers' };
  try {
    return { report: JSON.parse(json) as T };
  } catch (error) {
    return { report: null, problem: `the report is not JSON (${(error as Error).message}): ${json.slice(0, 300)}` };
  }
}
