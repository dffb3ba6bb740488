// The design rule: the JS thread never enters, registers with or closes an io_uring.
// Watched from outside with strace, on a program that does every kind of ring work.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

import { probe } from '../src/index';
import { ROOT, run, which } from './helpers';

const strace = which('strace');

t.test('no io_uring syscall on the JS thread, and no ring fd closed by it', { skip: strace ? false : 'strace is not installed (npm run setup installs it)' }, async (t) => {
  const out = path.join(t.testdir(), 'strace.txt');
  const fixture = path.join(ROOT, 'test', 'fixtures', 'ring-work.js');
  // UV_USE_IO_URING=0: libuv's own io_uring use for files (off by default in Node 20) would
  // be Node's, not this package's; keep it out of the picture explicitly.
  const result = await run(
    strace!,
    ['-f', '-e', 'trace=io_uring_setup,io_uring_enter,io_uring_register,close', '-o', out, process.execPath, fixture],
    { env: { ...process.env, UV_USE_IO_URING: '0' }, timeoutMs: 60_000 },
  );
  t.equal(result.code, 0, `fixture ran: ${result.stderr}`);
  const { pid, backend, received } = JSON.parse(result.stdout.trim().split('\n').pop()!) as { pid: number; backend: string; received: number };
  // Both io_uring backends receive through the socket's own ring (the receiver thread's).
  const expected = (await probe()).features.multishotRecvmsg.supported ? 'recvmsg-multishot' : 'poll-recvmmsg';
  t.equal(backend, expected, `the socket received through its own ring (${backend})`);
  t.equal(received, 100);

  // In trace order: io_uring calls by thread, and which thread closed each ring fd while it was
  // one (an fd number is reused once closed, so only a close of a live ring fd counts).
  const calls: Array<{ tid: number; syscall: string }> = [];
  const liveRings = new Map<number, number>(); // fd -> tid that set it up
  const ringCloses: Array<{ tid: number; fd: number }> = [];
  for (const line of fs.readFileSync(out, 'utf8').split('\n')) {
    const setup = /^(\d+)\s+(?:io_uring_setup\(|<\.\.\. io_uring_setup resumed>).*\)\s+=\s+(\d+)/.exec(line);
    if (setup) liveRings.set(Number(setup[2]), Number(setup[1]));
    const call = /^(\d+)\s+(io_uring_\w+)\(/.exec(line);
    if (call) calls.push({ tid: Number(call[1]), syscall: call[2]! });
    const close = /^(\d+)\s+close\((\d+)/.exec(line);
    if (close && liveRings.delete(Number(close[2]))) ringCloses.push({ tid: Number(close[1]), fd: Number(close[2]) });
  }
  const onMain = calls.filter((c) => c.tid === pid);
  const elsewhere = calls.filter((c) => c.tid !== pid);
  t.same(onMain, [], 'the JS (main) thread made no io_uring syscall');
  t.ok(elsewhere.filter((c) => c.syscall === 'io_uring_enter').length >= 10, `ring threads entered the kernel (${elsewhere.length} calls)`);
  const setups = elsewhere.filter((c) => c.syscall === 'io_uring_setup').length;
  t.ok(setups >= 3, `rings were set up on ring threads (${setups}: two Rings and the socket's)`);
  t.ok(ringCloses.length >= 3, `ring fds were closed (${ringCloses.length})`);
  t.same(ringCloses.filter((c) => c.tid === pid), [], 'none of them by the JS (main) thread');
});
