// uring-udp: io_uring for Node.js.
export { Ring, decodeFeatures } from './ring';
export type { RingOptions, RingFeatures, RingSetup, RingStats, RequestOptions, PollOptions } from './ring';
export { watchdog, configureWatchdog, stallChannel, recoverChannel } from './watchdog';
export type { Stall, StallKind, StallOwner, Recovery, StallThread, StallRing, StallKernel, WatchdogOptions } from './watchdog';
export { PollHandle, decodePollEvents } from './poll';
export type { PollEventName, PollEvents, PollStats } from './poll';
export { probe } from './probe';
export { configureReceivers, receiverInfo } from './receivers';
export type { ReceiverOptions, ReceiverInfo } from './receivers';
export type { ProbeResult, ProbedFeature } from './probe';
export { KNOWN_BUGS, assessKernel, assessBug } from './bugs';
export type { KnownBug, BugAssessment, BugVerdict } from './bugs';
export { identifyKernel, readKernelIdentity, parseVersion, compareVersions, formatVersion } from './kernel';
export type { KernelIdentity, KernelVersion } from './kernel';
export { UringError, RingClosedError } from './errors';
export { OPCODE_NAMES, opcodeName } from './opcodes';
export { createSocket, Socket, DatagramBatch } from './udp';
export type { SocketOptions, SocketType, Backend, RemoteInfo, SocketStats, BatchHandler, Destination, BindOptions, DatagramData } from './udp';
