// Property-based tests (fast-check): random arguments of every type — fc.anything() and targeted
// ones (NaN, Infinity, negatives, huge numbers, strings, objects, arrays, typed arrays, detached
// and shared buffers, null, undefined, functions, bigints, symbols) — to every public
// constructor and method that reaches native code: new Ring(), ring.nop/read/timeout/poll/
// setIowqMaxWorkers/ref/unref/close, handle.cancel, createSocket(), every Socket method in every
// state (unbound, binding, bound, connected, closed), sendBatch, probe, configureWatchdog.
// Each call must succeed or fail with a documented error: an Error whose `code` is ERR_* or an
// errno name, thrown, rejected, emitted as 'error' or passed to a callback. Never a crash, a hang,
// a non-Error throw or an error without a code.
//
// The fuzzing runs in child processes (test/fixtures/fuzz-api.js), one per group, so a native
// crash fails the group's test (naming the case it was running) instead of killing tap. Each
// property runs for a fixed time; the number of runs it reached is checked against a floor.
// Reproduce a failure with FUZZ_SEED=<seed printed below>.
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';

import { ROOT, SLOWDOWN, run } from '../helpers';

const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'fuzz-api.js');
const LIB = path.join(ROOT, 'lib');
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

interface PropertyResult {
  name: string;
  numRuns: number;
  minRuns: number;
  ms: number;
  failed: boolean;
  seed: number;
  counterexample?: string;
  error?: string;
  outcomes: Record<string, number>;
}

/** Group name -> time per property (ms). */
const GROUPS: Array<[string, number]> = [
  ['ring-constructor', 4000],
  ['ring-operations', 6000],
  ['socket-constructor', 4000],
  ['socket-methods', 8000],
  ['socket-sendBatch', 4000],
  ['process-wide', 2000],
];

async function fuzz(t: Test, group: string, timeMs: number): Promise<void> {
  const lastCase = path.join(t.testdir(), 'last-case.txt');
  const result = await run(process.execPath, [FIXTURE, group, lastCase], {
    timeoutMs: 60_000,
    env: { ...process.env, URING_UDP_LIB: LIB, FUZZ_SEED: String(SEED), FUZZ_TIME_MS: String(timeMs) },
  });
  const last = fs.existsSync(lastCase) ? fs.readFileSync(lastCase, 'utf8') : '(none)';
  t.equal(result.timedOut, false, `the ${group} fuzzer finished (last case: ${last})`);
  t.equal(result.signal, null, `no crash (last case: ${last})`);
  t.equal(result.code, 0, `exit code 0 (last case: ${last})\n${result.stderr.slice(-2000)}`);
  if (result.code !== 0) return;
  const report = JSON.parse(result.stdout) as { properties: PropertyResult[]; stray: string[] };
  for (const p of report.properties) {
    const outcomes = Object.entries(p.outcomes)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    t.comment(`${p.name}: ${p.numRuns} runs in ${p.ms} ms (seed ${p.seed}); outcomes: ${outcomes}`);
    t.notOk(p.failed, `${p.name}: only documented errors${p.failed ? `\n  counterexample: ${p.counterexample}\n  ${p.error}` : ''}`);
    if (!p.failed) t.ok(p.numRuns * SLOWDOWN >= p.minRuns, `${p.name}: ${p.numRuns} runs (at least ${Math.ceil(p.minRuns / SLOWDOWN)})`); // fewer under test:asan
  }
  t.same(report.stray, [], 'no undocumented error surfaced outside a call');
}

t.comment(`fast-check seed ${SEED}`);
for (const [group, timeMs] of GROUPS) {
  t.test(`fuzz: ${group}`, (t) => fuzz(t, group, timeMs));
}

t.test('a createSocket() that throws leaves no descriptor open', async (t) => {
  // The constructor validates some arguments after it has opened its socket.
  const script = `
    const fs = require('node:fs');
    const { createSocket } = require(${JSON.stringify(LIB)});
    const fds = () => fs.readdirSync('/proc/self/fd').length;
    (async () => {
      const settle = async () => { for (let i = 0; i < 3; i++) { global.gc(); await new Promise((r) => setTimeout(r, 10)); } };
      await settle();
      const before = fds();
      const codes = new Set();
      for (let i = 0; i < 50; i++) {
        for (const make of [() => createSocket('udp4', 42), () => createSocket({ type: 'udp6', signal: 'no' })]) {
          try { make(); codes.add('no throw'); } catch (e) { codes.add(e.code); }
        }
      }
      await settle();
      console.log(JSON.stringify({ before, after: fds(), codes: [...codes] }));
    })();`;
  const result = await run(process.execPath, ['--expose-gc', '-e', script], { timeoutMs: 20_000 });
  t.equal(result.code, 0, result.stderr);
  const out = JSON.parse(result.stdout) as { before: number; after: number; codes: string[] };
  t.same(out.codes, ['ERR_INVALID_ARG_TYPE'], 'each call threw ERR_INVALID_ARG_TYPE');
  t.equal(out.after, out.before, `descriptors before ${out.before}, after 100 failed createSocket() calls and a gc: ${out.after}`);
});
