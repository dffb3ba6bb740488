// The package as a user gets it: the exports map serves import and require, with types for both
// (checked by tsc the way a NodeNext project resolves them), and npm pack ships what a build
// from source needs and nothing of the tests.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

import { ROOT, run, which, withoutSanitizerBuild } from './helpers';

const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

// A project outside this repository with uring-udp (and @types/node) in its node_modules.
function consumer(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uring-udp-consumer-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'node_modules', '@types'), { recursive: true });
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'uring-udp'));
  fs.symlinkSync(path.join(ROOT, 'node_modules', '@types', 'node'), path.join(dir, 'node_modules', '@types', 'node'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  return dir;
}

const dir = consumer();
const EXPECTED = ['Ring', 'PollHandle', 'createSocket', 'Socket', 'DatagramBatch', 'probe', 'watchdog', 'KNOWN_BUGS', 'UringError'];

t.test('import (ESM) and require (CommonJS) load the same API', async (t) => {
  const esm = await run(process.execPath, ['--input-type=module', '-e', `
    import * as api from 'uring-udp';
    import { Ring } from 'uring-udp';
    const ring = new Ring({ entries: 8 });
    await ring.nop();
    await ring.close();
    console.log(JSON.stringify({ names: Object.keys(api), completed: ring.stats.completed }));
  `], { cwd: dir });
  t.equal(esm.code, 0, esm.stderr);
  const fromImport = JSON.parse(esm.stdout) as { names: string[]; completed: number };
  t.equal(fromImport.completed, 1, 'a ring opened through import ran a request');

  const cjs = await run(process.execPath, ['-e', `console.log(JSON.stringify(Object.keys(require('uring-udp'))))`], { cwd: dir });
  t.equal(cjs.code, 0, cjs.stderr);
  const fromRequire = JSON.parse(cjs.stdout) as string[];
  for (const name of EXPECTED) t.ok(fromImport.names.includes(name), `import gives ${name}`);
  // Interop names aside (TypeScript's __esModule marker; Node's default and module.exports).
  const own = (names: string[]) => names.filter((n) => !['default', 'module.exports', '__esModule'].includes(n)).sort();
  t.same(own(fromImport.names), own(fromRequire), 'the same names both ways');
});

t.test('types resolve for import and require in a NodeNext project, and catch misuse', { timeout: 120_000 }, async (t) => {
  const use = `
    const ring: Ring = new Ring({ entries: 8, wait: 'busy', sqpoll: false });
    const handle: PollHandle = ring.poll(0, ['readable', 'writable']);
    handle.on('ready', (events: PollEvents) => events.readable);
    const socket = createSocket({ type: 'udp6', ipv6Only: true });
    socket.onBatch((batch) => { const n: number = batch.count; return n; });
    const report: Promise<ProbeResult> = probe();
    void report; void ring.close(); socket.close();
  `;
  const names = `Ring, PollHandle, createSocket, probe, type PollEvents, type ProbeResult`;
  fs.writeFileSync(path.join(dir, 'use.mts'), `import { ${names} } from 'uring-udp';\n${use}`);
  fs.writeFileSync(path.join(dir, 'use.cts'), `import { ${names} } from 'uring-udp';\n${use}`);
  fs.writeFileSync(
    path.join(dir, 'misuse.mts'),
    `import { Ring } from 'uring-udp';\nconst ring = new Ring({ entries: '8' });\nring.poll(0, 'sparkly');\n`,
  );
  // tsc and npm touch no addon: under test:asan they run without the sanitizer runtimes, which
  // slow a type check past a minute.
  const env = withoutSanitizerBuild();
  const flags = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node'];
  const good = await run(process.execPath, [TSC, ...flags, 'use.mts', 'use.cts'], { cwd: dir, env, timeoutMs: 100_000 });
  t.equal(good.code, 0, `use.mts and use.cts type-check: ${good.stdout}`);
  const bad = await run(process.execPath, [TSC, ...flags, 'misuse.mts'], { cwd: dir, env, timeoutMs: 100_000 });
  t.not(bad.code, 0, 'misuse does not type-check');
  t.match(bad.stdout, /misuse\.mts\(2,\d+\): error TS2322/, 'a string for entries is a type error');
  t.match(bad.stdout, /misuse\.mts\(3,\d+\): error TS23(22|45|69)/, 'an unknown poll event is a type error');
});

t.test('npm pack ships the sources a build needs and none of the tests', { skip: which('npm') ? false : 'npm is not on PATH' }, async (t) => {
  const packed = await run(which('npm')!, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, env: withoutSanitizerBuild(), timeoutMs: 60_000 });
  t.equal(packed.code, 0, packed.stderr);
  const files = (JSON.parse(packed.stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
  for (const needed of ['package.json', 'binding.gyp', 'lib/index.js', 'lib/index.d.ts', 'lib/cli.js', 'native/ring_core.cc', 'scripts/setup.sh', 'scripts/install.js', 'README.md', 'bench/c/udp-sender.c', 'bench/runtimes/udp-peer.ts']) {
    t.ok(files.includes(needed), `ships ${needed}`);
  }
  t.same(files.filter((f) => /^(test|test-vm|build|build-sanitize|src)\//.test(f)), [], 'no tests, build trees or TypeScript sources');
});
