// Running out of descriptors never costs a socket more than its receiver: a socket whose bursts
// find no receiver (no fd left for its eventfd or ring) goes on being read by its JS thread and
// says so in its stats; one that asked for a receiver from bind on (hybrid: false) fails its
// bind as a bind fails — an 'error' event before any 'listening', then 'close'. Never an
// exception thrown from an asynchronous path.
import path from 'node:path';
import t from 'tap';

import { ROOT, run, which } from './helpers';

const LIB = path.join(ROOT, 'lib');
const noPrlimit = which('prlimit') ? false : 'prlimit (util-linux) is not installed';

// The child fills its descriptor table but `spare`, then runs `body` (out: what it prints).
function script(spare: number, body: string): string {
  return `
    const fs = require('node:fs');
    const { createSocket } = require(${JSON.stringify(LIB)});
    const out = { events: [] };
    process.on('uncaughtException', (e) => { out.uncaught = e.message; console.log(JSON.stringify(out)); process.exit(0); });
    const held = [];
    try { for (;;) held.push(fs.openSync('/dev/null', 'r')); } catch (e) { out.filled = e.code; }
    for (let i = 0; i < ${spare}; i++) fs.closeSync(held.pop());
    const done = () => { for (const fd of held) fs.closeSync(fd); console.log(JSON.stringify(out)); };
    ${body}`;
}

t.test('no descriptor left for a receiver: bursts stay on the direct path, every datagram arrives', { skip: noPrlimit }, async (t) => {
  // Two spare: the socket and a sender in the same process. Bursts (a read of 256) ask for a
  // receiver, which needs descriptors there are none of.
  const body = `
    const dgram = require('node:dgram');
    const socket = createSocket('udp4');
    let received = 0;
    socket.on('message', () => received++);
    socket.on('error', (e) => { out.events.push('error:' + e.code); });
    socket.bind(0, '127.0.0.1', () => {
      const sender = dgram.createSocket('udp4');
      const port = socket.address().port;
      let sent = 0;
      const started = Date.now();
      const tick = () => {
        // Bursts until one found no receiver (10 s at most).
        if (socket.stats.attachFailures > 0 || Date.now() - started > 10000) {
          setTimeout(() => {
            const stats = socket.stats;
            Object.assign(out, { sent, received, drops: stats.kernelDrops, attachFailures: stats.attachFailures, attaches: stats.attaches, direct: socket.direct });
            socket.close(() => { out.events.push('close'); sender.close(done); });
          }, 200);
          return;
        }
        for (let i = 0; i < 400; i++) { sender.send('x', port, '127.0.0.1'); sent++; }
        setImmediate(tick);
      };
      tick();
    });`;
  const result = await run('prlimit', ['--nofile=64:64', process.execPath, '-e', script(2, body)], { timeoutMs: 30_000 });
  t.equal(result.code, 0, result.stderr);
  const out = JSON.parse(result.stdout.trim().split('\n').pop()!);
  t.equal(out.filled, 'EMFILE', 'the descriptor table was full');
  t.equal(out.uncaught, undefined, 'nothing thrown from an asynchronous path');
  t.ok(out.attachFailures >= 1, `a burst found no receiver (${out.attachFailures} times)`);
  t.equal(out.attaches, 0, 'no receiver took it on');
  t.equal(out.direct, true, 'the JS thread still reads it');
  t.equal(out.received + out.drops, out.sent, `every datagram received or counted as a kernel drop (${out.received} + ${out.drops} of ${out.sent})`);
  t.same(out.events, ['close'], "no 'error': the socket never failed");
});

t.test('hybrid: false with no descriptor left for its receiver: the bind fails with EMFILE, the process goes on', { skip: noPrlimit }, async (t) => {
  const body = `
    const socket = createSocket({ type: 'udp4', hybrid: false });
    socket.on('listening', () => out.events.push('listening'));
    socket.on('error', (e) => { out.events.push('error'); out.code = e.code; out.syscall = e.syscall; });
    socket.on('close', () => { out.events.push('close'); done(); });
    socket.bind(0, '127.0.0.1');`;
  const result = await run('prlimit', ['--nofile=64:64', process.execPath, '-e', script(1, body)], { timeoutMs: 20_000 });
  t.equal(result.code, 0, result.stderr);
  const out = JSON.parse(result.stdout.trim().split('\n').pop()!);
  t.equal(out.filled, 'EMFILE', 'the descriptor table was full');
  t.equal(out.uncaught, undefined, 'nothing thrown from an asynchronous path');
  t.same(out.events, ['error', 'close'], "'error' then 'close', no 'listening'");
  t.equal(out.code, 'EMFILE', 'the code is the one the receiver failed with');
  t.match(out.syscall, /^(eventfd|io_uring_setup|epoll_create1)$/, `the call that found no descriptor (${out.syscall})`);
});
