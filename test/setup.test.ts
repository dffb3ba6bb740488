// npm run setup (scripts/setup.sh) when it may not install what is missing: it prints the exact
// command and exits non-zero, before touching npm. (When it may, CI's .ci/run proves it: it
// removes liburing-dev first and the README's commands put it back.)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';

import { ROOT, run, which, withoutSanitizerBuild } from './helpers';

const SETUP = path.join(ROOT, 'scripts', 'setup.sh');
const isRoot = process.getuid?.() === 0;
const setpriv = which('setpriv');
const bash = which('bash')!;

// A directory every user may enter, outside the clone: the clone may live where an unprivileged
// user cannot (root's home, /root/uring-udp, is 0700), and so may tap's t.testdir() under it.
function worldReadableDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uring-udp-setup-'));
  fs.chmodSync(dir, 0o755);
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// The setup script as a copy in such a directory, laid out as in the clone (it cds to its
// scripts/ folder's parent): the unprivileged user runs that copy, wherever the clone is.
function setupCopy(t: Test): { script: string; cwd: string } {
  const cwd = worldReadableDir(t);
  fs.mkdirSync(path.join(cwd, 'scripts'), { mode: 0o755 });
  const script = path.join(cwd, 'scripts', 'setup.sh');
  fs.copyFileSync(SETUP, script);
  fs.chmodSync(script, 0o755);
  return { script, cwd };
}

// pkg-config with an empty search path finds no liburing: the machine looks like one without
// liburing-dev, whatever this one has.
// Under test:asan the script runs without the sanitizer runtimes: it is bash, not the addon, and
// ASan could not write its report directory as the unprivileged user.
function withoutLiburing(t: Test): NodeJS.ProcessEnv {
  const empty = worldReadableDir(t);
  return { ...withoutSanitizerBuild(), PKG_CONFIG_LIBDIR: empty, PKG_CONFIG_PATH: '' };
}

t.test('a user who may not install gets the exact command and a non-zero exit', {
  skip: !isRoot ? 'needs root to run the script as an unprivileged user' : !setpriv ? 'setpriv is not installed' : false,
}, async (t) => {
  const env = withoutLiburing(t);
  const { script, cwd } = setupCopy(t);
  // nobody: not root, and no password-less sudo.
  const result = await run(setpriv!, ['--reuid=65534', '--regid=65534', '--clear-groups', bash, script], { env, cwd, timeoutMs: 30_000 });
  t.equal(result.code, 1, 'exits 1');
  t.match(result.stderr, /missing system packages: .*\bliburing-dev\b/, 'names liburing-dev as missing');
  const command = /^ {2}(sudo apt-get update && sudo apt-get install -y .+)$/m.exec(result.stderr)?.[1];
  t.ok(command, `prints the command to run: ${command}`);
  t.match(command ?? '', /\bliburing-dev\b/, 'the command installs liburing-dev');
  t.notMatch(result.stdout, /npm|done/, 'stopped before npm');
});

t.test('a machine without apt-get is told what to install', { skip: !isRoot ? 'needs root to reach the install step' : false }, async (t) => {
  const env = withoutLiburing(t);
  // A PATH holding only what the script needs to get that far: no apt-get (and no compiler or
  // test tools, which it then also lists).
  const bin = t.testdir();
  for (const tool of ['dirname', 'id', 'pkg-config']) {
    const found = which(tool);
    if (found) fs.symlinkSync(found, path.join(bin, tool));
  }
  const result = await run(bash, [SETUP], { env: { ...env, PATH: bin }, timeoutMs: 30_000 });
  t.equal(result.code, 1, 'exits 1');
  t.match(result.stderr, /no apt-get/, 'says there is no apt-get');
  t.match(result.stderr, /liburing >= 2\.3 \(headers and the static library liburing\.a\)/, 'and what to install instead');
});
