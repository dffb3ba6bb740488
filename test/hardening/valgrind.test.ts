// npm run test:valgrind as a test: test/fixtures/stress.js under valgrind memcheck must show no
// invalid read or write, no definite leak and no descriptor left open by the addon
// (scripts/test-valgrind.sh runs it, scripts/valgrind-report.js judges memcheck's XML).
import path from 'node:path';
import t from 'tap';

import { ROOT, SANITIZED, run, which, withoutSanitizerBuild } from '../helpers';

const skip = !which('valgrind')
  ? 'valgrind is not installed (npm run setup installs it)'
  : SANITIZED
    ? 'under npm run test:asan: valgrind cannot run a process with ASan preloaded (both replace malloc); npm test runs it'
    : false;

t.test('the stress run under valgrind memcheck: nothing invalid, leaked or left open by the addon', { skip, timeout: 300_000 }, async (t) => {
  const out = t.testdir();
  const result = await run('bash', [path.join(ROOT, 'scripts', 'test-valgrind.sh')], {
    timeoutMs: 280_000,
    env: { ...withoutSanitizerBuild(), URING_UDP_VALGRIND_OUT: out },
  });
  t.equal(result.timedOut, false, 'finished in time');
  if (result.code === 0) t.pass('exit 0');
  else t.fail(`exit ${result.code}: valgrind found something, or the stress run failed:\n${result.stderr.slice(-6000)}`);
  t.match(result.stderr, /valgrind-report: \d+ process\(es\) checked, no finding in the addon/);
  t.match(result.stderr, /"problems":\[\]/, 'the stress run itself saw nothing wrong');
  t.comment(result.stderr.split('\n').filter((line) => /^test:valgrind:|^valgrind-report:/.test(line)).join('\n'));
});
