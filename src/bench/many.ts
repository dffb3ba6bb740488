// The many scenario's receiver (issue 16): N bound sockets in one process, one 'message'
// listener each. node lib/bench/many.js --driver dgram|uring-message --sockets N
// Binds 100 sockets at a time, printing {"bound":K} every 1,000, then the protocol's ready line
// with every port ({"ready":true,"port":P,"ports":[...]}) — or, when a bind fails or anything
// is thrown (an uncaught exception included), {"failed":true,"bound":K,"error":"..."} and exit 1.
// 'progress' answers {"progress":true,"datagrams":D,"socketsReceived":S,"allAtMs":T}; 'stop'
// closes every socket and reports how long that took.
import dgram from 'node:dgram';

import { createSocket } from '../udp';
import { argument, serve } from './protocol';

const driver = argument('driver', 'dgram');
const count = Number(argument('sockets', '10000'));
const CHUNK = 100;

type AnySocket = dgram.Socket | import('../udp').Socket;
const sockets: AnySocket[] = [];
let bound = 0;
let datagrams = 0;
let socketsReceived = 0;
let firstAtMs = -1;
let allAtMs = -1;
let failed = false;

function fail(error: unknown, uncaught: boolean): void {
  if (failed) return;
  failed = true;
  const message = error instanceof Error ? `${(error as NodeJS.ErrnoException).code ? `${(error as NodeJS.ErrnoException).code}: ` : ''}${error.message}` : String(error);
  process.stdout.write(`${JSON.stringify({ failed: true, bound, uncaught, error: message })}\n`, () => process.exit(1));
}
process.on('uncaughtException', (error) => fail(error, true));

function bindOne(): Promise<void> {
  const socket = driver === 'dgram' ? dgram.createSocket('udp4') : createSocket('udp4');
  sockets.push(socket);
  let got = false;
  socket.on('message', () => {
    datagrams++;
    if (firstAtMs < 0) firstAtMs = performance.now();
    if (got) return;
    got = true;
    if (++socketsReceived === count) allAtMs = performance.now();
  });
  return new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      socket.on('error', (error) => fail(error, false));
      bound++;
      resolve();
    });
  });
}

async function main(): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; i < count; i += CHUNK) {
    await Promise.all(Array.from({ length: Math.min(CHUNK, count - i) }, bindOne));
    if (bound % 1000 === 0) process.stdout.write(`${JSON.stringify({ bound })}\n`);
  }
  const bindMs = performance.now() - t0;
  const ports = sockets.map((s) => s.address().port);
  serve(
    ports[0]!,
    () => {},
    () => ({ bindMs, closeMs, datagrams, socketsReceived, deliverMs: allAtMs >= 0 ? allAtMs - firstAtMs : -1 }),
    {
      ready: { ports, bindMs },
      onProgress: () => ({ datagrams, socketsReceived, deliverMs: allAtMs >= 0 ? allAtMs - firstAtMs : -1 }),
      onCommand: (command) => {
        if (command === 'close') closeAll();
      },
    },
  );
}

// 'close' closes every socket and prints {"closed":true,"closeMs":T} when the last is closed
// (serve's 'stop' is synchronous, so the harness sends 'close' first and waits).
let closeMs = -1;
function closeAll(): void {
  const t0 = performance.now();
  let open = sockets.length;
  for (const socket of sockets) {
    socket.close(() => {
      if (--open > 0) return;
      closeMs = performance.now() - t0;
      process.stdout.write(`${JSON.stringify({ closed: true, closeMs })}\n`);
    });
  }
}

if (driver !== 'dgram' && driver !== 'uring-message') {
  process.stderr.write(`unknown driver ${driver}\n`);
  process.exit(2);
}
main().catch((error: unknown) => fail(error, false));
