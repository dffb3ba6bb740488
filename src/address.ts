// Sender addresses, formatted from the raw bytes the receiver thread records, with a small
// cache: a server hears from the same peers over and over, and formatting is the costly part.

const CACHE_LIMIT = 4096;
const v4Cache = new Map<number, string>();
const v6Cache = new Map<string, string>();

/** IPv4 from four bytes of `bytes` at `offset` (network order). */
export function formatIPv4(bytes: Uint8Array, offset: number): string {
  const key = ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
  let text = v4Cache.get(key);
  if (text === undefined) {
    text = `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
    if (v4Cache.size >= CACHE_LIMIT) v4Cache.clear();
    v4Cache.set(key, text);
  }
  return text;
}

/** Whether this machine reads a Uint32Array's words little-endian (x86-64 and arm64 do). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * IPv4 from a 32-bit word of a Uint32Array over four network-order bytes, on a little-endian
 * machine (LITTLE_ENDIAN): the same text and cache as formatIPv4, without a byte view.
 */
export function formatIPv4Word(word: number): string {
  const key = (((word & 0xff) << 24) | (((word >>> 8) & 0xff) << 16) | (((word >>> 16) & 0xff) << 8) | (word >>> 24)) >>> 0;
  let text = v4Cache.get(key);
  if (text === undefined) {
    text = `${key >>> 24}.${(key >>> 16) & 0xff}.${(key >>> 8) & 0xff}.${key & 0xff}`;
    if (v4Cache.size >= CACHE_LIMIT) v4Cache.clear();
    v4Cache.set(key, text);
  }
  return text;
}

/** IPv6 (RFC 5952: lowercase, longest run of zero groups as "::", IPv4-mapped as ::ffff:a.b.c.d). */
export function formatIPv6(bytes: Uint8Array, offset: number): string {
  let key = '';
  for (let i = 0; i < 16; i++) key += String.fromCharCode(bytes[offset + i]!);
  let text = v6Cache.get(key);
  if (text === undefined) {
    text = formatIPv6Uncached(bytes, offset);
    if (v6Cache.size >= CACHE_LIMIT) v6Cache.clear();
    v6Cache.set(key, text);
  }
  return text;
}

function formatIPv6Uncached(bytes: Uint8Array, offset: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[offset + 2 * i]! << 8) | bytes[offset + 2 * i + 1]!);
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  if (mapped) return `::ffff:${formatIPv4(bytes, offset + 12)}`;
  // Longest run of two or more zero groups; the first one wins a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
