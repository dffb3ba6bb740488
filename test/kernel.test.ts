import * as fs from 'fs';
import * as os from 'os';
import t from 'tap';

import {
  compareVersions,
  formatVersion,
  identifyKernel,
  parseVersion,
  readKernelIdentity,
  type KernelIdentity,
} from '../src/kernel';
import { assessBug, assessKernel, KNOWN_BUGS, parseBound, type BugVerdict } from '../src/bugs';

const OVERFLOW = KNOWN_BUGS.find((b) => b.id === 'overflow-flush-lock')!;
const SQPOLL = KNOWN_BUGS.find((b) => b.id === 'sqpoll-iowq-max-workers')!;

function verdicts(kernel: KernelIdentity): Record<string, BugVerdict> {
  return Object.fromEntries(assessKernel(kernel).map((a) => [a.id, a.verdict]));
}

function upstream(release: string): KernelIdentity {
  return identifyKernel({ release, procVersion: `Linux version ${release} (user@host) (gcc (GCC) 14.2.0) #1 SMP` });
}

// Real texts, as the kernels print them.
const DEBIAN_6_1_115 = {
  release: '6.1.0-27-amd64',
  procVersion:
    'Linux version 6.1.0-27-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, ' +
    'GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 (2024-11-01)',
};
const DEBIAN_6_1_119 = {
  release: '6.1.0-28-amd64',
  procVersion:
    'Linux version 6.1.0-28-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, ' +
    'GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)',
};
const UBUNTU_5_15 = {
  release: '5.15.0-91-generic',
  procVersion:
    'Linux version 5.15.0-91-generic (buildd@lcy02-amd64-045) (gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0, ' +
    'GNU ld (GNU Binutils for Ubuntu) 2.38) #101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023',
};
const CUSTOM_6_18 = {
  release: '6.18.44-fc-v782',
  procVersion:
    'Linux version 6.18.44-fc-v782 (builder@sandboxing) (gcc (GCC) 15.3.0, GNU ld (GNU Binutils) 2.46) ' +
    '#1 SMP PREEMPT_DYNAMIC @0',
};

t.test('parseVersion', async (t) => {
  t.strictSame(parseVersion('6.1.115'), { major: 6, minor: 1, patch: 115 });
  t.strictSame(parseVersion('6.12.0-rc3'), { major: 6, minor: 12, patch: 0, rc: 3 });
  t.strictSame(parseVersion('6.12-rc3'), { major: 6, minor: 12, patch: 0, rc: 3 });
  t.strictSame(parseVersion('5.15.0'), { major: 5, minor: 15, patch: 0 });
  t.strictSame(parseVersion('6.10'), { major: 6, minor: 10, patch: 0 });
  t.strictSame(parseVersion(' 6.6.58\n'), { major: 6, minor: 6, patch: 58 });
  t.notOk('rc' in parseVersion('6.1.115')!, 'a release has no rc key at all');

  for (const garbage of [
    '',
    'abc',
    '6',
    '6.',
    '.6.1',
    '6.1.',
    '6.1.115-1',
    '6.1.0-27-amd64',
    '6.12.0-rc',
    '6.12.0-rc3+',
    '6.1 .1',
    '6.1.1.1',
    'v6.1.1',
    '-6.1.1',
    '99999999999999999999.1',
  ]) {
    t.equal(parseVersion(garbage), null, `"${garbage}" is not a version`);
  }
  t.equal(parseVersion(undefined as unknown as string), null, 'a non-string is not a version');
});

t.test('compareVersions orders numerically, release candidates before their release', async (t) => {
  const ordered = [
    '4.19.0',
    '5.10.229',
    '5.15.0',
    '6.1.9',
    '6.1.10',
    '6.1.115',
    '6.9.12',
    '6.10.0-rc1',
    '6.10.0-rc7',
    '6.10.0',
    '6.10.1',
    '6.12.0-rc2',
    '6.12.0-rc10',
    '6.12.0',
    '6.18.44',
  ];
  const shuffled = [...ordered].reverse();
  shuffled.push(shuffled.shift()!);
  const sorted = shuffled.map((s) => parseVersion(s)!).sort(compareVersions).map(formatVersion);
  t.strictSame(sorted, ordered);

  const v = (s: string) => parseVersion(s)!;
  t.equal(compareVersions(v('6.12.0-rc3'), v('6.12.0')), -1);
  t.equal(compareVersions(v('6.12.0'), v('6.12.0-rc3')), 1);
  t.equal(compareVersions(v('6.12-rc3'), v('6.12.0-rc3')), 0);
  t.equal(compareVersions(v('6.1.115'), v('6.1.115')), 0);
  t.equal(compareVersions(v('6.1.115'), v('6.1.116')), -1);
  t.equal(compareVersions(v('6.2.0'), v('6.1.999')), 1);
  t.equal(compareVersions(v('7.0.0'), v('6.99.99')), 1);
});

t.test('formatVersion', async (t) => {
  t.equal(formatVersion({ major: 6, minor: 1, patch: 115 }), '6.1.115');
  t.equal(formatVersion({ major: 6, minor: 12, patch: 0, rc: 3 }), '6.12.0-rc3');
  t.equal(formatVersion(parseVersion('6.12-rc3')!), '6.12.0-rc3');
  t.equal(formatVersion(parseVersion('5.15')!), '5.15.0');
});

t.test('Debian: the version is in /proc/version, not in uname -r', async (t) => {
  const k = identifyKernel(DEBIAN_6_1_115);
  t.equal(k.distro, 'debian');
  t.equal(k.source, 'debian');
  t.equal(k.upstreamString, '6.1.115', 'not 6.1.0 from uname, not 12.2.0 from the compiler');
  t.strictSame(k.upstream, { major: 6, minor: 1, patch: 115 });
  t.equal(k.release, '6.1.0-27-amd64');
  t.equal(k.procVersion, DEBIAN_6_1_115.procVersion);
  t.match(k.note, /6\.1\.0-27-amd64/);
  t.match(k.note, /6\.1\.115-1/);

  t.strictSame(verdicts(k), { 'overflow-flush-lock': 'affected', 'sqpoll-iowq-max-workers': 'affected' });
  const overflow = assessBug(OVERFLOW, k);
  t.equal(overflow.reason, '6.1.115 lies in 6.1.113–6.1.115; fixed in 6.1.116 by 9f5a834715d0');
  t.equal(overflow.title, OVERFLOW.title);
  const sqpoll = assessBug(SQPOLL, k);
  t.equal(sqpoll.reason, '6.1.115 lies in 6.1-rc1–6.1.117; fixed in 6.1.118 by fdacd09f2ddf');

  const fixed = identifyKernel(DEBIAN_6_1_119);
  t.equal(fixed.upstreamString, '6.1.119');
  t.strictSame(verdicts(fixed), { 'overflow-flush-lock': 'fixed', 'sqpoll-iowq-max-workers': 'fixed' });
  t.match(assessBug(OVERFLOW, fixed).reason, /at or past 6\.1\.116.*9f5a834715d0/);
  t.match(assessBug(SQPOLL, fixed).reason, /at or past 6\.1\.118.*fdacd09f2ddf/);
});

t.test('Debian package version styles', async (t) => {
  const proc = (pkg: string, abi = '6.1.0-29-amd64') =>
    `Linux version ${abi} (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, ` +
    `GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian ${pkg} (2024-12-20)`;

  t.equal(identifyKernel({ release: '6.1.0-29-amd64', procVersion: proc('6.1.119-1+deb12u1') }).upstreamString, '6.1.119');

  const bpo = identifyKernel({ release: '6.10.11+bpo-amd64', procVersion: proc('6.10.11-1~bpo12+1', '6.10.11+bpo-amd64') });
  t.equal(bpo.upstreamString, '6.10.11');
  t.equal(bpo.source, 'debian');
  t.strictSame(verdicts(bpo), { 'overflow-flush-lock': 'fixed', 'sqpoll-iowq-max-workers': 'fixed' });

  const exp = identifyKernel({ release: '6.12-rc3-amd64', procVersion: proc('6.12~rc3-1~exp1', '6.12-rc3-amd64') });
  t.equal(exp.upstreamString, '6.12.0-rc3');

  const rpi = identifyKernel({
    release: '6.6.51+rpt-rpi-v8',
    procVersion:
      'Linux version 6.6.51+rpt-rpi-v8 (serge@raspberrypi.com) (aarch64-linux-gnu-gcc-12 (Debian 12.2.0-14) 12.2.0, ' +
      'GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT Debian 1:6.6.51-1+rpt3 (2024-10-08)',
  });
  t.equal(rpi.upstreamString, '6.6.51', 'the epoch is not the version');

  const trixie = identifyKernel({
    release: '6.12.41+deb13-amd64',
    procVersion: 'Linux version 6.12.41+deb13-amd64 (debian-kernel@lists.debian.org) (x86_64-linux-gnu-gcc-14) #1 SMP',
  });
  t.equal(trixie.distro, 'debian');
  t.equal(trixie.source, 'uname');
  t.equal(trixie.upstreamString, '6.12.41');

  const noTrailer = identifyKernel({
    release: '6.1.0-27-amd64',
    procVersion: 'Linux version 6.1.0-27-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP',
  });
  t.equal(noTrailer.distro, 'debian');
  t.equal(noTrailer.upstream, null, 'the ABI name alone is not the version');
  t.equal(noTrailer.source, null);
  t.strictSame(verdicts(noTrailer), { 'overflow-flush-lock': 'unknown', 'sqpoll-iowq-max-workers': 'unknown' });
  t.match(assessBug(OVERFLOW, noTrailer).reason, /upstream version is unknown/);

  const bare = identifyKernel({ release: '6.1.0-27-amd64', procVersion: '' });
  t.equal(bare.distro, 'debian', 'the amd64 flavour marks a Debian ABI name');
  t.equal(bare.upstream, null);
});

t.test('Ubuntu: the base is in /proc/version_signature or nowhere', async (t) => {
  const k = identifyKernel({ ...UBUNTU_5_15, versionSignature: 'Ubuntu 5.15.0-91.101-generic 5.15.131\n' });
  t.equal(k.distro, 'ubuntu');
  t.equal(k.source, 'ubuntu-signature');
  t.equal(k.upstreamString, '5.15.131');
  t.match(k.note, /version_signature/);
  t.strictSame(verdicts(k), { 'overflow-flush-lock': 'unknown', 'sqpoll-iowq-max-workers': 'affected' });
  const overflow = assessBug(OVERFLOW, k);
  t.match(overflow.reason, /never received the faulty backport/);
  t.match(overflow.reason, /Ubuntu backports fixes on its own/);
  const sqpoll = assessBug(SQPOLL, k);
  t.match(sqpoll.reason, /^5\.15\.131 lies in 5\.15-rc1–5\.15\.172; fixed in 5\.15\.173 by 97ed7ff58de6/);
  t.match(sqpoll.reason, /unless Ubuntu backported/);

  // The same base on a vanilla kernel has facts for both bugs: the vendor caveat is what changed.
  t.strictSame(verdicts(upstream('5.15.131')), {
    'overflow-flush-lock': 'not-affected',
    'sqpoll-iowq-max-workers': 'affected',
  });

  const hwe = identifyKernel({
    release: '6.8.0-45-generic',
    procVersion: 'Linux version 6.8.0-45-generic (buildd@lcy02-amd64-115) (x86_64-linux-gnu-gcc-12) #45~22.04.1-Ubuntu SMP',
    versionSignature: 'Ubuntu 6.8.0-45.45~22.04.1-generic 6.8.12',
  });
  t.equal(hwe.upstreamString, '6.8.12');
  t.match(assessBug(SQPOLL, hwe).reason, /6\.7-rc1–6\.8\.\* \(these series ended without the fix\); fixed upstream in 6\.10 by 73254a297c2d/);

  for (const signature of [null, undefined, '']) {
    const none = identifyKernel({ ...UBUNTU_5_15, versionSignature: signature });
    t.equal(none.distro, 'ubuntu', `signature ${String(signature)}`);
    t.equal(none.upstream, null, '5.15.0 from uname is not the version');
    t.equal(none.upstreamString, null);
    t.strictSame(verdicts(none), { 'overflow-flush-lock': 'unknown', 'sqpoll-iowq-max-workers': 'unknown' });
  }

  const bad = identifyKernel({ ...UBUNTU_5_15, versionSignature: 'Ubuntu 5.15.0-91.101-generic' });
  t.equal(bad.distro, 'ubuntu');
  t.equal(bad.upstream, null);

  const flavourOnly = identifyKernel({ release: '5.15.0-1052-azure', procVersion: '' });
  t.equal(flavourOnly.distro, 'ubuntu');
  t.equal(flavourOnly.upstream, null);

  const mainline = identifyKernel({
    release: '6.11.5-061105-generic',
    procVersion: 'Linux version 6.11.5-061105-generic (kernel@balboa) (x86_64-linux-gnu-gcc-14 (Ubuntu 14.2.0-4ubuntu2) 14.2.0) #202410221335 SMP',
  });
  t.equal(mainline.distro, 'upstream');
  t.equal(mainline.upstreamString, '6.11.5');
});

t.test('Amazon Linux', async (t) => {
  const al2 = identifyKernel({
    release: '5.10.219-208.866.amzn2.x86_64',
    procVersion:
      'Linux version 5.10.219-208.866.amzn2.x86_64 (mockbuild@ip-10-0-52-113) (gcc10-gcc (GCC) 10.5.0 20230707 ' +
      '(Red Hat 10.5.0-1), GNU ld version 2.35.2-9.amzn2.0.1) #1 SMP Tue Jun 18 14:00:06 UTC 2024',
  });
  t.equal(al2.distro, 'amazon');
  t.equal(al2.source, 'uname');
  t.equal(al2.upstreamString, '5.10.219');
  t.strictSame(verdicts(al2), { 'overflow-flush-lock': 'unknown', 'sqpoll-iowq-max-workers': 'affected' });
  t.match(assessBug(SQPOLL, al2).reason, /5\.10\.162–5\.10\.229 \(5\.10\.162 imported the 5\.15 io_uring\); fixed in 5\.10\.230 by b17397a0a5c5/);

  const al2023 = identifyKernel({
    release: '6.1.112-122.189.amzn2023.x86_64',
    procVersion:
      'Linux version 6.1.112-122.189.amzn2023.x86_64 (mockbuild@ip-10-0-42-143) (gcc (GCC) 11.4.1 20230605 ' +
      '(Red Hat 11.4.1-2), GNU ld version 2.39-6.amzn2023.0.10) #1 SMP PREEMPT_DYNAMIC Tue Oct  8 17:04:39 UTC 2024',
  });
  t.equal(al2023.distro, 'amazon', 'the Red Hat compiler does not make it RHEL');
  t.equal(al2023.upstreamString, '6.1.112');
  t.strictSame(verdicts(al2023), { 'overflow-flush-lock': 'unknown', 'sqpoll-iowq-max-workers': 'affected' });
  t.match(assessBug(OVERFLOW, al2023).reason, /predates 6\.1\.113.*Amazon Linux/);
});

t.test('Fedora and Arch carry the upstream version', async (t) => {
  const fedora = identifyKernel({
    release: '6.5.6-300.fc39.x86_64',
    procVersion:
      'Linux version 6.5.6-300.fc39.x86_64 (mockbuild@0b4d8d2bbdb54f3c9f4c9c3e2e5ed8e5) (gcc (GCC) 13.2.1 20230918 ' +
      '(Red Hat 13.2.1-3), GNU ld version 2.40-13.fc39) #1 SMP PREEMPT_DYNAMIC Fri Oct  6 19:57:21 UTC 2023',
  });
  t.equal(fedora.distro, 'fedora');
  t.equal(fedora.upstreamString, '6.5.6');
  t.strictSame(verdicts(fedora), { 'overflow-flush-lock': 'not-affected', 'sqpoll-iowq-max-workers': 'affected' });
  t.match(assessBug(OVERFLOW, fedora).reason, /^6\.5\.6: the series ended before/);

  const rawhide = identifyKernel({ release: '6.12.0-0.rc3.31.fc42.x86_64', procVersion: '' });
  t.equal(rawhide.distro, 'fedora');
  t.equal(rawhide.upstreamString, '6.12.0-rc3');

  const arch = identifyKernel({
    release: '6.6.1-arch1-1',
    procVersion:
      'Linux version 6.6.1-arch1-1 (linux@archlinux) (gcc (GCC) 13.2.1 20230801, GNU ld (GNU Binutils) 2.41.0) ' +
      '#1 SMP PREEMPT_DYNAMIC Wed, 08 Nov 2023 16:05:38 +0000',
  });
  t.equal(arch.distro, 'arch');
  t.equal(arch.upstreamString, '6.6.1');
  t.strictSame(verdicts(arch), { 'overflow-flush-lock': 'not-affected', 'sqpoll-iowq-max-workers': 'affected' });
});

t.test('enterprise kernels have no upstream version', async (t) => {
  for (const release of ['4.18.0-513.el8.x86_64', '5.14.0-427.13.1.el9_4.x86_64', '5.15.0-208.159.3.el9uek.x86_64']) {
    const k = identifyKernel({ release, procVersion: `Linux version ${release} (mockbuild@host) (gcc version 8.5.0 (Red Hat 8.5.0-20) (GCC)) #1 SMP` });
    t.equal(k.distro, 'rhel', release);
    t.equal(k.upstream, null, release);
    t.equal(k.source, null, release);
    t.strictSame(verdicts(k), { 'overflow-flush-lock': 'unknown', 'sqpoll-iowq-max-workers': 'unknown' }, release);
  }
  for (const release of ['6.4.0-150600.23.25-default', '5.14.21-150500.55.83-default']) {
    const k = identifyKernel({ release, procVersion: `Linux version ${release} (geeko@buildhost) (gcc (SUSE Linux) 7.5.0) #1 SMP` });
    t.equal(k.distro, 'suse', release);
    t.equal(k.upstream, null, release);
    t.strictSame(verdicts(k), { 'overflow-flush-lock': 'unknown', 'sqpoll-iowq-max-workers': 'unknown' }, release);
  }
});

t.test('upstream kernels', async (t) => {
  const v658 = upstream('6.6.58');
  t.equal(v658.distro, 'upstream');
  t.equal(v658.source, 'uname');
  t.strictSame(verdicts(v658), { 'overflow-flush-lock': 'affected', 'sqpoll-iowq-max-workers': 'affected' });
  t.equal(assessBug(OVERFLOW, v658).reason, '6.6.58 lies in 6.6.57–6.6.59; fixed in 6.6.60 by a backport of 8d09a88ef9d3');

  const v660 = upstream('6.6.60');
  t.strictSame(verdicts(v660), { 'overflow-flush-lock': 'fixed', 'sqpoll-iowq-max-workers': 'affected' });
  t.match(assessBug(OVERFLOW, v660).reason, /at or past 6\.6\.60/);
  t.match(assessBug(SQPOLL, v660).reason, /fixed in 6\.6\.62 by 950ac86cff33/);

  t.strictSame(verdicts(upstream('6.6.62')), { 'overflow-flush-lock': 'fixed', 'sqpoll-iowq-max-workers': 'fixed' });
  t.strictSame(verdicts(upstream('6.6.56')), { 'overflow-flush-lock': 'not-affected', 'sqpoll-iowq-max-workers': 'affected' });
  t.strictSame(verdicts(upstream('6.1.50')), { 'overflow-flush-lock': 'not-affected', 'sqpoll-iowq-max-workers': 'affected' });
  t.strictSame(verdicts(upstream('6.1.116')), { 'overflow-flush-lock': 'fixed', 'sqpoll-iowq-max-workers': 'affected' });
  t.strictSame(verdicts(upstream('6.1.118')), { 'overflow-flush-lock': 'fixed', 'sqpoll-iowq-max-workers': 'fixed' });
  t.strictSame(verdicts(upstream('6.9.10')), { 'overflow-flush-lock': 'not-affected', 'sqpoll-iowq-max-workers': 'affected' });
  t.strictSame(verdicts(upstream('6.9.11')), { 'overflow-flush-lock': 'not-affected', 'sqpoll-iowq-max-workers': 'fixed' });
  t.strictSame(verdicts(upstream('6.11.4')), { 'overflow-flush-lock': 'fixed', 'sqpoll-iowq-max-workers': 'fixed' });

  t.strictSame(verdicts(upstream('5.4.284')), { 'overflow-flush-lock': 'not-affected', 'sqpoll-iowq-max-workers': 'not-affected' });
  t.strictSame(verdicts(upstream('5.10.161')), { 'overflow-flush-lock': 'not-affected', 'sqpoll-iowq-max-workers': 'not-affected' });
  t.equal(verdicts(upstream('5.10.162'))['sqpoll-iowq-max-workers'], 'affected');
  t.equal(verdicts(upstream('5.10.230'))['sqpoll-iowq-max-workers'], 'fixed');
  t.equal(verdicts(upstream('5.14.21'))['sqpoll-iowq-max-workers'], 'not-affected');
  t.equal(verdicts(upstream('5.15.172'))['sqpoll-iowq-max-workers'], 'affected');
  t.equal(verdicts(upstream('5.15.173'))['sqpoll-iowq-max-workers'], 'fixed');
  t.match(assessBug(SQPOLL, upstream('5.17.3')).reason, /5\.16-rc1–6\.0\.\* \(these series ended without the fix\); fixed upstream in 6\.10/);
});

t.test('release candidates', async (t) => {
  const rc = upstream('6.12.0-rc3');
  t.equal(rc.distro, 'upstream');
  t.equal(rc.upstreamString, '6.12.0-rc3');
  t.strictSame(verdicts(rc), { 'overflow-flush-lock': 'fixed', 'sqpoll-iowq-max-workers': 'fixed' });
  const release = upstream('6.12.0');
  t.equal(compareVersions(rc.upstream!, release.upstream!), -1);
  t.strictSame(verdicts(release), { 'overflow-flush-lock': 'fixed', 'sqpoll-iowq-max-workers': 'fixed' });

  const plus = upstream('6.12.0-rc3+');
  t.equal(plus.distro, 'upstream');
  t.equal(plus.upstreamString, '6.12.0-rc3');
  t.match(plus.note, /local changes/);
  t.equal(upstream('6.12-rc3').upstreamString, '6.12.0-rc3');

  // 73254a297c2d landed after 6.10-rc7: every 6.10 release candidate has the deadlock.
  t.equal(verdicts(upstream('6.10.0-rc7'))['sqpoll-iowq-max-workers'], 'affected');
  t.match(assessBug(SQPOLL, upstream('6.10.0-rc7')).reason, /fixed upstream in 6\.10 by 73254a297c2d/);
  t.equal(verdicts(upstream('6.10.0'))['sqpoll-iowq-max-workers'], 'fixed');
  // 8d09a88ef9d3 was merged for 6.10-rc1.
  t.equal(verdicts(upstream('6.10.0-rc1'))['overflow-flush-lock'], 'fixed');
  t.equal(verdicts(upstream('6.9.0-rc7'))['overflow-flush-lock'], 'not-affected');
});

t.test('a custom build: the local suffix is not the version', async (t) => {
  const k = identifyKernel(CUSTOM_6_18);
  t.equal(k.distro, 'custom');
  t.equal(k.source, 'uname');
  t.equal(k.upstreamString, '6.18.44');
  t.match(k.note, /"-fc-v782"/);
  t.match(k.note, /local build/);
  t.strictSame(verdicts(k), { 'overflow-flush-lock': 'fixed', 'sqpoll-iowq-max-workers': 'fixed' });
  t.match(assessBug(OVERFLOW, k).reason, /^6\.18\.44 is at or past 6\.10-rc1 and has the mainline fix 8d09a88ef9d3/);
  t.match(assessBug(SQPOLL, k).reason, /^6\.18\.44 is at or past 6\.10 and has the mainline fix 73254a297c2d/);

  const wsl = identifyKernel({ release: '5.15.153.1-microsoft-standard-WSL2', procVersion: '' });
  t.equal(wsl.distro, 'custom');
  t.equal(wsl.upstreamString, '5.15.153');

  const fromProc = identifyKernel({ release: '', procVersion: CUSTOM_6_18.procVersion });
  t.equal(fromProc.release, '6.18.44-fc-v782', 'an empty release falls back to /proc/version');
  t.equal(fromProc.upstreamString, '6.18.44');
});

t.test('garbage is unknown, never safe', async (t) => {
  for (const input of [
    { release: '', procVersion: '' },
    { release: 'garbage', procVersion: 'garbage' },
    { release: 'Linux', procVersion: '' },
    { release: '6', procVersion: '' },
    { release: '6.1.0-27', procVersion: '' },
    { release: '4.4.0-19041-Microsoft', procVersion: '' },
    { release: '6.1.115foo', procVersion: '' },
  ]) {
    const k = identifyKernel(input);
    const label = JSON.stringify(input);
    t.equal(k.upstream, null, label);
    t.equal(k.upstreamString, null, label);
    t.equal(k.source, null, label);
    t.equal(k.distro, 'unknown', label);
    t.ok(k.note.length > 0, label);
    t.strictSame(verdicts(k), { 'overflow-flush-lock': 'unknown', 'sqpoll-iowq-max-workers': 'unknown' }, label);
  }
  const nulls = identifyKernel({ release: null, procVersion: null } as unknown as { release: string; procVersion: string });
  t.equal(nulls.distro, 'unknown');
});

t.test('the table is consistent', async (t) => {
  t.strictSame(
    KNOWN_BUGS.map((b) => b.id),
    ['overflow-flush-lock', 'sqpoll-iowq-max-workers'],
  );
  for (const bug of KNOWN_BUGS) {
    const ranges = [...bug.affected, ...bug.unaffected];
    for (const r of ranges) {
      t.ok(compareVersions(parseBound(r.from), parseBound(r.to)) <= 0, `${bug.id}: ${r.from} <= ${r.to}`);
    }
    const sorted = [...ranges].sort((a, b) => compareVersions(parseBound(a.from), parseBound(b.from)));
    for (let i = 1; i < sorted.length; i++) {
      t.ok(
        compareVersions(parseBound(sorted[i - 1]!.to), parseBound(sorted[i]!.from)) < 0,
        `${bug.id}: ${sorted[i - 1]!.from}–${sorted[i - 1]!.to} and ${sorted[i]!.from}–${sorted[i]!.to} do not overlap`,
      );
    }
    for (const fixed of bug.fixedIn) {
      const f = parseBound(fixed);
      t.notOk(
        ranges.some((r) => compareVersions(f, parseBound(r.from)) >= 0 && compareVersions(f, parseBound(r.to)) <= 0),
        `${bug.id}: fix ${fixed} is in no range`,
      );
    }
    for (const series of Object.keys(bug.stableFixes)) {
      t.ok(
        bug.fixedIn.some((f) => f.startsWith(`${series}.`) && parseBound(f).patch > 0),
        `${bug.id}: stable fix for ${series} has a fixed version`,
      );
    }
    t.match(bug.fixCommit, /^[0-9a-f]{12}$/);
  }
  t.throws(() => parseBound('6.1.x'), /bad version bound/);
  t.equal(parseBound('6.0.*').patch, Infinity);
  t.equal(parseBound('6.10-rc*').rc, Infinity);
  t.equal(OVERFLOW.cve, undefined, 'CVE-2024-50060 names the change that causes the bug, not the bug');
  t.equal(SQPOLL.cve, 'CVE-2024-41080');
});

t.test('readKernelIdentity reads this machine', async (t) => {
  const k = readKernelIdentity();
  t.equal(k.release, os.release());
  t.equal(k.procVersion, fs.readFileSync('/proc/version', 'utf8').trim());
  const signature = fs.existsSync('/proc/version_signature') ? fs.readFileSync('/proc/version_signature', 'utf8') : null;
  t.strictSame(k, identifyKernel({ release: os.release(), procVersion: k.procVersion, versionSignature: signature }));
  t.equal(assessKernel(k).length, KNOWN_BUGS.length);
});
