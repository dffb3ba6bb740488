// The benchmark harness end to end with tiny runs: the result shape, every driver including
// the C reference (and Bun and Deno where they could be installed), every scenario, the files
// it writes, and that it leaves the machine as it found it. No timing assertions: speed is
// the harness's output, not a test's.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

import { CLI, run } from './helpers';

const sysctl = (name: string) => fs.readFileSync(path.join('/proc/sys', ...name.split('.')), 'utf8').trim();

t.test('uring-udp bench --quick --json', { timeout: 280_000 }, async (t) => {
  const out = t.testdir();
  const before = { rmem: sysctl('net.core.rmem_default'), wmem: sysctl('net.core.wmem_default') };
  const result = await run(process.execPath, [CLI, 'bench', '--quick', '--json', '--seconds', '0.3', '--out', out], { timeoutMs: 270_000 });
  t.equal(result.code, 0, result.stderr.slice(-2000));
  const json = JSON.parse(result.stdout);
  t.equal(json.quick, true);
  t.equal(typeof json.kernel, 'string');
  t.match(json.node, /^v\d+/);
  t.ok(json.machine.cpus >= 1);
  t.ok(json.durationSeconds > 0, 'the run says how long it took');
  t.same({ rmem: sysctl('net.core.rmem_default'), wmem: sysctl('net.core.wmem_default') }, before, 'the socket-buffer defaults are back as they were');
  // Bun and Deno: each either ran, with its version, or is noted with the reason.
  const runtimes = new Map<string, { version?: string; error?: string }>(json.runtimes.map((r: { runtime: string }) => [r.runtime, r]));
  const ran: string[] = [];
  for (const name of ['bun', 'deno']) {
    const info = runtimes.get(name);
    t.ok(info, `${name} was asked for`);
    if (info?.version) ran.push(name);
    else t.ok(json.notes.some((n: string) => n.startsWith(`${name} left out: `)), `${name} did not run, and the report says why: ${info?.error}`);
  }
  const receivers = new Set(json.flood.map((r: { driver: string }) => r.driver));
  t.same([...receivers].sort(), ['c-liburing', 'dgram', 'uring-batch', 'uring-message', ...ran].sort(), 'every receiver, the C reference included');
  for (const row of json.flood) {
    t.ok(row.sent > 0, `${row.driver} @ ${row.offered || 'max'}: the sender sent ${row.sent}`);
    t.ok(row.delivered > 0, `${row.driver}: delivered ${row.delivered}`);
    t.ok(row.delivered <= row.sent, `${row.driver}: never more than sent`);
    t.ok(row.cpuPerDatagramUs > 0 && Number.isFinite(row.cpuPerDatagramUs), `${row.driver}: CPU per datagram ${row.cpuPerDatagramUs}`);
    t.ok(row.maxRssKb > 0);
  }
  for (const row of json.flood.filter((r: { driver: string }) => r.driver.startsWith('uring'))) {
    t.equal(row.backend, 'recvmsg-multishot', `${row.driver} ran the multishot backend`);
  }
  const servers = new Set(json.echo.map((r: { driver: string }) => r.driver));
  t.same([...servers].sort(), ['c-recvmmsg', 'dgram', 'uring-batch', 'uring-message', ...ran].sort(), 'every echo server');
  for (const row of json.echo) {
    t.ok(row.roundTripsPerSec > 0, `${row.driver} inflight ${row.inflight}: ${row.roundTripsPerSec} round trips/s`);
    t.ok(row.p50Us > 0 && row.p50Us <= row.p99Us && row.p99Us <= row.p999Us, `${row.driver}: percentiles ordered`);
  }
  t.same(new Set(json.watchdog.map((r: { watchdog: string }) => r.watchdog)), new Set(['on', 'off']), 'watchdog on and off');
  for (const row of json.watchdog as Array<{ driver: string; watchdog: string; watchdogCpuPerDatagramUs: number; onReceiver?: boolean }>) {
    // The watchdog thread is found by its name and timed; with the watchdog off it never starts,
    // nor while only the JS thread reads the socket (the direct path: nothing to watch).
    t.type(row.onReceiver, 'boolean', `${row.driver}: the row says whether a receiver read the socket`);
    if (row.watchdog === 'on' && row.onReceiver) t.ok(row.watchdogCpuPerDatagramUs > 0, `${row.driver}: the watchdog thread's CPU measured (${row.watchdogCpuPerDatagramUs} us/datagram)`);
    else t.equal(row.watchdogCpuPerDatagramUs, 0, `${row.driver}: no watchdog thread (watchdog ${row.watchdog}, ${row.onReceiver ? 'on a receiver' : 'read by its JS thread only'})`);
  }
  // drain: every receiver drained the same full buffer (it needs root to set rmem_default).
  if (process.getuid?.() === 0) {
    t.same(new Set(json.drain.map((r: { driver: string }) => r.driver)), receivers, 'drain: every receiver');
    for (const row of json.drain) {
      t.notOk(row.error, `drain ${row.driver}: ${row.error ?? 'ran'}`);
      t.ok(row.recvBufferBytes >= 64 << 20, `drain ${row.driver}: a ${row.recvBufferBytes}-byte buffer, from rmem_default`);
      t.ok(row.datagrams > 0 && row.drainPerSec > 0 && row.cpuPerDatagramUs > 0, `drain ${row.driver}: ${row.datagrams} datagrams at ${row.drainPerSec}/s`);
    }
    // The same full buffer for each (a datagram more or less where the last one fits or not).
    const backlogs = json.drain.map((r: { datagrams: number }) => r.datagrams);
    t.ok(Math.max(...backlogs) - Math.min(...backlogs) <= Math.max(...backlogs) / 100, `the same backlog for each: ${backlogs.join(', ')}`);
  } else {
    t.ok(json.notes.some((n: string) => n.startsWith('drain left out')), 'drain: noted as needing root');
  }
  // slow-handler: node:dgram's counts add up from /proc/net/udp (a check of the harness's own reading).
  const slow = json.slowHandler as Array<{ driver: string; sent: number; received: number; kernelDrops: number; procDrops: number; peakRssKb: number; handlerSeconds: number; error?: string }>;
  t.same(slow.map((r) => r.driver).sort(), ['dgram', 'uring-batch', 'uring-message'], 'slow-handler: node:dgram, the batch API and \'message\'');
  for (const row of slow) {
    t.notOk(row.error, `slow-handler ${row.driver}: ${row.error ?? 'ran'}`);
    t.ok(row.sent > 0 && row.received > 0 && row.peakRssKb > 0 && row.handlerSeconds > 0, `slow-handler ${row.driver}: ${row.received} of ${row.sent}`);
  }
  const dgramSlow = slow.find((r) => r.driver === 'dgram')!;
  t.equal(dgramSlow.received + dgramSlow.procDrops, dgramSlow.sent, 'slow-handler node:dgram: received + drops = sent');
  for (const row of json.churn) {
    t.notOk(row.error, `churn ${row.driver}: ${row.error ?? 'ran'}`);
    t.ok(row.socketsPerSec > 0 && row.cpuPerSocketUs > 0, `churn ${row.driver}: ${row.socketsPerSec} sockets/s`);
  }
  t.same(json.churn.map((r: { driver: string }) => r.driver).sort(), ['dgram', 'uring-message'], 'churn: both');
  for (const row of json.many) {
    t.ok(row.allReceived, `many ${row.driver}: ${row.received} of ${row.sockets} sockets received (${row.error ?? 'no error'})`);
    t.ok(row.threads > 0 && row.fds >= row.sockets && row.rssKb > 0, `many ${row.driver}: ${row.threads} threads, ${row.fds} fds`);
  }
  t.same(json.many.map((r: { driver: string }) => r.driver).sort(), ['dgram', 'uring-message'], 'many: both');
  t.same(
    new Set(json.spread.map((r: { driver: string; sockets: number }) => `${r.driver} ${r.sockets}`)),
    new Set(['dgram 1', 'dgram 64', 'uring-batch 1', 'uring-batch 64', 'uring-message 1', 'uring-message 64']),
    'spread: 64 sockets and one, per driver',
  );
  for (const row of json.spread) t.ok(row.delivered > 0 && row.delivered <= row.sent, `spread ${row.driver} x${row.sockets}: ${row.delivered} of ${row.sent}`);
  // gro: a GSO sender into the batch API and the C receiver, each with and without GRO.
  t.same(
    new Set(json.gro.map((r: { driver: string; gro: boolean }) => `${r.driver} ${r.gro}`)),
    new Set(['uring-batch false', 'uring-batch true', 'c-liburing false', 'c-liburing true']),
    'gro: both receivers, GRO on and off',
  );
  for (const row of json.gro as Array<{ driver: string; gro: boolean; delivered: number; sent: number; coalesced?: number }>) {
    t.ok(row.delivered > 0 && row.delivered <= row.sent, `gro ${row.driver} ${row.gro}: ${row.delivered} of ${row.sent}`);
    if (row.driver === 'uring-batch') {
      if (row.gro) t.ok(row.coalesced! > 0, `gro uring-batch: datagrams arrived coalesced (${row.coalesced})`);
      else t.equal(row.coalesced, 0, 'gro uring-batch without GRO: nothing coalesced');
    }
  }
  // gso: sendBatch with and without GSO, into the C receiver with and without GRO.
  t.same(
    new Set(json.gso.map((r: { gso: boolean; gro: boolean }) => `${r.gso} ${r.gro}`)),
    new Set(['false false', 'true false', 'false true', 'true true']),
    'gso: GSO on and off, into GRO on and off',
  );
  for (const row of json.gso as Array<{ gso: boolean; gro: boolean; sent: number; delivered: number; gsoSends: number }>) {
    t.ok(row.sent > 0 && row.delivered > 0, `gso ${row.gso} gro ${row.gro}: ${row.delivered} of ${row.sent}`);
    if (row.gso) t.ok(row.gsoSends > 0, `gso: GSO sends went (${row.gsoSends})`);
    else t.equal(row.gsoSends, 0, 'gso off: no GSO send');
  }
  t.ok(fs.existsSync(path.join(out, 'latest-quick.json')), 'JSON results written');
  const svg = fs.readFileSync(path.join(out, 'quick-flood.svg'), 'utf8');
  t.match(svg, /^<svg/, 'an SVG chart');
  t.match(svg, /uring-batch/, 'with the drivers in it');
});

t.test('uring-udp bench rejects bad arguments', async (t) => {
  const result = await run(process.execPath, [CLI, 'bench', '--seconds', 'forever']);
  t.equal(result.code, 2);
  t.match(result.stderr, /--seconds must be in/);
  const only = await run(process.execPath, [CLI, 'bench', '--only', 'flood,speed']);
  t.equal(only.code, 2);
  t.match(only.stderr, /--only takes a comma-separated list of scenarios \(flood, echo, watchdog, drain, slow-handler, churn, many, spread, poll, gro, gso\) and drivers \(.*bun, deno.*\); got speed/);
  const rounds = await run(process.execPath, [CLI, 'bench', '--watchdog-rounds', '0']);
  t.equal(rounds.code, 2);
  t.match(rounds.stderr, /--watchdog-rounds must be an integer in 1..100, got 0/);
  const warmup = await run(process.execPath, [CLI, 'bench', '--warmup', '0']);
  t.equal(warmup.code, 2);
  t.match(warmup.stderr, /--warmup must be in 0.1..60, got 0/);
});

t.test('uring-udp bench --only watchdog: a partial run, kept apart from latest.json', { timeout: 120_000 }, async (t) => {
  const out = t.testdir();
  const result = await run(process.execPath, [CLI, 'bench', '--only', 'watchdog', '--watchdog-rounds', '2', '--seconds', '0.5', '--warmup', '0.25', '--json', '--out', out], { timeoutMs: 100_000 });
  t.equal(result.code, 0, result.stderr);
  const json = JSON.parse(result.stdout);
  t.same([json.flood.length, json.echo.length], [0, 0], 'no flood or echo runs');
  t.equal(json.watchdog.length, 8, 'two off/on pairs per uring-udp receiver');
  t.equal(json.warmupSeconds, 0.25, 'the warm-up asked for');
  t.same([...new Set(json.watchdog.map((r: { round: number }) => r.round))], [1, 2], 'rounds numbered');
  const files = fs.readdirSync(out);
  t.ok(files.some((f) => /^partial-.*\.json$/.test(f)), `written as partial-*.json (${files.join(', ')})`);
  t.notOk(files.includes('latest.json') || files.includes('latest-quick.json'), 'latest.json left alone');
});

t.test('uring-udp bench --only churn,dgram: scenario and driver names narrow the run', { timeout: 120_000 }, async (t) => {
  const out = t.testdir();
  const result = await run(process.execPath, [CLI, 'bench', '--quick', '--only', 'churn,dgram', '--json', '--out', out], { timeoutMs: 100_000 });
  t.equal(result.code, 0, result.stderr);
  const json = JSON.parse(result.stdout);
  t.same(json.scenarios, ['churn']);
  t.same(json.churn.map((r: { driver: string }) => r.driver), ['dgram'], 'node:dgram only');
  t.same([json.flood.length, json.echo.length, json.drain.length, json.runtimes.length], [0, 0, 0, 0], 'nothing else, and no runtime installed');
});

t.test('uring-udp bench --only poll: single-shot (prevent) against multishot (allow) polls, same run', { timeout: 120_000 }, async (t) => {
  const out = t.testdir();
  const result = await run(process.execPath, [CLI, 'bench', '--only', 'poll', '--rounds', '1', '--seconds', '0.5', '--json', '--out', out], { timeoutMs: 100_000 });
  t.equal(result.code, 0, result.stderr);
  const json = JSON.parse(result.stdout);
  t.same(json.scenarios, ['poll']);
  const rows = json.poll as { mode: string; polls: string; eventsPerSec: number; cpuPerEventUs: number; cqOverflows: number; error?: string }[];
  t.same(rows.map((r) => [r.mode, r.polls]), [['allow', 'multishot'], ['prevent', 'single-shot']], 'both modes, as the ring set them up');
  for (const row of rows) {
    t.notOk(row.error, `${row.mode}: ran`);
    t.ok(row.eventsPerSec > 1000 && row.cpuPerEventUs > 0, `${row.mode}: ${row.eventsPerSec} events/s, ${row.cpuPerEventUs.toFixed(2)} us CPU each`);
  }
  t.equal(rows[1]!.cqOverflows, 0, 'prevent: no CQ overflow');
});
