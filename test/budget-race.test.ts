// A receiver's budget pause that finds the room already there: JS handed batches over between
// the receiver's check (a completion that did not fit, parked with its buffer) and the pause
// arming its wake-up. No wake-up comes then; the parked completions must still go out and the
// receive be re-armed. Before the fix the socket stopped receiving for good (seen as a rare stall
// of gro: true sockets under GSO floods, docs/benchmark.md 2026-12-03). The hook
// (socket._testLatePause()) makes the pause wait for JS to make that room first, so the race is
// taken every time.
import t from 'tap';

import { createSocket } from '../src/index';
import { bound, closed, lacksKernelFeatures, sleep, until } from './helpers';

process.env.URING_UDP_TEST_HOOKS = '1';

const SIZE = 1200;

function datagram(i: number): Buffer {
  const b = Buffer.alloc(SIZE, i & 0xff);
  b.writeUInt32LE(i, 0);
  return b;
}

for (const gro of [false, true]) {
  t.test(`a budget pause that finds its room already made${gro ? ' (gro: true)' : ''}`, async (t) => {
    // The smallest budget (about 100 datagrams of 1200 bytes, or two coalesced GRO reads), less
    // than any socket buffer holds (even the kernel's 208 KiB default maximum): while this
    // thread sends, the receiver fills it and pauses, however the threads are scheduled.
    // The race is the receiver ring's (multishot recvmsg: parked completions); forced, so that
    // the socket is on it or the test fails.
    if (await lacksKernelFeatures(t, gro ? ['multishot recvmsg', 'UDP_GRO'] : ['multishot recvmsg'])) return;
    const receiver = createSocket({
      type: 'udp4',
      backend: 'recvmsg-multishot',
      hybrid: false,
      receiveBudget: 256 * 1024,
      recvBufferSize: 4 << 20,
      gro,
      ...(gro ? {} : { maxDatagramSize: 1500 }),
    });
    const sender = createSocket({ type: 'udp4' });
    t.teardown(async () => {
      await closed(receiver);
      await closed(sender);
    });
    const seen = new Set<number>();
    let duplicates = 0;
    let slow = true;
    receiver.on('message', (msg: Buffer) => {
      const i = msg.readUInt32LE(0);
      if (seen.has(i)) duplicates++;
      seen.add(i);
      // A slow handler while the flood lasts: the budget fills and the receiver pauses.
      if (slow) {
        const end = process.hrtime.bigint() + 50_000n;
        while (process.hrtime.bigint() < end);
      }
    });
    const port = await bound(receiver, 0, '127.0.0.1');
    await bound(sender, 0, '127.0.0.1');
    t.equal(receiver.backend, 'recvmsg-multishot', 'on the receiver ring');
    t.equal(receiver.direct, false, 'read by a receiver from bind on');
    t.equal(receiver.gro, gro, `GRO ${gro ? 'on' : 'off'}`);
    receiver._testLatePause();
    // 4,000 datagrams at once, far more than the budget holds: the receiver reads them while
    // this thread sends, then waits for the slow handler.
    let sent = 0;
    for (let burst = 0; burst < 40; burst++) {
      const datagrams = Array.from({ length: 100 }, (_, k) => datagram(sent + k));
      sent += sender.sendBatch(datagrams, { port, address: '127.0.0.1' });
    }
    await until(() => receiver.stats.budgetPauses > 0, 'the receiver paused for its budget');
    // What the kernel kept of the flood arrives (the rest it dropped, and counted): until the
    // count stops moving. (A socket buffer smaller than the flood drops some; under GRO the
    // kernel counts a dropped coalesced read once, however many datagrams it held.)
    let last = -1;
    let movedAt = Date.now();
    await until(
      () => {
        if (seen.size !== last) {
          last = seen.size;
          movedAt = Date.now();
        }
        return seen.size + receiver.stats.kernelDrops >= sent || (seen.size > 0 && Date.now() - movedAt > 500);
      },
      'the flood received or counted as dropped',
      20_000,
    );
    slow = false;
    // And the socket goes on receiving: 50 more, paced.
    for (let k = 0; k < 50; k++) {
      sender.send(datagram(sent + k), port, '127.0.0.1');
      await sleep(1);
    }
    await until(() => [...Array(50).keys()].every((k) => seen.has(sent + k)), 'the 50 datagrams after the flood', 10_000);
    t.ok(receiver.stats.budgetPauses > 0, `the budget paused (${receiver.stats.budgetPauses} times)`);
    t.equal(duplicates, 0, 'no datagram twice');
    t.equal(receiver.direct, false, 'still read by its receiver');
    const drops = receiver.stats.kernelDrops;
    if (gro) t.ok(seen.size + drops <= sent + 50 && seen.size > 50, `received + kernel drops (coalesced reads) <= sent (${seen.size} + ${drops} of ${sent + 50})`);
    else t.equal(seen.size + drops, sent + 50, `received + kernel drops = sent (${seen.size} + ${drops})`);
  });
}
