import t from 'tap';

import { KNOWN_BUGS, assessKernel, compareVersions, parseVersion, probe, readKernelIdentity } from '../src/index';
import { CLI, run } from './helpers';

t.test('probe() describes this kernel by trying its features', async (t) => {
  const result = await probe();
  t.equal(result.usable, true, 'io_uring is usable here');
  t.equal(result.kernel.release, require('node:os').release());
  t.ok(result.opcodes.includes('NOP') && result.opcodes.includes('POLL_ADD'), 'opcodes by name');
  t.ok(result.ringFeatures?.nodrop !== undefined, 'IORING_FEAT_* decoded');
  for (const name of ['multishotPoll', 'providedBufferRings', 'multishotRecvmsg', 'incrementalBuffers', 'singleIssuer', 'deferTaskrun', 'coopTaskrun', 'sqpoll']) {
    t.type(result.features[name as keyof typeof result.features].supported, 'boolean', name);
  }
  // Every feature this package relies on is older than the running kernel's series when it
  // is 6.0 or newer: then multishot poll (5.13) and multishot recvmsg (6.0) must have been found.
  const upstream = result.kernel.upstream;
  if (upstream && compareVersions(upstream, parseVersion('6.0.0')!) >= 0) {
    t.equal(result.features.multishotPoll.supported, true, 'multishot poll found on >= 6.0');
    t.equal(result.features.multishotRecvmsg.supported, true, 'multishot recvmsg found on >= 6.0');
    t.equal(result.features.providedBufferRings.supported, true, 'buffer rings found on >= 6.0');
  }
  t.same(result.bugs.map((b) => b.id).sort(), KNOWN_BUGS.map((b) => b.id).sort(), 'every known bug assessed');
  t.same(result.bugs, assessKernel(readKernelIdentity()));
  t.equal(await probe(), result, 'cached per process');
});

t.test('uring-udp probe --json on this machine', async (t) => {
  const result = await run(process.execPath, [CLI, 'probe', '--json']);
  t.equal(result.code, 0, result.stderr);
  const json = JSON.parse(result.stdout);
  t.equal(json.kernel.release, require('node:os').release(), 'names the kernel');
  t.ok(Array.isArray(json.opcodes) && json.opcodes.length > 10, 'lists opcodes');
  t.type(json.features.multishotRecvmsg.supported, 'boolean', 'lists features');
  const upstream = parseVersion(json.kernel.upstreamString ?? '');
  // This repository's CI machine runs a 6.18 kernel, past both mainline fixes (6.10).
  if (upstream && compareVersions(upstream, parseVersion('6.10.0')!) >= 0) {
    for (const bug of json.bugs) t.not(bug.verdict, 'affected', `${bug.id} does not affect ${json.kernel.upstreamString}`);
    t.same(json.bugs.map((b: { verdict: string }) => b.verdict), ['fixed', 'fixed']);
  }
});

t.test('uring-udp doctor and bad arguments', async (t) => {
  const doctor = await run(process.execPath, [CLI, 'doctor']);
  t.equal(doctor.code, 0, doctor.stderr);
  t.match(doctor.stdout, /Ring check: 1001 requests completed/);
  t.match(doctor.stdout, /overflow-flush-lock/);
  const bad = await run(process.execPath, [CLI, 'probe', '--jsn']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /Unknown option '--jsn'/);
  const unknown = await run(process.execPath, [CLI, 'frobnicate']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown command "frobnicate"/);
});
