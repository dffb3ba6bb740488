// probe(): the running kernel, what its io_uring can do (found by trying), and which known
// kernel bugs affect it.
import { assessKernel, type BugAssessment } from './bugs';
import { protections, type Protection } from './prevention';
import { errnoError } from './errors';
import { readKernelIdentity, type KernelIdentity } from './kernel';
import { binding } from './native';
import { opcodeName } from './opcodes';
import { decodeFeatures, type RingFeatures } from './ring';

export interface ProbedFeature {
  supported: boolean;
  /** errno name of the attempt that said no, when it had one (EINVAL: the kernel does not know it). */
  code?: string;
}

export interface ProbeResult {
  kernel: KernelIdentity;
  /** Whether io_uring_setup works for this process. */
  usable: boolean;
  /** Why not, when it does not (with what to do). */
  reason?: string;
  /** errno name from io_uring_setup when unusable. */
  code?: string;
  /** IORING_FEAT_* reported by io_uring_setup. */
  ringFeatures: RingFeatures | null;
  /** Opcodes this kernel supports (io_uring_get_probe), by name. */
  opcodes: string[];
  /** Features found by trying them. */
  features: {
    multishotPoll: ProbedFeature;
    providedBufferRings: ProbedFeature;
    multishotRecvmsg: ProbedFeature;
    incrementalBuffers: ProbedFeature;
    singleIssuer: ProbedFeature;
    deferTaskrun: ProbedFeature;
    coopTaskrun: ProbedFeature;
    sqpoll: ProbedFeature;
  };
  /** Known kernel bugs and whether they affect this kernel. */
  bugs: BugAssessment[];
  /** What the package does about those bugs here, with this process's settings. */
  protections: Protection[];
}

const FEATURE_NAMES = [
  'multishotPoll',
  'providedBufferRings',
  'multishotRecvmsg',
  'incrementalBuffers',
  'singleIssuer',
  'deferTaskrun',
  'coopTaskrun',
  'sqpoll',
] as const;

let cached: Promise<ProbeResult> | undefined;

/**
 * Probes the running kernel. The attempts run on a libuv pool thread, never on the JS thread.
 * The result is cached per process; pass `{ fresh: true }` to probe again.
 */
export function probe(options?: { fresh?: boolean }): Promise<ProbeResult> {
  if (!cached || options?.fresh) cached = runProbe();
  return cached;
}

async function runProbe(): Promise<ProbeResult> {
  const kernel = readKernelIdentity();
  const raw = await binding.probe();
  const features = {} as ProbeResult['features'];
  for (const name of FEATURE_NAMES) {
    const entry = raw.tried[name];
    features[name] = entry ? { supported: entry.supported, ...(entry.code ? { code: entry.code } : {}) } : { supported: false };
  }
  const result: ProbeResult = {
    kernel,
    usable: raw.usable,
    ringFeatures: raw.usable ? decodeFeatures(raw.features) : null,
    opcodes: raw.opcodes.map(opcodeName),
    features,
    bugs: assessKernel(kernel),
    protections: protections(features.multishotPoll.supported),
  };
  if (!raw.usable && raw.setupError) {
    const error = errnoError(raw.setupError.errno, 'io_uring_setup');
    result.reason = error.message;
    result.code = error.code;
  }
  return result;
}
