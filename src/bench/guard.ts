// The harness's guard (system.ts starts it): a separate process that puts back what the
// harness changed if the harness dies without doing it itself (SIGKILL, a crash). It reads
// lines on stdin — `sysctl NAME VALUE` (the value to restore), `restored NAME`, `stopped PID`,
// `resumed PID`, `release` (all is back; forget everything) — and when stdin closes, which
// happens however the harness ends, it writes back every sysctl still changed and continues
// and kills every process still stopped. It ignores the terminal's signals: it runs in its own
// process group, and a Ctrl-C must not end it before the harness does.
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

const sysctls = new Map<string, string>();
const stopped = new Set<number>();

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {});

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const [command, name, ...rest] = line.trim().split(' ');
  if (command === 'sysctl' && name) sysctls.set(name, rest.join(' '));
  else if (command === 'restored' && name) sysctls.delete(name);
  else if (command === 'stopped' && name) stopped.add(Number(name));
  else if (command === 'resumed' && name) stopped.delete(Number(name));
  else if (command === 'release') {
    sysctls.clear();
    stopped.clear();
  }
});

let done = false;
const cleanUp = () => {
  if (done) return;
  done = true;
  for (const [name, value] of sysctls) {
    try {
      fs.writeFileSync(path.join('/proc/sys', ...name.split('.')), value);
      process.stderr.write(`uring-udp bench guard: restored ${name} = ${value}\n`);
    } catch (error) {
      process.stderr.write(`uring-udp bench guard: could not restore ${name} = ${value}: ${(error as Error).message}\n`);
    }
  }
  for (const pid of stopped) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  process.exit(0);
};
process.stdin.on('end', cleanUp);
process.stdin.on('close', cleanUp);
