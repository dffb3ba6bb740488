#!/usr/bin/env node
// Real libraries' own test suites, run with node:dgram and then with require('dgram') pointed at
// this package (scripts/dgram-hook.js, preloaded with NODE_OPTIONS=--require into every process
// the suite starts), as a user switching to the drop-in would meet them.
//
//   node scripts/library-suites.js [--only NAME[,NAME]] [--git NAME=DIR]... [--verbose] [--json FILE]
//
// Each library is fetched from the npm registry (npm pack) into a scratch directory outside the
// clone ($URING_UDP_LIBRARY_DIR, else $TMPDIR/uring-udp-library-suites), its dev dependencies are
// installed once, and its test runner is started directly (not its npm test, which lints first).
// dns2's and hot-shots' tarballs ship no tests: theirs come from a git clone of the library
// (--git dns2=DIR), at the release's tag; without one that library is left out, and said so.
// Prints passed/failed for both runs per library; exits 1 when the package fails a test that
// node:dgram passes, or when a run did not go through the hook at all.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const HOOK = path.join(__dirname, 'dgram-hook.js');
const SCRATCH = process.env.URING_UDP_LIBRARY_DIR || path.join(os.tmpdir(), 'uring-udp-library-suites');
const TIMEOUT_MS = 15 * 60 * 1000;

// The suites issue 19 names. `test` runs in the library's directory; `parse` reads its output.
const LIBRARIES = [
  { name: 'dns2', version: '3.1.1', tests: { tag: 'v3.1.1', paths: ['test'] }, test: () => [process.execPath, '--test', '--test-reporter=tap'], parse: parseDns2 },
  { name: 'multicast-dns', version: '7.2.5', test: () => [process.execPath, 'node_modules/tape/bin/tape', 'test.js'], parse: parseTap },
  {
    name: 'hot-shots',
    version: '17.0.1',
    tests: { tag: 'v17.0.1', paths: ['test'] },
    test: (dir) => [process.execPath, 'node_modules/mocha/bin/mocha.js', '-R', 'spec', '--timeout', '5000',
      ...fs.readdirSync(path.join(dir, 'test')).filter((f) => f.endsWith('.js')).sort().map((f) => `test/${f}`)],
    // Its npm test also imports it as ESM: one more test, pass or fail by exit code.
    extra: () => [process.execPath, 'test/esm-import.mjs'],
    parse: parseMocha,
  },
  { name: 'syslog-client', version: '1.1.1', test: () => [process.execPath, 'node_modules/mocha/bin/mocha', '--reporter', 'spec'], parse: parseMocha },
];

function parseArgs(argv) {
  const opts = { only: null, verbose: false, json: null, git: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--only') opts.only = new Set(argv[++i].split(','));
    else if (a === '--verbose') opts.verbose = true;
    else if (a === '--git') {
      const [name, dir] = argv[++i].split('=');
      opts.git.set(name, path.resolve(dir));
    }
    else if (a === '--json') opts.json = path.resolve(argv[++i]);
    else {
      console.error(`library-suites: unknown argument ${a}\nusage: node scripts/library-suites.js [--only NAME[,NAME]] [--verbose] [--json FILE]`);
      process.exit(2);
    }
  }
  return opts;
}

// TAP (node --test, tape): "# pass N", "# fail N", and each "not ok" line's name.
function parseTap(output) {
  const num = (key) => {
    const all = [...output.matchAll(new RegExp(`^# ${key}\\s+(\\d+)$`, 'gm'))];
    return all.length ? Number(all[all.length - 1][1]) : null;
  };
  const failures = [...output.matchAll(/^\s*not ok \d+ - (.*?)(?: # (?:TODO|SKIP).*)?$/gm)].map((m) => m[1]);
  const passed = num('pass');
  const failed = num('fail');
  if (passed !== null) return { passed, failed: failed ?? 0, failures };
  // No summary: the run died. What passed until then, and the death as one more failure.
  const oks = [...output.matchAll(/^\s*ok \d+ /gm)].length;
  if (oks === 0 && failures.length === 0 && !/^TAP version/m.test(output)) return null;
  const died = output.split('\n').find((l) => /^\w*Error\b|^\s*\w+Error: /.test(l)) ?? 'the run stopped without a summary';
  return { passed: oks, failed: failures.length + 1, failures: [...failures, `crashed: ${died.trim()}`], crashed: true };
}

// dns2's own tiny framework prints "✔  name" / "✘  name" per test, inside node --test's TAP (one
// result per file); its ESM file uses node:test (TAP results named after the test). A file that
// failed with no ✘ of its own died: one more failure.
function parseDns2(output) {
  let passed = 0;
  const failures = [];
  let section = [];
  for (const raw of output.split('\n')) {
    const line = raw.replace(/\x1b\[[0-9;]*m/g, '');
    const mark = /^#\s+([✔✘])\s+(.*)$/.exec(line);
    if (mark) {
      if (mark[1] === '✔') passed++;
      else failures.push(mark[2].trim());
      section.push(mark[1]);
      continue;
    }
    const result = /^(ok|not ok) \d+ - (.*)$/.exec(line);
    if (!result) continue;
    // A file's own result is named after the file (absolute on Node 20, relative later).
    if (!/\.[cm]?js$/.test(result[2])) {
      if (result[1] === 'ok') passed++;
      else failures.push(result[2]);
    } else if (result[1] === 'not ok' && !section.includes('✘')) {
      failures.push(`crashed: ${result[2]}`);
    }
    section = [];
  }
  if (passed === 0 && failures.length === 0) return null;
  return { passed, failed: failures.length, failures };
}

// mocha's spec reporter: "N passing", "N failing", then "  1) suite\n       test:" per failure.
function parseMocha(output) {
  const passing = /^\s+(\d+) passing/m.exec(output);
  if (!passing) return null;
  const failing = /^\s+(\d+) failing/m.exec(output);
  const after = failing ? output.slice(failing.index) : '';
  const failures = [...after.matchAll(/^ {2}(\d+)\) (.*)\n((?: {5,}.*\n)*?)(?: {5,}(.*):)?\n/gm)].map((m) => `${m[2]} ${(m[3] || '').trim().replace(/\s+/g, ' ')} ${m[4] || ''}`.trim());
  return { passed: Number(passing[1]), failed: failing ? Number(failing[1]) : 0, failures };
}

function sh(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} (in ${cwd}) failed:\n${result.stderr.slice(-3000)}`);
  return result.stdout;
}

// The library's tarball from npm, unpacked, with its dev dependencies: once per version.
function prepare(lib, gitDir) {
  const dir = path.join(SCRATCH, `${lib.name}-${lib.version}`);
  const done = path.join(dir, '.uring-udp-ready');
  if (fs.existsSync(done)) return { dir, seconds: 0 };
  const started = Date.now();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const tgz = sh('npm', ['pack', `${lib.name}@${lib.version}`, '--silent'], SCRATCH).trim().split('\n').pop();
  sh('tar', ['-xzf', path.join(SCRATCH, tgz), '-C', dir, '--strip-components=1'], SCRATCH);
  fs.rmSync(path.join(SCRATCH, tgz));
  if (lib.tests) {
    // The release's own tests, from its tag in the library's repository.
    const archive = spawnSync('git', ['--git-dir', gitDir, 'archive', '--format=tar', lib.tests.tag, ...lib.tests.paths], { maxBuffer: 1 << 28 });
    if (archive.status !== 0) throw new Error(`git archive ${lib.tests.tag} in ${gitDir}: ${archive.stderr}`);
    const unpacked = spawnSync('tar', ['-xf', '-', '-C', dir], { input: archive.stdout });
    if (unpacked.status !== 0) throw new Error(`tar: ${unpacked.stderr}`);
  }
  sh('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', '--include=dev'], dir);
  fs.writeFileSync(done, new Date().toISOString() + '\n');
  return { dir, seconds: (Date.now() - started) / 1000 };
}

function runCommand(argv, cwd, env) {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      output += `\nlibrary-suites: killed after ${TIMEOUT_MS / 1000} s\n`;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    }, TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* none left */ }
      resolve({ code, signal, output });
    });
  });
}

async function runSuite(lib, dir, mode) {
  const log = path.join(dir, `.hook-${mode}.log`);
  fs.rmSync(log, { force: true });
  const env = {
    ...process.env,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ? `${process.env.NODE_OPTIONS} ` : ''}--require ${HOOK}`,
    URING_UDP_DGRAM_HOOK: mode,
    URING_UDP_DGRAM_HOOK_LOG: log,
  };
  const started = Date.now();
  const main = await runCommand(lib.test(dir), dir, env);
  let counts = lib.parse(main.output);
  let output = main.output;
  if (lib.extra) {
    const extra = await runCommand(lib.extra(dir), dir, env);
    output += `\n--- ${lib.extra(dir).slice(1).join(' ')}\n${extra.output}`;
    if (counts) {
      if (extra.code === 0) counts.passed++;
      else {
        counts.failed++;
        counts.failures.push(`${lib.extra(dir).slice(1).join(' ')}: ${extra.output.trim().split('\n').find((l) => /Error/.test(l)) ?? `exit ${extra.code}`}`);
      }
    }
  }
  const loads = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).length : 0;
  fs.writeFileSync(path.join(dir, `.run-${mode}.log`), output);
  return { mode, code: main.code, counts, loads, seconds: (Date.now() - started) / 1000, log: path.join(dir, `.run-${mode}.log`) };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(path.join(ROOT, 'lib', 'index.js'))) {
    console.error('library-suites: lib/index.js is missing: run npm run compile:ts (or npm run setup) first');
    return 2;
  }
  fs.mkdirSync(SCRATCH, { recursive: true });
  console.log(`# library suites on node ${process.version}, scratch ${SCRATCH}`);
  const report = [];
  let bad = false;
  for (const lib of LIBRARIES) {
    if (opts.only && !opts.only.has(lib.name)) continue;
    let gitDir = null;
    if (lib.tests) {
      const given = opts.git.get(lib.name);
      gitDir = given && (fs.existsSync(path.join(given, '.git')) ? path.join(given, '.git') : given);
      if (!gitDir || !fs.existsSync(gitDir)) {
        console.log(`${lib.name}@${lib.version}: left out: its npm tarball has no tests; give a clone of its repository with --git ${lib.name}=DIR (tag ${lib.tests.tag})`);
        continue;
      }
    }
    const { dir, seconds } = prepare(lib, gitDir);
    const dgram = await runSuite(lib, dir, 'observe');
    const pkg = await runSuite(lib, dir, 'package');
    const figure = (r) => (r.counts ? `${r.counts.passed}/${r.counts.passed + r.counts.failed}${r.counts.crashed ? ' (crashed)' : ''}` : `no summary (exit ${r.code})`);
    console.log(`${lib.name}@${lib.version}: node:dgram ${figure(dgram)} (${dgram.seconds.toFixed(1)} s), uring-udp ${figure(pkg)} (${pkg.seconds.toFixed(1)} s)` +
      `${seconds ? `; fetched and installed in ${seconds.toFixed(1)} s` : ''}; processes through the hook: ${dgram.loads} / ${pkg.loads}`);
    if (dgram.counts && pkg.counts) {
      const notRun = dgram.counts.passed + dgram.counts.failed - (pkg.counts.passed + pkg.counts.failed);
      if (notRun > 0) console.log(`  ${notRun} of node:dgram's tests never ran with uring-udp (the runner stopped early)`);
    }
    const known = new Set(dgram.counts ? dgram.counts.failures : []);
    const extra = pkg.counts ? pkg.counts.failures.filter((f) => !known.has(f)) : [];
    for (const f of extra) console.log(`  FAIL with uring-udp only: ${f.slice(0, 300)}`);
    if (dgram.counts) for (const f of dgram.counts.failures) console.log(`  fails with node:dgram too: ${f.slice(0, 300)}`);
    if (opts.verbose || !pkg.counts) console.log(`  output: ${dgram.log}, ${pkg.log}`);
    if (dgram.loads === 0 || pkg.loads === 0) {
      console.log('  the suite never loaded dgram through the hook: these figures say nothing about the package');
      bad = true;
    }
    if (!pkg.counts || extra.length > 0 || (dgram.counts && pkg.counts.failed > dgram.counts.failed)) bad = true;
    report.push({ name: lib.name, version: lib.version, node: process.version, dgram, package: pkg });
  }
  if (opts.json) fs.writeFileSync(opts.json, JSON.stringify(report, null, 2) + '\n');
  return bad ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (error) => {
  console.error(error);
  process.exitCode = 2;
});
