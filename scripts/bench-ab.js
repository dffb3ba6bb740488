#!/usr/bin/env node
// Interleaved A/B of two builds of this package against the C reference receiver, at the C
// sender's maximum rate: the way each change to the receive path was judged here, since single
// runs on a shared VM vary by 10-30 % (docs/benchmark.md).
//   node scripts/bench-ab.js ROUNDS SIZE DIR_A DIR_B [uring-batch|uring-message]
// DIR_A and DIR_B are checkouts with lib/ and the addon built (npm run compile), e.g. a git
// worktree of the parent commit and this one. Each round runs the C receiver, then A and B in
// alternating order, 3 s each, with bench/build/udp-sender (built here as the benchmark builds it) from this
// checkout, each after the harness's warm-up flood (WARMUP_SECONDS). Per run it prints
// datagrams, loss and CPU per datagram (the receiver process's, and per thread by name from
// /proc/PID/task/*/schedstat); at the end the medians, each build's median ratio to the C
// reference of the same round, and the median of the paired ratios B/A.
// ARGS_A / ARGS_B add receiver.js arguments to one side, so one checkout given twice compares
// two configurations: ARGS_B='--buffers 4096 --max-datagram 2048' node scripts/bench-ab.js 9 64 . .
// LAUNCH_A / LAUNCH_B run one side's receiver through a launcher (flood mode), e.g. where
// io_uring is forbidden: cc -O2 -o /tmp/no-io-uring test/fixtures/no-io-uring.c;
// LAUNCH_B=/tmp/no-io-uring node scripts/bench-ab.js 5 64 . . uring-message
// WARMUP_A / WARMUP_B / WARMUP_C set one side's warm-up seconds (default WARMUP_SECONDS), e.g.
// the warm-up study in docs/benchmark.md: WARMUP_A=0.25 node scripts/bench-ab.js 7 64 . .
// MODE=drain (root): the drain scenario of docs/benchmark.md instead of a flood — each run's
// receiver stopped while a 1 GiB socket buffer fills, then timed draining it — with the paired
// medians of both the drain rate and the CPU per datagram. Both builds' lib/bench/receiver.js
// must know --stamps (this commit's or later).
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const [rounds, size, dirA, dirB, driver = 'uring-batch'] = process.argv.slice(2);
if (!(Number(rounds) > 0) || !(Number(size) > 0) || !dirA || !dirB) {
  console.error('usage: node scripts/bench-ab.js ROUNDS SIZE DIR_A DIR_B [uring-batch|uring-message]');
  process.exit(2);
}
const root = path.join(__dirname, '..');
const { WARMUP_SECONDS, buildPeers } = require(path.join(root, 'lib', 'bench', 'harness.js'));
// The C peers, built (or found up to date) as the benchmark builds them: bench/build.
const peers = buildPeers();

/** CPU time (ns) per thread name of a process. */
function threadCpu(pid) {
  const out = {};
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const run = Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      out[comm] = (out[comm] ?? 0) + run;
    } catch {
      // the thread exited meanwhile
    }
  }
  return out;
}

const warmupOf = (side) => process.env[`WARMUP_${side}`] ?? String(WARMUP_SECONDS);
for (const side of ['A', 'B', 'C']) {
  if (!(Number(warmupOf(side)) > 0)) {
    console.error(`WARMUP_${side} must be a number of seconds, got ${warmupOf(side)}`);
    process.exit(2);
  }
}
const extraArgs = (side) => (process.env[`ARGS_${side}`] ?? '').split(/\s+/).filter(Boolean);
/** LAUNCH_A / LAUNCH_B: a program that runs one side's receiver (e.g. the no-io-uring seccomp launcher). */
const launch = (side, file, args) => {
  const launcher = process.env[`LAUNCH_${side}`];
  return launcher ? [launcher, [file, ...args]] : [file, args];
};

/** One run of side 'A', 'B' (DIR_A, DIR_B) or 'C' (the C reference). */
async function one(side) {
  const dir = side === 'A' ? dirA : dirB;
  const receiver =
    side === 'C'
      ? spawn(path.join(peers, 'uring-receiver'), ['--port', '0', '--buffers', '4096', '--buffer-size', '2048'], { stdio: ['pipe', 'pipe', 'inherit'] })
      : spawn(...launch(side, process.execPath, [path.join(dir, 'lib', 'bench', 'receiver.js'), '--driver', driver, ...extraArgs(side)]), { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = [];
  let waiter;
  readline.createInterface({ input: receiver.stdout }).on('line', (line) => {
    const message = JSON.parse(line);
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w(message);
    } else lines.push(message);
  });
  const next = () => new Promise((resolve) => (lines.length ? resolve(lines.shift()) : (waiter = resolve)));
  const ready = await next();
  // The harness's unmeasured warm-up flood, then a pause.
  execFileSync(path.join(peers, 'udp-sender'), ['--port', String(ready.port), '--size', size, '--rate', '0', '--duration', warmupOf(side)]);
  await new Promise((resolve) => setTimeout(resolve, 300));
  receiver.stdin.write('start\n');
  await new Promise((resolve) => setTimeout(resolve, 50));
  const before = threadCpu(receiver.pid);
  const sender = JSON.parse(
    execFileSync(path.join(peers, 'udp-sender'), ['--port', String(ready.port), '--size', size, '--rate', '0', '--duration', '3'], { encoding: 'utf8' }),
  );
  const after = threadCpu(receiver.pid);
  await new Promise((resolve) => setTimeout(resolve, 300));
  receiver.stdin.write('stop\n');
  const got = await next();
  receiver.kill();
  const cpuUs = got.cpuUs ?? got.cpuUserUs + got.cpuSysUs;
  const threads = {};
  for (const name of Object.keys(after)) threads[name] = (after[name] - (before[name] ?? 0)) / got.datagrams;
  return { sent: sender.sent, got: got.datagrams, loss: 1 - got.datagrams / sender.sent, cpuNs: (cpuUs * 1000) / got.datagrams, threads };
}

const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** MODE=drain: one drain run of side 'A', 'B' or 'C', through the harness of this checkout. */
async function drainOne(side) {
  const { drainOnce } = require(path.join(root, 'lib', 'bench', 'harness.js'));
  const row =
    side === 'C'
      ? await drainOnce('c-liburing', Number(size))
      : await drainOnce(driver, Number(size), { script: path.join(side === 'A' ? dirA : dirB, 'lib', 'bench', 'receiver.js'), args: extraArgs(side) });
  if (row.error) throw new Error(`drain ${side}: ${row.error}`);
  return { got: row.datagrams, rate: row.drainPerSec, cpuNs: row.cpuPerDatagramUs * 1000 };
}

async function drainMain() {
  const results = { A: [], B: [], C: [] };
  for (let r = 0; r < Number(rounds); r++) {
    for (const which of r % 2 ? ['C', 'B', 'A'] : ['C', 'A', 'B']) {
      const x = await drainOne(which);
      results[which].push(x);
      console.log(`round ${r + 1} ${which}: ${x.got} datagrams drained at ${x.rate.toFixed(0)}/s, ${x.cpuNs.toFixed(0)} ns/datagram`);
    }
  }
  for (const which of ['A', 'B']) {
    const rate = results[which].map((x, i) => x.rate / results.C[i].rate);
    const cpu = results[which].map((x, i) => x.cpuNs / results.C[i].cpuNs);
    console.log(
      `${which}: median ${median(results[which].map((x) => x.rate)).toFixed(0)}/s, ${median(results[which].map((x) => x.cpuNs)).toFixed(0)} ns/datagram; ` +
        `vs C same round: rate ${median(rate).toFixed(2)}x, CPU ${median(cpu).toFixed(2)}x`,
    );
  }
  const rate = results.B.map((x, i) => x.rate / results.A[i].rate);
  const cpu = results.B.map((x, i) => x.cpuNs / results.A[i].cpuNs);
  console.log(
    `C: median ${median(results.C.map((x) => x.rate)).toFixed(0)}/s; B/A paired medians: rate ${median(rate).toFixed(3)} (${rate.map((x) => x.toFixed(2)).join(' ')}), ` +
      `CPU ${median(cpu).toFixed(3)} (${cpu.map((x) => x.toFixed(2)).join(' ')})`,
  );
}

(async () => {
  if (process.env.MODE === 'drain') return drainMain();
  if (process.env.MODE && process.env.MODE !== 'flood') {
    console.error(`MODE must be flood (the default) or drain, got ${process.env.MODE}`);
    process.exit(2);
  }
  const results = { A: [], B: [], C: [] };
  for (let r = 0; r < Number(rounds); r++) {
    for (const which of r % 2 ? ['C', 'B', 'A'] : ['C', 'A', 'B']) {
      const x = await one(which);
      results[which].push(x);
      const threads = Object.entries(x.threads)
        .filter(([, ns]) => ns > 5)
        .map(([name, ns]) => `${name} ${ns.toFixed(0)}`)
        .join(', ');
      console.log(`round ${r + 1} ${which}: ${x.got} of ${x.sent}, loss ${(x.loss * 100).toFixed(2)} %, ${x.cpuNs.toFixed(0)} ns/datagram [${threads}]`);
    }
  }
  for (const which of ['A', 'B']) {
    const ratios = results[which].map((x, i) => x.cpuNs / results.C[i].cpuNs);
    console.log(
      `${which}: median ${median(results[which].map((x) => x.cpuNs)).toFixed(0)} ns/datagram, ` +
        `vs C same round median ${median(ratios).toFixed(2)}x (${ratios.map((x) => x.toFixed(2)).join(' ')}), ` +
        `loss median ${(median(results[which].map((x) => x.loss)) * 100).toFixed(2)} %`,
    );
  }
  const paired = results.B.map((x, i) => x.cpuNs / results.A[i].cpuNs);
  console.log(`C: median ${median(results.C.map((x) => x.cpuNs)).toFixed(0)} ns/datagram; B/A paired median ${median(paired).toFixed(3)} (${paired.map((x) => x.toFixed(2)).join(' ')})`);
})();
