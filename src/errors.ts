// Errors users can act on: errno `code`, `syscall`, and a sentence on what to do.
import util from 'node:util';

export class UringError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  constructor(message: string, code: string, errno: number, syscall: string) {
    super(message);
    this.name = 'UringError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
  }
}

const HINTS: Record<string, Record<string, string>> = {
  io_uring_setup: {
    EPERM:
      'io_uring is forbidden for this process. The usual causes are the sysctl kernel.io_uring_disabled ' +
      '(1 or 2; set it to 0, or add this user to kernel.io_uring_group) and seccomp profiles such as ' +
      "Docker's default, which blocks io_uring_setup (run with a profile that allows it). " +
      "uring-udp sockets fall back to a recvmmsg loop when this happens.",
    ENOSYS: 'this kernel was built without io_uring (CONFIG_IO_URING) or is older than 5.1.',
    ENOMEM:
      'the kernel could not allocate the ring. On kernels before 5.12 ring memory counts against ' +
      'RLIMIT_MEMLOCK: raise it (ulimit -l) or use fewer/smaller rings.',
    EINVAL: 'the kernel rejected these ring parameters; a flag (sqpoll, deferTaskrun, ...) it does not support may have been required.',
    EMFILE: 'this process has too many open files; raise the limit (ulimit -n) or close rings.',
    ENFILE: 'the system has too many open files.',
  },
};

/** Turns a negative errno from the kernel (a CQE's res) into a coded error. */
export function errnoError(negErrno: number, syscall: string, what?: string): UringError {
  const errno = Math.abs(negErrno);
  let code: string;
  try {
    code = util.getSystemErrorName(-errno);
  } catch {
    code = `E${errno}`;
  }
  const text = systemMessage(errno);
  const hint = HINTS[syscall]?.[code];
  const message = `${what ? `${what}: ` : ''}${syscall} failed: ${text} (${code})${hint ? `. ${hint}` : ''}`;
  return new UringError(message, code, -errno, syscall);
}

function systemMessage(errno: number): string {
  const entry = util.getSystemErrorMap().get(-errno);
  return entry ? entry[1] : `errno ${errno}`;
}

/** Re-throws an error from the addon (which carries code/errno/syscall) with the hint added. */
export function fromNative(error: unknown, what?: string): Error {
  const e = error as { code?: unknown; errno?: unknown; syscall?: unknown };
  if (error instanceof Error && typeof e.errno === 'number' && typeof e.syscall === 'string') {
    return errnoError(e.errno, e.syscall, what);
  }
  return error instanceof Error ? error : new Error(String(error));
}

export class RingClosedError extends Error {
  readonly code = 'ERR_RING_CLOSED';
  constructor(operation: string) {
    super(`${operation}: the ring is closed`);
    this.name = 'Error';
  }
}

/**
 * Rethrows an exception from user code as an uncaught exception, on the next tick. Completions
 * reach JS through Node-API thread-safe callbacks, where Node 20 only warns about a thrown
 * exception (DEP0168) and drops it; delivering the rest of the batch first and rethrowing
 * here gives the behaviour of any other callback: an 'uncaughtException', or a crash.
 */
export function rethrowLater(error: unknown): void {
  process.nextTick(() => {
    throw error;
  });
}
