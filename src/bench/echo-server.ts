// A benchmark echo server in its own process.
// node lib/bench/echo-server.js --driver dgram|uring-message|uring-batch [--family 4|6]
import dgram from 'node:dgram';

import { createSocket } from '../udp';
import { argument, serve } from './protocol';

const driver = argument('driver', 'dgram');
const family = argument('family', '4') === '6' ? 6 : 4;
const type = family === 6 ? 'udp6' : 'udp4';
const host = family === 6 ? '::1' : '127.0.0.1';
const BUFFER = 4 << 20; // as the C echo server and client
let echoed = 0;

if (driver === 'dgram') {
  const socket = dgram.createSocket({ type, recvBufferSize: BUFFER, sendBufferSize: BUFFER });
  socket.on('message', (msg, rinfo) => {
    echoed++;
    socket.send(msg, rinfo.port, rinfo.address);
  });
  socket.bind(0, host, () => serve(socket.address().port, () => (echoed = 0), () => ({ echoed })));
} else if (driver === 'uring-message' || driver === 'uring-batch') {
  const socket = createSocket({ type, recvBufferSize: BUFFER, sendBufferSize: BUFFER });
  if (driver === 'uring-batch') {
    // One sendmmsg per received batch, straight out of the batch's memory.
    const payloads: Buffer[] = [];
    const senders: Array<{ port: number; address: string }> = [];
    socket.onBatch((batch) => {
      payloads.length = 0;
      senders.length = 0;
      for (let i = 0; i < batch.count; i++) {
        payloads.push(batch.payload(i));
        senders.push({ port: batch.port(i), address: batch.address(i) });
      }
      echoed += socket.sendBatch(payloads, senders);
    });
  } else {
    socket.on('message', (msg, rinfo) => {
      echoed++;
      socket.send(msg, rinfo.port, rinfo.address);
    });
  }
  socket.bind(0, host, () => serve(socket.address().port, () => (echoed = 0), () => ({ echoed })));
} else {
  process.stderr.write(`unknown driver ${driver}\n`);
  process.exit(2);
}
