// The design rule: the JS thread never enters, registers with or closes an io_uring.
// Watched from outside with strace, on a program that does every kind of ring work.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

import { ROOT, run, which } from './helpers';

const strace = which('strace');

t.test('no io_uring syscall on the JS thread', { skip: strace ? false : 'strace is not installed (npm run setup installs it)' }, async (t) => {
  const out = path.join(t.testdir(), 'strace.txt');
  const fixture = path.join(ROOT, 'test', 'fixtures', 'ring-work.js');
  // UV_USE_IO_URING=0: libuv's own io_uring use for files (off by default in Node 20) would
  // be Node's, not this package's; keep it out of the picture explicitly.
  const result = await run(
    strace!,
    ['-f', '-e', 'trace=io_uring_setup,io_uring_enter,io_uring_register', '-o', out, process.execPath, fixture],
    { env: { ...process.env, UV_USE_IO_URING: '0' }, timeoutMs: 60_000 },
  );
  t.equal(result.code, 0, `fixture ran: ${result.stderr}`);
  const { pid } = JSON.parse(result.stdout.trim().split('\n').pop()!) as { pid: number };
  const calls = fs
    .readFileSync(out, 'utf8')
    .split('\n')
    .map((line) => /^(\d+)\s+(io_uring_\w+)\(/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ tid: Number(m[1]), syscall: m[2]! }));
  const onMain = calls.filter((c) => c.tid === pid);
  const elsewhere = calls.filter((c) => c.tid !== pid);
  t.same(onMain, [], 'the JS (main) thread made no io_uring syscall');
  t.ok(elsewhere.filter((c) => c.syscall === 'io_uring_enter').length >= 10, `ring threads entered the kernel (${elsewhere.length} calls)`);
  t.ok(elsewhere.some((c) => c.syscall === 'io_uring_setup'), 'rings were set up on ring threads');
});
