// Kernel identification: which upstream Linux version is this machine really running?
//
// `uname -r` is often not the version. Debian and Ubuntu print an ABI name (6.1.0-27-amd64 runs
// upstream 6.1.115), enterprise distributions freeze a base and backport onto it, and local
// builds append arbitrary suffixes. Everything here is a pure function of the three texts the
// kernel exposes, except readKernelIdentity(), which reads them.

import * as fs from 'fs';
import * as os from 'os';

export interface KernelVersion {
  major: number;
  minor: number;
  patch: number;
  rc?: number;
}

export type VersionSource = 'debian' | 'ubuntu-signature' | 'uname';

export type KernelDistro =
  | 'debian'
  | 'ubuntu'
  | 'fedora'
  | 'amazon'
  | 'rhel'
  | 'arch'
  | 'suse'
  | 'upstream'
  | 'custom'
  | 'unknown';

export interface KernelIdentity {
  /** `uname -r` text, e.g. "6.1.0-27-amd64". */
  release: string;
  /** /proc/version text. */
  procVersion: string;
  /** The real upstream version, or null when it cannot be known. */
  upstream: KernelVersion | null;
  /** formatVersion(upstream): "6.1.115", "6.12.0-rc3". */
  upstreamString: string | null;
  /** Where `upstream` came from. */
  source: VersionSource | null;
  distro: KernelDistro;
  /** One sentence: how `upstream` was derived, or why it is unknown. */
  note: string;
}

const VERSION_RE = /^(\d+)\.(\d+)(?:\.(\d+))?(?:-rc(\d+))?$/;

function makeVersion(
  major: string,
  minor: string,
  patch: string | undefined,
  rc: string | undefined,
): KernelVersion | null {
  const v: KernelVersion = { major: Number(major), minor: Number(minor), patch: Number(patch ?? 0) };
  if (rc !== undefined) v.rc = Number(rc);
  const parts = [v.major, v.minor, v.patch, v.rc ?? 0];
  return parts.every(Number.isSafeInteger) ? v : null;
}

/** Parses a bare version: "6.1.115", "6.12.0-rc3", "6.12-rc3", "5.15". Anything else is null. */
export function parseVersion(s: string): KernelVersion | null {
  if (typeof s !== 'string') return null;
  const m = VERSION_RE.exec(s.trim());
  return m ? makeVersion(m[1]!, m[2]!, m[3], m[4]) : null;
}

/** Negative if a < b, 0 if equal, positive if a > b. A release candidate sorts before its release. */
export function compareVersions(a: KernelVersion, b: KernelVersion): number {
  const byNumber = a.major - b.major || a.minor - b.minor || a.patch - b.patch;
  if (byNumber !== 0) return Math.sign(byNumber);
  if (a.rc === undefined && b.rc === undefined) return 0;
  if (a.rc === undefined) return 1;
  if (b.rc === undefined) return -1;
  return Math.sign(a.rc - b.rc);
}

export function formatVersion(v: KernelVersion): string {
  const base = `${v.major}.${v.minor}.${v.patch}`;
  return v.rc === undefined ? base : `${base}-rc${v.rc}`;
}

/** The version a release string starts with, and whatever follows it. */
const LEADING_RE = /^(\d+)\.(\d+)(?:\.(\d+))?(?:-rc(\d+))?(.*)$/s;

function leadingVersion(release: string): { version: KernelVersion; rest: string } | null {
  const m = LEADING_RE.exec(release);
  if (!m) return null;
  const version = makeVersion(m[1]!, m[2]!, m[3], m[4]);
  return version ? { version, rest: m[5]! } : null;
}

// "... #1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 (2024-11-01)": Debian's package version followed
// by its date. Requiring the date keeps the compiler's "(Debian 12.2.0-14)" from matching. Also
// "6.1.119-1+deb12u1", backports "6.10.11-1~bpo12+1", experimental "6.12~rc3-1~exp1" and the
// epoch Raspberry Pi OS uses ("Debian 1:6.6.51-1+rpt3").
const DEBIAN_PACKAGE_RE =
  /\bDebian (?:\d+:)?((\d+)\.(\d+)(?:\.(\d+))?(?:~rc(\d+))?[-+~][^\s()]*)\s+\(\d{4}-\d{2}-\d{2}\)/g;

// Debian 13 and bookworm-backports name the upstream version in the ABI: "6.12.41+deb13-amd64",
// "6.10.11+bpo-amd64".
const DEBIAN_VERSIONED_ABI_RE = /^\d+\.\d+\.\d+\+(?:deb\d+|bpo)(?:-|$)/;

// Ubuntu's mainline builds encode their upstream version: "6.11.5-061105-generic",
// "6.12.0-061200rc3-generic".
const UBUNTU_MAINLINE_RE = /^(\d+)\.(\d+)\.(\d+)-(\d{6})(?:rc(\d+))?-/;

// Debian and Ubuntu ABI names: "6.1.0-27-amd64", "5.15.0-91-generic". The ".0" is not the
// sublevel actually built, so without other evidence the version is unknown.
const ABI_NAME_RE = /^\d+\.\d+\.0-\d+(?:-([A-Za-z][\w.+-]*))?$/;
const UBUNTU_FLAVOUR_RE =
  /^(?:generic|lowlatency|aws|azure|gcp|gke|gkeop|oracle|kvm|raspi|ibm|nvidia|intel|realtime|oem)(?:-|$)/;
const DEBIAN_FLAVOUR_RE =
  /^(?:amd64|arm64|686|armmp|cloud-|rt-|powerpc64|s390x|riscv64|loong|mips|octeon|marvell|rpi|4kc|5kc)/;

const PLAIN_UPSTREAM_RE = /^\d+\.\d+(?:\.\d+)?(?:-rc\d+)?\+?$/;

export function identifyKernel(input: {
  release: string;
  procVersion: string;
  versionSignature?: string | null;
}): KernelIdentity {
  const procVersion = (input.procVersion ?? '').trim();
  let release = (input.release ?? '').trim();
  if (release === '') release = /^Linux version (\S+)/.exec(procVersion)?.[1] ?? '';
  const signature = (input.versionSignature ?? '').trim();

  const known = (
    distro: KernelDistro,
    upstream: KernelVersion,
    source: VersionSource,
    note: string,
  ): KernelIdentity => ({
    release,
    procVersion,
    upstream,
    upstreamString: formatVersion(upstream),
    source,
    distro,
    note,
  });
  const unknown = (distro: KernelDistro, note: string): KernelIdentity => ({
    release,
    procVersion,
    upstream: null,
    upstreamString: null,
    source: null,
    distro,
    note,
  });
  const shown = release === '' ? 'an empty release' : `"${release}"`;

  if (/^Ubuntu\s/.test(signature)) {
    // "Ubuntu 5.15.0-91.101-generic 5.15.131": the last field is the upstream base.
    const base = parseVersion(signature.split(/\s+/).pop()!.replace(/\+$/, ''));
    return base
      ? known(
          'ubuntu',
          base,
          'ubuntu-signature',
          `Ubuntu's uname -r ${shown} is an ABI name; /proc/version_signature gives the upstream base ${formatVersion(base)}, on which Ubuntu applies backports of its own.`,
        )
      : unknown('ubuntu', `/proc/version_signature "${signature}" does not end in an upstream version.`);
  }

  const debianPackage = [...procVersion.matchAll(DEBIAN_PACKAGE_RE)].pop();
  if (debianPackage) {
    const [, pkg, major, minor, patch, rc] = debianPackage;
    const version = makeVersion(major!, minor!, patch, rc);
    if (version) {
      return known(
        'debian',
        version,
        'debian',
        `Debian's uname -r ${shown} is an ABI name, not the version; /proc/version names the package ${pkg}, which is upstream ${formatVersion(version)}.`,
      );
    }
  }

  const leading = leadingVersion(release);

  if (leading && /\.fc\d+\b/.test(release)) {
    // Fedora writes release candidates as "6.12.0-0.rc3.31.fc42.x86_64".
    const rc = /^-0\.rc(\d+)\./.exec(leading.rest)?.[1];
    const version = rc === undefined ? leading.version : { ...leading.version, rc: Number(rc) };
    return known('fedora', version, 'uname', `Fedora kernel ${shown} carries the upstream version ${formatVersion(version)} in its name.`);
  }

  if (leading && /\.amzn\d+\b/.test(release)) {
    return known(
      'amazon',
      leading.version,
      'uname',
      `Amazon Linux kernel ${shown} is based on upstream ${formatVersion(leading.version)}, with backports of Amazon's own on top.`,
    );
  }

  if (/\.el\d+/.test(release)) {
    return unknown(
      'rhel',
      `${shown} is a Red Hat-family kernel (RHEL, CentOS, Rocky, Alma, Oracle): its version is a frozen base carrying years of vendor backports, so no upstream version applies.`,
    );
  }

  if (/geeko@buildhost/.test(procVersion) || /-150\d{3}\.\d/.test(release) || /-\d+(?:\.\d+)*-default$/.test(release)) {
    return unknown(
      'suse',
      `${shown} is a SUSE kernel: its version is a base that SUSE extends with backports, so no upstream version applies.`,
    );
  }

  if (leading && (/-arch\d+-\d+$/.test(release) || /@archlinux\)/.test(procVersion))) {
    return known('arch', leading.version, 'uname', `Arch Linux kernel ${shown} carries the upstream version ${formatVersion(leading.version)} in its name.`);
  }

  const mainline = UBUNTU_MAINLINE_RE.exec(release);
  if (mainline) {
    const [, major, minor, patch, code, rc] = mainline;
    const expected = [major, minor, patch].map((n) => n!.padStart(2, '0')).join('');
    const version = makeVersion(major!, minor!, patch, rc);
    if (version && code === expected) {
      return known('upstream', version, 'uname', `${shown} is Ubuntu's unmodified mainline build of upstream ${formatVersion(version)}.`);
    }
  }

  if (/#\d+\S*-Ubuntu\b/.test(procVersion)) {
    return unknown(
      'ubuntu',
      `Ubuntu's uname -r ${shown} is an ABI name, and without /proc/version_signature the upstream base it was built from is unknown.`,
    );
  }

  if (leading && DEBIAN_VERSIONED_ABI_RE.test(release)) {
    return known('debian', leading.version, 'uname', `Debian kernel ${shown} names its upstream version ${formatVersion(leading.version)} in the ABI name.`);
  }

  const abi = ABI_NAME_RE.exec(release);
  if (/debian-kernel@lists\.debian\.org/.test(procVersion) || (abi && DEBIAN_FLAVOUR_RE.test(abi[1] ?? ''))) {
    return unknown(
      'debian',
      `Debian's uname -r ${shown} is an ABI name, not the version, and /proc/version has no "Debian x.y.z-n (date)" entry to take the version from.`,
    );
  }
  if (abi) {
    const distro = UBUNTU_FLAVOUR_RE.test(abi[1] ?? '') ? 'ubuntu' : 'unknown';
    return unknown(distro, `${shown} looks like a distribution ABI name, whose ".0" is not the upstream sublevel, and nothing else names the version.`);
  }

  if (leading && PLAIN_UPSTREAM_RE.test(release)) {
    const local = release.endsWith('+') ? ' (the "+" marks local changes after that version)' : '';
    return known('upstream', leading.version, 'uname', `${shown} is an upstream version${local}.`);
  }

  if (leading && /^[-+._~]/.test(leading.rest)) {
    return known(
      'custom',
      leading.version,
      'uname',
      `${shown} is a local build: the suffix "${leading.rest}" is not part of the kernel version, so its base ${formatVersion(leading.version)} is taken as the upstream version.`,
    );
  }

  return unknown('unknown', `${shown} does not start with a kernel version this probe can read.`);
}

function readOptional(path: string): string | null {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Identifies the running kernel from os.release(), /proc/version and /proc/version_signature. */
export function readKernelIdentity(): KernelIdentity {
  return identifyKernel({
    release: os.release(),
    procVersion: readOptional('/proc/version') ?? '',
    versionSignature: readOptional('/proc/version_signature'),
  });
}
