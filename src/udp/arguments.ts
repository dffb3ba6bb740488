// Coercing a socket method's arguments the way node:dgram does: ports, payloads.
import { badPort, invalidArgType } from './errors';

export type DatagramData = string | Uint8Array | DataView | ArrayBufferView;

/** A port as dgram takes it: an integer (or an integer string) in 0..65535, or 1..65535. */
export function validPort(value: unknown, allowZero: boolean): number {
  if (typeof value === 'string' && value.trim() !== '' && Number.isInteger(Number(value))) value = Number(value);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1) || value > 65535) {
    throw badPort(value, allowZero);
  }
  return value;
}

/** A payload as bytes: strings encoded as UTF-8, views taken as they are (no copy). */
export function toBytes(value: unknown, name: string): Uint8Array {
  if (typeof value === 'string') return Buffer.from(value);
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) {
    // A view over a detached buffer is empty (an ArrayBuffer's byteLength says 0 once detached;
    // a DataView's own getters throw, and V8 refuses to construct over one): an empty datagram.
    if (value.buffer.byteLength === 0) return new Uint8Array(0);
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  throw invalidArgType(name, 'of type string or an instance of Buffer, TypedArray, or DataView', value);
}

/**
 * A copy of bytes that must outlive the call that passed them (they may be a borrowed batch's).
 * An empty view is not copied: one over a detached buffer reads as empty, but V8 refuses to
 * construct from it.
 */
export const copyBytes = (bytes: Uint8Array): Uint8Array => (bytes.byteLength === 0 ? new Uint8Array(0) : new Uint8Array(bytes));
