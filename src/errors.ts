// The package's one family of errors: every error it makes carries a `code`, and errors of a
// failed system call carry `errno` and `syscall` too. Two message styles, on purpose:
// - errnoError(): "ring.read(): read failed: Bad file descriptor (EBADF). <what to do>", for
//   rings, polls and the probe — an error users can act on, with a hint where one is known;
// - errnoException(): "send EMSGSIZE 127.0.0.1:1234", for sockets — what node:dgram's (libuv's)
//   errors say, which code written for dgram matches on.
import util from 'node:util';

/**
 * Gives an error its `code`, and its stack Node's first line for coded errors ("TypeError
 * [ERR_INVALID_ARG_TYPE]: ..."), as node:dgram's errors print.
 */
export function codedError<T extends Error>(error: T, code: string): T & { code: string } {
  Object.defineProperty(error, 'code', { value: code, enumerable: true, writable: true, configurable: true });
  if (typeof error.stack === 'string' && error.stack.startsWith(`${error.name}: `)) {
    error.stack = `${error.name} [${code}]${error.stack.slice(error.name.length)}`;
  }
  return error as T & { code: string };
}

/** A failed system call (or io_uring request) of a ring, a poll or the probe. */
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

function errnoName(errno: number): string {
  try {
    return util.getSystemErrorName(-errno);
  } catch {
    return `E${errno}`;
  }
}

function systemMessage(errno: number): string {
  const entry = util.getSystemErrorMap().get(-errno);
  return entry ? entry[1] : `errno ${errno}`;
}

/** Turns a negative errno from the kernel (a CQE's res) into a coded error, with what to do about it. */
export function errnoError(negErrno: number, syscall: string, what?: string): UringError {
  const errno = Math.abs(negErrno);
  const code = errnoName(errno);
  const hint = HINTS[syscall]?.[code];
  const message = `${what ? `${what}: ` : ''}${syscall} failed: ${systemMessage(errno)} (${code})${hint ? `. ${hint}` : ''}`;
  return new UringError(message, code, -errno, syscall);
}

/** Re-throws an error from the addon (which carries code/errno/syscall) as errnoError() would make it. */
export function fromNative(error: unknown, what?: string): Error {
  const e = error as { errno?: unknown; syscall?: unknown };
  if (error instanceof Error && typeof e.errno === 'number' && typeof e.syscall === 'string') {
    return errnoError(e.errno, e.syscall, what);
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** An errno error shaped like libuv's for node:dgram: "send EMSGSIZE 127.0.0.1:1234", with code, errno, syscall. */
export function errnoException(negErrno: number, syscall: string, address?: string, port?: number): NodeJS.ErrnoException {
  const code = errnoName(Math.abs(negErrno));
  const where = address !== undefined ? ` ${address}${port !== undefined && port > 0 ? `:${port}` : ''}` : '';
  const error = new Error(`${syscall} ${code}${where}`) as NodeJS.ErrnoException & { address?: string; port?: number };
  error.errno = -Math.abs(negErrno);
  error.code = code;
  error.syscall = syscall;
  if (address !== undefined) error.address = address;
  if (port !== undefined && port > 0) error.port = port;
  return error;
}

/** Re-throws an error from the addon as errnoException() would make it. */
export function fromNativeErrno(error: unknown, syscall: string, address?: string, port?: number): Error {
  const e = error as { errno?: number };
  if (error instanceof Error && typeof e.errno === 'number') return errnoException(e.errno, syscall, address, port);
  return error as Error;
}

/** A request on a ring that was closed: `code` ERR_RING_CLOSED. */
export class RingClosedError extends Error {
  readonly code = 'ERR_RING_CLOSED';
  constructor(operation: string) {
    super(`${operation}: the ring is closed`);
    // Named like Node's own coded errors: "Error [ERR_RING_CLOSED]: ..." (codedError's stack).
    this.name = 'Error';
    codedError(this, this.code);
  }
}

/** What a RingStuckError says of the stall that stuck its ring (a watchdog Stall). */
export interface StuckReport {
  id: number;
  ageMs: number;
  thread: { tid: number; state: string; wchan: string; inKernel: boolean };
  kernel: { release: string };
}

/**
 * A request on a ring the watchdog reported stuck (its thread in state D, or past its bound inside
 * io_uring_enter): `code` ERR_URING_RING_STUCK, `stall` the report. Nothing on that ring can
 * complete; close() still resolves.
 */
export class RingStuckError extends Error {
  readonly code = 'ERR_URING_RING_STUCK';
  readonly stall: StuckReport;
  constructor(operation: string, stall: StuckReport) {
    const where = stall.thread.inKernel ? 'inside io_uring_enter' : `in state ${stall.thread.state || 'D'}`;
    const wchan = stall.thread.wchan ? `, wchan ${stall.thread.wchan}` : '';
    super(
      `${operation}: ring ${stall.id} is stuck: its thread ${stall.thread.tid} has been ${where} for ${Math.round(stall.ageMs)} ms ` +
        `(kernel ${stall.kernel.release}${wchan}); no request on it can complete (docs/kernel-bugs.md)`,
    );
    this.name = 'Error';
    this.stall = stall;
    codedError(this, this.code);
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
