#!/usr/bin/env node
// uring-udp command line: probe, doctor.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

import Table from 'cli-table3';

import { probe, type ProbeResult } from './probe';

const USAGE = `Usage: uring-udp <command> [options]

Commands:
  probe [--json]    what this kernel's io_uring supports and which known bugs affect it
  doctor [--json]   a readable report: the probe, a short check of this package's ring, and a
                    few seconds of each hang reproducer on this kernel
  repro [--scenario overflow-flush-lock|sqpoll-iowq-max-workers] [--variant poll|recv|nop]
        [--duration SECONDS] [--stuck-ms MS] [--json] [--out FILE]
                    try to make this kernel hang in a known io_uring bug; the watchdog is the
                    detector. Exit 3: hung (report written first), 0: no hang, 2: cannot run
  bench [--quick] [--json] [--out DIR] [--seconds N] [--only SCENARIO,DRIVER,...]
        [--rounds N] [--drain-rounds N] [--watchdog-rounds N] [--warmup SECONDS]
                    uring-udp against node:dgram, Bun, Deno and C receivers, side by side;
                    scenarios flood, echo, watchdog, drain, slow-handler, churn, many,
                    spread, poll, gro, gso; --only names scenarios, drivers (dgram, uring-message,
                    uring-batch, c-liburing, c-recvmmsg, bun, deno) or both; results (JSON,
                    SVG charts) go to DIR (default bench/results)
  echo --port N [--host ADDRESS] [--type udp4|udp6] [--batch]
                    a UDP echo server: answers every datagram with itself until SIGINT/SIGTERM
  help              this text

Exit codes: 0 ok, 1 failure, 2 bad arguments or io_uring unavailable, 3 repro: the kernel hung.`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'probe':
      return cmdProbe(rest);
    case 'doctor':
      return cmdDoctor(rest);
    case 'echo':
      return cmdEcho(rest);
    case 'repro':
      return cmdRepro(rest);
    case 'bench':
      return cmdBench(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: false, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

async function cmdProbe(args: string[]): Promise<number> {
  const { values } = parse(args, { json: { type: 'boolean', default: false } });
  const result = await probe();
  if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else process.stdout.write(formatProbe(result));
  return result.usable ? 0 : 2;
}

const VERDICT_TEXT: Record<string, string> = {
  affected: 'AFFECTED',
  fixed: 'fixed',
  'not-affected': 'not affected',
  unknown: 'unknown',
};

export function formatProbe(result: ProbeResult): string {
  const lines: string[] = [];
  const k = result.kernel;
  lines.push(`Kernel: ${k.release}${k.upstreamString ? ` (upstream ${k.upstreamString}, ${k.distro})` : ` (${k.distro})`}`);
  lines.push(`  ${k.note}`);
  if (!result.usable) {
    lines.push('', `io_uring: NOT USABLE — ${result.reason ?? 'unknown reason'}`);
  } else {
    lines.push('', 'io_uring: usable');
    const features = new Table({ head: ['feature', 'supported', 'why not'], style: { head: [], border: [], compact: true } });
    for (const [name, f] of Object.entries(result.features)) {
      features.push([name, f.supported ? 'yes' : 'no', f.supported ? '' : (f.code ?? '')]);
    }
    lines.push(features.toString());
    lines.push(`Opcodes (${result.opcodes.length}): ${result.opcodes.join(' ')}`);
  }
  const bugs = new Table({ head: ['known bug', 'verdict', 'why'], style: { head: [], border: [], compact: true }, colWidths: [26, 14, 60], wordWrap: true });
  for (const bug of result.bugs) bugs.push([bug.id, VERDICT_TEXT[bug.verdict] ?? bug.verdict, bug.reason]);
  lines.push('', bugs.toString());
  const guards = new Table({ head: ['protection', 'state', 'why'], style: { head: [], border: [], compact: true }, colWidths: [26, 7, 67], wordWrap: true });
  for (const p of result.protections) guards.push([p.name, p.state, p.why]);
  lines.push('', guards.toString(), '');
  return lines.join('\n');
}

async function cmdDoctor(args: string[]): Promise<number> {
  const { values } = parse(args, { json: { type: 'boolean', default: false } });
  const result = await probe();
  const report: Record<string, unknown> = { probe: result };
  if (!values.json) {
    process.stdout.write('uring-udp doctor\n================\n\n');
    process.stdout.write(formatProbe(result));
  }
  let ok = result.usable;
  if (result.usable) {
    const check = await ringCheck();
    report.ringCheck = check;
    ok = ok && check.ok;
    if (!values.json) {
      process.stdout.write(
        check.ok
          ? `Ring check: ${check.requests} requests completed through the ring thread in ${check.ms.toFixed(1)} ms ` +
              `(setup: ${check.setup}).\n`
          : `Ring check FAILED: ${check.error}\n`,
      );
    }
  }
  if (result.usable) {
    // A few seconds of each reproducer on this kernel: the known hangs, tried for real.
    const { reproduce, SCENARIOS } = await import('./repro');
    const repros = [];
    for (const scenario of SCENARIOS) {
      const repro = await reproduce({ scenario, durationMs: 2000 });
      repros.push(repro);
      if (!values.json) {
        const e = repro.evidence;
        const exercised = scenario === 'overflow-flush-lock' ? `CQ overflow seen ${e.overflowFlagSeen} times` : `${e.registers} IOWQ_MAX_WORKERS registrations against a busy SQPOLL ring`;
        process.stdout.write(
          `Repro ${scenario}: ${repro.outcome === 'hang' ? 'HANG — this kernel has the bug' : repro.outcome === 'no-hang' ? 'no hang' : `could not run (${repro.reason})`}` +
            ` in ${(e.durationMs / 1000).toFixed(1)} s (${exercised}).\n`,
        );
      }
      if (repro.outcome === 'hang') {
        if (!values.json) process.stdout.write(formatRepro(repro));
        else process.stdout.write(`${JSON.stringify({ ...report, repro: repros }, null, 2)}\n`);
        process.exit(3); // the stuck ring can never be closed
      }
    }
    report.repro = repros;
  }
  const affected = result.bugs.filter((b) => b.verdict === 'affected');
  if (!values.json) {
    if (affected.length > 0) {
      process.stdout.write(
        `\nWARNING: this kernel is affected by ${affected.map((b) => b.id).join(', ')}. ` +
          "See docs/kernel-bugs.md: upgrade the kernel. Until then the protections above are what the package does (Rings default to cqOverflow 'prevent').\n",
      );
    }
    process.stdout.write(`\n${ok ? 'OK' : 'PROBLEMS FOUND'}\n`);
  } else {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  }
  return ok ? 0 : result.usable ? 1 : 2;
}

async function ringCheck(): Promise<{ ok: boolean; requests: number; ms: number; setup: string; error?: string }> {
  const { Ring } = await import('./ring');
  const started = performance.now();
  const requests = 1000;
  let ring;
  try {
    ring = new Ring({ entries: 64 });
    const setup = Object.entries(ring.setup)
      .filter(([, on]) => on === true)
      .map(([name]) => name)
      .join(', ');
    await Promise.all(Array.from({ length: requests }, () => ring!.nop()));
    await ring.timeout(1);
    await ring.close();
    return { ok: true, requests: requests + 1, ms: performance.now() - started, setup: setup || 'plain' };
  } catch (error) {
    await ring?.close();
    return { ok: false, requests: 0, ms: performance.now() - started, setup: '', error: (error as Error).message };
  }
}

async function cmdRepro(args: string[]): Promise<number> {
  const { values } = parse(args, {
    scenario: { type: 'string', default: 'overflow-flush-lock' },
    variant: { type: 'string', default: 'poll' },
    duration: { type: 'string', default: '10' },
    'stuck-ms': { type: 'string', default: '1000' },
    json: { type: 'boolean', default: false },
    out: { type: 'string' },
  });
  const { reproduce, SCENARIOS, VARIANTS } = await import('./repro');
  if (!(SCENARIOS as readonly string[]).includes(values.scenario)) {
    throw new UsageError(`--scenario must be one of ${SCENARIOS.join(', ')}, got ${values.scenario}`);
  }
  if (!(VARIANTS as readonly string[]).includes(values.variant)) {
    throw new UsageError(`--variant must be one of ${VARIANTS.join(', ')}, got ${values.variant}`);
  }
  const seconds = Number(values.duration);
  if (!Number.isFinite(seconds) || seconds < 0.1 || seconds > 86400) throw new UsageError(`--duration must be seconds in 0.1..86400, got ${values.duration}`);
  const stuckMs = Number(values['stuck-ms']);
  if (!Number.isInteger(stuckMs) || stuckMs < 50) throw new UsageError(`--stuck-ms must be an integer >= 50, got ${values['stuck-ms']}`);
  const result = await reproduce({
    scenario: values.scenario as 'overflow-flush-lock',
    variant: values.variant as import('./repro').Variant,
    durationMs: Math.round(seconds * 1000),
    stuckMs,
  });
  // Written synchronously, before anything that could wait on a stuck thread: a process
  // with a thread in state D can never be reaped.
  const json = `${JSON.stringify(result, null, 2)}\n`;
  if (values.out) fs.writeFileSync(values.out, json);
  process.stdout.write(values.json ? json : formatRepro(result));
  const code = result.outcome === 'hang' ? 3 : result.outcome === 'cannot-run' ? 2 : 0;
  if (result.outcome === 'hang') {
    // Do not return through the normal path: closing the stuck ring would wait forever.
    process.exit(code);
  }
  return code;
}

export function formatRepro(result: import('./repro').ReproResult): string {
  const lines: string[] = [];
  const k = result.kernel;
  lines.push(`uring-udp repro: ${result.scenario}${result.variant ? ` (${result.variant})` : ''}`);
  lines.push(`Kernel ${k.release}${k.version ? ` (upstream ${k.version})` : ''}: the probe says ${k.verdict} — ${k.reason}`);
  const e = result.evidence;
  if (result.outcome === 'cannot-run') {
    lines.push(`Cannot run: ${result.reason}`);
  } else if (result.outcome === 'hang' && result.stall) {
    const s = result.stall;
    lines.push(`HANG: the ring thread is stuck after ${result.timeToHangMs} ms (watchdog: stuck for ${Math.round(s.ageMs)} ms)`);
    lines.push(`  thread ${s.thread.tid}: state ${s.thread.state}, wchan ${s.thread.wchan || '?'}, ${s.thread.inKernel ? 'inside' : 'outside'} io_uring_enter`);
    lines.push(`  syscall: ${s.thread.syscall || '?'}`);
    if (s.thread.stack) lines.push('  stack:', ...s.thread.stack.split('\n').map((l) => `    ${l}`));
    if (s.ring.fdinfo.length) lines.push('  fdinfo:', ...s.ring.fdinfo.slice(0, 40).map((l) => `    ${l}`));
  } else {
    lines.push(`No hang in ${(e.durationMs / 1000).toFixed(1)} s.`);
  }
  lines.push(
    `Trigger exercised: overflow seen ${e.overflowFlagSeen} times (IORING_SQ_CQ_OVERFLOW), kernel overflow counter ${e.cqOverflows ?? 'not read'}, ` +
      `${e.enters} enters, ${e.rearms} re-arms, ${e.completed} completions` +
      (e.datagramsSent ? `, ${e.datagramsSent} datagrams sent` : '') +
      (e.registers ? `, ${e.registers} IOWQ_MAX_WORKERS registrations` : ''),
  );
  return `${lines.join('\n')}\n`;
}

async function cmdBench(args: string[]): Promise<number> {
  const { values } = parse(args, {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    out: { type: 'string' },
    seconds: { type: 'string' },
    only: { type: 'string' },
    rounds: { type: 'string' },
    'drain-rounds': { type: 'string' },
    'watchdog-rounds': { type: 'string' },
    warmup: { type: 'string' },
  });
  const seconds = values.seconds === undefined ? undefined : Number(values.seconds);
  if (seconds !== undefined && (!Number.isFinite(seconds) || seconds < 0.2 || seconds > 600)) {
    throw new UsageError(`--seconds must be in 0.2..600, got ${values.seconds}`);
  }
  const warmup = values.warmup === undefined ? undefined : Number(values.warmup);
  if (warmup !== undefined && (!Number.isFinite(warmup) || warmup < 0.1 || warmup > 60)) {
    throw new UsageError(`--warmup must be in 0.1..60, got ${values.warmup}`);
  }
  const count = (name: 'rounds' | 'drain-rounds' | 'watchdog-rounds'): number | undefined => {
    const raw = values[name];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > 100) throw new UsageError(`--${name} must be an integer in 1..100, got ${raw}`);
    return n;
  };
  const rounds = count('rounds');
  const drainRounds = count('drain-rounds');
  const watchdogRounds = count('watchdog-rounds');
  const { runBench, SCENARIOS, DRIVERS } = await import('./bench/harness');
  // --only: scenario names choose scenarios, driver names narrow the drivers; either or both.
  const only = values.only === undefined ? [] : values.only.split(',').map((x) => x.trim());
  for (const name of only) {
    if (!(SCENARIOS as readonly string[]).includes(name) && !DRIVERS.includes(name)) {
      throw new UsageError(`--only takes a comma-separated list of scenarios (${SCENARIOS.join(', ')}) and drivers (${DRIVERS.join(', ')}); got ${name}`);
    }
  }
  const onlyScenarios = only.filter((x) => (SCENARIOS as readonly string[]).includes(x)) as Array<(typeof SCENARIOS)[number]>;
  const onlyDrivers = only.filter((x) => DRIVERS.includes(x));
  const partial = only.length > 0;
  const { formatResults, charts } = await import('./bench/report');
  // A progress bar on a terminal; nothing on stdout when the output is JSON.
  let bar: { start(total: number, value: number, payload: object): void; update(value: number, payload: object): void; setTotal(total: number): void; stop(): void } | undefined;
  if (process.stderr.isTTY && !values.json) {
    const progress = await import('cli-progress').catch(() => null);
    if (progress) bar = new progress.SingleBar({ format: 'bench [{bar}] {value}/{total} {label}', stream: process.stderr }, progress.Presets.shades_classic);
  }
  let started = false;
  const results = await runBench({
    quick: values.quick,
    ...(seconds !== undefined ? { seconds } : {}),
    ...(warmup !== undefined ? { warmupSeconds: warmup } : {}),
    ...(rounds !== undefined ? { rounds } : {}),
    ...(drainRounds !== undefined ? { drainRounds } : {}),
    ...(watchdogRounds !== undefined ? { watchdogRounds } : {}),
    ...(onlyScenarios.length ? { scenarios: onlyScenarios } : {}),
    ...(onlyDrivers.length ? { drivers: onlyDrivers } : {}),
    onProgress: (done, total, label) => {
      if (!bar) return;
      if (!started) {
        bar.start(total, done, { label });
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done, { label });
      }
    },
  });
  bar?.stop();
  const dir = values.out ?? path.join(__dirname, '..', 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const stamp = results.date.replace(/[:.]/g, '-');
  const json = `${JSON.stringify(results, null, 2)}\n`;
  // A partial run (--only) is kept beside the others but never becomes latest.json.
  const kind = partial ? 'partial' : results.quick ? 'quick' : 'full';
  fs.writeFileSync(path.join(dir, `${kind}-${stamp}.json`), json);
  if (!partial) fs.writeFileSync(path.join(dir, results.quick ? 'latest-quick.json' : 'latest.json'), json);
  const svg = partial ? null : await charts(results);
  if (svg) {
    const prefix = results.quick ? 'quick-' : '';
    fs.writeFileSync(path.join(dir, `${prefix}flood.svg`), svg.flood);
    fs.writeFileSync(path.join(dir, `${prefix}cpu.svg`), svg.cpu);
  }
  if (values.json) process.stdout.write(json);
  else process.stdout.write(`${formatResults(results)}\nResults in ${dir}${svg || partial ? '' : ' (no charts: install the dev dependencies vega and vega-lite)'}\n`);
  return 0;
}

async function cmdEcho(args: string[]): Promise<number> {
  const { values } = parse(args, {
    port: { type: 'string' },
    host: { type: 'string' },
    type: { type: 'string', default: 'udp4' },
    batch: { type: 'boolean', default: false },
  });
  const port = Number(values.port);
  if (values.port === undefined || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--port must be an integer in 0..65535, got ${values.port ?? 'nothing'}`);
  }
  if (values.type !== 'udp4' && values.type !== 'udp6') throw new UsageError(`--type must be udp4 or udp6, got ${values.type}`);
  const type = values.type;
  const host = values.host ?? (type === 'udp4' ? '127.0.0.1' : '::1');
  const { createSocket } = await import('./udp');
  const socket = createSocket(type);
  if (values.batch) {
    // One sendmmsg per received batch, back to each datagram's sender.
    socket.onBatch((batch) => {
      const payloads = [];
      const senders = [];
      for (let i = 0; i < batch.count; i++) {
        payloads.push(batch.payload(i));
        senders.push({ address: batch.address(i), port: batch.port(i) });
      }
      socket.sendBatch(payloads, senders);
    });
  } else {
    socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
  }
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    process.stderr.write(`uring-udp echo: cannot listen on ${host}:${port}: ${(error as Error).message}\n`);
    return 1;
  }
  const address = socket.address();
  process.stdout.write(`uring-udp echo listening on ${address.address}:${address.port} (${socket.backend})\n`);
  socket.on('error', (error) => process.stderr.write(`uring-udp echo: ${error.message}\n`));
  await new Promise<void>((resolve) => {
    const stop = () => socket.close(() => resolve());
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      if (error instanceof UsageError) {
        process.stderr.write(`uring-udp: ${error.message}\n\n${USAGE}\n`);
        process.exitCode = 2;
      } else {
        process.stderr.write(`uring-udp: ${(error as Error).stack ?? String(error)}\n`);
        process.exitCode = 1;
      }
    },
  );
}
