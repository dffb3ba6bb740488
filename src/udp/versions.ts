// What node:dgram does differently from one Node major to the next, where the drop-in follows
// the Node it runs on (docs/api.md, "Node versions"). Each is checked against that Node's own
// dgram by test/dgram-compat.test.ts.
export const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

/** Node 24 stopped asking the default lookup (dns.lookup) about IP literals; a `lookup` option is still asked. */
export const DEFAULT_LOOKUP_SKIPS_IP_LITERALS = NODE_MAJOR >= 24;

/** The DEP0112 members (_handle, _receiving, _bindState, _queue, _reuseAddr, _healthCheck(), _stopReceiving()): gone in Node 26. */
export const HAS_DEP0112_MEMBERS = NODE_MAJOR < 26;

/** Symbol.asyncDispose, or on Node 20 and 22 (no such symbol yet) the one Node itself uses. */
export const ASYNC_DISPOSE: symbol = (Symbol as { asyncDispose?: symbol }).asyncDispose ?? Symbol.for('nodejs.asyncDispose');
