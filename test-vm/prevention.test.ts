// The VM proof of prevention and failover (issue 17), on kernels that have the overflow-flush-lock
// bug: the vulnerable source built to report 6.1.115 (the probe says `affected`, so the defaults
// are what a user of Debian 12's 6.1.0-27 gets) and the same source reporting 6.1.192 (the probe
// says `fixed`: prevention must be asked for, by the option or the environment), and the fixed
// kernel for the control. Each run is a fresh boot of test-vm/fixtures/prevention-check.js.
// CI runs fewer and shorter runs than the full proof (URING_UDP_VM_PREVENT_RUNS=5
// URING_UDP_VM_PREVENT_SECONDS=60 URING_UDP_VM_SOCKET_SECONDS=60 for that; the figures of the full
// run are in bench/results/vm-prevention-full.json and docs/kernel-bugs.md).
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

import { ROOT, prepareVm, qemu, vmReport } from './vm';

const RUNS = Number(process.env.URING_UDP_VM_PREVENT_RUNS ?? 2);
const SECONDS = Number(process.env.URING_UDP_VM_PREVENT_SECONDS ?? 30);
const SOCKET_SECONDS = Number(process.env.URING_UDP_VM_SOCKET_SECONDS ?? 30);
const FAILOVER_SECONDS = 10;
const POLLS = 256;
const RESULTS = process.env.URING_UDP_VM_PREVENT_RESULTS ?? path.join(ROOT, 'bench', 'results', 'vm-prevention.json');
const SCRIPT = 'uring_script=test-vm/fixtures/prevention-check.js';
// The failover check's socket asks for an 8 MiB receive buffer: let the guest give it.
const RMEM = 'uring_rmem_max=16777216';
// URING_UDP_VM_PREVENT_ONLY=ring,socket,prevent,failover,allow runs those checks only.
const ONLY = process.env.URING_UDP_VM_PREVENT_ONLY ? process.env.URING_UDP_VM_PREVENT_ONLY.split(',') : undefined;
const wanted = (name: string) => !ONLY || ONLY.includes(name);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Report = Record<string, any>;
interface Run {
  kernel: string;
  check: string;
  run: number;
  bootMs: number;
  exited: boolean;
  report: Report | null;
}

function parse(output: string): { report: Report | null; problem?: string; exited: boolean } {
  return { ...vmReport<Report>(output), exited: /URING-VM: process exited/.test(output) };
}

t.test('prevention and failover on kernels with the overflow-flush-lock bug', { timeout: 3600_000 }, async (t) => {
  const { cache, initrd } = prepareVm(t);
  const runs: Run[] = [];
  const boot = async (kernel: string, check: string, run: number, args: string, limit: number, extra = '') => {
    const { output, ms } = await qemu(path.join(cache, kernel, 'bzImage'), initrd, args, limit, `${SCRIPT} ${extra}`.trim());
    const { report, problem, exited } = parse(output);
    runs.push({ kernel, check, run, bootMs: ms, exited, report });
    t.ok(report && !report.error, `${kernel} ${check} ${run}: reported in ${ms} ms${report ? (report.error ? `\n${report.error}` : '') : `: ${problem}\n${output.slice(-3000)}`}`);
    return { report: report?.error ? null : report, exited };
  };

  // A default Ring with 256 polls on a flooded socket, where the probe says affected.
  const ringChecks = (r: Report, exited: boolean, label: string, expect: { verdict: string; policy: string; default: string }) => {
    t.equal(r.kernel.overflowFlushLock, expect.verdict, `${label}: the probe says ${r.kernel.overflowFlushLock} (${r.kernel.upstream})`);
    t.equal(r.default.policy, expect.default, `${label}: the default is '${r.default.policy}' (from ${r.default.source})`);
    t.equal(r.setup.cqOverflow, expect.policy, `${label}: the ring's policy is '${r.setup.cqOverflow}'`);
    const overflowReports = r.stalls.filter((s: Report) => s.kind === 'overflow').length;
    t.equal(r.stuckAt, null, `${label}: no stall in ${r.ranMs} ms (${overflowReports} 'overflow' reports; ${JSON.stringify(r.stalls.filter((s: Report) => s.kind !== 'overflow'))})`);
    t.ok(r.events > 0, `${label}: ${r.events} poll events`);
    t.ok(r.closed, `${label}: polls cancelled, ring closed`);
    t.ok(exited, `${label}: the process exited by itself`);
  };
  const prevented = (r: Report, label: string) => {
    t.equal(r.setup.polls, 'single-shot', `${label}: polls armed single-shot`);
    t.equal(r.stats.overflowFlagSeen, 0, `${label}: the overflow flag never seen (${r.stats.enters} enters, ${r.stats.rearms} re-arms)`);
    t.equal(r.stats.cqOverflows, 0, `${label}: no CQ overflow`);
  };

  for (let run = 1; wanted('ring') && run <= RUNS; run++) {
    const { report: r, exited } = await boot('vulnerable-115', 'ring default', run, `ring ${SECONDS} ${POLLS} default`, SECONDS + 60);
    if (!r) continue;
    ringChecks(r, exited, `6.1.115 default Ring run ${run}`, { verdict: 'affected', policy: 'prevent', default: 'prevent' });
    prevented(r, `6.1.115 default Ring run ${run}`);
  }

  if (wanted('socket')) {
    const { report: r, exited } = await boot('vulnerable-115', 'socket default', 1, `socket ${SOCKET_SECONDS}`, SOCKET_SECONDS + 60);
    if (r) {
      t.equal(r.kernel.overflowFlushLock, 'affected', `a default socket on ${r.kernel.upstream} (backend ${r.backend}, ${r.backendDuring} during the flood)`);
      t.equal(r.stalls.filter((s: Report) => s.kind === 'stuck').length, 0, `no stall (${JSON.stringify(r.stalls)})`);
      // backlogDrops: lost in the loopback's per-CPU backlog (softnet_stat) before the socket, which no socket counts.
      t.equal(r.received + r.kernelDrops + r.backlogDrops, r.sent, `received + kernelDrops (+ backlog drops) = sent (${r.received} + ${r.kernelDrops} + ${r.backlogDrops} of ${r.sent})`);
      t.equal(r.twice, 0, 'none twice');
      t.equal(r.corrupt, 0, 'byte-exact');
      t.equal(r.overflowFlagSeen, 0, 'its receiver never saw the overflow flag');
      t.ok(exited, 'the process exited by itself');
    }
  }

  // Where the same bug reports 6.1.192 (the probe says fixed), prevention is asked for.
  for (const policy of ['prevent', 'env-prevent'] as const) {
    if (!wanted('prevent')) break;
    const { report: r, exited } = await boot('vulnerable', `ring ${policy}`, 1, `ring ${SECONDS} ${POLLS} ${policy}`, SECONDS + 60);
    if (!r) continue;
    const label = `6.1.192 without the fix, ${policy === 'prevent' ? "cqOverflow: 'prevent'" : 'URING_UDP_CQ_OVERFLOW=prevent'}`;
    ringChecks(r, exited, label, { verdict: 'fixed', policy: 'prevent', default: policy === 'env-prevent' ? 'prevent' : 'allow' });
    prevented(r, label);
  }

  // Failover: the reproducer's recv socket sticks its receiver; a paced flood for 10 s after.
  if (wanted('failover')) {
    const { report: r } = await boot('vulnerable-115', 'failover', 1, `failover ${FAILOVER_SECONDS}`, 120 + FAILOVER_SECONDS + 30, `${RMEM} uring_exit_wait=0`);
    if (r) {
      t.ok(r.stall, `the receiver stuck after ${r.stuckAfterMs} ms (${JSON.stringify(r.stall)})`);
      if (r.stall) {
        t.equal(r.stall.failover, 'direct', "the 'stall' says the socket failed over");
        t.equal(r.backendAfter, 'recvmmsg', `socket.backend ${r.backendBefore} -> ${r.backendAfter}`);
        const share = r.receivedAfterStall / r.sentAfterStall;
        t.ok(share >= 0.99, `${r.receivedAfterStall} of the ${r.sentAfterStall} datagrams sent after the stall reached JS (${(share * 100).toFixed(2)} %)`);
        t.equal(r.twice, 0, 'none twice');
        t.equal(r.corrupt, 0, 'byte-exact');
        // What the stuck receiver had taken (into its buffer ring and CQ) it never hands on: at most
        // its 64 buffers plus its CQ, all sent before the stall.
        const heldByStuck = r.sent - r.received - r.kernelDrops - r.backlogDrops;
        t.ok(heldByStuck >= 0 && heldByStuck <= 64 + 8, `received + kernelDrops + backlog drops + held by the stuck thread = sent (${r.received} + ${r.kernelDrops} + ${r.backlogDrops} + ${heldByStuck} of ${r.sent})`);
        t.ok(r.missingBeforeStall >= heldByStuck, `the missing datagrams were all sent before the stall (${r.missingBeforeStall} missing there)`);
      }
    }
  }

  // The control: the fixed kernel, the same Ring allowed to overflow.
  if (wanted('allow')) {
    const { report: r, exited } = await boot('fixed', 'ring allow', 1, `ring ${SECONDS} ${POLLS} allow`, SECONDS + 60);
    if (r) {
      ringChecks(r, exited, "fixed 6.1.192, cqOverflow: 'allow'", { verdict: 'fixed', policy: 'allow', default: 'allow' });
      t.equal(r.setup.polls, 'multishot', 'polls armed multishot');
      t.ok(r.stats.overflowFlagSeen > 0 || r.stats.cqOverflows > 0, `the CQ overflowed (flag seen ${r.stats.overflowFlagSeen} times, ${r.stats.cqOverflows} overflows) and nothing hung`);
    }
  }

  fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
  const version = fs.readFileSync(path.join(cache, 'version'), 'utf8').trim();
  fs.writeFileSync(
    RESULTS,
    JSON.stringify({ date: new Date().toISOString(), source: `linux-source-6.1 ${version}`, runs: RUNS, seconds: SECONDS, socketSeconds: SOCKET_SECONDS, polls: POLLS, results: runs }, null, 2),
  );
  t.comment(`results: ${RESULTS}`);
});
