// The design rule: the JS thread never enters, registers with or closes an io_uring.
// Watched from outside with strace, on a program that does every kind of ring work.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

import { probe } from '../src/index';
import { ROOT, run, which } from './helpers';

const strace = which('strace');

t.test('no io_uring syscall on the JS thread, and no ring fd closed by it', { skip: strace ? false : 'strace is not installed (npm run setup installs it)' }, async (t) => {
  const dir = t.testdir();
  const out = path.join(dir, 'strace.txt');
  const fixture = path.join(ROOT, 'test', 'fixtures', 'ring-work.js');
  // UV_USE_IO_URING=0: libuv's own io_uring use for files (off by default in Node 20) would
  // be Node's, not this package's; keep it out of the picture explicitly.
  const traced = ['-f', '-e', 'trace=io_uring_setup,io_uring_enter,io_uring_register,close'];
  const env = { ...process.env, UV_USE_IO_URING: '0' };
  const result = await run(strace!, [...traced, '-o', out, process.execPath, fixture], { env, timeoutMs: 60_000 });
  t.equal(result.code, 0, `fixture ran: ${result.stderr}`);
  const { pid, backend, received } = JSON.parse(result.stdout.trim().split('\n').pop()!) as { pid: number; backend: string; received: number };
  // Both io_uring backends receive through the socket's own ring (the receiver thread's).
  const expected = (await probe()).features.multishotRecvmsg.supported ? 'recvmsg-multishot' : 'poll-recvmmsg';
  t.equal(backend, expected, `the socket received through its own ring (${backend})`);
  t.equal(received, 100);

  // In trace order: io_uring calls by thread, and which thread closed each ring fd while it was
  // one (an fd number is reused once closed, so only a close of a live ring fd counts).
  // Node 22 and later (libuv 1.49+) batch epoll_ctl through an io_uring of libuv's own on each
  // event loop, the main thread's too, and UV_USE_IO_URING=0 does not turn that off. Those rings
  // are Node's, not this package's: their set-up call is learnt from this Node running a program
  // that loads nothing of the package, and rings set up exactly that way are left out (with every
  // call on them). None of the package's is: its rings have other sizes and flags.
  const baseOut = path.join(dir, 'strace-node.txt');
  const base = await run(strace!, [...traced, '-o', baseOut, process.execPath, '-e', 'console.log(process.pid); setTimeout(() => {}, 50)'], { env, timeoutMs: 60_000 });
  t.equal(base.code, 0, `node alone ran: ${base.stderr}`);
  const nodeRings = new Set(parseTrace(baseOut, new Set()).setups);
  if (nodeRings.size > 0) t.comment(`Node's own io_uring set-ups, left out: ${[...nodeRings].join('; ')}`);
  const { calls, ringCloses } = parseTrace(out, nodeRings);
  const onMain = calls.filter((c) => c.tid === pid);
  const elsewhere = calls.filter((c) => c.tid !== pid);
  t.same(onMain, [], 'the JS (main) thread made no io_uring syscall');
  t.ok(elsewhere.filter((c) => c.syscall === 'io_uring_enter').length >= 10, `ring threads entered the kernel (${elsewhere.length} calls)`);
  const setups = elsewhere.filter((c) => c.syscall === 'io_uring_setup').length;
  t.ok(setups >= 3, `rings were set up on ring threads (${setups}: two Rings and the socket's)`);
  t.ok(ringCloses.length >= 3, `ring fds were closed (${ringCloses.length})`);
  t.same(ringCloses.filter((c) => c.tid === pid), [], 'none of them by the JS (main) thread');
});

/**
 * An strace -f log: io_uring calls by thread, and which thread closed each ring fd while it was
 * one (an fd number is reused once closed, so only a close of a live ring fd counts). Rings set
 * up with a call in `nodeRings` (Node's own) are left out, with every call on them; `setups`
 * lists every set-up call's size and flags ("io_uring_setup(256, flags=0x10000").
 */
function parseTrace(file: string, nodeRings: Set<string>) {
  const calls: Array<{ tid: number; syscall: string }> = [];
  const liveRings = new Map<number, number>(); // fd -> tid that set it up
  const ringCloses: Array<{ tid: number; fd: number }> = [];
  const setups: string[] = [];
  const ignored = new Set<number>(); // fds of Node's own rings
  const pending = new Map<number, string>(); // tid -> set-up call still unfinished
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const tid = Number(/^(\d+)\s/.exec(line)?.[1]);
    const args = /io_uring_setup\((\d+), \{flags=([^,\s]+)/.exec(line);
    if (args) pending.set(tid, `io_uring_setup(${args[1]}, flags=${args[2]}`);
    const setup = /^(\d+)\s+(?:io_uring_setup\(|<\.\.\. io_uring_setup resumed>).*\)\s+=\s+(\d+)/.exec(line);
    if (setup) {
      const fd = Number(setup[2]);
      const how = pending.get(tid) ?? '';
      pending.delete(tid);
      setups.push(how);
      if (nodeRings.has(how)) {
        ignored.add(fd);
        continue;
      }
      ignored.delete(fd);
      liveRings.set(fd, tid);
    }
    // A call counts where it starts (a set-up by its size and flags, the others by their ring fd).
    const call = /^(\d+)\s+(io_uring_\w+)\((\d+)?/.exec(line);
    if (call && (args ? !nodeRings.has(pending.get(tid) ?? '') : !ignored.has(Number(call[3])))) calls.push({ tid, syscall: call[2]! });
    const close = /^(\d+)\s+close\((\d+)/.exec(line);
    if (close) {
      ignored.delete(Number(close[2]));
      if (liveRings.delete(Number(close[2]))) ringCloses.push({ tid: Number(close[1]), fd: Number(close[2]) });
    }
  }
  return { calls, ringCloses, setups };
}
