// The kernel matrix (issue 18): one fixture (test-vm/fixtures/matrix-check.js) booted on Debian's
// 5.10 (bullseye), 6.1 (bookworm, the fixed kernel of the VM proof) and 6.12 (trixie) kernels,
// each built small from Debian's own source (scripts/vm/build-debian-kernel.sh,
// scripts/vm/build-kernels.sh). Every check must hold on every kernel, or be the clear error of a
// feature that kernel lacks. Results: bench/results/vm-matrix.json (docs/kernel-bugs.md's table).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

import { ROOT, prepareVm, qemu, vmReport } from './vm';

// Datagrams per backend, family and direction. CI moves 20,000 (12 such runs per kernel under TCG
// on 2 shared cores); URING_UDP_VM_MATRIX_COUNT=200000 is the full check.
const COUNT = Number(process.env.URING_UDP_VM_MATRIX_COUNT ?? 20_000);
const RESULTS = path.join(ROOT, 'bench', 'results', 'vm-matrix.json');
const ONLY = process.env.URING_UDP_VM_MATRIX ? process.env.URING_UDP_VM_MATRIX.split(',') : undefined;

interface Check {
  name: string;
  ok: boolean;
  detail: unknown;
}

function debianKernel(series: string): { dir: string; version: string; buildSeconds: number | null } {
  const started = Date.now();
  const dir = execFileSync('bash', [path.join(ROOT, 'scripts/vm/build-debian-kernel.sh'), series], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    .trim()
    .split('\n')
    .pop()!;
  const seconds = path.join(dir, 'build-seconds');
  return {
    dir,
    version: fs.readFileSync(path.join(dir, 'version'), 'utf8').trim(),
    buildSeconds: fs.existsSync(seconds) ? Number(fs.readFileSync(seconds, 'utf8')) : Math.round((Date.now() - started) / 1000),
  };
}

const seconds = (dir: string): number | null => (fs.existsSync(path.join(dir, 'build-seconds')) ? Number(fs.readFileSync(path.join(dir, 'build-seconds'), 'utf8')) : null);

t.test('the kernel matrix: 5.10, 6.1 and 6.12', { timeout: 3600_000 }, async (t) => {
  const { cache, initrd } = prepareVm(t);
  const debian = (name: string) => () => {
    const k = debianKernel(name);
    return { bzImage: path.join(k.dir, 'bzImage'), source: `linux-source-${name} ${k.version}`, buildSeconds: k.buildSeconds };
  };
  const kernels = [
    { name: '5.10', get: debian('5.10') },
    {
      name: '6.1',
      get: () => ({ bzImage: path.join(cache, 'fixed', 'bzImage'), source: `linux-source-6.1 ${fs.readFileSync(path.join(cache, 'version'), 'utf8').trim()}`, buildSeconds: seconds(path.join(cache, 'fixed')) }),
    },
    { name: '6.12', get: debian('6.12') },
  ].filter((k) => !ONLY || ONLY.includes(k.name));
  const rows = [];
  for (const { name, get } of kernels) {
    const kernel = { name, ...get() };
    const limit = 900;
    const { output, ms } = await qemu(kernel.bzImage, initrd, String(COUNT), limit, 'uring_script=test-vm/fixtures/matrix-check.js uring_rmem_max=16777216');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const { report, problem } = vmReport<Record<string, any> & { checks: Check[] }>(output);
    t.ok(report, `${kernel.name}: the check reported (${ms} ms)${report ? '' : `: ${problem}\n${output.slice(-3000)}`}`);
    if (!report) continue;
    t.notOk(report.error, `${kernel.name}: ran to the end${report.error ? `\n${report.error}` : ''}`);
    t.comment(`${kernel.name}: booted ${report.kernel} (upstream ${report.upstream}); features ${JSON.stringify(report.features)}; default backend ${report.defaultBackend}`);
    t.ok(report.checks.length >= 10, `${kernel.name}: ${report.checks.length} checks ran`);
    for (const check of report.checks) t.ok(check.ok, `${kernel.name}: ${check.name}${check.ok ? '' : `: ${JSON.stringify(check.detail)}`}`);
    rows.push({ ...report, release: report.kernel, kernel: kernel.name, source: kernel.source, buildSeconds: kernel.buildSeconds, bootToReportMs: ms });
  }
  // URING_UDP_VM_MATRIX=5.10,6.1 runs those only: their rows replace theirs in the results.
  fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
  let kept: { kernel: string }[] = [];
  if (ONLY && fs.existsSync(RESULTS)) kept = (JSON.parse(fs.readFileSync(RESULTS, 'utf8')) as { kernels: { kernel: string }[] }).kernels.filter((k) => !ONLY.includes(k.kernel));
  const all = [...kept, ...rows].sort((a, b) => a.kernel.localeCompare(b.kernel, 'en', { numeric: true }));
  fs.writeFileSync(RESULTS, JSON.stringify({ date: new Date().toISOString(), count: COUNT, kernels: all }, null, 2));
  t.comment(`results: ${RESULTS}`);
});
