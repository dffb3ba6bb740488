// Benchmark results as a terminal table, a summary normalised to node:dgram = 1x, the targets
// of the project, and SVG charts (vega-lite, rendered headless).
import Table from 'cli-table3';

import type { BenchResults, DrainRow, FloodRow } from './harness';

export interface Target {
  name: string;
  goal: string;
  measured: string;
  met: boolean;
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mib = (kb: number) => `${fmt(kb / 1024, 1)} MiB`;

/** The run with the median of `key` among rows (the lower middle one of an even count). */
function medianRow<T>(rows: T[], key: (row: T) => number): T | undefined {
  const sorted = [...rows].sort((a, b) => key(a) - key(b));
  return sorted[(sorted.length - 1) >> 1];
}

/** Whether a flood run was repeated (it has siblings with the same driver, size and rate). */
function isRepeated(results: BenchResults, row: FloodRow): boolean {
  return results.flood.filter((r) => r.driver === row.driver && r.size === row.size && r.offered === row.offered).length > 1;
}

/** The median-CPU run at the sender's maximum rate for a driver and size. */
function saturation(results: BenchResults, driver: string, size: number): FloodRow | undefined {
  return medianRow(
    results.flood.filter((r) => r.driver === driver && r.size === size && r.offered === 0),
    (r) => r.cpuPerDatagramUs,
  );
}

export function targets(results: BenchResults): Target[] {
  const out: Target[] = [];
  const size = results.flood.some((r) => r.size === 64) ? 64 : results.flood[0]?.size;
  if (size !== undefined) {
    const dgram = saturation(results, 'dgram', size);
    const message = saturation(results, 'uring-message', size);
    const batch = saturation(results, 'uring-batch', size);
    const c = saturation(results, 'c-liburing', size);
    if (batch && c) {
      // The C reference's loss in the same round says whether the sender outran the machine.
      const cSame = results.flood.find((r) => r.driver === 'c-liburing' && r.size === size && r.offered === 0 && r.round === batch.round);
      // Every round's loss is shown: the row is judged on the median-CPU round, as the others.
      const rounds = results.flood
        .filter((r) => r.driver === 'uring-batch' && r.size === size && r.offered === 0)
        .sort((a, b) => (a.round ?? 0) - (b.round ?? 0))
        .map((r) => fmt(r.lossPct, 2));
      const parts = [...(rounds.length > 1 ? [`rounds ${rounds.join(', ')} %`] : []), ...(cSame ? [`C reference ${fmt(cSame.lossPct, 2)} %, same round`] : [])];
      const context = parts.length ? ` (${parts.join('; ')})` : '';
      out.push({ name: `batch API, ${size} B flood`, goal: 'no loss at the sender\'s full rate', measured: `${fmt(batch.lossPct, 2)} % loss${context}`, met: batch.lossPct < 0.01 });
      const ratio = batch.cpuPerDatagramUs / c.cpuPerDatagramUs;
      out.push({ name: `batch API, ${size} B flood`, goal: 'CPU/datagram <= 1.25x the C reference', measured: `${fmt(ratio, 2)}x`, met: ratio <= 1.25 });
    }
    if (message && dgram) {
      const throughput = message.deliveredPerSec / dgram.deliveredPerSec;
      out.push({ name: `'message' API, ${size} B flood`, goal: '>= 2x node:dgram delivered/s', measured: `${fmt(throughput, 2)}x`, met: throughput >= 2 });
      const cpu = message.cpuPerDatagramUs / dgram.cpuPerDatagramUs;
      out.push({ name: `'message' API, ${size} B flood`, goal: '<= 0.5x node:dgram CPU/datagram', measured: `${fmt(cpu, 2)}x`, met: cpu <= 0.5 });
    }
  }
  // The median run: by p50 with 1 in flight, by round trips/s with 64.
  const echo = (driver: string, inflight: number) =>
    medianRow(
      results.echo.filter((r) => r.driver === driver && r.inflight === inflight),
      (r) => (inflight === 1 ? r.p50Us : r.roundTripsPerSec),
    );
  for (const driver of ['uring-message', 'uring-batch']) {
    const one = echo(driver, 1);
    const oneDgram = echo('dgram', 1);
    if (one && oneDgram) {
      out.push({ name: `echo ${driver}, 1 in flight`, goal: 'p50 RTT <= node:dgram', measured: `${fmt(one.p50Us, 1)} us vs ${fmt(oneDgram.p50Us, 1)} us`, met: one.p50Us <= oneDgram.p50Us });
    }
    const many = echo(driver, 64);
    const manyDgram = echo('dgram', 64);
    if (many && manyDgram) {
      const ratio = many.roundTripsPerSec / manyDgram.roundTripsPerSec;
      out.push({ name: `echo ${driver}, 64 in flight`, goal: '>= 2x node:dgram round trips/s', measured: `${fmt(ratio, 2)}x`, met: ratio >= 2 });
    }
  }
  for (const driver of ['uring-batch', 'uring-message'] as const) {
    // Paired rounds: each round ran off and on back to back, so the ratio within a round
    // cancels the drift between rounds; the median of those ratios is the estimate.
    const rows = results.watchdog.filter((r) => r.driver === driver);
    const ratios: number[] = [];
    for (const round of new Set(rows.map((r) => r.round))) {
      const on = rows.find((r) => r.round === round && r.watchdog === 'on');
      const off = rows.find((r) => r.round === round && r.watchdog === 'off');
      if (on && off && off.cpuPerDatagramUs > 0) ratios.push(on.cpuPerDatagramUs / off.cpuPerDatagramUs);
    }
    const offMedian = median(rows.filter((r) => r.watchdog === 'off').map((r) => r.cpuPerDatagramUs));
    const thread = median(rows.filter((r) => r.watchdog === 'on').map((r) => r.watchdogCpuPerDatagramUs));
    if (ratios.length) {
      // Judged on the direct measure: the receiver does the same work with the watchdog on or
      // off (it publishes its observations either way; 'off' only leaves them unread), so the
      // watchdog thread's own CPU time is the whole difference. The paired on/off comparison
      // is shown beside it; its run-to-run spread on a shared 2-core machine is far above 2 %.
      const rise = (median(ratios) - 1) * 100;
      const share = (thread / offMedian) * 100;
      out.push({
        name: `watchdog on vs off, ${driver}`,
        goal: 'CPU/datagram rises <= 2 %',
        measured: `the watchdog thread: +${fmt(share, 2)} % (paired on/off, median of ${ratios.length}: ${rise >= 0 ? '+' : ''}${fmt(rise, 1)} %)`,
        met: share <= 2,
      });
    }
  }
  out.push(...loadTargets(results), ...drainTargets(results), ...slowHandlerTargets(results), ...socketTargets(results), ...gsoTargets(results));
  return out;
}

/** Median of `key` over the rows that pass `filter` (NaN when none). */
function med<T>(rows: T[] | undefined, filter: (row: T) => boolean, key: (row: T) => number): number {
  return median((rows ?? []).filter(filter).map(key));
}

const ratioText = (r: number) => (Number.isFinite(r) ? `${fmt(r, 2)}x` : 'n/a');

/** Issue 21's rows on the flood and echo scenarios: every offered rate, 1200 B loss, memory, echo vs C. */
function loadTargets(results: BenchResults): Target[] {
  const out: Target[] = [];
  const sizes = [...new Set(results.flood.map((r) => r.size))];
  const moderate = [...new Set(results.flood.map((r) => r.offered))].filter((rate) => rate >= 50_000 && rate <= 400_000).sort((a, b) => a - b);
  for (const [driver, limit] of [['uring-batch', 1.5], ['uring-message', 2.5]] as const) {
    for (const size of sizes) {
      const ratios = moderate
        .map((rate) => {
          const at = (d: string) => med(results.flood, (r) => r.driver === d && r.size === size && r.offered === rate, (r) => r.cpuPerDatagramUs);
          return { rate, ratio: at(driver) / at('c-liburing') };
        })
        .filter((x) => Number.isFinite(x.ratio));
      if (!ratios.length) continue;
      const worst = ratios.reduce((a, b) => (b.ratio > a.ratio ? b : a));
      out.push({
        name: `${driver === 'uring-batch' ? 'batch API' : "'message' API"}, ${size} B, offered 50k-400k/s`,
        goal: `CPU/datagram <= ${limit}x the C reference at every rate`,
        measured: `worst ${ratioText(worst.ratio)} at ${fmt(worst.rate)}/s (${ratios.map((x) => `${fmt(x.rate / 1000)}k ${fmt(x.ratio, 2)}`).join(', ')})`,
        met: ratios.every((x) => x.ratio <= limit),
      });
    }
  }
  if (sizes.includes(1200)) {
    const loss = (d: string) => med(results.flood, (r) => r.driver === d && r.size === 1200 && r.offered === 0, (r) => r.lossPct);
    const batch = loss('uring-batch');
    const c = loss('c-liburing');
    if (Number.isFinite(batch) && Number.isFinite(c)) {
      out.push({ name: 'batch API, 1200 B flood', goal: "loss <= the C reference's + 0.1 %", measured: `${fmt(batch, 2)} % vs ${fmt(c, 2)} % (medians)`, met: batch <= c + 0.1 });
    }
  }
  for (const driver of ['uring-batch', 'uring-message']) {
    const parts: string[] = [];
    let met = true;
    for (const size of sizes) {
      const rss = (d: string) => med(results.flood, (r) => r.driver === d && r.size === size && r.offered === 0, (r) => r.maxRssKb);
      const ours = rss(driver);
      const dgram = rss('dgram');
      if (!Number.isFinite(ours) || !Number.isFinite(dgram)) continue;
      parts.push(`${size} B: ${mib(ours)} vs ${mib(dgram)}`);
      met &&= ours <= dgram + 16 * 1024;
    }
    if (parts.length) out.push({ name: `peak RSS, ${driver} flooded`, goal: "<= node:dgram's + 16 MiB", measured: parts.join('; '), met });
  }
  const rtps = (d: string) => med(results.echo, (r) => r.driver === d && r.inflight === 64, (r) => r.roundTripsPerSec);
  const echoBatch = rtps('uring-batch');
  const echoC = rtps('c-recvmmsg');
  if (Number.isFinite(echoBatch) && Number.isFinite(echoC)) {
    out.push({ name: 'echo uring-batch, 64 in flight', goal: ">= 0.8x the C server's round trips/s", measured: `${ratioText(echoBatch / echoC)} (${fmt(echoBatch)} vs ${fmt(echoC)}/s)`, met: echoBatch / echoC >= 0.8 });
  }
  return out;
}

/** The median drain rate and CPU per datagram of a driver and size (with two rounds: their means), failed runs left out. */
function drainMedian(results: BenchResults, driver: string, size: number): { drainPerSec: number; cpuPerDatagramUs: number } | undefined {
  const rows = (results.drain ?? []).filter((r: DrainRow) => r.driver === driver && r.size === size && !r.error && r.drainPerSec > 0);
  if (!rows.length) return undefined;
  return { drainPerSec: median(rows.map((r) => r.drainPerSec)), cpuPerDatagramUs: median(rows.map((r) => r.cpuPerDatagramUs)) };
}

/** Issue 21's drain rows: capacity against the C reference, and 'message' against Bun. */
function drainTargets(results: BenchResults): Target[] {
  const out: Target[] = [];
  for (const size of [...new Set((results.drain ?? []).map((r) => r.size))]) {
    const c = drainMedian(results, 'c-liburing', size);
    for (const driver of ['uring-batch', 'uring-message']) {
      const ours = drainMedian(results, driver, size);
      if (!ours || !c) continue;
      const ratio = ours.drainPerSec / c.drainPerSec;
      out.push({ name: `drain ${driver}, ${size} B`, goal: ">= 1.0x the C reference's datagrams/s", measured: `${ratioText(ratio)} (${fmt(ours.drainPerSec)} vs ${fmt(c.drainPerSec)}/s)`, met: ratio >= 1 });
    }
    const message = drainMedian(results, 'uring-message', size);
    const bun = drainMedian(results, 'bun', size);
    if (message && bun) {
      const rate = message.drainPerSec / bun.drainPerSec;
      out.push({ name: `drain uring-message vs Bun, ${size} B`, goal: ">= 2x Bun's datagrams/s", measured: `${ratioText(rate)} (${fmt(message.drainPerSec)} vs ${fmt(bun.drainPerSec)}/s)`, met: rate >= 2 });
      const cpu = message.cpuPerDatagramUs / bun.cpuPerDatagramUs;
      out.push({ name: `drain uring-message vs Bun, ${size} B`, goal: "CPU/datagram <= 0.4x Bun's", measured: `${ratioText(cpu)} (${fmt(message.cpuPerDatagramUs, 2)} vs ${fmt(bun.cpuPerDatagramUs, 2)} us)`, met: cpu <= 0.4 });
    }
  }
  return out;
}

/** Issue 14's rows: per size and API, every backend, against node:dgram at that size. */
function slowHandlerTargets(results: BenchResults): Target[] {
  const out: Target[] = [];
  const rows = results.slowHandler ?? [];
  for (const size of [...new Set(rows.map((r) => r.size))]) {
    const dgram = rows.find((r) => r.driver === 'dgram' && r.size === size && !r.error);
    for (const driver of ['uring-batch', 'uring-message'] as const) {
      const ours = rows.filter((r) => r.driver === driver && r.size === size);
      if (!ours.length) continue;
      const api = driver === 'uring-batch' ? 'batch API' : "'message' API";
      const failed = (r: (typeof ours)[number]) => `${r.backend} ${r.stuckBytes !== undefined ? 'stopped reading' : 'failed'}`;
      // Judged on the peak measured, even where the run failed later (a handler that never caught up).
      const rss = (r: (typeof ours)[number]) => (r.peakRssKb > 0 ? `${r.backend} ${mib(r.peakRssKb)}${r.capped ? ' (capped)' : ''}` : failed(r));
      if (dgram) {
        out.push({
          name: `slow handler, ${api}, ${fmt(size)} B`,
          goal: "peak RSS <= node:dgram's + 64 MiB",
          measured: `${ours.map(rss).join(', ')} vs ${mib(dgram.peakRssKb)}`,
          met: ours.every((r) => r.peakRssKb > 0 && !r.capped && r.peakRssKb <= dgram.peakRssKb + 64 * 1024),
        });
      }
      out.push({
        name: `slow handler, ${api}, ${fmt(size)} B`,
        goal: 'received + kernelDrops = sent',
        measured: ours.map((r) => (r.error ? failed(r) : `${r.backend} ${r.accounted ? '=' : `${fmt(r.received + r.kernelDrops - r.sent)} off`}`)).join(', '),
        met: ours.every((r) => !r.error && r.accounted),
      });
    }
  }
  return out;
}

/** Issue 16's rows: churn, many, spread. */
function socketTargets(results: BenchResults): Target[] {
  const out: Target[] = [];
  const churn = (d: string, key: 'socketsPerSec' | 'cpuPerSocketUs') => med(results.churn, (r) => r.driver === d && !r.error, (r) => r[key]);
  const rate = churn('uring-message', 'socketsPerSec') / churn('dgram', 'socketsPerSec');
  const cpu = churn('uring-message', 'cpuPerSocketUs') / churn('dgram', 'cpuPerSocketUs');
  if ((results.churn ?? []).some((r) => r.driver === 'uring-message')) {
    out.push({ name: 'churn (bind, 1 round trip, close)', goal: ">= 0.9x node:dgram's sockets/s", measured: ratioText(rate), met: rate >= 0.9 });
    out.push({ name: 'churn (bind, 1 round trip, close)', goal: "CPU/socket <= 1.2x node:dgram's", measured: ratioText(cpu), met: cpu <= 1.2 });
  }
  const many = (results.many ?? []).filter((r) => r.driver === 'uring-message');
  if (many.length) {
    const dgramRss = med(results.many, (r) => r.driver === 'dgram' && !r.error, (r) => r.rssKb);
    const sockets = many[0]!.sockets;
    const failure = many.find((r) => r.error);
    const cores = results.machine.cpus;
    out.push({
      name: `many: ${fmt(sockets)} sockets`,
      goal: 'all bound, every one receives',
      measured: failure ? failure.error! : `${many.map((r) => fmt(r.received)).join(', ')} of ${fmt(sockets)} received`,
      met: many.every((r) => !r.error && r.allReceived),
    });
    const threads = Math.max(...many.map((r) => r.threads));
    out.push({
      name: `many: ${fmt(sockets)} sockets`,
      goal: `receiver threads <= cores + 2 (${cores + 2})`,
      measured: failure ? 'failed' : `${fmt(threads)} threads`,
      met: !failure && threads <= cores + 2,
    });
    const rss = med(many, (r) => !r.error, (r) => r.rssKb);
    out.push({
      name: `many: ${fmt(sockets)} sockets`,
      goal: "RSS <= node:dgram's + 64 MiB",
      measured: failure ? 'failed' : `${mib(rss)} vs ${mib(dgramRss)}`,
      met: !failure && rss <= dgramRss + 64 * 1024,
    });
  }
  const spread = results.spread ?? [];
  const count = Math.max(0, ...spread.map((r) => r.sockets));
  for (const driver of ['uring-batch', 'uring-message']) {
    for (const size of [...new Set(spread.map((r) => r.size))]) {
      const at = (sockets: number, key: 'deliveredPerSec' | 'cpuPerDatagramUs') => med(spread, (r) => r.driver === driver && r.size === size && r.sockets === sockets, (r) => r[key]);
      if (count <= 1 || !Number.isFinite(at(1, 'deliveredPerSec'))) continue;
      const delivered = at(count, 'deliveredPerSec') / at(1, 'deliveredPerSec');
      const cpuRatio = at(count, 'cpuPerDatagramUs') / at(1, 'cpuPerDatagramUs');
      out.push({ name: `${count} sockets flooded at once, ${driver}, ${size} B`, goal: ">= 1.0x one socket's delivered/s", measured: `${ratioText(delivered)} (${fmt(at(count, 'deliveredPerSec'))} vs ${fmt(at(1, 'deliveredPerSec'))}/s)`, met: delivered >= 1 });
      out.push({ name: `${count} sockets flooded at once, ${driver}, ${size} B`, goal: "CPU/datagram <= 1.1x one socket's", measured: `${ratioText(cpuRatio)} (${fmt(at(count, 'cpuPerDatagramUs'), 2)} vs ${fmt(at(1, 'cpuPerDatagramUs'), 2)} us)`, met: cpuRatio <= 1.1 });
    }
  }
  return out;
}

/** Issue 20's rows: GRO on receive (gro scenario), GSO on send (gso scenario). */
function gsoTargets(results: BenchResults): Target[] {
  const out: Target[] = [];
  const gro = results.gro ?? [];
  const batch = (on: boolean, key: 'deliveredPerSec' | 'cpuPerDatagramUs') => med(gro, (r) => r.driver === 'uring-batch' && r.gro === on, (r) => r[key]);
  if (gro.some((r) => r.driver === 'uring-batch' && r.gro) && gro.some((r) => r.driver === 'uring-batch' && !r.gro)) {
    const rate = batch(true, 'deliveredPerSec') / batch(false, 'deliveredPerSec');
    const cpu = batch(true, 'cpuPerDatagramUs') / batch(false, 'cpuPerDatagramUs');
    const name = 'GSO sender into the batch API, 1200 B, with GRO';
    out.push({ name, goal: '>= 3x the datagrams/s without GRO', measured: `${ratioText(rate)} (${fmt(batch(true, 'deliveredPerSec'))} vs ${fmt(batch(false, 'deliveredPerSec'))}/s)`, met: rate >= 3 });
    out.push({ name, goal: '<= 0.5x the CPU/datagram without GRO', measured: `${ratioText(cpu)} (${fmt(batch(true, 'cpuPerDatagramUs'), 3)} vs ${fmt(batch(false, 'cpuPerDatagramUs'), 3)} us)`, met: cpu <= 0.5 });
  }
  const gso = results.gso ?? [];
  for (const [groOn, goal] of [[true, 5], [false, 2]] as const) {
    const at = (on: boolean) => med(gso, (r) => r.gro === groOn && r.gso === on, (r) => r.deliveredPerSec);
    if (!gso.some((r) => r.gro === groOn && r.gso) || !gso.some((r) => r.gro === groOn && !r.gso)) continue;
    const ratio = at(true) / at(false);
    out.push({
      name: `sendBatch 1200 B with GSO, into a receiver ${groOn ? 'with' : 'without'} GRO`,
      goal: `>= ${goal}x the datagrams/s without GSO`,
      measured: `${ratioText(ratio)} (${fmt(at(true))} vs ${fmt(at(false))}/s received)`,
      met: ratio >= goal,
    });
  }
  return out;
}

/** Median of a list (NaN when empty). */
export function median(values: number[]): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function formatResults(results: BenchResults): string {
  const lines: string[] = [];
  lines.push(
    `uring-udp benchmark — ${results.date} — ${results.machine.cpus} x ${results.machine.model}, ${results.machine.memoryGiB} GiB, ` +
      `Linux ${results.kernel}, Node ${results.node}${results.quick ? ' (quick)' : ''}, ${results.seconds} s per run` +
      (results.durationSeconds !== undefined ? `, ${fmt(results.durationSeconds / 60, 1)} min in all` : ''),
  );
  for (const runtime of results.runtimes ?? []) {
    lines.push(runtime.version ? `${runtime.runtime}: ${runtime.version} (${runtime.package})` : `${runtime.runtime}: not run — ${runtime.error}`);
  }
  for (const note of results.notes ?? []) lines.push(`Note: ${note}`);
  const flood = new Table({
    head: ['receiver', 'size', 'offered/s', 'sent/s', 'delivered/s', 'loss', 'CPU/datagram', 'vs dgram', 'vs C', 'peak RSS'],
    style: { head: [], border: [], compact: true },
  });
  for (const row of results.flood) {
    // Ratios against the baseline run of the same round.
    const peer = (driver: string) =>
      results.flood.find((r) => r.driver === driver && r.size === row.size && r.offered === row.offered && (r.round ?? 1) === (row.round ?? 1));
    const dgram = peer('dgram');
    const c = peer('c-liburing');
    flood.push([
      row.driver,
      `${row.size} B`,
      row.offered === 0 ? `max${row.round && isRepeated(results, row) ? ` #${row.round}` : ''}` : fmt(row.offered),
      fmt(row.sentPerSec),
      fmt(row.deliveredPerSec),
      `${fmt(row.lossPct, 1)} %`,
      `${fmt(row.cpuPerDatagramUs, 2)} us`,
      dgram && dgram.deliveredPerSec > 0 ? `${fmt(row.deliveredPerSec / dgram.deliveredPerSec, 2)}x` : '',
      c && c.cpuPerDatagramUs > 0 ? `${fmt(row.cpuPerDatagramUs / c.cpuPerDatagramUs, 2)}x CPU` : '',
      `${fmt(row.maxRssKb / 1024, 1)} MiB`,
    ]);
  }
  if (results.flood.length) lines.push('', 'Flood (delivered datagrams/s; CPU per datagram of the receiver process)', flood.toString());
  if (results.echo.length) {
    const echo = new Table({ head: ['echo server', 'in flight', 'round', 'round trips/s', 'p50', 'p99', 'p99.9', 'lost', 'vs dgram'], style: { head: [], border: [], compact: true } });
    for (const row of results.echo) {
      const dgram = results.echo.find((r) => r.driver === 'dgram' && r.inflight === row.inflight && (r.round ?? 1) === (row.round ?? 1));
      echo.push([
        row.driver,
        row.inflight,
        row.round ?? 1,
        fmt(row.roundTripsPerSec),
        `${fmt(row.p50Us, 1)} us`,
        `${fmt(row.p99Us, 1)} us`,
        `${fmt(row.p999Us, 1)} us`,
        row.lost,
        dgram && dgram.roundTripsPerSec > 0 ? `${fmt(row.roundTripsPerSec / dgram.roundTripsPerSec, 2)}x` : '',
      ]);
    }
    lines.push('', 'Echo (C client; round-trip time)', echo.toString());
  }
  if (results.watchdog.length) {
    const wd = new Table({
      head: ['receiver', 'round', 'watchdog', 'offered/s', 'delivered/s', 'loss', 'CPU/datagram', 'watchdog thread'],
      style: { head: [], border: [], compact: true },
    });
    for (const row of results.watchdog) {
      wd.push([
        row.driver,
        row.round,
        row.watchdog,
        fmt(row.offered),
        fmt(row.deliveredPerSec),
        `${fmt(row.lossPct, 2)} %`,
        `${fmt(row.cpuPerDatagramUs, 3)} us`,
        row.watchdog === 'on' ? `${fmt(row.watchdogCpuPerDatagramUs * 1000, 2)} ns` : '-',
      ]);
    }
    lines.push('', 'Watchdog overhead (64 B flood at the sender maximum)', wd.toString());
  }
  if (results.drain?.length) {
    const drain = new Table({
      head: ['receiver', 'size', 'round', 'buffer', 'queued', 'fill', 'datagrams', 'drain/s', 'vs C', 'CPU/datagram', 'vs C'],
      style: { head: [], border: [], compact: true },
    });
    for (const row of results.drain) {
      const c = results.drain.find((r) => r.driver === 'c-liburing' && r.size === row.size && r.round === row.round && !r.error);
      drain.push([
        row.driver,
        `${row.size} B`,
        row.round,
        `${fmt(row.recvBufferBytes / 2 ** 20)} MiB`,
        `${fmt(row.queuedBytes / 2 ** 20)} MiB`,
        `${fmt(row.fillSeconds, 1)} s`,
        row.error ? `failed: ${row.error}` : fmt(row.datagrams),
        row.error ? '' : fmt(row.drainPerSec),
        c && !row.error ? `${fmt(row.drainPerSec / c.drainPerSec, 2)}x` : '',
        row.error ? '' : `${fmt(row.cpuPerDatagramUs, 2)} us`,
        c && !row.error ? `${fmt(row.cpuPerDatagramUs / c.cpuPerDatagramUs, 2)}x CPU` : '',
      ]);
    }
    lines.push('', 'Drain (receiver stopped while its socket buffer fills, then timed emptying it; datagrams/s between the first and last 64th)', drain.toString());
  }
  if (results.slowHandler?.length) {
    const slow = new Table({
      head: ['receiver', 'backend', 'size', 'sent', 'received', 'kernel drops', 'sum = sent', 'peak RSS', 'RSS drained', 'RSS later', 'handler', 'per handler-s', 'loop stall', ''],
      style: { head: [], border: [], compact: true },
    });
    for (const row of results.slowHandler) {
      if (row.error && row.stuckBytes === undefined) {
        const peak = row.peakRssKb > 0 ? `; peak RSS ${mib(row.peakRssKb)}${row.capped ? ' (capped: sender stopped)' : ''}` : '';
        slow.push([row.driver, row.backend, `${fmt(row.size)} B`, { colSpan: 11, content: `failed: ${row.error}${peak}` }]);
        continue;
      }
      slow.push([
        row.driver,
        row.backend,
        `${fmt(row.size)} B`,
        fmt(row.sent),
        fmt(row.received),
        fmt(row.kernelDrops),
        row.accounted ? 'yes' : `no (${fmt(row.received + row.kernelDrops - row.sent)})`,
        `${mib(row.peakRssKb)}${row.capped ? ' (capped: sender stopped)' : ''}`,
        mib(row.rssDrainedKb),
        mib(row.rssAfterKb),
        `${fmt(row.handlerSeconds, 2)} s`,
        fmt(row.perHandlerSecond),
        `${fmt(row.longestStallMs)} ms`,
        row.error ?? '',
      ]);
    }
    lines.push('', 'Slow handler (onBatch 5 ms per batch; \'message\' 2 ms every 100; C sender at its maximum; recvBufferSize 8 MiB)', slow.toString());
  }
  if (results.churn?.length) {
    const churn = new Table({ head: ['client', 'round', 'sockets', 'sockets/s', 'CPU/socket', 'vs dgram', 'lost', 'threads after', 'fds after'], style: { head: [], border: [], compact: true } });
    for (const row of results.churn) {
      const dgram = results.churn.find((r) => r.driver === 'dgram' && r.round === row.round && !r.error);
      churn.push(
        row.error
          ? [row.driver, row.round, row.sockets, { colSpan: 6, content: `failed: ${row.error}` }]
          : [
              row.driver,
              row.round,
              fmt(row.sockets),
              fmt(row.socketsPerSec),
              `${fmt(row.cpuPerSocketUs, 0)} us`,
              dgram ? `${fmt(row.socketsPerSec / dgram.socketsPerSec, 2)}x, ${fmt(row.cpuPerSocketUs / dgram.cpuPerSocketUs, 2)}x CPU` : '',
              row.lost,
              row.threadsAfter,
              row.fdsAfter,
            ],
      );
    }
    lines.push('', 'Churn (create, send one query, receive the answer, close; in sequence, against a node:dgram echo server)', churn.toString());
  }
  if (results.poll?.length) {
    const poll = new Table({ head: ['cqOverflow', 'round', 'polls', 'eventfds', 'events/s', 'CPU/event', 'vs multishot', 'CQ overflows'], style: { head: [], border: [], compact: true } });
    for (const row of results.poll) {
      const multi = results.poll.find((r) => r.mode === 'allow' && r.round === row.round && !r.error);
      poll.push(
        row.error
          ? [row.mode, row.round, { colSpan: 6, content: `failed: ${row.error}` }]
          : [
              row.mode,
              row.round,
              row.polls,
              row.fds,
              fmt(row.eventsPerSec),
              `${fmt(row.cpuPerEventUs, 2)} us`,
              multi && row.mode !== 'allow' ? `${fmt(row.eventsPerSec / multi.eventsPerSec, 2)}x, ${fmt(row.cpuPerEventUs / multi.cpuPerEventUs, 2)}x CPU` : '',
              row.cqOverflows,
            ],
      );
    }
    lines.push('', "ring.poll() events (each 'ready' drains its eventfd and writes it again; one Ring)", poll.toString());
  }
  if (results.many?.length) {
    const many = new Table({
      head: ['receiver', 'round', 'sockets', 'fd limit', 'bound', 'received', 'threads', 'fds', 'RSS', 'bind', 'deliver', 'close'],
      style: { head: [], border: [], compact: true },
    });
    for (const row of results.many) {
      many.push(
        row.error
          ? [
              row.driver,
              row.round,
              fmt(row.sockets),
              fmt(row.fdLimit),
              fmt(row.bound),
              '-',
              row.threads > 0 ? fmt(row.threads) : '-',
              row.fds > 0 ? fmt(row.fds) : '-',
              row.rssKb > 0 ? mib(row.rssKb) : '-',
              { colSpan: 3, content: `failed: ${row.error}` },
            ]
          : [
              row.driver,
              row.round,
              fmt(row.sockets),
              fmt(row.fdLimit),
              fmt(row.bound),
              fmt(row.received),
              fmt(row.threads),
              fmt(row.fds),
              mib(row.rssKb),
              `${fmt(row.bindMs)} ms`,
              `${fmt(row.deliverMs)} ms`,
              `${fmt(row.closeMs)} ms`,
            ],
      );
    }
    lines.push('', 'Many (bound sockets in one process, one datagram to each)', many.toString());
  }
  if (results.spread?.length) {
    const spread = new Table({
      head: ['receiver', 'sockets', 'size', 'round', 'sent/s', 'delivered/s', 'loss', 'CPU/datagram', 'vs 1 socket', 'peak RSS'],
      style: { head: [], border: [], compact: true },
    });
    for (const row of results.spread) {
      const one = results.spread.find((r) => r.driver === row.driver && r.size === row.size && r.round === row.round && r.sockets === 1);
      spread.push([
        row.driver,
        row.sockets,
        `${row.size} B`,
        row.round,
        fmt(row.sentPerSec),
        fmt(row.deliveredPerSec),
        `${fmt(row.lossPct, 1)} %`,
        `${fmt(row.cpuPerDatagramUs, 2)} us`,
        one && row.sockets > 1 ? `${fmt(row.deliveredPerSec / one.deliveredPerSec, 2)}x, ${fmt(row.cpuPerDatagramUs / one.cpuPerDatagramUs, 2)}x CPU` : '',
        mib(row.maxRssKb),
      ]);
    }
    lines.push('', 'Spread (one receiver process, its sockets flooded at once by one sender, round-robin, at its maximum)', spread.toString());
  }
  if (results.gro?.length) {
    const table = new Table({
      head: ['receiver', 'GRO', 'round', 'sent/s', 'delivered/s', 'loss', 'CPU/datagram', 'coalesced'],
      style: { head: [], border: [], compact: true },
    });
    for (const row of results.gro) {
      table.push([
        row.driver,
        row.gro ? 'on' : 'off',
        row.round,
        fmt(row.sentPerSec),
        fmt(row.deliveredPerSec),
        `${fmt(row.lossPct, 1)} %`,
        `${fmt(row.cpuPerDatagramUs, 3)} us`,
        row.coalesced === undefined ? '' : fmt(row.coalesced),
      ]);
    }
    lines.push('', 'GRO (1200 B from the C sender, 40 datagrams per GSO send, at its maximum)', table.toString());
  }
  if (results.gso?.length) {
    const table = new Table({
      head: ['sendBatch', 'receiver GRO', 'round', 'sent/s', 'sender CPU/datagram', 'delivered/s', 'GSO sends'],
      style: { head: [], border: [], compact: true },
    });
    for (const row of results.gso) {
      table.push([
        row.gso ? 'GSO' : 'no GSO',
        row.gro ? 'on' : 'off',
        row.round,
        fmt(row.sentPerSec),
        `${fmt(row.senderCpuPerDatagramUs, 3)} us`,
        fmt(row.deliveredPerSec),
        fmt(row.gsoSends),
      ]);
    }
    lines.push('', 'GSO (sendBatch of 640 datagrams of 1200 B, back to back, into the C liburing receiver)', table.toString());
  }
  const t = targets(results);
  if (t.length) {
    const table = new Table({ head: ['target', 'goal', 'measured', ''], style: { head: [], border: [], compact: true } });
    for (const row of t) table.push([row.name, row.goal, row.measured, row.met ? 'met' : 'MISSED']);
    lines.push('', 'Targets (ratios from this run; repeated runs: the median run)', table.toString());
  }
  return `${lines.join('\n')}\n`;
}

/** The README summary: each receiver at saturation normalised to node:dgram = 1x. */
export function summaryMarkdown(results: BenchResults): string {
  const rows: string[] = ['| receiver | size | delivered/s at saturation | vs node:dgram | CPU per datagram | vs node:dgram |', '|---|---|---|---|---|---|'];
  for (const size of [...new Set(results.flood.map((r) => r.size))]) {
    const dgram = saturation(results, 'dgram', size);
    for (const driver of ['dgram', 'uring-message', 'uring-batch', 'c-liburing', 'bun', 'deno']) {
      const row = saturation(results, driver, size);
      if (!row || !dgram) continue;
      rows.push(
        `| ${driver} | ${size} B | ${fmt(row.deliveredPerSec)} | ${fmt(row.deliveredPerSec / dgram.deliveredPerSec, 2)}x | ` +
          `${fmt(row.cpuPerDatagramUs, 2)} us | ${fmt(row.cpuPerDatagramUs / dgram.cpuPerDatagramUs, 2)}x |`,
      );
    }
  }
  return rows.join('\n');
}

// vega and vega-lite are ES modules; keep a real dynamic import in this CommonJS build.
const importModule = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Record<string, unknown>>;

/** SVG charts: delivered vs offered per receiver, and CPU per datagram per receiver. */
export async function charts(results: BenchResults): Promise<{ flood: string; cpu: string } | null> {
  let vega: any;
  let vegaLite: any;
  try {
    vega = await importModule('vega');
    vegaLite = await importModule('vega-lite');
  } catch {
    return null; // charts need the dev dependencies vega and vega-lite
  }
  const render = async (spec: object): Promise<string> => {
    const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
    return view.toSVG();
  };
  // One point per driver, size and rate: the median run where a run was repeated.
  const charted = results.flood.filter((r) => r.offered !== 0 || r === saturation(results, r.driver, r.size));
  const data = charted.map((r) => ({ receiver: r.driver, size: `${r.size} B`, offered: r.sentPerSec, delivered: r.deliveredPerSec, cpu: r.cpuPerDatagramUs, target: r.offered }));
  const flood = await render({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `Delivered vs offered datagrams/s (${results.kernel}, Node ${results.node})`,
    data: { values: data },
    facet: { column: { field: 'size', type: 'nominal', title: 'payload' } },
    spec: {
      width: 320,
      height: 240,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'offered', type: 'quantitative', title: 'offered (sent) datagrams/s' },
        y: { field: 'delivered', type: 'quantitative', title: 'delivered datagrams/s' },
        color: { field: 'receiver', type: 'nominal' },
      },
    },
  });
  const cpu = await render({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Receiver CPU per datagram at the sender maximum (lower is better)',
    data: { values: data.filter((d) => d.target === 0) },
    facet: { column: { field: 'size', type: 'nominal', title: 'payload' } },
    spec: {
      width: 260,
      height: 220,
      mark: 'bar',
      encoding: {
        x: { field: 'receiver', type: 'nominal', sort: ['dgram', 'uring-message', 'uring-batch', 'c-liburing', 'bun', 'deno'], title: null },
        y: { field: 'cpu', type: 'quantitative', title: 'CPU microseconds per datagram' },
        color: { field: 'receiver', type: 'nominal', legend: null },
      },
    },
  });
  return { flood, cpu };
}
