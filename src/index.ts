// uring-udp: io_uring for Node.js.
//
// Every export is a plain data property (exports.x = x), as node:dgram's are, not TypeScript's
// re-export getters: code that patches the module — `dgram.createSocket = wrapped`, sinon stubs,
// APM instrumentation, a test's mock — works on this package as it does on dgram.
import * as bugs from './bugs';
import * as errors from './errors';
import * as kernel from './kernel';
import * as opcodes from './opcodes';
import * as poll from './poll';
import * as prevention from './prevention';
import * as probeModule from './probe';
import * as receivers from './receivers';
import * as ring from './ring';
import * as udp from './udp';
import * as watchdogModule from './watchdog';

export const Ring: typeof ring.Ring = ring.Ring;
export type Ring = ring.Ring;
export const decodeFeatures: typeof ring.decodeFeatures = ring.decodeFeatures;
export type { RingOptions, RingFeatures, RingSetup, RingStats, RequestOptions, PollOptions } from './ring';
export const watchdog: typeof watchdogModule.watchdog = watchdogModule.watchdog;
export const configureWatchdog: typeof watchdogModule.configureWatchdog = watchdogModule.configureWatchdog;
export const stallChannel: typeof watchdogModule.stallChannel = watchdogModule.stallChannel;
export const recoverChannel: typeof watchdogModule.recoverChannel = watchdogModule.recoverChannel;
export type { Stall, StallKind, StallOwner, Recovery, StallThread, StallRing, StallKernel, WatchdogOptions } from './watchdog';
export const PollHandle: typeof poll.PollHandle = poll.PollHandle;
export type PollHandle = poll.PollHandle;
export const decodePollEvents: typeof poll.decodePollEvents = poll.decodePollEvents;
export type { PollEventName, PollEvents, PollStats } from './poll';
export const probe: typeof probeModule.probe = probeModule.probe;
export const configureReceivers: typeof receivers.configureReceivers = receivers.configureReceivers;
export const receiverInfo: typeof receivers.receiverInfo = receivers.receiverInfo;
export type { ReceiverOptions, ReceiverInfo } from './receivers';
export type { ProbeResult, ProbedFeature } from './probe';
export const cqOverflowDefault: typeof prevention.cqOverflowDefault = prevention.cqOverflowDefault;
export const protections: typeof prevention.protections = prevention.protections;
export type { CqOverflowPolicy, CqOverflowDefault, Protection } from './prevention';
export const KNOWN_BUGS: typeof bugs.KNOWN_BUGS = bugs.KNOWN_BUGS;
export const assessKernel: typeof bugs.assessKernel = bugs.assessKernel;
export const assessBug: typeof bugs.assessBug = bugs.assessBug;
export type { KnownBug, BugAssessment, BugVerdict } from './bugs';
export const identifyKernel: typeof kernel.identifyKernel = kernel.identifyKernel;
export const readKernelIdentity: typeof kernel.readKernelIdentity = kernel.readKernelIdentity;
export const parseVersion: typeof kernel.parseVersion = kernel.parseVersion;
export const compareVersions: typeof kernel.compareVersions = kernel.compareVersions;
export const formatVersion: typeof kernel.formatVersion = kernel.formatVersion;
export type { KernelIdentity, KernelVersion } from './kernel';
export const UringError: typeof errors.UringError = errors.UringError;
export type UringError = errors.UringError;
export const RingClosedError: typeof errors.RingClosedError = errors.RingClosedError;
export type RingClosedError = errors.RingClosedError;
export const RingStuckError: typeof errors.RingStuckError = errors.RingStuckError;
export type RingStuckError = errors.RingStuckError;
export type { StuckReport } from './errors';
export const OPCODE_NAMES: typeof opcodes.OPCODE_NAMES = opcodes.OPCODE_NAMES;
export const opcodeName: typeof opcodes.opcodeName = opcodes.opcodeName;
export const createSocket: typeof udp.createSocket = udp.createSocket;
export const Socket: typeof udp.Socket = udp.Socket;
export type Socket = udp.Socket;
export const DatagramBatch: typeof udp.DatagramBatch = udp.DatagramBatch;
export type DatagramBatch = udp.DatagramBatch;
export type { SocketOptions, SocketType, Backend, RemoteInfo, SocketStats, BatchHandler, Destination, BindOptions, DatagramData, SendBatchOptions } from './udp';
