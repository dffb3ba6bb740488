// Ring options: every one validated in TypeScript with an exact message.
import t from 'tap';

import { Ring } from '../src/index';

const cases: Array<[unknown, string | RegExp, string]> = [
  [{ entries: 100 }, 'RangeError: "entries" must be a power of two in 1..32768, got 100', 'ERR_OUT_OF_RANGE'],
  [{ entries: 65536 }, 'RangeError: "entries" must be a power of two in 1..32768, got 65536', 'ERR_OUT_OF_RANGE'],
  [{ entries: '8' }, 'TypeError: "entries" must be a power of two in 1..32768, got "8"', 'ERR_INVALID_ARG_TYPE'],
  [{ entries: 8, cqEntries: 4 }, 'RangeError: "cqEntries" must be at least "entries" (8), got 4', 'ERR_OUT_OF_RANGE'],
  [{ cqEntries: 3 }, 'RangeError: "cqEntries" must be a power of two in 1..65536, got 3', 'ERR_OUT_OF_RANGE'],
  [{ sqpoll: 1 }, 'TypeError: "sqpoll" must be a boolean, got 1', 'ERR_INVALID_ARG_TYPE'],
  [{ sqThreadIdle: 10 }, 'TypeError: "sqThreadIdle" needs "sqpoll: true"', 'ERR_INVALID_ARG_VALUE'],
  [{ sqpoll: true, sqThreadCpu: -1 }, 'RangeError: "sqThreadCpu" must be an integer in 0..4095, got -1', 'ERR_OUT_OF_RANGE'],
  [{ wait: 'spin' }, "RangeError: \"wait\" must be 'block' | 'busy', got \"spin\"", 'ERR_OUT_OF_RANGE'],
  [{ maxWaitMs: 0 }, 'RangeError: "maxWaitMs" must be an integer in 1..60000, got 0', 'ERR_OUT_OF_RANGE'],
  [{ batch: { count: 0 } }, 'RangeError: "batch.count" must be an integer in 1..65536, got 0', 'ERR_OUT_OF_RANGE'],
  [{ batch: { delay: 5 } }, 'TypeError: Misspelled Ring batch option "delay" should be "delayUs"', 'ERR_INVALID_ARG_VALUE'],
  [{ deferTaskrun: true, singleIssuer: false }, /"deferTaskrun: true" needs "singleIssuer"/, 'ERR_INVALID_ARG_VALUE'],
  [{ sqpoll: true, deferTaskrun: true }, /"sqpoll" cannot be combined/, 'ERR_INVALID_ARG_VALUE'],
  [{ entires: 8 }, 'TypeError: Misspelled Ring option "entires" should be "entries"', 'ERR_INVALID_ARG_VALUE'],
  [{ SQPoll: true }, 'TypeError: Misspelled Ring option "SQPoll" should be "sqpoll"', 'ERR_INVALID_ARG_VALUE'],
  [{ colour: 'blue' }, /^TypeError: Unknown Ring option "colour"; known options: entries, /, 'ERR_INVALID_ARG_VALUE'],
  [42, 'TypeError: Ring options must be an object, got 42', 'ERR_INVALID_ARG_TYPE'],
  [null, 'TypeError: Ring options must be an object, got null', 'ERR_INVALID_ARG_TYPE'],
];

for (const [options, message, code] of cases) {
  t.test(`new Ring(${JSON.stringify(options)})`, async (t) => {
    let caught: (Error & { code?: string }) | undefined;
    try {
      new Ring(options as never).close();
    } catch (error) {
      caught = error as Error & { code?: string };
    }
    t.ok(caught, 'throws');
    if (typeof message === 'string') t.equal(String(caught), message);
    else t.match(String(caught), message);
    t.equal(caught?.code, code);
  });
}

t.test('valid options are accepted and echoed', async (t) => {
  const ring = new Ring({ entries: 4, cqEntries: 8, wait: 'busy', maxWaitMs: 50, batch: { count: 16, delayUs: 100 } });
  t.teardown(() => ring.close());
  t.equal(ring.options.entries, 4);
  t.equal(ring.options.deferTaskrun, 'auto', 'an optional flag left unset is "auto"');
  t.equal(ring.options.cqEntries, 8);
  t.same(ring.options.batch, { count: 16, delayUs: 100 });
  await ring.nop();
});

t.test('bad arguments to operations are clear errors', async (t) => {
  const ring = new Ring();
  t.teardown(() => ring.close());
  t.throws(() => ring.read(-1, Buffer.alloc(1)), { code: 'ERR_OUT_OF_RANGE', message: '"fd" must be an integer in 0..2147483647, got -1' });
  t.throws(() => ring.read(1.5, Buffer.alloc(1)), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => ring.read(0, 'abc' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => ring.read(0, Buffer.alloc(1), -5), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => ring.timeout(-1), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => ring.timeout(NaN), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => ring.timeout('1' as never), { code: 'ERR_INVALID_ARG_TYPE' });
});
