#!/usr/bin/env node
// The slow-handler scenario's handlers (lib/bench/protocol.js: SLOW_*, busyWait) against any
// build of the package, for an A/B with a build whose harness has no such scenario
// (docs/benchmark.md):
//   node scripts/slow-handler-ab.js DIR batch|message SIZE
// DIR: a checkout with lib/ and the addon built. One socket (recvBufferSize 8 MiB) whose onBatch
// handler spins SLOW_BATCH_MS per batch, or whose 'message' listener spins SLOW_MESSAGE_MS every
// SLOW_MESSAGE_EVERY, flooded for 5 s by bench/build/udp-sender at its maximum; when the count
// stands still for a second, prints one JSON line: received, handler seconds, received per
// handler-second, peak RSS (the process's maxRSS) and the sender's report.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');

const lib = path.join(__dirname, '..', 'lib', 'bench');
const { busyWait, SLOW_BATCH_MS, SLOW_MESSAGE_EVERY, SLOW_MESSAGE_MS } = require(path.join(lib, 'protocol.js'));
const { buildPeers } = require(path.join(lib, 'harness.js'));

const [pkg, api, size] = process.argv.slice(2);
if (!pkg || !['batch', 'message'].includes(api) || !(Number(size) > 0)) {
  console.error('usage: node scripts/slow-handler-ab.js DIR batch|message SIZE');
  process.exit(2);
}
const sender = path.join(buildPeers(), 'udp-sender');
const { createSocket } = require(path.resolve(pkg));
const socket = createSocket({ type: 'udp4', recvBufferSize: 8 << 20 });
let received = 0;
let handlerMs = 0;
const timed = (fn) => {
  const t0 = performance.now();
  fn();
  handlerMs += performance.now() - t0;
};
if (api === 'batch') {
  socket.onBatch((batch) => timed(() => {
    received += batch.count;
    busyWait(SLOW_BATCH_MS);
  }));
} else {
  socket.on('message', () => timed(() => {
    if (++received % SLOW_MESSAGE_EVERY === 0) busyWait(SLOW_MESSAGE_MS);
  }));
}
socket.bind(0, '127.0.0.1', () => {
  const flood = spawn(sender, ['--port', String(socket.address().port), '--size', size, '--rate', '0', '--duration', '5'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  flood.stdout.on('data', (d) => (out += d));
  flood.on('close', () => {
    let last = -1;
    const check = () => {
      if (received !== last) {
        last = received;
        setTimeout(check, 1000);
        return;
      }
      socket.close();
      const handlerS = handlerMs / 1000;
      console.log(JSON.stringify({
        pkg, api, size, received,
        handlerS: +handlerS.toFixed(2),
        perHandlerS: Math.round(received / handlerS),
        peakRssMiB: +(process.resourceUsage().maxRSS / 1024).toFixed(1),
        sender: JSON.parse(out),
      }));
    };
    setTimeout(check, 1000);
  });
});
