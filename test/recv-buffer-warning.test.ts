// The kernel caps SO_RCVBUF at net.core.rmem_max without a word (a VM's 208 KiB default lost
// bursts that fit on the host): a recvBufferSize the kernel cut is said once per process, naming
// net.core.rmem_max. Nothing is lowered here: a size above this machine's rmem_max is asked for
// (the cap applies to root too; only SO_RCVBUFFORCE passes it).
import fs from 'node:fs';
import t from 'tap';

import { createSocket } from '../src/index';
import { bound, closed } from './helpers';

const rmemMax = Number(fs.readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim());

t.test('a recvBufferSize the kernel caps warns once, naming net.core.rmem_max', async (t) => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => {
    if ((w as NodeJS.ErrnoException).code === 'URING_UDP_RECV_BUFFER_CAPPED') warnings.push(w);
  };
  process.on('warning', onWarning);
  t.teardown(() => void process.off('warning', onWarning));
  const flush = () => new Promise((resolve) => setImmediate(resolve));

  // Within the cap: the kernel keeps it (and reports twice it), nothing said.
  const fits = createSocket({ type: 'udp4', recvBufferSize: Math.min(rmemMax, 1 << 20) });
  await bound(fits, 0, '127.0.0.1');
  t.equal(fits.getRecvBufferSize(), 2 * Math.min(rmemMax, 1 << 20), 'Linux reports twice the size kept');
  fits.setRecvBufferSize(Math.min(rmemMax, 1 << 19));
  await flush();
  t.equal(warnings.length, 0, 'no warning for sizes within net.core.rmem_max');

  // Above it: capped, and said.
  const asked = rmemMax * 2;
  const capped = createSocket({ type: 'udp4', recvBufferSize: asked });
  await bound(capped, 0, '127.0.0.1');
  await flush();
  t.equal(capped.getRecvBufferSize(), 2 * rmemMax, `the kernel kept rmem_max (${rmemMax}), not ${asked}`);
  t.equal(warnings.length, 1, 'one warning');
  t.match(warnings[0]?.message ?? '', /net\.core\.rmem_max/, 'naming net.core.rmem_max');
  t.match(warnings[0]?.message ?? '', new RegExp(`recvBufferSize ${asked} was capped by the kernel to ${rmemMax}`), 'with what was asked and kept');

  // Once per process: setRecvBufferSize() past the cap, another socket: no second warning.
  capped.setRecvBufferSize(asked + 4096);
  const again = createSocket({ type: 'udp4', recvBufferSize: asked });
  await bound(again, 0, '127.0.0.1');
  await flush();
  t.equal(warnings.length, 1, 'said once');
  await Promise.all([closed(fits), closed(capped), closed(again)]);
});
