// test/fixtures/stress.js in a child: rings and sockets on every receive backend opened, used,
// flooded and closed in cycles, a worker terminated with both open. Under npm test it checks
// the churn works; under npm run test:asan it is the sanitizers' stress run (every backend,
// io_uring ones included, which the valgrind run cannot use), and LeakSanitizer checks what is
// left when the child exits. test/valgrind.test.ts runs the same fixture under valgrind.
import path from 'node:path';
import t from 'tap';

import { ROOT, run } from '../helpers';

t.test('rings and sockets churned in cycles, on every backend, with a worker terminated mid-use', async (t) => {
  const fixture = path.join(ROOT, 'test', 'fixtures', 'stress.js');
  const result = await run(process.execPath, ['--expose-gc', fixture, '--cycles', '2'], { timeoutMs: 60_000 });
  t.equal(result.timedOut, false, 'finished in time');
  t.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as { cycles: number; received: number; problems: string[] };
  t.same(report.problems, [], 'no problem seen');
  t.equal(report.cycles, 2);
  t.ok(report.received > 0, `received ${report.received} datagrams`);
});
