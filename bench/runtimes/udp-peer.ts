// A benchmark peer for Bun and Deno (src/bench/runtimes.ts installs them; both run TypeScript
// directly): a receiver or an echo server on each runtime's own UDP API — Bun.udpSocket,
// Deno.listenDatagram — written as their documentation shows. It speaks the harness's line
// protocol (src/bench/protocol.ts): {"ready":true,"port":P}, then 'start', 'progress', 'stop'.
//   bun udp-peer.ts --mode receiver|echo [--stamps]
//   deno run -A --unstable-net udp-peer.ts --mode receiver|echo [--stamps]
// --stamps (the drain scenario): the time of every 64th datagram, as the other receivers do.
import process from 'node:process';
import readline from 'node:readline';

declare const Bun: any;
declare const Deno: any;

const argument = (name: string, fallback: string): string => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1]! : fallback;
};
const mode = argument('mode', 'receiver');
const stamps = process.argv.includes('--stamps');
const runtime = typeof Bun !== 'undefined' ? 'bun' : 'deno';

let datagrams = 0;
let bytes = 0;
let echoed = 0;
let cpuStart = 0;
let timeStart = 0;
// --stamps: the count and time at the first and the latest multiple of 64 datagrams.
let firstCount = -1;
let firstAt = 0;
let lastCount = -1;
let lastAt = 0;

const cpuMicros = () => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};

function received(length: number): void {
  datagrams++;
  bytes += length;
  if (stamps && (datagrams & 63) === 0) {
    const now = performance.now();
    if (firstCount < 0) {
      firstCount = datagrams;
      firstAt = now;
    }
    lastCount = datagrams;
    lastAt = now;
  }
}

function start(): void {
  datagrams = 0;
  bytes = 0;
  echoed = 0;
  firstCount = lastCount = -1;
  cpuStart = cpuMicros();
  timeStart = performance.now();
}

function report(): object {
  const out: Record<string, unknown> = {
    datagrams,
    bytes,
    echoed,
    cpuUs: cpuMicros() - cpuStart,
    seconds: (performance.now() - timeStart) / 1000,
  };
  if (stamps) Object.assign(out, { firstCount, firstAtMs: firstAt, lastCount, lastAtMs: lastAt });
  return out;
}

function serve(port: number): void {
  process.stdout.write(`${JSON.stringify({ ready: true, port, runtime })}\n`);
  const lines = readline.createInterface({ input: process.stdin });
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    process.stdout.write(`${JSON.stringify(report())}\n`, () => process.exit(0));
  };
  lines.on('line', (line: string) => {
    const command = line.trim();
    if (command === 'start') start();
    else if (command === 'progress') process.stdout.write(`${JSON.stringify({ progress: true, datagrams })}\n`);
    else if (command === 'stop') stop();
  });
  lines.on('close', stop); // a dead harness must not leave peers running
}

if (runtime === 'bun') {
  const socket = await Bun.udpSocket({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      data(socket: any, data: Uint8Array, port: number, address: string) {
        received(data.length);
        if (mode === 'echo') {
          socket.send(data, port, address);
          echoed++;
        }
      },
    },
  });
  serve(socket.port);
} else {
  const conn = Deno.listenDatagram({ hostname: '127.0.0.1', port: 0, transport: 'udp' });
  serve(conn.addr.port);
  for (;;) {
    const [data, address] = await conn.receive();
    received(data.length);
    if (mode === 'echo') {
      await conn.send(data, address);
      echoed++;
    }
  }
}
