// A socket whose receiver cannot start fails its bind as a bind fails: an 'error' event before
// any 'listening', then 'close' — never an exception thrown from bind's asynchronous path.
import path from 'node:path';
import t from 'tap';

import { ROOT, run, which } from './helpers';

const LIB = path.join(ROOT, 'lib');

t.test('no descriptor left for the receiver: the bind fails with EMFILE, the process goes on', { skip: which('prlimit') ? false : 'prlimit (util-linux) is not installed' }, async (t) => {
  // Fill the descriptor table but one: the socket takes that one, and its receiver's eventfd
  // finds none.
  const script = `
    const fs = require('node:fs');
    const { createSocket } = require(${JSON.stringify(LIB)});
    const out = { events: [] };
    process.on('uncaughtException', (e) => { out.uncaught = e.message; console.log(JSON.stringify(out)); process.exit(0); });
    const held = [];
    try { for (;;) held.push(fs.openSync('/dev/null', 'r')); } catch (e) { out.filled = e.code; }
    fs.closeSync(held.pop());
    const socket = createSocket('udp4');
    socket.on('listening', () => out.events.push('listening'));
    socket.on('error', (e) => { out.events.push('error'); out.code = e.code; out.syscall = e.syscall; });
    socket.on('close', () => {
      out.events.push('close');
      for (const fd of held) fs.closeSync(fd);
      console.log(JSON.stringify(out));
    });
    socket.bind(0, '127.0.0.1');`;
  const result = await run('prlimit', ['--nofile=64:64', process.execPath, '-e', script], { timeoutMs: 20_000 });
  t.equal(result.code, 0, result.stderr);
  const out = JSON.parse(result.stdout.trim().split('\n').pop()!);
  t.equal(out.filled, 'EMFILE', 'the descriptor table was full');
  t.equal(out.uncaught, undefined, 'nothing thrown from an asynchronous path');
  t.same(out.events, ['error', 'close'], "'error' then 'close', no 'listening'");
  t.equal(out.code, 'EMFILE', 'the code is the one eventfd failed with');
  t.equal(out.syscall, 'eventfd');
});
