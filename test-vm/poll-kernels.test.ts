// ring.poll() on another kernel than the host's (npm run test:vm): the fixed 6.1 kernel of the VM
// proof boots into test-vm/fixtures/poll-check.js, which runs the poll suite's claims there —
// many events on one request for a pipe, an eventfd and a UDP socket on block and busy rings,
// re-arms after the kernel ends requests whose CQE does not fit, cancel wherever
// it can land, the fd closed while armed, a ring closed with a thousand polls armed. The host
// kernel runs the same claims in test/poll.test.ts.
import path from 'node:path';
import t from 'tap';

import { prepareVm, qemu, vmReport } from './vm';

interface Check {
  name: string;
  ok: boolean;
  detail: unknown;
}

t.test('ring.poll() on the 6.1 kernel', { timeout: 600_000 }, async (t) => {
  const { cache, initrd } = prepareVm(t);
  const limit = 240;
  const { output, ms } = await qemu(path.join(cache, 'fixed', 'bzImage'), initrd, '1000', limit, 'uring_script=test-vm/fixtures/poll-check.js');
  const { report, problem } = vmReport<{ kernel: string; upstream: string | null; multishotPoll: boolean; checks: Check[] }>(output);
  t.ok(report, `the check reported (${ms} ms)${report ? '' : `: ${problem}\n${output.slice(-3000)}`}`);
  if (!report) return;
  t.match(report.upstream ?? '', /^6\.1\./, `booted ${report.kernel} (upstream ${report.upstream})`);
  t.equal(report.multishotPoll, true, 'probe finds multishot poll');
  t.equal(report.checks.length, 10, 'every check ran');
  for (const check of report.checks) t.ok(check.ok, `${check.name}: ${JSON.stringify(check.detail)}`);
});
