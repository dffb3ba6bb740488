// A benchmark sender in its own process: uring-udp's sendBatch() as fast as it goes, with or
// without UDP GSO (the gso scenario), to one destination.
// node lib/bench/sender.js --port P --size BYTES --seconds S --gso on|off [--batch 640] [--family 4|6]
// Prints one JSON line: {"sent":N,"seconds":S,"rate":N,"cpuUs":N,"gsoSends":N,"gso":bool}.
import { createSocket } from '../udp';
import { argument, cpuMicros } from './protocol';

const port = Number(argument('port', '0'));
const size = Number(argument('size', '1200'));
const seconds = Number(argument('seconds', '3'));
const gso = argument('gso', 'on') === 'on';
const batchSize = Number(argument('batch', '640'));
const family = argument('family', '4') === '6' ? 6 : 4;
const host = family === 6 ? '::1' : '127.0.0.1';

if (!(port > 0 && port < 65536) || !(size >= 0 && size <= 65507) || !(seconds > 0) || !(batchSize >= 1)) {
  process.stderr.write('usage: sender.js --port P --size BYTES --seconds S --gso on|off [--batch N] [--family 4|6]\n');
  process.exit(2);
}

const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4', gso, sendBufferSize: 4 << 20 });
socket.bind(0, host, () => {
  const datagrams = Array.from({ length: batchSize }, () => Buffer.alloc(size, 0xa5));
  const to = { port, address: host };
  const cpuStart = cpuMicros();
  const began = performance.now();
  const end = began + seconds * 1000;
  let sent = 0;
  let pending = datagrams;
  const round = () => {
    // Batches back to back; a full send buffer (fewer sent) waits for the next turn of the loop.
    for (let i = 0; i < 64 && performance.now() < end; i++) {
      const n = socket.sendBatch(pending, to);
      sent += n;
      pending = n === pending.length ? datagrams : pending.slice(n);
      if (n === 0) break;
    }
    if (performance.now() < end) {
      setImmediate(round);
      return;
    }
    const elapsed = (performance.now() - began) / 1000;
    const stats = socket.stats;
    process.stdout.write(
      `${JSON.stringify({ sent, seconds: elapsed, rate: sent / elapsed, cpuUs: cpuMicros() - cpuStart, gsoSends: stats.gsoSends, gso: socket.gso })}\n`,
      () => socket.close(),
    );
  };
  round();
});
