// Node core's own dgram tests, run against this package by the harness in
// ../shared/conformance/node-dgram (README there) on the Node that runs this file: each test file
// is one assertion here. A failure fails the run unless test/conformance/allowed-failures.json
// names it as a deliberate difference (then it is a todo, with the reason). Tests that need Node's
// internals are reported skipped, as are those the harness lists for this Node version (Node's
// own dgram fails them: the version changed that behaviour on purpose).
//
// Not part of npm test (it is not a *.test.ts file): npm run test:conformance, and .ci/run on
// every Node version it tests.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

import { ROOT, run } from '../helpers';

// URING_UDP_DGRAM_SUITE: the harness elsewhere (a clone that does not sit beside shared/).
const HARNESS = process.env.URING_UDP_DGRAM_SUITE
  ? path.resolve(process.env.URING_UDP_DGRAM_SUITE)
  : path.resolve(ROOT, '..', 'shared', 'conformance', 'node-dgram');
const ALLOWED_FILE = path.join(__dirname, 'allowed-failures.json');
const MAJOR = Number(process.versions.node.split('.')[0]);

interface Allowed {
  test: string;
  reason: string;
  node?: number[];
}

interface Result {
  status: 'PASS' | 'FAIL' | 'N/A' | 'BASELINE-FAIL' | 'BASELINE-PASS';
  name: string;
  why: string;
  output: string[];
}

function readAllowed(): Allowed[] {
  const parsed = JSON.parse(fs.readFileSync(ALLOWED_FILE, 'utf8')) as { allowed?: unknown };
  if (!Array.isArray(parsed.allowed)) throw new Error(`${ALLOWED_FILE}: "allowed" must be an array`);
  return parsed.allowed as Allowed[];
}

/** The harness's per-file lines ("FAIL  test-dgram-x.js  first error"), with --verbose output. */
function parse(stdout: string): { results: Result[]; summary: RegExpExecArray | null } {
  const results: Result[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^(PASS|FAIL|N\/A|BASELINE-FAIL|BASELINE-PASS)\s+(\S+)(?:\s+(.*))?$/.exec(line);
    if (m) {
      results.push({ status: m[1] as Result['status'], name: m[2]!, why: (m[3] ?? '').trim(), output: [] });
    } else if (line.startsWith('    | ') && results.length > 0) {
      results[results.length - 1]!.output.push(line.slice(6));
    }
  }
  return { results, summary: /^(\d+) passed, (\d+) failed, (\d+) not applicable$/m.exec(stdout) };
}

const missing = !fs.existsSync(path.join(HARNESS, 'run.js'));

t.test(`Node's dgram tests on ${process.version}`, {
  // In CI the harness is always beside the clone: missing there is a failure, not a skip.
  skip: missing && process.env.CI !== 'true' ? `the harness is not at ${HARNESS} (it comes with the project's shared/ folder)` : false,
  timeout: 600_000,
}, async (t) => {
  t.ok(!missing, `the harness is at ${HARNESS}`);
  if (missing) return;
  const allowed = readAllowed();
  const listed = await run(process.execPath, [path.join(HARNESS, 'run.js'), '--list'], { timeoutMs: 30_000 });
  t.equal(listed.code, 0, 'the harness lists its tests', { stderr: listed.stderr });
  const known = new Set(listed.stdout.split('\n').map((l) => l.split('\t')[0]).filter(Boolean));
  for (const entry of allowed) {
    t.ok(known.has(entry.test), `allowed-failures.json: ${entry.test} is one of the harness's tests`);
    t.ok(typeof entry.reason === 'string' && entry.reason.trim().length > 0, `allowed-failures.json: ${entry.test} says why`);
  }

  // Every test file runs on this Node (NODE), against this package (its package.json's main).
  const env = { ...process.env, NODE: process.execPath, DGRAM_MODULE: ROOT };
  const suite = await run(process.execPath, [path.join(HARNESS, 'run.js'), '--verbose'], { env, timeoutMs: 540_000 });
  const { results, summary } = parse(suite.stdout);
  t.ok(summary, `the harness finished with its summary line (exit ${suite.code})`, { stderr: suite.stderr.slice(-2000) });
  t.ok(results.length > 0 && results.length === known.size, `a result for each of its ${known.size} test files (got ${results.length})`);
  t.equal(suite.code, results.some((r) => r.status === 'FAIL') ? 1 : 0, 'its exit status agrees with its lines');

  for (const r of results) {
    const entry = allowed.find((a) => a.test === r.name && (a.node === undefined || a.node.includes(MAJOR)));
    const detail = r.output.length > 0 ? { diagnostic: true, output: r.output.slice(0, 60).join('\n') } : {};
    if (r.status === 'N/A') {
      t.pass(r.name, { skip: `needs Node's internals: ${r.why}` });
    } else if (r.status.startsWith('BASELINE')) {
      t.pass(r.name, { skip: `Node ${MAJOR} changed this on purpose (the harness's baseline for ${MAJOR}); ${r.status === 'BASELINE-PASS' ? 'passes anyway' : r.why}` });
    } else if (r.status === 'PASS' && entry) {
      t.fail(`${r.name} passes on ${process.version}, but allowed-failures.json lists it as a deliberate difference (${entry.reason}): take it off the list`);
    } else if (r.status === 'PASS') {
      t.pass(r.name + (r.why ? ` (${r.why})` : ''));
    } else if (entry) {
      t.fail(`${r.name}: ${r.why}`, { todo: `deliberate difference: ${entry.reason}`, ...detail });
    } else {
      t.fail(`${r.name}: ${r.why}`, detail);
    }
  }
  if (summary) t.comment(`harness on ${process.version}: ${summary[0]}`);
});
