// The benchmark harness end to end with tiny runs: the result shape, every driver including
// the C reference, the files it writes. No timing assertions: speed is the harness's output,
// not a test's.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

import { CLI, run } from './helpers';

t.test('uring-udp bench --quick --json', { timeout: 240_000 }, async (t) => {
  const out = t.testdir();
  const result = await run(process.execPath, [CLI, 'bench', '--quick', '--json', '--seconds', '0.3', '--out', out], { timeoutMs: 230_000 });
  t.equal(result.code, 0, result.stderr.slice(-2000));
  const json = JSON.parse(result.stdout);
  t.equal(json.quick, true);
  t.equal(typeof json.kernel, 'string');
  t.match(json.node, /^v\d+/);
  t.ok(json.machine.cpus >= 1);
  const receivers = new Set(json.flood.map((r: { driver: string }) => r.driver));
  t.same([...receivers].sort(), ['c-liburing', 'dgram', 'uring-batch', 'uring-message'], 'every receiver, the C reference included');
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
  t.same([...servers].sort(), ['c-recvmmsg', 'dgram', 'uring-batch', 'uring-message'], 'every echo server');
  for (const row of json.echo) {
    t.ok(row.roundTripsPerSec > 0, `${row.driver} inflight ${row.inflight}: ${row.roundTripsPerSec} round trips/s`);
    t.ok(row.p50Us > 0 && row.p50Us <= row.p99Us && row.p99Us <= row.p999Us, `${row.driver}: percentiles ordered`);
  }
  t.same(new Set(json.watchdog.map((r: { watchdog: string }) => r.watchdog)), new Set(['on', 'off']), 'watchdog on and off');
  for (const row of json.watchdog as Array<{ driver: string; watchdog: string; watchdogCpuPerDatagramUs: number }>) {
    // The watchdog thread is found by its name and timed; with the watchdog off it never starts.
    if (row.watchdog === 'on') t.ok(row.watchdogCpuPerDatagramUs > 0, `${row.driver}: the watchdog thread's CPU measured (${row.watchdogCpuPerDatagramUs} us/datagram)`);
    else t.equal(row.watchdogCpuPerDatagramUs, 0, `${row.driver}: no watchdog thread with the watchdog off`);
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
  t.match(only.stderr, /--only takes a comma-separated list of flood, echo, watchdog; got speed/);
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
