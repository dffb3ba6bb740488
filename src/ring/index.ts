// Rings: io_uring from TypeScript, one native thread per ring.
export { Ring } from './ring';
export type { RingStats } from './ring';
export { decodeFeatures } from './options';
export type { RingOptions, RingFeatures, RingSetup, RequestOptions, PollOptions } from './options';
