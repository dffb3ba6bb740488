#!/usr/bin/env node
// The slow-handler scenario's handlers against any build of the package, for an A/B with a build
// whose harness has no such scenario (docs/benchmark.md):
//   node scripts/slow-handler-ab.js DIR batch|message SIZE
// DIR: a checkout with lib/ and the addon built. One socket (recvBufferSize 8 MiB) whose onBatch
// handler spins 5 ms per batch, or whose 'message' listener spins 2 ms every 100, flooded for
// 5 s by bench/build/udp-sender (bench/c/build.sh) at its maximum; when the count stands still
// for a second, prints one JSON line: received, handler seconds, received per handler-second,
// peak RSS (the process's maxRSS) and the sender's report.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');
const [pkg, api, size] = process.argv.slice(2);
if (!pkg || !['batch', 'message'].includes(api) || !(Number(size) > 0)) {
  console.error('usage: node scripts/slow-handler-ab.js DIR batch|message SIZE');
  process.exit(2);
}
const { createSocket } = require(path.resolve(pkg));
const spin = (ms) => { const end = performance.now() + ms; while (performance.now() < end); };
const s = createSocket({ type: 'udp4', recvBufferSize: 8 << 20 });
let received = 0, handlerMs = 0, n = 0;
if (api === 'batch') s.onBatch((b) => { const t = performance.now(); received += b.count; spin(5); handlerMs += performance.now() - t; });
else s.on('message', () => { const t = performance.now(); received++; if (++n % 100 === 0) spin(2); handlerMs += performance.now() - t; });
s.bind(0, '127.0.0.1', () => {
  const port = s.address().port;
  const sender = spawn(path.join(__dirname, '..', 'bench', 'build', 'udp-sender'), ['--port', String(port), '--size', size, '--rate', '0', '--duration', '5'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = ''; sender.stdout.on('data', (d) => (out += d));
  sender.on('close', () => {
    let last = -1;
    const check = () => { if (received === last) { s.close(); console.log(JSON.stringify({ pkg, api, size, received, handlerS: +(handlerMs / 1000).toFixed(2), perHandlerS: Math.round(received / (handlerMs / 1000)), peakRssMiB: +(process.resourceUsage().maxRSS / 1024).toFixed(1), sender: out.trim().slice(0, 120) })); } else { last = received; setTimeout(check, 1000); } };
    setTimeout(check, 1000);
  });
});
