// Known io_uring kernel bugs that can hang a ring thread, and the matcher that says whether a
// kernel has them.
//
// Sources, and what is inferred rather than stated:
// - DESIGN.md "Known kernel bugs": the bug descriptions, overflow-flush-lock's affected ranges
//   (6.1.113–6.1.115, 6.6.57–6.6.59) and fixes (6.1.116 / 6.6.60, 8d09a88ef9d3, 6.1.y
//   9f5a834715d0), and the sqpoll fixes 6.10 / 6.1.118 / 5.15.173.
// - The kernel CVE team's records (linux-cve-announce, kernel vulns repository), read for this
//   module: CVE-2024-50060 (eac2ca2d682f) was backported only to 6.1.113, 6.6.57 and 6.11.4 and
//   is in mainline from 6.12-rc1; CVE-2024-41080 (73254a297c2d) is fixed in 5.10.230 (b17397a0a5c5),
//   5.15.173 (97ed7ff58de6), 6.1.118 (fdacd09f2ddf), 6.6.62 (950ac86cff33), 6.9.11 (b571a367502c)
//   and mainline 6.10 (the release, not an rc). Series missing from those lists never got the
//   commit; the records say their unaffected versions "might change over time".
// - 8d09a88ef9d3 was merged for 6.10-rc1 (Jens Axboe's "io_uring updates for 6.10-rc1" pull),
//   not 6.12: mainline never combined the lock-dropping flush with a flush that may run without
//   uring_lock. Jens Axboe's stable mail names 6.6 and 6.1 as the only stable trees "of that age
//   that has the backport"; 6.11.4 got it on top of 8d09a88ef9d3. Kernels from 6.10-rc1 on
//   therefore count as fixed; series that ended before October 2024 (6.2–6.5, 6.7–6.9) and the
//   older LTS trees count as never having the faulty code.
// - 5.10.162 imported the 5.15 io_uring ("io_uring: import 5.15-stable io_uring", 788d0824269b),
//   which brought IORING_REGISTER_IOWQ_MAX_WORKERS into 5.10.y; hence the 5.10.230 fix.

import { compareVersions, parseVersion, type KernelIdentity, type KernelVersion } from './kernel';

export type BugVerdict = 'affected' | 'fixed' | 'not-affected' | 'unknown';

/**
 * A version bound: "6.1.113", "6.10-rc1", or a series wildcard as an upper bound: "6.0.*" (every
 * 6.0 release) or "6.10-rc*" (every 6.10 release candidate).
 */
export type VersionBound = string;

export interface KnownBug {
  id: 'overflow-flush-lock' | 'sqpoll-iowq-max-workers';
  title: string;
  cve?: string;
  summary: string;
  /** The upstream (mainline) fix. */
  fixCommit: string;
  fixTitle: string;
  /** Series ("6.1") -> the stable tree's commit of the fix, where known. */
  stableFixes: Record<string, string>;
  /** Inclusive ranges of upstream versions that have the bug. */
  affected: Array<{ from: VersionBound; to: VersionBound; note?: string }>;
  /**
   * First fixed versions: "6.1.116" covers the rest of the 6.1 series; a mainline version
   * ("6.10", "6.10-rc1") covers every later version of every series.
   */
  fixedIn: string[];
  /** Inclusive ranges that never had the bug, and why. */
  unaffected: Array<{ from: VersionBound; to: VersionBound; why: string }>;
  /**
   * The bug was created by backporting a change. A vendor that backports on its own can carry it
   * in a kernel whose base version predates every affected stable release.
   */
  introducedByBackport: boolean;
  references: string[];
}

export const KNOWN_BUGS: readonly KnownBug[] = [
  {
    id: 'overflow-flush-lock',
    title: 'CQ overflow flush leaves ctx->uring_lock unbalanced (faulty stable backport)',
    // No `cve`: CVE-2024-50060 names eac2ca2d682f, whose backport *causes* this bug; a kernel
    // "fixed for CVE-2024-50060" is exactly the one at risk.
    summary:
      'The 6.1.y and 6.6.y backports of upstream eac2ca2d682f "io_uring: check if we need to ' +
      'reschedule during overflow flush" (CVE-2024-50060) drop and retake ctx->uring_lock inside the ' +
      'CQ overflow flush even on rings where the flush runs without it; the next mutex_lock of ' +
      'uring_lock then blocks forever in D state (__mutex_lock <- io_uring_enter, or from task_work). ' +
      'It needs a non-empty CQ overflow list and need_resched() during the flush: a busy receiver ' +
      'whose CQ overflows.',
    fixCommit: '8d09a88ef9d3',
    fixTitle: 'io_uring: always lock __io_cqring_overflow_flush',
    stableFixes: { '6.1': '9f5a834715d0' },
    affected: [
      { from: '6.1.113', to: '6.1.115' },
      { from: '6.6.57', to: '6.6.59' },
    ],
    fixedIn: ['6.1.116', '6.6.60', '6.10-rc1'],
    unaffected: [
      {
        from: '0.0.0',
        to: '6.0.*',
        why: 'the series never received the faulty backport of eac2ca2d682f (only 6.1.y, 6.6.y and 6.11.y did)',
      },
      { from: '6.1-rc1', to: '6.1.112', why: 'predates 6.1.113, the first 6.1 release with the faulty backport' },
      {
        from: '6.2-rc1',
        to: '6.5.*',
        why: 'the series ended before the faulty backport of eac2ca2d682f was made (October 2024)',
      },
      { from: '6.6-rc1', to: '6.6.56', why: 'predates 6.6.57, the first 6.6 release with the faulty backport' },
      {
        from: '6.7-rc1',
        to: '6.9.*',
        why: 'the series ended before the faulty backport of eac2ca2d682f was made (October 2024)',
      },
    ],
    introducedByBackport: true,
    references: [
      'https://github.com/axboe/liburing/issues/1289',
      'https://github.com/nodejs/node/issues/55587',
      'https://github.com/libuv/libuv/issues/4598',
      'https://git.kernel.org/torvalds/c/8d09a88ef9d3cb7d21d45c39b7b7c31298d23998',
      'https://git.kernel.org/stable/c/9f5a834715d04f32cb8a8d25fe329d67e7d16e46',
      'https://git.kernel.org/stable/c/a2493904e95ce94bbec819d8f7f03b99976eb25c',
      'https://git.kernel.org/stable/c/f4ce3b5d26ce149e77e6b8e8f2058aa80e5b034e',
      'https://www.cve.org/CVERecord?id=CVE-2024-50060',
    ],
  },
  {
    id: 'sqpoll-iowq-max-workers',
    title: 'ABBA deadlock between IORING_REGISTER_IOWQ_MAX_WORKERS and the SQPOLL thread',
    cve: 'CVE-2024-41080',
    summary:
      'io_register_iowq_max_workers() takes sqd->lock (via io_put_sq_data) while holding ' +
      'ctx->uring_lock; the SQPOLL thread takes them in the other order. Needs an SQPOLL ring and a ' +
      'concurrent IORING_REGISTER_IOWQ_MAX_WORKERS. This is not the fix for overflow-flush-lock.',
    fixCommit: '73254a297c2d',
    fixTitle: 'io_uring: fix possible deadlock in io_register_iowq_max_workers()',
    stableFixes: {
      '5.10': 'b17397a0a5c5',
      '5.15': '97ed7ff58de6',
      '6.1': 'fdacd09f2ddf',
      '6.6': '950ac86cff33',
      '6.9': 'b571a367502c',
    },
    affected: [
      { from: '5.10.162', to: '5.10.229', note: '5.10.162 imported the 5.15 io_uring' },
      { from: '5.15-rc1', to: '5.15.172' },
      { from: '5.16-rc1', to: '6.0.*', note: 'these series ended without the fix' },
      { from: '6.1-rc1', to: '6.1.117' },
      { from: '6.2-rc1', to: '6.5.*', note: 'these series ended without the fix' },
      { from: '6.6-rc1', to: '6.6.61' },
      { from: '6.7-rc1', to: '6.8.*', note: 'these series ended without the fix' },
      { from: '6.9-rc1', to: '6.9.10' },
      { from: '6.10-rc1', to: '6.10-rc*', note: 'the fix landed in the 6.10 release itself' },
    ],
    fixedIn: ['5.10.230', '5.15.173', '6.1.118', '6.6.62', '6.9.11', '6.10'],
    unaffected: [
      {
        from: '0.0.0',
        to: '5.10.161',
        why: 'predates IORING_REGISTER_IOWQ_MAX_WORKERS (added in 5.15; in 5.10.y from 5.10.162)',
      },
      { from: '5.11-rc1', to: '5.14.*', why: 'predates IORING_REGISTER_IOWQ_MAX_WORKERS (added in 5.15)' },
    ],
    introducedByBackport: false,
    references: [
      'https://git.kernel.org/torvalds/c/73254a297c2dd094abec7c9efee32455ae875bdf',
      'https://git.kernel.org/stable/c/fdacd09f2ddf7a00787291f08ee48c0421e5b709',
      'https://git.kernel.org/stable/c/97ed7ff58de66c544692b3c2b988f3f594348de0',
      'https://www.cve.org/CVERecord?id=CVE-2024-41080',
    ],
  },
];

export interface BugAssessment {
  id: string;
  title: string;
  verdict: BugVerdict;
  reason: string;
}

/**
 * Vendors whose kernels report an upstream base but carry backports of the vendor's own beyond it,
 * so the base version alone cannot show a backported bug is absent or a fix is missing.
 */
const SELF_BACKPORTING: Partial<Record<KernelIdentity['distro'], string>> = {
  ubuntu: 'Ubuntu',
  amazon: 'Amazon Linux',
};

/** Parses a VersionBound; wildcards become the highest version they stand for. */
export function parseBound(bound: VersionBound): KernelVersion {
  const series = /^(\d+)\.(\d+)\.\*$/.exec(bound);
  if (series) return { major: Number(series[1]), minor: Number(series[2]), patch: Infinity };
  const rcs = /^(\d+)\.(\d+)-rc\*$/.exec(bound);
  if (rcs) return { major: Number(rcs[1]), minor: Number(rcs[2]), patch: 0, rc: Infinity };
  const v = parseVersion(bound);
  if (!v) throw new Error(`known-bugs table: bad version bound "${bound}"`);
  return v;
}

function inRange(v: KernelVersion, range: { from: VersionBound; to: VersionBound }): boolean {
  return compareVersions(v, parseBound(range.from)) >= 0 && compareVersions(v, parseBound(range.to)) <= 0;
}

const seriesOf = (v: KernelVersion): string => `${v.major}.${v.minor}`;

/** A stable fix ("6.1.116") covers its own series; a mainline one ("6.10", "6.10-rc1") all later versions. */
function isMainline(v: KernelVersion): boolean {
  return v.patch === 0;
}

/** The fix that applies to v's series: its stable fix if there is one, else the mainline fix. */
function fixFor(bug: KnownBug, v: KernelVersion): { version: string; commit: string; mainline: boolean } {
  const series = seriesOf(v);
  for (const fixed of bug.fixedIn) {
    const f = parseBound(fixed);
    if (!isMainline(f) && seriesOf(f) === series) {
      const commit = bug.stableFixes[series];
      return { version: fixed, commit: commit ?? `a backport of ${bug.fixCommit}`, mainline: false };
    }
  }
  const mainline = bug.fixedIn.find((fixed) => isMainline(parseBound(fixed))) ?? '(none)';
  return { version: mainline, commit: bug.fixCommit, mainline: true };
}

function assessVersion(bug: KnownBug, v: KernelVersion, shown: string): { verdict: BugVerdict; reason: string } {
  const range = bug.affected.find((r) => inRange(v, r));
  if (range) {
    const fix = fixFor(bug, v);
    const note = range.note ? ` (${range.note})` : '';
    const where = fix.mainline ? `upstream in ${fix.version}` : `in ${fix.version}`;
    return {
      verdict: 'affected',
      reason: `${shown} lies in ${range.from}–${range.to}${note}; fixed ${where} by ${fix.commit}`,
    };
  }

  for (const fixed of bug.fixedIn) {
    const f = parseBound(fixed);
    const applies = isMainline(f) || seriesOf(f) === seriesOf(v);
    if (applies && compareVersions(v, f) >= 0) {
      const commit = isMainline(f) ? bug.fixCommit : (bug.stableFixes[seriesOf(f)] ?? `a backport of ${bug.fixCommit}`);
      const what = isMainline(f) ? `the mainline fix ${commit}, merged for ${fixed}` : `${commit}, the ${seriesOf(f)}.y fix released in ${fixed}`;
      return { verdict: 'fixed', reason: `${shown} is at or past ${fixed} and has ${what}` };
    }
  }

  const clean = bug.unaffected.find((r) => inRange(v, r));
  if (clean) return { verdict: 'not-affected', reason: `${shown}: ${clean.why}` };

  return { verdict: 'unknown', reason: `the table has no facts about the ${seriesOf(v)} series` };
}

export function assessBug(bug: KnownBug, kernel: KernelIdentity): BugAssessment {
  const base = { id: bug.id, title: bug.title };
  if (!kernel.upstream || !kernel.upstreamString) {
    return { ...base, verdict: 'unknown', reason: `the upstream version is unknown: ${kernel.note}` };
  }

  const shown = kernel.upstreamString;
  const { verdict, reason } = assessVersion(bug, kernel.upstream, shown);
  const vendor = SELF_BACKPORTING[kernel.distro];
  if (!vendor) return { ...base, verdict, reason };

  if (verdict === 'not-affected' && bug.introducedByBackport) {
    return {
      ...base,
      verdict: 'unknown',
      reason:
        `upstream ${reason}, but ${vendor} backports fixes on its own on top of ${shown} and may carry ` +
        `the faulty change; check the kernel package changelog for "${bug.fixTitle}"`,
    };
  }
  if (verdict === 'affected') {
    return {
      ...base,
      verdict,
      reason: `${reason}, unless ${vendor} backported "${bug.fixTitle}" on top of ${shown} (its kernel changelog would say)`,
    };
  }
  return { ...base, verdict, reason };
}

export function assessKernel(kernel: KernelIdentity): BugAssessment[] {
  return KNOWN_BUGS.map((bug) => assessBug(bug, kernel));
}
