// What the package does about the known hangs by default (docs/kernel-bugs.md): a Ring cannot
// overflow its CQ where the overflow-flush-lock bug may be present (the bug needs an overflow),
// and sockets' receiver rings never can. The policy is per Ring (option cqOverflow), per process
// (URING_UDP_CQ_OVERFLOW), or follows this kernel's verdict.
import { KNOWN_BUGS, assessBug, type BugAssessment } from './bugs';
import { readKernelIdentity } from './kernel';
import * as v from './validate';

export type CqOverflowPolicy = 'prevent' | 'allow';

export interface CqOverflowDefault {
  policy: CqOverflowPolicy;
  /** Where it comes from: URING_UDP_CQ_OVERFLOW, or this kernel's overflow-flush-lock verdict. */
  source: 'env' | 'kernel';
  /** The overflow-flush-lock assessment of this kernel. */
  bug: BugAssessment;
}

let cached: BugAssessment | undefined;

/** This kernel's overflow-flush-lock assessment (read once). */
export function overflowFlushLock(): BugAssessment {
  if (!cached) cached = assessBug(KNOWN_BUGS.find((b) => b.id === 'overflow-flush-lock')!, readKernelIdentity());
  return cached;
}

/** The process's default for Rings: the environment's, else prevent unless the bug is known fixed or absent. */
export function cqOverflowDefault(): CqOverflowDefault {
  const bug = overflowFlushLock();
  const text = process.env.URING_UDP_CQ_OVERFLOW;
  if (text !== undefined && text !== '') {
    if (text !== 'prevent' && text !== 'allow') {
      throw v.rangeError(`URING_UDP_CQ_OVERFLOW must be "prevent" or "allow", got ${JSON.stringify(text)}`);
    }
    return { policy: text, source: 'env', bug };
  }
  const safe = bug.verdict === 'fixed' || bug.verdict === 'not-affected';
  return { policy: safe ? 'allow' : 'prevent', source: 'kernel', bug };
}

let warned = false;

/** A Ring's policy: its option, else the default. 'allow' where the bug may be present warns once. */
export function resolveCqOverflow(option: unknown): CqOverflowPolicy {
  const fallback = cqOverflowDefault();
  const policy = option === undefined ? fallback.policy : v.oneOf(option, 'cqOverflow', ['prevent', 'allow'] as const);
  const risky = fallback.bug.verdict === 'affected';
  if (policy === 'allow' && risky && !warned) {
    warned = true;
    process.emitWarning(
      `cqOverflow 'allow' on a kernel affected by overflow-flush-lock (${fallback.bug.reason}): a Ring whose CQ ` +
        'overflows can hang its thread in the kernel forever (docs/kernel-bugs.md)',
      { code: 'URING_UDP_CQ_OVERFLOW_ALLOWED' },
    );
  }
  return policy;
}

/** One of the package's protections against the known hangs, as `uring-udp probe` shows it. */
export interface Protection {
  /** What is protected. */
  name: 'ring-cq-overflow' | 'socket-receivers' | 'stuck-ring' | 'sqpoll-iowq-max-workers';
  /** 'on': the package prevents or handles it by default; 'off': it does not (why says what to do). */
  state: 'on' | 'off';
  /** Why, in a sentence. */
  why: string;
}

/** What the package does about the known hangs on this kernel, with this process's settings. */
export function protections(multishotPoll: boolean): Protection[] {
  const d = cqOverflowDefault();
  const from = d.source === 'env' ? `URING_UDP_CQ_OVERFLOW=${d.policy}` : `overflow-flush-lock verdict ${d.bug.verdict}`;
  return [
    {
      name: 'ring-cq-overflow',
      state: d.policy === 'prevent' ? 'on' : 'off',
      why:
        d.policy === 'prevent'
          ? `Rings default to cqOverflow 'prevent' (${from}): their CQ cannot overflow, polls are armed single-shot`
          : `Rings default to cqOverflow 'allow' (${from}${multishotPoll ? '' : '; polls are single-shot anyway: no multishot poll here'}): ` +
            "an overflow cannot hang this kernel; set cqOverflow: 'prevent' or URING_UDP_CQ_OVERFLOW=prevent not to trust it",
    },
    {
      name: 'socket-receivers',
      state: 'on',
      why: 'receiver rings admit no more completions than their CQ holds (they cannot overflow); a socket on a stuck receiver fails over to its JS thread',
    },
    {
      name: 'stuck-ring',
      state: 'on',
      why: "a Ring the watchdog reports stuck rejects its requests with ERR_URING_RING_STUCK and close() resolves; its thread is left in the kernel",
    },
    {
      name: 'sqpoll-iowq-max-workers',
      state: 'off',
      why: 'needs sqpoll: true and setIowqMaxWorkers() together, both off unless asked for: do not combine them on an affected kernel',
    },
  ];
}
