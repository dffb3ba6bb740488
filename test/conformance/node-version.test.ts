// Which Node runs the tests: when .ci/run runs the suite under another Node version it sets
// URING_UDP_EXPECT_NODE to that binary, and this proves tap's test processes (not only tap's own
// command) really run on it, and that the addon loaded there.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import t from 'tap';

const expected = process.env.URING_UDP_EXPECT_NODE;

t.test('the test processes run on the Node the run was started with', {
  skip: expected ? false : 'URING_UDP_EXPECT_NODE is not set (only .ci/run sets it, for runs on other Node versions)',
}, async (t) => {
  const want = fs.realpathSync(expected!);
  const wantVersion = execFileSync(want, ['--version'], { encoding: 'utf8' }).trim();
  t.equal(fs.realpathSync(process.execPath), want, `process.execPath is ${want}`);
  t.equal(process.version, wantVersion, `process.version is ${wantVersion}`);
  // A child a test spawns with process.execPath, as most tests here do, runs on it too.
  const child = execFileSync(process.execPath, ['-p', 'process.version'], { encoding: 'utf8' }).trim();
  t.equal(child, wantVersion, 'a child started with process.execPath runs on it');
  // The addon, built once against Node-API 8, loads on this version.
  const api = await import('../../src/index');
  const ring = new api.Ring({ entries: 8 });
  await ring.nop();
  await ring.close();
  t.equal(ring.stats.completed, 1, `the addon loads on ${process.version} and a ring completes a request`);
});
