// The line protocol every benchmark peer process speaks (the C ones in bench/c too): print
// {"ready":true,"port":P} once listening, then on stdin 'start' begins the measured window
// and 'stop' ends it, prints one JSON result line and exits.
import fs from 'node:fs';
import readline from 'node:readline';

export function serve(port: number, onStart: () => void, onStop: () => object): void {
  process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
  const lines = readline.createInterface({ input: process.stdin });
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    process.stdout.write(`${JSON.stringify(onStop())}\n`, () => process.exit(0));
  };
  lines.on('line', (line) => {
    if (line.trim() === 'start') onStart();
    else if (line.trim() === 'stop') stop();
  });
  lines.on('close', stop); // a dead harness must not leave peers running
}

export function argument(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1]! : fallback;
}

/** CPU time of the whole process (every thread), in microseconds. */
export function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** User CPU time of the whole process, in microseconds. */
export function userMicros(): number {
  return process.cpuUsage().user;
}

/**
 * CPU time of this process's threads named `name` (native threads name themselves: the
 * watchdog is 'uring-watchdog'), in microseconds, from /proc/self/task/TID/schedstat
 * (nanoseconds on CPU; finer than the 10 ms ticks of /proc/.../stat). 0 when none runs.
 * A thread that exited since the last call takes its time with it: callers compare two
 * readings of a thread that lives across both.
 */
export function threadCpuMicros(name: string): number {
  let ns = 0;
  let tasks: string[] = [];
  try {
    tasks = fs.readdirSync('/proc/self/task');
  } catch {
    return 0;
  }
  for (const tid of tasks) {
    try {
      if (fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() !== name) continue;
      ns += Number(fs.readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread exited between the listing and the read
    }
  }
  return ns / 1000;
}
