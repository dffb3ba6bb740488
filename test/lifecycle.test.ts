// Rings in worker threads, workers terminated with rings open, processes exiting with rings open.
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import t from 'tap';

import { ROOT, fdCount, run, threadCount } from './helpers';

const LIB = path.join(ROOT, 'lib');

function worker(source: string): Worker {
  return new Worker(`const { Ring } = require(${JSON.stringify(LIB)});\n${source}`, { eval: true });
}

function message(w: Worker): Promise<unknown> {
  return new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
}

t.test('a ring per worker thread works', async (t) => {
  const workers = Array.from({ length: 3 }, () =>
    worker(`
      const { parentPort } = require('node:worker_threads');
      (async () => {
        const ring = new Ring({ entries: 8 });
        await Promise.all(Array.from({ length: 100 }, () => ring.nop()));
        const stats = ring.stats;
        await ring.close();
        parentPort.postMessage(stats.completed);
      })();
    `),
  );
  const results = await Promise.all(workers.map(message));
  t.same(results, [100, 100, 100]);
  await Promise.all(workers.map((w) => w.terminate()));
});

t.test('terminating a worker with rings open and requests in flight neither crashes nor leaks', async (t) => {
  // Warm up once so lazily created process-wide resources do not count as leaks.
  const warm = worker(`require('node:worker_threads').parentPort.postMessage(new Ring().fd)`);
  await message(warm);
  await warm.terminate();
  const fdsBefore = fdCount();
  const threadsBefore = threadCount();
  for (let round = 0; round < 10; round++) {
    const w = worker(`
      const { parentPort } = require('node:worker_threads');
      const rings = Array.from({ length: 3 }, () => new Ring({ entries: 8 }));
      for (const ring of rings) {
        ring.timeout(60000).catch(() => {});
        ring.nop();
      }
      rings[0].poll(0, 'readable').on('error', () => {});
      parentPort.postMessage('ready');
    `);
    t.equal(await message(w), 'ready');
    await w.terminate();
  }
  // Thread exit is asynchronous in the kernel; give /proc a moment to settle.
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(fdCount(), fdsBefore, 'no ring or eventfd descriptor left behind');
  t.equal(threadCount(), threadsBefore, 'every ring thread joined');
});

t.test('terminating a worker while it is inside the addon does not abort the process', async (t) => {
  // worker.terminate() stops JS mid-call: every Node-API call in the method running then fails,
  // and the C++ exception node-addon-api makes of that cannot be rethrown into JS. Without
  // NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS (binding.gyp) it threw again from its own catch
  // handler and std::terminate aborted the whole process, most rounds. In a child, so an abort
  // fails this test instead of killing tap.
  const script = `
    const { Worker } = require('node:worker_threads');
    (async () => {
      for (let round = 0; round < 30; round++) {
        const w = new Worker(\`
          const { Ring, createSocket } = require(${JSON.stringify(LIB)});
          const { parentPort } = require('node:worker_threads');
          const datagrams = Array.from({ length: 64 }, () => Buffer.alloc(16));
          const ring = new Ring({ entries: 8 });
          const socket = createSocket({ type: 'udp4', backend: 'recvmmsg' });
          socket.bind(0, '127.0.0.1', () => {
            const to = { port: socket.address().port, address: '127.0.0.1' };
            parentPort.postMessage('busy');
            for (;;) {
              try { socket.sendBatch(datagrams, to); ring.nop().catch(() => {}); socket.setTTL(9); } catch {}
            }
          });\`, { eval: true });
        await new Promise((resolve) => w.once('message', resolve));
        await new Promise((resolve) => setTimeout(resolve, round % 10));
        await w.terminate();
      }
      console.log('survived');
    })();
  `;
  const result = await run(process.execPath, ['-e', script], { timeoutMs: 60_000 });
  t.equal(result.signal, null, `no abort: ${result.stderr.slice(-500)}`);
  t.equal(result.code, 0);
  t.equal(result.stdout.trim(), 'survived', '30 workers terminated mid-call');
});

t.test('a process exits promptly with rings open', async (t) => {
  const script = `
    const { Ring } = require(${JSON.stringify(LIB)});
    const rings = Array.from({ length: 4 }, () => new Ring({ entries: 8 }));
    rings.forEach((ring) => ring.nop());
    new Ring({ wait: 'busy' });
    setTimeout(() => {}, 50);
  `;
  const natural = await run(process.execPath, ['-e', script], { timeoutMs: 15_000 });
  t.equal(natural.timedOut, false, 'exits when the event loop is empty');
  t.equal(natural.code, 0);

  const withExit = `
    const { Ring } = require(${JSON.stringify(LIB)});
    const ring = new Ring();
    ring.timeout(600000); // keeps the loop alive: only process.exit ends this one
    new Ring({ wait: 'busy' }).poll(0, 'readable');
    setTimeout(() => process.exit(7), 50);
  `;
  const exited = await run(process.execPath, ['-e', withExit], { timeoutMs: 15_000 });
  t.equal(exited.timedOut, false, 'process.exit is not held up by ring threads');
  t.equal(exited.code, 7);

  const unrefd = `
    const { Ring } = require(${JSON.stringify(LIB)});
    const ring = new Ring().unref();
    ring.timeout(600000);
  `;
  const quick = await run(process.execPath, ['-e', unrefd], { timeoutMs: 15_000 });
  t.equal(quick.timedOut, false, 'an unref()ed ring does not keep the process alive');
  t.equal(quick.code, 0);
});

t.test('two copies of the package in one process (two versions in one node_modules tree) share the addon', async (t) => {
  // Each copy's watchdog registers its environment's report channel: the second must not add
  // Node's cleanup hook again (Node aborts on a duplicate hook: CleanupQueue::Add).
  const script = `
    const lib = ${JSON.stringify(LIB)};
    const a = require(lib);
    for (const key of Object.keys(require.cache)) if (key.startsWith(lib)) delete require.cache[key];
    const b = require(lib);
    (async () => {
      const rings = [new a.Ring(), new b.Ring()];
      await Promise.all(rings.map((r) => r.nop()));
      const sockets = [a.createSocket('udp4'), b.createSocket('udp4')];
      await Promise.all(sockets.map((s) => new Promise((r) => s.bind(0, '127.0.0.1', r))));
      await Promise.all(rings.map((r) => r.close()));
      await Promise.all(sockets.map((s) => new Promise((r) => s.close(r))));
      console.log(a.Ring !== b.Ring ? 'two copies' : 'one copy');
    })();`;
  const result = await run(process.execPath, ['-e', script]);
  t.equal(result.code, 0, result.stderr);
  t.equal(result.stdout.trim(), 'two copies', 'both copies worked, and the process exited normally');
});
