// The errors a socket throws or emits, shaped like node:dgram's (same codes, same messages):
// code written for dgram matches on them. Errno errors of the socket's own syscalls are
// errnoException() (src/errors.ts), libuv-style.
import util from 'node:util';

import { codedError } from '../errors';

/**
 * A coded error as node:dgram makes them, String(error) included: "Error [ERR_X]: message"
 * (Node's coded errors say so; not enumerable, so invisible to inspect and deep equality).
 */
function dgramError<T extends Error>(error: T, code: string): T & { code: string } {
  const coded = codedError(error, code);
  Object.defineProperty(coded, 'toString', {
    value(this: Error & { code: string }) {
      return `${this.name} [${this.code}]: ${this.message}`;
    },
    enumerable: false,
    writable: true,
    configurable: true,
  });
  return coded;
}

export const notRunning = () => dgramError(new Error('Not running'), 'ERR_SOCKET_DGRAM_NOT_RUNNING');
export const alreadyBound = () => dgramError(new Error('Socket is already bound'), 'ERR_SOCKET_ALREADY_BOUND');
export const isConnected = () => dgramError(new Error('Already connected'), 'ERR_SOCKET_DGRAM_IS_CONNECTED');
export const notConnected = () => dgramError(new Error('Not connected'), 'ERR_SOCKET_DGRAM_NOT_CONNECTED');
export const badType = () => dgramError(new TypeError('Bad socket type specified. Valid types are: udp4, udp6'), 'ERR_SOCKET_BAD_TYPE');
export const badBufferSize = () => dgramError(new TypeError('Buffer size must be a positive integer'), 'ERR_SOCKET_BAD_BUFFER_SIZE');
export const missingArgs = (name: string) => dgramError(new TypeError(`The "${name}" argument must be specified`), 'ERR_MISSING_ARGS');

/**
 * What Node's coded errors say of the value they got ("an instance of Object", "type number
 * (23)", "null"), word for word: code written for dgram matches on these messages.
 */
export function describeReceived(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'function' && value.name) return `function ${value.name}`;
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === 'string' && name !== '') return `an instance of ${name}`;
    return util.inspect(value, { depth: -1 });
  }
  // A long string is cut before it is quoted; nothing else is cut.
  const shown = typeof value === 'string' && value.length > 28 ? `${value.slice(0, 25)}...` : value;
  return `type ${typeof value} (${util.inspect(shown, { colors: false })})`;
}

export function badPort(value: unknown, allowZero: boolean): RangeError {
  return dgramError(
    new RangeError(`Port should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${describeReceived(value)}.`),
    'ERR_SOCKET_BAD_PORT',
  );
}

/** ERR_INVALID_ARG_TYPE as Node words it: a dotted name ("options.signal") is a property. */
export function invalidArgType(name: string, expected: string, value: unknown): TypeError {
  const what = name.includes('.') ? 'property' : 'argument';
  return dgramError(
    new TypeError(`The "${name}" ${what} must be ${expected}. Received ${describeReceived(value)}`),
    'ERR_INVALID_ARG_TYPE',
  );
}

export function outOfRange(name: string, range: string, value: unknown): RangeError {
  return dgramError(new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${value}`), 'ERR_OUT_OF_RANGE');
}

export const outOfBounds = (name: 'offset' | 'length') =>
  dgramError(new RangeError(`"${name}" is outside of buffer bounds`), 'ERR_BUFFER_OUT_OF_BOUNDS');

export const invalidArgValue = (message: string) => dgramError(new TypeError(message), 'ERR_INVALID_ARG_VALUE');

export function bufferSizeError(syscall: string): Error {
  const error = dgramError(
    new Error(`Could not get or set buffer size: ${syscall} returned EBADF (bad file descriptor)`),
    'ERR_SOCKET_BUFFER_SIZE',
  );
  return Object.assign(error, { errno: -9, syscall, info: { errno: -9, code: 'EBADF', message: 'bad file descriptor', syscall } });
}

/** What each io_uring backend needs, and the Linux release that first had it. */
const BACKEND_NEEDS: Record<string, string> = {
  'recvmsg-multishot': 'io_uring with provided buffer rings and multishot recvmsg (Linux 6.0)',
  'poll-recvmmsg': 'io_uring with multishot poll (Linux 5.13)',
};

export function backendUnavailable(forced: string, cause: Error): Error {
  const needs = BACKEND_NEEDS[forced] ?? 'io_uring';
  return dgramError(
    new Error(`backend '${forced}' was forced but cannot run here: it needs ${needs}, and ${cause.message}`, { cause }),
    'ERR_URING_BACKEND_UNAVAILABLE',
  );
}

export const batchReleased = () =>
  dgramError(
    new Error(
      'this batch was released when its handler returned (or its batches() loop moved on) and its memory now holds later ' +
        'datagrams: copy what you keep while the handler runs (Buffer.from(batch.payload(i))), or call batch.keep() there',
    ),
    'ERR_URING_BATCH_RELEASED',
  );
