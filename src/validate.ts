// Argument validation with exact messages, done before anything crosses into C++.
import { closest, distance } from 'fastest-levenshtein';

import { codedError } from './errors';

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'function') return 'a function';
  return String(value);
}

export function typeError(message: string): TypeError {
  return codedError(new TypeError(message), 'ERR_INVALID_ARG_TYPE');
}

/** A value of the right type that is not allowed (a contradiction between options, say). */
export function valueError(message: string): TypeError {
  return codedError(new TypeError(message), 'ERR_INVALID_ARG_VALUE');
}

export function rangeError(message: string): RangeError {
  return codedError(new RangeError(message), 'ERR_OUT_OF_RANGE');
}

/** Rejects option names this API does not know, suggesting the near miss. */
/** The known name `name` is most likely a typo of (same but for case, or a few edits away); undefined if none. */
export function nearMiss(name: string, known: readonly string[]): string | undefined {
  if (known.includes(name)) return undefined;
  const lower = known.find((k) => k.toLowerCase() === name.toLowerCase());
  const near = lower ?? closest(name, known as string[]);
  return lower || distance(name, near) <= Math.max(2, Math.floor(name.length / 4)) ? near : undefined;
}

export function checkOptionNames(options: object, known: readonly string[], what: string): void {
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    const suggestion = nearMiss(name, known);
    throw valueError(
      suggestion
        ? `Misspelled ${what} option "${name}" should be "${suggestion}"`
        : `Unknown ${what} option "${name}"; known options: ${known.join(', ')}`,
    );
  }
}

export function optionsObject(value: unknown, what: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw typeError(`${what} options must be an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

export function integer(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') throw typeError(`"${name}" must be an integer in ${min}..${max}, got ${describe(value)}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw rangeError(`"${name}" must be an integer in ${min}..${max}, got ${describe(value)}`);
  }
  return value;
}

export function powerOfTwo(value: unknown, name: string, min: number, max: number): number {
  const message = `"${name}" must be a power of two in ${min}..${max}, got ${describe(value)}`;
  if (typeof value !== 'number') throw typeError(message);
  if (!Number.isInteger(value) || value < min || value > max || (value & (value - 1)) !== 0) throw rangeError(message);
  return value;
}

export function boolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw typeError(`"${name}" must be a boolean, got ${describe(value)}`);
  return value;
}

export function oneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    const list = allowed.map((a) => `'${a}'`).join(' | ');
    throw (typeof value === 'string' ? rangeError : typeError)(`"${name}" must be ${list}, got ${describe(value)}`);
  }
  return value as T;
}

export function fd(value: unknown, name = 'fd'): number {
  return integer(value, name, 0, 2147483647);
}

/** The watchdog option of a Ring or a socket: false (unwatched) or its own thresholds. */
export function watchdogOption(value: unknown, what: string): false | { stuckMs?: number; starvedMs?: number } {
  if (value === false) return false;
  const o = optionsObject(value, `${what} watchdog`);
  checkOptionNames(o, ['stuckMs', 'starvedMs'], `${what} watchdog`);
  const out: { stuckMs?: number; starvedMs?: number } = {};
  if (o.stuckMs !== undefined) out.stuckMs = integer(o.stuckMs, 'watchdog.stuckMs', 1, 3600000);
  if (o.starvedMs !== undefined) out.starvedMs = integer(o.starvedMs, 'watchdog.starvedMs', 1, 3600000);
  return out;
}
