// UDP sockets: a drop-in for node:dgram's createSocket and Socket, received through io_uring
// (or a fallback), with a batch API that crosses into JS once per batch.
export { Socket, createSocket } from './socket';
export type { RemoteInfo, SocketStats, Destination, BindOptions, SendBatchOptions } from './socket';
export { DatagramBatch } from './batch';
export type { BatchHandler } from './batch';
export type { SocketOptions, SocketType, Backend, LookupFunction } from './options';
export { kReproRing } from './options';
export type { ReproRing } from './options';
export type { DatagramData } from './arguments';
