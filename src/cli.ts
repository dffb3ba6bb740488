#!/usr/bin/env node
// uring-udp command line: probe, doctor.
import { parseArgs, type ParseArgsConfig } from 'node:util';

import Table from 'cli-table3';

import { probe, type ProbeResult } from './probe';

const USAGE = `Usage: uring-udp <command> [options]

Commands:
  probe [--json]    what this kernel's io_uring supports and which known bugs affect it
  doctor [--json]   a readable report: the probe, then a short check of this package's ring
  echo --port N [--host ADDRESS] [--type udp4|udp6] [--batch]
                    a UDP echo server: answers every datagram with itself until SIGINT/SIGTERM
  help              this text

Exit codes: 0 ok, 1 failure, 2 bad arguments or io_uring unavailable.`;

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
  lines.push('', bugs.toString(), '');
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
  const affected = result.bugs.filter((b) => b.verdict === 'affected');
  if (!values.json) {
    if (affected.length > 0) {
      process.stdout.write(
        `\nWARNING: this kernel is affected by ${affected.map((b) => b.id).join(', ')}. ` +
          'See docs/kernel-bugs.md: upgrade the kernel, or size the CQ so it never overflows.\n',
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
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
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
