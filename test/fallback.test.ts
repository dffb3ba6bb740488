// io_uring forbidden (seccomp returns EPERM from io_uring_setup, as Docker's default profile
// does): probe says why, Ring says what to do, sockets fall back to the recvmmsg loop.
import path from 'node:path';
import t from 'tap';

import { ROOT, run, which } from './helpers';

const cc = which('cc') ?? which('gcc');

t.test('with io_uring forbidden', { skip: cc ? false : 'no C compiler to build the seccomp launcher' }, async (t) => {
  const launcher = path.join(t.testdir(), 'no-io-uring');
  const built = await run(cc!, ['-O2', '-o', launcher, path.join(ROOT, 'test', 'fixtures', 'no-io-uring.c')]);
  t.equal(built.code, 0, built.stderr);
  const script = `
    const dgram = require('node:dgram');
    const { Ring, probe, createSocket } = require(${JSON.stringify(path.join(ROOT, 'lib'))});
    (async () => {
      const out = {};
      const report = await probe();
      out.usable = report.usable;
      out.code = report.code;
      out.reason = report.reason;
      try { new Ring(); } catch (e) { out.ringError = { code: e.code, syscall: e.syscall, message: e.message }; }
      const socket = createSocket('udp4');
      socket.bind(0, '127.0.0.1', () => {
        out.backend = socket.backend;
        const peer = dgram.createSocket('udp4');
        socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
        peer.on('message', (msg) => {
          out.echoed = msg.toString();
          peer.close();
          // A forced backend that cannot run is an error, not a silent fallback.
          const forced = createSocket({ type: 'udp4', backend: 'recvmsg-multishot' });
          forced.on('listening', () => { out.forcedListening = true; });
          forced.on('error', (e) => { out.forcedError = e.code; out.forcedMessage = e.message; });
          forced.on('close', () => socket.close(() => console.log(JSON.stringify(out))));
          forced.bind(0, '127.0.0.1');
        });
        peer.send('through the fallback', socket.address().port, '127.0.0.1');
      });
    })();`;
  const result = await run(launcher, [process.execPath, '-e', script], { timeoutMs: 20_000 });
  t.equal(result.code, 0, result.stderr);
  const out = JSON.parse(result.stdout);
  t.equal(out.usable, false, 'probe: io_uring not usable');
  t.equal(out.code, 'EPERM');
  t.match(out.reason, /kernel\.io_uring_disabled/, 'probe names the sysctl');
  t.match(out.reason, /seccomp/, 'and seccomp profiles');
  t.equal(out.ringError.code, 'EPERM', 'new Ring() fails with EPERM');
  t.equal(out.ringError.syscall, 'io_uring_setup');
  t.match(out.ringError.message, /Docker/, 'and says what usually causes it');
  t.equal(out.backend, 'recvmmsg', 'the socket fell back to the recvmmsg loop');
  t.equal(out.echoed, 'through the fallback', 'and works');
  t.equal(out.forcedError, 'ERR_URING_BACKEND_UNAVAILABLE', 'forcing recvmsg-multishot there fails loudly and closes the socket');
  t.equal(out.forcedListening, undefined, "it fails as a bind fails: no 'listening' before the 'error'");
  t.match(out.forcedMessage, /Linux 6\.0.*io_uring_setup failed: Operation not permitted/, 'naming what it needs and why it cannot have it');
});
