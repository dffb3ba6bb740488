// A benchmark receiver in its own process: node:dgram, uring-udp's 'message' API or its batch
// API. node lib/bench/receiver.js --driver dgram|uring-message|uring-batch [--family 4|6] [--watchdog on|off]
// Experiments only (scripts/bench-ab.js ARGS_A/ARGS_B): [--buffers N] [--max-datagram N] [--batch-count N --batch-delay US]
import dgram from 'node:dgram';

import { createSocket } from '../udp';
import { argument, cpuMicros, serve, threadCpuMicros, userMicros } from './protocol';

const driver = argument('driver', 'dgram');
const family = argument('family', '4') === '6' ? 6 : 4;
const type = family === 6 ? 'udp6' : 'udp4';
const host = family === 6 ? '::1' : '127.0.0.1';
const watchdog = argument('watchdog', 'on') === 'on';
const batchCount = Number(argument('batch-count', '0'));
const batchDelayUs = Number(argument('batch-delay', '0'));
const buffers = Number(argument('buffers', '0'));
const maxDatagram = Number(argument('max-datagram', '0'));
const batch = {
  ...(maxDatagram > 0 ? { maxDatagramSize: maxDatagram } : {}),
  ...(batchCount > 0 ? { batch: { count: batchCount, delayUs: batchDelayUs } } : {}),
  ...(buffers > 0 ? { bufferCount: buffers } : {}),
};
const RECV_BUFFER = 4 << 20; // as the C receiver

let datagrams = 0;
let bytes = 0;
let cpuStart = 0;
let userStart = 0;
let timeStart = 0;
let watchdogStart = 0;

function report(extra: object = {}) {
  const cpu = cpuMicros() - cpuStart;
  return {
    datagrams,
    bytes,
    cpuUs: cpu,
    cpuUserUs: userMicros() - userStart,
    seconds: (performance.now() - timeStart) / 1000,
    // The watchdog thread's own share of cpuUs (0 with the watchdog off).
    watchdogCpuUs: threadCpuMicros('uring-watchdog') - watchdogStart,
    maxRssKb: process.resourceUsage().maxRSS,
    ...extra,
  };
}

function start() {
  datagrams = 0;
  bytes = 0;
  cpuStart = cpuMicros();
  userStart = userMicros();
  watchdogStart = threadCpuMicros('uring-watchdog');
  timeStart = performance.now();
}

if (driver === 'dgram') {
  const socket = dgram.createSocket({ type, recvBufferSize: RECV_BUFFER });
  socket.on('message', (msg) => {
    datagrams++;
    bytes += msg.length;
  });
  socket.bind(0, host, () => serve(socket.address().port, start, () => report()));
} else if (driver === 'uring-message' || driver === 'uring-batch') {
  const socket = createSocket({ type, recvBufferSize: RECV_BUFFER, ...batch, ...(watchdog ? {} : { watchdog: false }) });
  if (driver === 'uring-batch') {
    socket.onBatch((batch) => {
      datagrams += batch.count;
      for (let i = 0; i < batch.count; i++) bytes += batch.length(i);
    });
  } else {
    socket.on('message', (msg) => {
      datagrams++;
      bytes += msg.length;
    });
  }
  // Counters from 'start' on: the harness floods every receiver once before it (a warm-up).
  let atStart = { kernelDrops: 0, batches: 0, enobufs: 0 };
  socket.bind(0, host, () =>
    serve(
      socket.address().port,
      () => {
        const s = socket.stats;
        atStart = { kernelDrops: s.kernelDrops, batches: s.batches, enobufs: s.enobufs };
        start();
      },
      () => {
        const s = socket.stats;
        return report({
          backend: socket.backend,
          kernelDrops: s.kernelDrops - atStart.kernelDrops,
          batches: s.batches - atStart.batches,
          enobufs: s.enobufs - atStart.enobufs,
        });
      },
    ),
  );
} else {
  process.stderr.write(`unknown driver ${driver}\n`);
  process.exit(2);
}
