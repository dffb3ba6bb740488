// Why the multishot backend does not register its buffer ring with IOU_PBUF_RING_INC
// (docs/api.md, "Memory"): under incremental consumption the kernel hands a datagram whatever
// is left of the head buffer and cuts it there. This checks the claim on the running kernel,
// so the design is revisited the day a kernel stops doing so.
import path from 'node:path';
import t from 'tap';

import { ROOT, run, which } from './helpers';

const cc = which('cc') ?? which('gcc');

interface Completion {
  buffer: number;
  offset: number;
  payloadLength: number;
  received: number;
  truncated: boolean;
  bufferMore: boolean;
}

t.test('IOU_PBUF_RING_INC cuts a UDP datagram at the end of a buffer', { skip: cc ? false : 'no C compiler' }, async (t) => {
  const program = path.join(t.testdir(), 'pbuf-inc');
  const built = await run(cc!, ['-O2', '-Wall', '-o', program, path.join(ROOT, 'test', 'fixtures', 'pbuf-inc.c'), '-l:liburing.a']);
  t.equal(built.code, 0, `compiled: ${built.stderr}`);
  // 128 KiB buffers, 60,000-byte datagrams: two fit whole in a buffer, the third gets the rest.
  const result = await run(program, ['131072', '60000', '6'], { timeoutMs: 20_000 });
  if (result.code === 3) {
    void t.skip(`kernel lacks incremental buffer rings, IOU_PBUF_RING_INC (needs 6.12): ${result.stdout.trim()}`, () => {});
    return;
  }
  t.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as { completions: Completion[] };
  const completions = report.completions;
  t.equal(completions.length, 6, 'a completion per datagram');
  t.ok(completions.every((c) => c.payloadLength === 60000), 'the kernel saw 60,000 bytes each time');
  const third = completions[2]!;
  t.same([completions[0]!.bufferMore, completions[1]!.bufferMore], [true, true], 'the first two left the buffer with the kernel');
  t.equal(completions[1]!.buffer, completions[0]!.buffer, 'both came from the same buffer');
  t.equal(third.buffer, completions[0]!.buffer, 'so did the third, from the buffer\'s rest');
  t.ok(third.truncated && third.received < 60000, `the third arrived cut: ${third.received} of 60000 bytes (MSG_TRUNC)`);
  t.comment(`offsets ${completions.map((c) => `${c.buffer}:${c.offset}:${c.received}`).join(' ')}`);
});
