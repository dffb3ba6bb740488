// A benchmark receiver in its own process: node:dgram, uring-udp's 'message' API or its batch
// API. node lib/bench/receiver.js --driver dgram|uring-message|uring-batch [--family 4|6] [--watchdog on|off]
//   [--recv-buffer BYTES]   SO_RCVBUF asked (default 4 MiB, as the C receiver; 0: net.core.rmem_default)
//   [--sockets N]           N sockets with the same handler (the spread scenario); the ready line lists their ports
//   [--handler fast|slow]   slow: the slow-handler scenario's handlers (5 ms per batch; 2 ms every 100 'message's)
//   [--stamps]              the drain scenario: the time of every 64th datagram (protocol.ts Stamps)
//   [--gro]                 uring-udp drivers: createSocket({ gro: true }) (the gro scenario)
// The backend is the package's choice, or URING_UDP_BACKEND's.
// Experiments only (scripts/bench-ab.js ARGS_A/ARGS_B): [--buffers N] [--max-datagram N] [--batch-count N --batch-delay US]
import dgram from 'node:dgram';

import { createSocket, type DatagramBatch, type Socket } from '../udp';
import {
  argument,
  busyWait,
  cpuMicros,
  serve,
  SLOW_BATCH_MS,
  SLOW_MESSAGE_EVERY,
  SLOW_MESSAGE_MS,
  Stamps,
  threadCpuMicros,
  threadCpuSince,
  userMicros,
} from './protocol';

const driver = argument('driver', 'dgram');
const family = argument('family', '4') === '6' ? 6 : 4;
const type = family === 6 ? 'udp6' : 'udp4';
const host = family === 6 ? '::1' : '127.0.0.1';
const watchdog = argument('watchdog', 'on') === 'on';
const batchCount = Number(argument('batch-count', '0'));
const batchDelayUs = Number(argument('batch-delay', '0'));
const buffers = Number(argument('buffers', '0'));
const maxDatagram = Number(argument('max-datagram', '0'));
const socketCount = Number(argument('sockets', '1'));
const slow = argument('handler', 'fast') === 'slow';
const stamping = process.argv.includes('--stamps');
const gro = process.argv.includes('--gro');
const batch = {
  ...(maxDatagram > 0 ? { maxDatagramSize: maxDatagram } : {}),
  ...(batchCount > 0 ? { batch: { count: batchCount, delayUs: batchDelayUs } } : {}),
  ...(buffers > 0 ? { bufferCount: buffers } : {}),
};
const RECV_BUFFER = Number(argument('recv-buffer', String(4 << 20))); // 4 MiB: as the C receiver

let datagrams = 0;
let bytes = 0;
let handlerMs = 0;
let cpuStart = 0;
let userStart = 0;
let timeStart = 0;
let watchdogStart = new Map<string, number>();
// The watchdog threads' CPU as last seen, per thread: a watchdog with nothing left to watch
// exits (a socket handed back to its JS thread after the flood), and its time would be lost
// from a snapshot taken after that, so it is sampled through the window.
let watchdogSeen = new Map<string, number>();
let watchdogSampler: NodeJS.Timeout | undefined;
function sampleWatchdog(): Map<string, number> {
  for (const [tid, us] of threadCpuMicros('uring-watchdog')) watchdogSeen.set(tid, us);
  return watchdogSeen;
}
const stamps = new Stamps();

function report(extra: object = {}) {
  const cpu = cpuMicros() - cpuStart;
  return {
    datagrams,
    bytes,
    cpuUs: cpu,
    cpuUserUs: userMicros() - userStart,
    seconds: (performance.now() - timeStart) / 1000,
    // The watchdog thread's own share of cpuUs (0 with the watchdog off).
    watchdogCpuUs: threadCpuSince(sampleWatchdog(), watchdogStart),
    maxRssKb: process.resourceUsage().maxRSS,
    ...(slow ? { handlerMs } : {}),
    ...(stamping ? stamps.toJSON() : {}),
    ...extra,
  };
}

function start() {
  datagrams = 0;
  bytes = 0;
  handlerMs = 0;
  stamps.reset();
  cpuStart = cpuMicros();
  userStart = userMicros();
  watchdogStart = threadCpuMicros('uring-watchdog');
  watchdogSeen = new Map(watchdogStart);
  if (watchdogSampler) clearInterval(watchdogSampler);
  watchdogSampler = setInterval(sampleWatchdog, 50);
  watchdogSampler.unref();
  timeStart = performance.now();
}

/** The 'message' listener of this run's kind (dgram's and uring-udp's alike). */
function messageListener(): (msg: Buffer) => void {
  if (slow) {
    return (msg) => {
      const t0 = performance.now();
      datagrams++;
      bytes += msg.length;
      if (datagrams % SLOW_MESSAGE_EVERY === 0) busyWait(SLOW_MESSAGE_MS);
      handlerMs += performance.now() - t0;
    };
  }
  if (stamping) {
    return (msg) => {
      datagrams++;
      bytes += msg.length;
      stamps.add(datagrams - 1, datagrams);
    };
  }
  return (msg) => {
    datagrams++;
    bytes += msg.length;
  };
}

function batchHandler(): (batch: DatagramBatch) => void {
  return (batch) => {
    const t0 = slow ? performance.now() : 0;
    const before = datagrams;
    datagrams += batch.count;
    for (let i = 0; i < batch.count; i++) bytes += batch.length(i);
    if (stamping) stamps.add(before, datagrams);
    if (slow) {
      busyWait(SLOW_BATCH_MS - (performance.now() - t0));
      handlerMs += performance.now() - t0;
    }
  };
}

/** Binds every socket, then speaks the protocol with the first one's port (and all ports listed). */
function listen(sockets: Array<dgram.Socket | Socket>, onStart: () => void, onStop: () => object): void {
  let bound = 0;
  for (const socket of sockets) {
    socket.bind(0, host, () => {
      if (++bound < sockets.length) return;
      const ports = sockets.map((s) => s.address().port);
      serve(ports[0]!, onStart, onStop, {
        ready: sockets.length > 1 ? { ports } : {},
        onProgress: () => ({ datagrams }),
      });
    });
  }
}

if (driver === 'dgram') {
  const sockets = Array.from({ length: socketCount }, () => dgram.createSocket({ type, ...(RECV_BUFFER ? { recvBufferSize: RECV_BUFFER } : {}) }));
  const listener = messageListener();
  for (const socket of sockets) socket.on('message', listener);
  listen(sockets, start, () => report({ recvBufferBytes: sockets[0]!.getRecvBufferSize() }));
} else if (driver === 'uring-message' || driver === 'uring-batch') {
  const sockets = Array.from({ length: socketCount }, () =>
    createSocket({
      type,
      ...(RECV_BUFFER ? { recvBufferSize: RECV_BUFFER } : {}),
      ...batch,
      ...(watchdog ? {} : { watchdog: false }),
      ...(gro ? { gro: true } : {}),
    }),
  );
  const onBatch = driver === 'uring-batch' ? batchHandler() : undefined;
  const listener = onBatch ? undefined : messageListener();
  for (const socket of sockets) {
    if (onBatch) socket.onBatch(onBatch);
    else socket.on('message', listener!);
  }
  const sum = (key: 'kernelDrops' | 'batches' | 'enobufs' | 'coalesced' | 'handovers') => sockets.reduce((total, s) => total + s.stats[key], 0);
  // Counters from 'start' on: the harness floods every receiver once before it (a warm-up).
  let atStart = { kernelDrops: 0, batches: 0, enobufs: 0, coalesced: 0, handovers: 0 };
  // Whether a receiver read any of them in the window (else the JS thread did it all: no watchdog).
  let onReceiver = false;
  let checkReceiver: NodeJS.Timeout | undefined;
  listen(
    sockets,
    () => {
      atStart = { kernelDrops: sum('kernelDrops'), batches: sum('batches'), enobufs: sum('enobufs'), coalesced: sum('coalesced'), handovers: sum('handovers') };
      onReceiver = sockets.some((s) => !s.direct);
      if (checkReceiver) clearInterval(checkReceiver);
      checkReceiver = setInterval(() => {
        onReceiver ||= sockets.some((s) => !s.direct);
      }, 50);
      checkReceiver.unref();
      start();
    },
    () =>
      report({
        backend: sockets[0]!.backend,
        kernelDrops: sum('kernelDrops') - atStart.kernelDrops,
        batches: sum('batches') - atStart.batches,
        enobufs: sum('enobufs') - atStart.enobufs,
        coalesced: sum('coalesced') - atStart.coalesced,
        onReceiver: onReceiver || sum('handovers') > atStart.handovers,
        gro: sockets[0]!.gro,
        recvBufferBytes: sockets[0]!.getRecvBufferSize(),
      }),
  );
} else {
  process.stderr.write(`unknown driver ${driver}\n`);
  process.exit(2);
}
