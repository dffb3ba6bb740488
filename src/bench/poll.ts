// The poll scenario's client (issue 17): what single-shot polls (cqOverflow 'prevent') cost
// against multishot ones ('allow'), on this kernel. FDS eventfds, each polled once by one Ring;
// each 'ready' drains its eventfd and writes it again, so every poll has one event in flight at
// a time and the ring delivers as many as it can for SECONDS.
// node lib/bench/poll.js --mode prevent|allow [--fds 64] [--seconds 3]
// Prints one JSON line: mode, polls ('multishot' | 'single-shot'), events, seconds,
// eventsPerSec, cpuUs (this process, every thread), cqOverflows.
import fs from 'node:fs';

import { binding } from '../native';
import { Ring } from '../ring';
import { argument, cpuMicros } from './protocol';

const mode = argument('mode', 'allow');
const fds = Number(argument('fds', '64'));
const seconds = Number(argument('seconds', '3'));
if (mode !== 'prevent' && mode !== 'allow') {
  process.stderr.write(`--mode must be prevent or allow, got ${mode}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const ring = new Ring({ cqOverflow: mode as 'prevent' | 'allow', batch: { count: 64, delayUs: 0 } });
  const one = Buffer.alloc(8);
  one.writeBigUInt64LE(1n);
  const sink = Buffer.alloc(8);
  const eventfds = Array.from({ length: fds }, () => binding.testing.eventfd());
  let events = 0;
  let counting = false;
  const handles = eventfds.map((fd) => {
    const handle = ring.poll(fd, 'readable');
    handle.on('ready', () => {
      if (counting) events++;
      try {
        fs.readSync(fd, sink);
      } catch {
        // EAGAIN: a second event for a readiness already drained (multishot)
      }
      fs.writeSync(fd, one);
    });
    return handle;
  });
  for (const fd of eventfds) fs.writeSync(fd, one);
  await new Promise((r) => setTimeout(r, 300)); // warm-up
  counting = true;
  const cpu0 = cpuMicros();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  counting = false;
  const elapsed = (performance.now() - t0) / 1000;
  const cpuUs = cpuMicros() - cpu0;
  const { cqOverflows } = ring.stats;
  await Promise.all(handles.map((h) => h.cancel()));
  await ring.close();
  for (const fd of eventfds) fs.closeSync(fd);
  process.stdout.write(`${JSON.stringify({ mode, polls: ring.setup.polls, events, seconds: elapsed, eventsPerSec: events / elapsed, cpuUs, cqOverflows })}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
