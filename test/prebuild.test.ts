// The npm tarball as a user meets it. npm pack (its prepack step: tsc, then prebuildify --napi
// --strip --tag-libc) puts a self-contained prebuild in: liburing is linked in statically, so the
// package installs and runs on a machine with no compiler, make, python or liburing — proven here
// in a mount namespace that hides all of them. Where no prebuild loads, the install builds from
// source, and where it cannot, it says exactly what to install.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';

import { ROOT, SANITIZED, run, which, withoutSanitizerBuild } from './helpers';

t.test('the built addon does not need liburing.so', async (t) => {
  const built = path.join(ROOT, 'build', 'Release', 'uring_udp.node');
  const ldd = await run('ldd', [built]);
  t.equal(ldd.code, 0, ldd.stderr);
  t.notMatch(ldd.stdout, /liburing/, 'ldd lists no liburing');
  t.match(ldd.stdout, /libc\.so/, 'ldd did list the libraries it needs');
});

// Under test:asan this builds and tests its own, unsanitized prebuild: nothing of the sanitizer
// build runs in it, and the build costs a minute of the sanitizer run's budget.
const packSkip = SANITIZED ? 'under test:asan: it builds and tests its own unsanitized prebuild (npm test runs it)' : false;
const isRoot = process.getuid?.() === 0;
const hideSkip = !isRoot ? 'needs root for a mount namespace that hides the toolchain' : !which('unshare') ? 'unshare is not installed' : false;
const npm = which('npm');

// What a machine without a toolchain lacks: compilers, make, python, pkg-config, and liburing's
// headers, libraries and pkg-config file. Files are covered with /dev/null (not executable, not
// a header), directories with an empty tmpfs; bash runs `script` inside, as root, with the rest
// of the machine as it is (node, npm and npm's cache stay).
const TOOL = /^(?:(?:x86_64-linux-gnu-)?(?:g\+\+|gcc|c\+\+|cc|cpp)(?:-\d+)?|clang(?:\+\+)?(?:-\d+)?|nvcc|g?make|python[\d.]*|pkg-?config|pkgconf)$/;
function hidingScript(script: string): string {
  const files = new Set<string>();
  const dirs = new Set<string>();
  const binDirs = new Set([...(process.env.PATH ?? '').split(':'), '/usr/bin', '/bin', '/usr/local/bin', '/usr/sbin', '/sbin']);
  for (const dir of binDirs) {
    if (!dir || !fs.existsSync(dir)) continue;
    for (const name of fs.readdirSync(dir)) {
      if (!TOOL.test(name)) continue;
      try {
        files.add(fs.realpathSync(path.join(dir, name)));
      } catch {
        // a dangling link: nothing to hide
      }
    }
  }
  for (const dir of ['/usr/lib/gcc', '/usr/libexec/gcc', '/usr/include/liburing']) if (fs.existsSync(dir)) dirs.add(dir);
  for (const dir of ['/usr/include', '/usr/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu/pkgconfig', '/usr/lib', '/usr/local/lib', '/usr/local/include', '/usr/share/pkgconfig']) {
    if (!fs.existsSync(dir)) continue;
    for (const name of fs.readdirSync(dir)) {
      const full = path.join(dir, name);
      if (!name.startsWith('liburing') || dirs.has(full)) continue;
      if (fs.statSync(full).isFile()) files.add(fs.realpathSync(full));
    }
  }
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    'set -e',
    ...[...dirs].map((d) => `mount -t tmpfs -o ro,size=4k none ${q(d)}`),
    ...[...files].filter((f) => ![...dirs].some((d) => f.startsWith(`${d}/`))).map((f) => `mount --bind /dev/null ${q(f)}`),
    // The proof that they are gone, before anything else runs.
    'for tool in g++ gcc cc c++ make python3 python pkg-config; do if "$tool" --version >/dev/null 2>&1; then echo "hidden but still runs: $tool" >&2; exit 97; fi; done',
    'if [ -s /usr/include/liburing.h ]; then echo "liburing.h still there" >&2; exit 97; fi',
    'set +e',
    script,
  ].join('\n');
}

async function hidden(script: string, cwd: string, timeoutMs = 120_000) {
  return run('unshare', ['-m', 'bash', '-c', hidingScript(script)], { cwd, env: withoutSanitizerBuild(), timeoutMs });
}

// A project of a user's: a package.json and nothing else, outside this repository.
function userProject(t: Test, name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `uring-udp-${name}-`));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  return dir;
}

// A copy of what npm pack packs from, with this tree's node_modules (tsc, prebuildify, headers).
function packSource(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uring-udp-pack-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const entry of ['package.json', 'binding.gyp', 'tsconfig.json', 'native', 'src', 'scripts/setup.sh', 'scripts/install.js', 'README.md', 'docs', 'bench/c']) {
    fs.cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

async function pack(dir: string, ignoreScripts: boolean): Promise<string> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'uring-udp-tgz-'));
  const args = ['pack', '--json', '--pack-destination', out, ...(ignoreScripts ? ['--ignore-scripts'] : [])];
  // The prebuild is a normal build: under npm run test:asan, without the sanitizer runtimes.
  const packed = await run(npm!, args, { cwd: dir, env: withoutSanitizerBuild(), timeoutMs: 280_000 });
  if (packed.code !== 0) throw new Error(`npm pack: ${packed.stderr.slice(-3000)}`);
  const tgz = fs.readdirSync(out).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error(`npm pack made no tarball: ${packed.stdout.slice(-2000)}`);
  return path.join(out, tgz);
}

const USE = `
  const { createSocket } = require('uring-udp');
  const dgram = require('node:dgram');
  const loaded = require('node-gyp-build').resolve(require('path').dirname(require.resolve('uring-udp/package.json')));
  const socket = createSocket('udp4');
  let count = 0, bytes = 0;
  socket.on('message', (msg) => {
    bytes += msg.length;
    if (++count === 100) {
      sender.close();
      socket.close(() => console.log(JSON.stringify({ loaded, count, bytes, backend })));
    }
  });
  let backend;
  const sender = dgram.createSocket('udp4');
  socket.bind(0, '127.0.0.1', () => {
    backend = socket.backend;
    for (let i = 0; i < 100; i++) sender.send(Buffer.alloc(100, i), socket.address().port, '127.0.0.1');
  });
`;

t.test('npm pack ships a prebuild; installed where there is no toolchain it loads, receives, and npx uring-udp probe works', {
  timeout: 600_000,
  skip: packSkip || (!npm ? 'npm is not on PATH' : false),
}, async (t) => {
  const source = packSource(t);
  const tgz = await pack(source, false);
  t.teardown(() => fs.rmSync(path.dirname(tgz), { recursive: true, force: true }));
  const size = fs.statSync(tgz).size;
  const listed = await run('tar', ['-tzf', tgz]);
  const files = listed.stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
  const prebuilds = files.filter((f) => /^prebuilds\/linux-x64\/[^/]+\.node$/.test(f));
  t.same(prebuilds, ['prebuilds/linux-x64/uring-udp.glibc.node'], 'the tarball holds one prebuild: linux-x64, Node-API, glibc');
  t.ok(files.includes('scripts/install.js'), 'and the install step');
  t.ok(size < 2 * 1024 * 1024, `the tarball is ${(size / 1024).toFixed(0)} KiB`);
  t.comment(`tarball: ${(size / 1024).toFixed(0)} KiB, ${files.length} files`);

  // The prebuild itself: no liburing.so needed, and stripped.
  const extracted = fs.mkdtempSync(path.join(os.tmpdir(), 'uring-udp-x-'));
  t.teardown(() => fs.rmSync(extracted, { recursive: true, force: true }));
  await run('tar', ['-xzf', tgz, '-C', extracted]);
  const addon = path.join(extracted, 'package', prebuilds[0] ?? 'missing');
  const ldd = await run('ldd', [addon]);
  t.notMatch(ldd.stdout, /liburing/, 'the prebuild does not link liburing.so');
  const symbols = await run('sh', ['-c', `nm '${addon}' 2>&1 | head -1`]);
  t.match(symbols.stdout, /no symbols/, 'the prebuild is stripped');

  if (hideSkip) {
    t.pass(`installing it where the toolchain is hidden`, { skip: hideSkip });
    return;
  }
  const project = userProject(t, 'user-app');
  fs.writeFileSync(path.join(project, 'use.js'), USE);
  const result = await hidden(
    [
      `npm install --no-audit --no-fund --prefer-offline --foreground-scripts ${tgz} || exit 90`,
      'node use.js || exit 91',
      'npx --no-install uring-udp probe --json > probe.json || exit 92',
    ].join('\n'),
    project,
    240_000,
  );
  t.equal(result.code, 0, `installed and ran with no compiler, make, python or liburing (exit ${result.code})`, { stderr: result.stderr.slice(-3000) });
  t.match(result.stdout, /uring-udp: using prebuilds\/linux-x64\/uring-udp\.glibc\.node/, 'the install step took the prebuild');
  const line = result.stdout.split('\n').find((l) => l.startsWith('{"loaded"')) ?? '{}';
  const used = JSON.parse(line) as { loaded?: string; count?: number; bytes?: number; backend?: string };
  t.match(used.loaded ?? '', /node_modules\/uring-udp\/prebuilds\/linux-x64\/uring-udp\.glibc\.node$/, 'node-gyp-build loaded the prebuild');
  t.equal(used.count, 100, `100 datagrams received (${used.backend})`);
  t.equal(used.bytes, 100 * 100, 'every byte of them');
  const probeFile = path.join(project, 'probe.json');
  const probed = fs.existsSync(probeFile) ? (JSON.parse(fs.readFileSync(probeFile, 'utf8')) as { kernel?: { release?: string } }) : {};
  t.equal(probed.kernel?.release, os.release(), 'npx uring-udp probe --json reports this kernel');
});

t.test('with no prebuild and no toolchain, the install says exactly what to install', {
  timeout: 300_000,
  skip: hideSkip || (!npm ? 'npm is not on PATH' : false),
}, async (t) => {
  // The tarball without its prebuild: what a platform with no matching prebuild meets.
  const source = packSource(t);
  const compiled = await run(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: source, timeoutMs: 120_000, env: withoutSanitizerBuild() });
  t.equal(compiled.code, 0, 'the TypeScript compiles', { stdout: compiled.stdout });
  const tgz = await pack(source, true);
  t.teardown(() => fs.rmSync(path.dirname(tgz), { recursive: true, force: true }));
  const project = userProject(t, 'user-app-no-prebuild');
  const result = await hidden(`npm install --no-audit --no-fund --prefer-offline --foreground-scripts ${tgz}`, project);
  t.not(result.code, 0, 'the install fails');
  const output = result.stdout + result.stderr;
  t.match(output, /no prebuilt addon loads here \(linux-x64, Node v[\d.]+\), and building it from source needs what this machine lacks: g\+\+, make, python3, pkg-config, liburing-dev\./, 'says why, and what is missing');
  t.match(output, /^ {2}apt-get update && apt-get install -y g\+\+ make python3 pkg-config liburing-dev$/m, 'and the exact command (as root: no sudo)');
  t.notMatch(output, /gyp ERR!/, 'no compiler errors: node-gyp never ran');
});
