// The receiver pool: the native threads that read busy sockets, shared by every socket of the
// process (and by its worker threads). A socket is read by its JS thread until a burst moves it
// to one; `threads` receivers of each kind (io_uring rings, or epoll threads where io_uring is
// missing) are started as bursts need them, more only when every one is full.
import { binding } from './native';
import * as v from './validate';

export interface ReceiverOptions {
  /**
   * Receivers started (per kind) before busy sockets share them: 1..1024, or 0 for the number of
   * cores this process may run on (the default). Env: URING_UDP_RECEIVERS. Receivers already
   * running are kept; a receiver stops once its last socket leaves.
   */
  threads?: number;
}

export interface ReceiverInfo {
  /** Receiver threads running now. */
  receivers: number;
  /** Sockets on them. */
  sockets: number;
  /** The `threads` setting in effect. */
  threads: number;
}

/** Sets the receiver pool's size for the whole process. */
export function configureReceivers(options: ReceiverOptions): void {
  const o = v.optionsObject(options, 'configureReceivers');
  v.checkOptionNames(o, ['threads'], 'configureReceivers');
  if (o.threads !== undefined) binding.configureReceivers(v.integer(o.threads, 'threads', 0, 1024));
  envApplied = true; // an explicit setting wins over the environment
}

/** What the receiver pool is running now. */
export function receiverInfo(): ReceiverInfo {
  return binding.receiverInfo();
}

let envApplied = false;

/** @internal URING_UDP_RECEIVERS, applied once, when the first socket is created. */
export function applyReceiverEnv(): void {
  if (envApplied) return;
  const text = process.env.URING_UDP_RECEIVERS;
  if (text === undefined || text === '') {
    envApplied = true;
    return;
  }
  const threads = Number(text);
  if (!/^\d+$/.test(text) || threads > 1024) {
    throw v.rangeError(`URING_UDP_RECEIVERS must be an integer from 0 to 1024 (0: one per core), got ${JSON.stringify(text)}`);
  }
  binding.configureReceivers(threads);
  envApplied = true;
}
