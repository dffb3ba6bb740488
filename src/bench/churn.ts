// The churn scenario's client (issue 16): the DNS-client pattern — create a socket, send one
// query, receive the answer, close — in sequence, against an echo server in another process.
// node lib/bench/churn.js --driver dgram|uring-message --port P [--count 2000] [--warmup 200]
// Prints one JSON line: sockets, seconds, socketsPerSec, cpuUs (this process, every thread,
// including those that exited), lost (answers not back within 1 s), threads and fds after.
import dgram from 'node:dgram';
import fs from 'node:fs';

import { createSocket } from '../udp';
import { argument, cpuMicros } from './protocol';

const driver = argument('driver', 'dgram');
const port = Number(argument('port', '0'));
const count = Number(argument('count', '2000'));
const warmup = Number(argument('warmup', '200'));
const QUERY = Buffer.alloc(48, 0x5a); // a DNS query's size
const ANSWER_TIMEOUT_MS = 1000;

type Client = { send(msg: Buffer, port: number, address: string): void; once(event: 'message', fn: () => void): unknown; removeAllListeners(event: 'message'): unknown; close(cb: () => void): unknown };
const makeSocket = (): Client => (driver === 'dgram' ? dgram.createSocket('udp4') : createSocket('udp4')) as unknown as Client;

let lost = 0;

async function once(): Promise<void> {
  const socket = makeSocket();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      lost++;
      socket.removeAllListeners('message');
      resolve();
    }, ANSWER_TIMEOUT_MS);
    socket.once('message', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.send(QUERY, port, '127.0.0.1');
  });
  await new Promise<void>((resolve) => socket.close(resolve));
}

async function main(): Promise<void> {
  for (let i = 0; i < warmup; i++) await once();
  lost = 0;
  const cpu0 = cpuMicros();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await once();
  const seconds = (performance.now() - t0) / 1000;
  const cpuUs = cpuMicros() - cpu0;
  process.stdout.write(
    `${JSON.stringify({
      sockets: count,
      seconds,
      socketsPerSec: count / seconds,
      cpuUs,
      lost,
      threadsAfter: fs.readdirSync('/proc/self/task').length,
      fdsAfter: fs.readdirSync('/proc/self/fd').length,
    })}\n`,
  );
}

if (driver !== 'dgram' && driver !== 'uring-message') {
  process.stderr.write(`unknown driver ${driver}\n`);
  process.exit(2);
}
main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
