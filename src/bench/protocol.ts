// The line protocol every benchmark peer process speaks (the C ones in bench/c too): print
// {"ready":true,"port":P} once listening, then on stdin 'start' begins the measured window
// and 'stop' ends it, prints one JSON result line and exits.
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
