// The VM proof (npm run test:vm): `uring-udp repro` catches the overflow-flush-lock hang on a
// kernel that has the bug and stays quiet on one that does not. Both kernels are built from
// Debian's linux-source-6.1 (scripts/vm/build-kernels.sh) and booted under qemu TCG with an
// initramfs holding Node and this package (scripts/vm/make-initramfs.sh).
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

import { ROOT, prepareVm, qemu, vmReport } from './vm';
const RUNS = Number(process.env.URING_UDP_VM_RUNS ?? 3);
// The 'recv' variant (a socket's own receiver ring: multishot recvmsg with a buffer ring) on
// top: fewer runs, it is the same kernel bug reached another way.
const RECV_RUNS = Number(process.env.URING_UDP_VM_RECV_RUNS ?? 2);
const FIXED_SECONDS = Number(process.env.URING_UDP_VM_FIXED_SECONDS ?? 30);
const RESULTS = path.join(ROOT, 'bench', 'results', 'vm-kernel-hang.json');

interface VmRun {
  kernel: 'vulnerable' | 'fixed';
  variant: 'poll' | 'recv';
  run: number;
  outcome: string;
  timeToHangMs?: number;
  state?: string;
  wchan?: string;
  stack?: string;
  overflowFlagSeen: number;
  enters: number;
  datagramsSent: number;
  hungTaskLine?: string;
  bootToResultMs: number;
  console: string;
}

function parse(kernel: VmRun['kernel'], variant: VmRun['variant'], run: number, output: string, ms: number): VmRun {
  const hungTaskLine = /INFO: task \S+ blocked for more than \d+ seconds\./.exec(output)?.[0];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const { report: result, problem } = vmReport<Record<string, any>>(output);
  if (!result) return { kernel, variant, run, outcome: 'no-result', overflowFlagSeen: 0, enters: 0, datagramsSent: 0, bootToResultMs: ms, console: `${problem}\n${output.slice(-3000)}` };
  return {
    kernel,
    variant,
    run,
    outcome: result.outcome,
    timeToHangMs: result.timeToHangMs,
    state: result.stall?.thread.state,
    wchan: result.stall?.thread.wchan,
    stack: result.stall?.thread.stack,
    overflowFlagSeen: result.evidence.overflowFlagSeen,
    enters: result.evidence.enters,
    datagramsSent: result.evidence.datagramsSent,
    hungTaskLine,
    bootToResultMs: ms,
    console: output.slice(-1500),
  };
}

t.test('overflow-flush-lock (poll and recv variants): hangs on the vulnerable kernel, never on the fixed one', { timeout: 3600_000 }, async (t) => {
  const { cache, initrd } = prepareVm(t);
  const runs: VmRun[] = [];

  const plans = [
    { variant: 'poll', vulnerable: RUNS, fixed: RUNS },
    { variant: 'recv', vulnerable: RECV_RUNS, fixed: Math.min(1, RECV_RUNS) },
  ] as const;
  for (const { variant, vulnerable, fixed } of plans) {
    const args = `--scenario overflow-flush-lock --variant ${variant} --stuck-ms 1000`;
    // The recv variant has hung after 5 to 15 s (the poll variant after 1 to 2 s): give it 60.
    const limit = variant === 'recv' ? 60 : 30;
    for (let run = 1; run <= vulnerable; run++) {
      const { output, ms } = await qemu(path.join(cache, 'vulnerable', 'bzImage'), initrd, `${args} --duration ${limit}`, limit + 30);
      const r = parse('vulnerable', variant, run, output, ms);
      runs.push(r);
      t.equal(r.outcome, 'hang', `vulnerable ${variant} run ${run}: the watchdog reported a hang${r.outcome === 'no-result' ? `\n${r.console}` : ''}`);
      t.ok((r.timeToHangMs ?? Infinity) <= limit * 1000, `within ${limit} s: ${r.timeToHangMs} ms`);
      t.match(r.state ?? '', /^D/, `thread state ${r.state}`);
      t.match(r.stack ?? '', /io_uring/, 'io_uring frames in the stuck thread\'s stack');
      t.comment(`vulnerable ${variant} ${run}: hang after ${r.timeToHangMs} ms, wchan ${r.wchan}; ${r.hungTaskLine ?? 'no hung_task line'}`);
    }
    for (let run = 1; run <= fixed; run++) {
      const { output, ms } = await qemu(path.join(cache, 'fixed', 'bzImage'), initrd, `${args} --duration ${FIXED_SECONDS}`, FIXED_SECONDS + 60);
      const r = parse('fixed', variant, run, output, ms);
      runs.push(r);
      t.equal(r.outcome, 'no-hang', `fixed ${variant} run ${run}: no stall in ${FIXED_SECONDS} s${r.outcome === 'no-result' ? `\n${r.console}` : ''}`);
      t.ok(r.overflowFlagSeen >= 1000, `the overflow condition was seen ${r.overflowFlagSeen} times`);
      t.comment(`fixed ${variant} ${run}: overflow seen ${r.overflowFlagSeen} times, ${r.enters} enters, ${r.datagramsSent} datagrams`);
    }
  }

  fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
  const version = fs.readFileSync(path.join(cache, 'version'), 'utf8').trim();
  fs.writeFileSync(
    RESULTS,
    JSON.stringify({ date: new Date().toISOString(), source: `linux-source-6.1 ${version}`, runs: runs.map(({ console: _c, ...rest }) => rest) }, null, 2),
  );
  t.comment(`results: ${RESULTS}`);
});
