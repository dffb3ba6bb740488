// `uring-udp echo` answers a real UDP client (socat).
import { spawn } from 'node:child_process';
import t from 'tap';

import { CLI, run, which } from './helpers';

const socat = which('socat');

for (const mode of [[], ['--batch']]) {
  t.test(`${['uring-udp echo', ...mode].join(' ')} answers socat`, { skip: socat ? false : 'socat is not installed (npm run setup installs it)' }, async (t) => {
    const server = spawn(process.execPath, [CLI, 'echo', '--port', '0', ...mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.teardown(() => {
      server.kill('SIGKILL');
    });
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      server.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const match = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
        if (match) resolve(Number(match[1]));
      });
      server.on('exit', (code) => reject(new Error(`echo exited with ${code}`)));
    });
    const reply = await run(socat!, ['-t', '2', '-T', '2', '-', `UDP4:127.0.0.1:${port}`], { input: 'hello through io_uring\n', timeoutMs: 10_000 });
    t.equal(reply.stdout, 'hello through io_uring\n', 'the datagram came back');
    const exited = new Promise<number | null>((resolve) => server.on('exit', (code) => resolve(code)));
    server.kill('SIGTERM');
    t.equal(await exited, 0, 'SIGTERM closes the server cleanly');
  });
}

t.test('uring-udp echo rejects a bad port', async (t) => {
  const result = await run(process.execPath, [CLI, 'echo', '--port', 'http']);
  t.equal(result.code, 2);
  t.match(result.stderr, /--port must be an integer in 0\.\.65535, got http/);
});
