// npm run prebuild (prebuildify --napi --strip) makes a self-contained addon: liburing is
// linked in statically, so the .node loads where liburing is not installed.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

import { ROOT, SANITIZED, run, which, withoutSanitizerBuild } from './helpers';

t.test('the built addon does not need liburing.so', async (t) => {
  const built = path.join(ROOT, 'build', 'Release', 'uring_udp.node');
  const ldd = await run('ldd', [built]);
  t.equal(ldd.code, 0, ldd.stderr);
  t.notMatch(ldd.stdout, /liburing/, 'ldd lists no liburing');
  t.match(ldd.stdout, /libc\.so/, 'ldd did list the libraries it needs');
});

// Under test:asan this builds and loads its own, unsanitized prebuild: nothing of the sanitizer
// build runs in it, and the build costs a minute of the sanitizer run's budget.
const prebuildSkip = SANITIZED ? 'under test:asan: it builds and tests its own unsanitized prebuild (npm test runs it)' : false;

t.test('npm run prebuild makes a prebuild that loads without liburing installed', { timeout: 300_000, skip: prebuildSkip }, async (t) => {
  // Build in a scratch copy so the tree other tests load from is left alone.
  const dir = t.testdir();
  for (const entry of ['package.json', 'binding.gyp', 'native', 'lib']) {
    fs.cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  const npm = which('npm')!;
  // The prebuild is a normal build: under npm run test:asan, build it without the sanitizer
  // runtimes preloaded into make and the compiler.
  const built = await run('sh', ['-c', `cd '${dir}' && '${npm}' run prebuild --silent`], { timeoutMs: 280_000, env: withoutSanitizerBuild() });
  t.equal(built.code, 0, `prebuild: ${built.stderr.slice(-2000)}`);
  fs.rmSync(path.join(dir, 'build'), { recursive: true, force: true });

  const prebuilt = path.join(dir, 'prebuilds', `linux-${process.arch}`);
  const files = fs.readdirSync(prebuilt).filter((f) => f.endsWith('.node'));
  t.equal(files.length, 1, `one prebuild: ${files.join(', ')}`);
  const addon = path.join(prebuilt, files[0]!);
  const ldd = await run('ldd', [addon]);
  t.notMatch(ldd.stdout, /liburing/, 'the prebuild does not link liburing.so');

  const script = `
    const { Ring } = require(${JSON.stringify(path.join(dir, 'lib'))});
    const loaded = require('node-gyp-build').resolve(${JSON.stringify(dir)});
    (async () => {
      const ring = new Ring({ entries: 8 });
      await ring.nop();
      await ring.close();
      console.log(JSON.stringify({ loaded, completed: ring.stats.completed }));
    })();
  `;
  // Hide every liburing shared object from the child, when a private mount namespace is
  // available (root); otherwise the ldd check above is the proof.
  const libs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib', '/usr/local/lib'].flatMap((d) =>
    fs.existsSync(d) ? fs.readdirSync(d).filter((f) => f.startsWith('liburing.so')).map((f) => path.join(d, f)) : [],
  );
  const unshare = which('unshare');
  const hide = libs.map((f) => `mount --bind /dev/null '${f}'`).join(' && ');
  const canHide = unshare !== null && process.getuid?.() === 0;
  const command = canHide
    ? ['unshare', ['-m', 'sh', '-c', `${hide || 'true'} && exec '${process.execPath}' -e "$0"`, script]]
    : [process.execPath, ['-e', script]];
  // withoutSanitizerBuild: under npm run test:asan, URING_UDP_ADDON would load the sanitizer
  // build instead of the prebuild this test is about, which is not instrumented.
  const env = { ...withoutSanitizerBuild(), NODE_PATH: path.join(ROOT, 'node_modules') };
  const result = await run(command[0] as string, command[1] as string[], { env });
  t.equal(result.code, 0, result.stderr);
  const out = JSON.parse(result.stdout.trim()) as { loaded: string; completed: number };
  t.match(out.loaded, /prebuilds/, 'node-gyp-build picked the prebuild');
  t.equal(out.completed, 1, `a ring opened and completed a request${canHide ? ` with ${libs.length} liburing.so files hidden` : ''}`);
});
