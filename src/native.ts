// The compiled addon, loaded through node-gyp-build (a prebuild when one matches, else
// build/Release). Only this module touches the raw binding; everything here is internal.
import path from 'node:path';
import nodeGypBuild from 'node-gyp-build';

export interface NativeRingConfig {
  entries: number;
  cqEntries: number;
  sqpoll: boolean;
  sqThreadIdle: number;
  sqThreadCpu: number;
  coopTaskrun: -1 | 0 | 1;
  singleIssuer: -1 | 0 | 1;
  deferTaskrun: -1 | 0 | 1;
  busyWait: boolean;
  maxWaitMs: number;
  batchCount: number;
  batchDelayUs: number;
}

export interface NativeRingInfo {
  fd: number;
  features: number;
  setupFlags: number;
  tid: number;
}

export interface NativeRing {
  nop(id: number): void;
  read(id: number, fd: number, buffer: Uint8Array, offset: number): void;
  timeout(id: number, ms: number): void;
  poll(id: number, fd: number, events: number, multishot: boolean): void;
  cancel(id: number, target: number): void;
  close(): void;
  join(): void;
  ref(): void;
  unref(): void;
  info(): NativeRingInfo;
}

export interface NativeProbe {
  usable: boolean;
  setupError?: Error & { code: string; errno: number; syscall: string };
  features: number;
  lastOp: number;
  opcodes: number[];
  tried: Record<string, { supported: boolean; code?: string }>;
}

export interface NativeBinding {
  NativeRing: new (
    config: NativeRingConfig,
    stats: Float64Array,
    onBatch: (records: Int32Array, closed: boolean) => void,
  ) => NativeRing;
  probe(): Promise<NativeProbe>;
  /** Test-only helpers (test/ uses them; not part of the public API). */
  testing: {
    eventfd(): number;
    udpSocket(): [number, number];
  };
  constants: {
    STAT_COUNT: number;
    INFO_FINAL: number;
    INFO_REARMED: number;
    CQE_F_MORE: number;
  };
}

export const binding: NativeBinding = nodeGypBuild(path.join(__dirname, '..')) as NativeBinding;
