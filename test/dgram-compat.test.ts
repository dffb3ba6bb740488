// node:dgram and uring-udp side by side: each subtest runs the same calls on both and asserts
// they agree — error code and class, how an error arrives (thrown, to the callback, or as an
// 'error' event) and what can be observed (return values, datagrams, rinfo, socket options).
// Where node:dgram's own behaviour is a bug, the subtest asserts uring-udp's behaviour instead
// and says why.
import dgram from 'node:dgram';
import dns from 'node:dns';
import fs from 'node:fs';
import { getEventListeners, once } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import util from 'node:util';
import t, { type Test } from 'tap';

import { createSocket as uringCreateSocket } from '../src/index';
import { bound, closed, ROOT, run } from './helpers';

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

t.setTimeout(30_000); // the file passes in a few seconds; a lost event fails it, not hangs it

// ---- two implementations of one API ----------------------------------------------------------

type CreateSocket = typeof dgram.createSocket;
interface Impl {
  name: 'node:dgram' | 'uring-udp';
  createSocket: CreateSocket;
}
const DGRAM: Impl = { name: 'node:dgram', createSocket: dgram.createSocket };
const URING: Impl = { name: 'uring-udp', createSocket: uringCreateSocket as unknown as CreateSocket };

type Callback = (error?: Error | null, ...rest: unknown[]) => void;
type Listener = (msg: Buffer, rinfo: dgram.RemoteInfo) => void;

/** How a call ended. Error outcomes carry the error's code, class and (when set) syscall. */
interface Outcome {
  via: 'returned' | 'thrown' | 'callback' | "'error' event" | 'nothing';
  value?: unknown;
  code?: string;
  class?: 'TypeError' | 'RangeError' | 'Error' | 'not an Error';
  syscall?: string;
  address?: string;
  port?: number;
}

function failed(via: Outcome['via'], error: unknown): Outcome {
  const e = error as NodeJS.ErrnoException & { address?: string; port?: number };
  const outcome: Outcome = {
    via,
    code: e?.code,
    class: error instanceof RangeError ? 'RangeError' : error instanceof TypeError ? 'TypeError' : error instanceof Error ? 'Error' : 'not an Error',
  };
  if (e?.syscall !== undefined) outcome.syscall = e.syscall;
  if (e?.address !== undefined) outcome.address = e.address;
  if (e?.port !== undefined) outcome.port = e.port;
  return outcome;
}

/** A synchronous call: what it returned or threw. */
function attempt(run: () => unknown): Outcome {
  try {
    return { via: 'returned', value: run() };
  } catch (error) {
    return failed('thrown', error);
  }
}

/**
 * A call that reports through a callback: thrown, its callback (error or results), an 'error'
 * event on the socket, or nothing within waitMs.
 */
function settle(socket: dgram.Socket, run: (callback: Callback) => unknown, waitMs = 3000): Promise<Outcome> {
  return new Promise((resolve) => {
    const finish = (outcome: Outcome) => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(outcome);
    };
    const onError = (error: Error) => finish(failed("'error' event", error));
    const timer = setTimeout(() => finish({ via: 'nothing' }), waitMs);
    socket.on('error', onError);
    try {
      run((error, ...rest) => finish(error ? failed('callback', error) : { via: 'callback', value: rest }));
    } catch (error) {
      finish(failed('thrown', error));
    }
  });
}

/**
 * Runs `scenario` on node:dgram, then on uring-udp (one after the other, so they can share a
 * receiver), asserts node:dgram's result matches `expected` (when given: it pins what this test
 * relies on) and that uring-udp's result equals node:dgram's. `steady`: what the machine holds
 * that the scenario reads and other processes may change; an attempt during which it moved is
 * made again (up to 10 times; a real disagreement fails every attempt).
 */
async function agree<T>(
  t: Test,
  what: string,
  scenario: (impl: Impl) => T | Promise<T>,
  expected?: object,
  steady?: () => string,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const before = steady?.();
    const reference = await scenario(DGRAM);
    const subject = await scenario(URING);
    if (steady && steady() !== before && attempt < 10) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      continue;
    }
    if (expected !== undefined) t.match(reference, expected, `${what}: node:dgram as expected`);
    t.strictSame(subject, reference, `${what}: uring-udp agrees with node:dgram`);
    return subject;
  }
}

/**
 * The kernel's socket-buffer defaults (net.core.rmem_default and wmem_default), as text: the
 * whole system's, and the benchmark's drain scenario (test/bench.test.ts, which tap may run
 * beside this file) sets rmem_default for a moment (agree's `steady`).
 */
const systemDefaults = () => ['rmem_default', 'wmem_default'].map((name) => fs.readFileSync(`/proc/sys/net/core/${name}`, 'utf8').trim()).join(' ');

// ---- sockets ---------------------------------------------------------------------------------

/** A socket that is closed (if still open) when the test ends. */
function open(t: Test, impl: Impl, type: dgram.SocketType | dgram.SocketOptions, listener?: Listener): dgram.Socket {
  const socket = impl.createSocket(type as dgram.SocketOptions, listener);
  t.teardown(() => closed(socket));
  return socket;
}


interface Datagram {
  msg: Buffer;
  rinfo: dgram.RemoteInfo;
}

/** The datagrams a socket receives, in order: next() waits up to 3 s for the next one. */
function inbox(socket: dgram.Socket): () => Promise<Datagram> {
  const arrived: Datagram[] = [];
  const waiting: Array<(datagram: Datagram) => void> = [];
  socket.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    const waiter = waiting.shift();
    if (waiter) waiter({ msg, rinfo });
    else arrived.push({ msg, rinfo });
  });
  return () => {
    const first = arrived.shift();
    if (first) return Promise.resolve(first);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no datagram within 3 s')), 3000);
      waiting.push((datagram) => {
        clearTimeout(timer);
        resolve(datagram);
      });
    });
  };
}

/** A node:dgram receiver on 127.0.0.1 (or ::1) that both implementations send to. */
async function receiver(t: Test, type: dgram.SocketType = 'udp4'): Promise<{ port: number; next: () => Promise<Datagram> }> {
  const socket = open(t, DGRAM, type);
  const next = inbox(socket);
  const port = await bound(socket, 0, type === 'udp4' ? '127.0.0.1' : '::1');
  return { port, next };
}

const UNRESOLVABLE = 'nonexistent.invalid'; // RFC 6761: .invalid never resolves

// ---- createSocket ----------------------------------------------------------------------------

t.test('createSocket(type | options, listener)', async (t) => {
  for (const type of ['udp4', 'udp6', { type: 'udp4' }, { type: 'udp6' }] as const) {
    await agree(t, `createSocket(${JSON.stringify(type)}).type`, (impl) => attempt(() => (open(t, impl, type) as dgram.Socket & { type: string }).type), {
      via: 'returned',
      value: typeof type === 'string' ? type : type.type,
    });
  }
  const listener: Listener = () => {};
  await agree(
    t,
    'the listener becomes the only message listener',
    (impl) => {
      const socket = open(t, impl, 'udp4', listener);
      return [socket.listenerCount('message'), socket.listeners('message')[0] === listener];
    },
    [1, true],
  );
  await agree(t, 'createSocket(options, listener)', (impl) => [open(t, impl, { type: 'udp6' }, listener).listenerCount('message')], [1]);
  await agree(t, 'a null listener is no listener', (impl) => attempt(() => open(t, impl, 'udp4', null as never).listenerCount('message')), {
    via: 'returned',
    value: 0,
  });
});

t.test('createSocket with a bad type: ERR_SOCKET_BAD_TYPE, a thrown TypeError', async (t) => {
  for (const type of ['udp5', 'UDP4', 'udp4 ', 'tcp', '', 42, null, undefined, {}, { type: 'tcp' }, { type: 4 }]) {
    await agree(t, `createSocket(${JSON.stringify(type)})`, (impl) => attempt(() => open(t, impl, type as never)), {
      via: 'thrown',
      code: 'ERR_SOCKET_BAD_TYPE',
      class: 'TypeError',
    });
  }
});

t.test('deliberate: uring-udp rejects a non-function listener', async (t) => {
  // node:dgram silently ignores it, so a slip (createSocket('udp4', handler())) goes unnoticed.
  // (Unknown option names are ignored as dgram ignores them: libraries pass their own.)
  t.throws(() => open(t, URING, 'udp4', 5 as never), { code: 'ERR_INVALID_ARG_TYPE', name: 'TypeError' });
});

// ---- bind ------------------------------------------------------------------------------------

t.test("bind() in all its forms: returns the socket, emits 'listening', calls back, binds where asked", async (t) => {
  const forms: Array<[string, (socket: dgram.Socket, callback: () => void) => unknown, string, dgram.SocketType?]> = [
    ['bind()', (s) => s.bind(), '0.0.0.0'],
    ['bind(0)', (s) => s.bind(0), '0.0.0.0'],
    ["bind(0, '127.0.0.1')", (s) => s.bind(0, '127.0.0.1'), '127.0.0.1'],
    ['bind(0, callback)', (s, cb) => s.bind(0, cb), '0.0.0.0'],
    ["bind(0, '127.0.0.1', callback)", (s, cb) => s.bind(0, '127.0.0.1', cb), '127.0.0.1'],
    ["bind({ port: 0, address: '127.0.0.1' }, callback)", (s, cb) => s.bind({ port: 0, address: '127.0.0.1' }, cb), '127.0.0.1'],
    ['bind({})', (s) => s.bind({}), '0.0.0.0'],
    ["bind({ address: '127.0.0.1' })", (s) => s.bind({ address: '127.0.0.1' }), '127.0.0.1'],
    ['bind(callback)', (s, cb) => s.bind(cb), '0.0.0.0'],
    ["bind(0, 'localhost', callback) (a name, looked up)", (s, cb) => s.bind(0, 'localhost', cb), '127.0.0.1'],
    ['udp6 bind()', (s) => s.bind(), '::', 'udp6'],
    ["udp6 bind(0, '::1', callback)", (s, cb) => s.bind(0, '::1', cb), '::1', 'udp6'],
  ];
  for (const [what, bind, address, type] of forms) {
    await agree(
      t,
      what,
      async (impl) => {
        const socket = open(t, impl, type ?? 'udp4');
        const events: string[] = [];
        const listening = once(socket, 'listening');
        socket.on('listening', () => events.push("'listening'"));
        const returned = bind(socket, () => events.push('callback'));
        await listening;
        await new Promise(setImmediate);
        const { address, family, port } = socket.address();
        return { returnsSocket: returned === socket, events, address, family, portIsEphemeral: Number.isInteger(port) && port > 0 };
      },
      {
        returnsSocket: true,
        events: what.includes('callback') ? ["'listening'", 'callback'] : ["'listening'"],
        address,
        family: type === 'udp6' ? 'IPv6' : 'IPv4',
        portIsEphemeral: true,
      },
    );
  }
});

t.test('bind twice: ERR_SOCKET_ALREADY_BOUND, thrown, while binding and once bound', async (t) => {
  await agree(
    t,
    'bind twice',
    async (impl) => {
      const socket = open(t, impl, 'udp4');
      socket.bind(0);
      const whileBinding = attempt(() => socket.bind(0));
      await once(socket, 'listening');
      const onceBound = attempt(() => socket.bind(0));
      const afterImplicitBind = open(t, impl, 'udp4');
      afterImplicitBind.send('x', 9, '127.0.0.1'); // binds implicitly
      const afterSend = attempt(() => afterImplicitBind.bind(0));
      return { whileBinding, onceBound, afterSend };
    },
    {
      whileBinding: { via: 'thrown', code: 'ERR_SOCKET_ALREADY_BOUND', class: 'Error' },
      onceBound: { via: 'thrown', code: 'ERR_SOCKET_ALREADY_BOUND', class: 'Error' },
      afterSend: { via: 'thrown', code: 'ERR_SOCKET_ALREADY_BOUND', class: 'Error' },
    },
  );
});

t.test("bind errors: bad arguments throw, failures of the bind itself are 'error' events", async (t) => {
  await agree(t, 'bind(0, 5)', (impl) => attempt(() => open(t, impl, 'udp4').bind(0, 5 as never)), {
    via: 'thrown',
    code: 'ERR_INVALID_ARG_TYPE',
    class: 'TypeError',
  });
  await agree(
    t,
    'bind to an unresolvable name',
    (impl) => {
      const socket = open(t, impl, 'udp4');
      return settle(socket, () => socket.bind(0, UNRESOLVABLE));
    },
    { via: "'error' event", code: 'ENOTFOUND', class: 'Error', syscall: 'getaddrinfo' },
  );
  await agree(
    t,
    'bind to an address this host does not have',
    (impl) => {
      const socket = open(t, impl, 'udp4');
      return settle(socket, () => socket.bind(0, '192.0.2.1'));
    },
    { via: "'error' event", code: 'EADDRNOTAVAIL', class: 'Error', syscall: 'bind', address: '192.0.2.1' },
  );
  const taken = open(t, DGRAM, 'udp4');
  const port = await bound(taken, 0, '127.0.0.1');
  await agree(
    t,
    'bind to a port in use',
    async (impl) => {
      const socket = open(t, impl, 'udp4');
      const outcome = await settle(socket, () => socket.bind(port, '127.0.0.1'));
      const retry = attempt(() => socket.close()); // the failed socket can still be closed
      return { outcome, closes: retry.via };
    },
    { outcome: { via: "'error' event", code: 'EADDRINUSE', class: 'Error', syscall: 'bind', address: '127.0.0.1', port }, closes: 'returned' },
  );
});

t.test('deliberate: bind() with a port outside 0..65535 throws ERR_SOCKET_BAD_PORT', async (t) => {
  // node:dgram does not validate bind()'s port: bind(70000) binds port 70000 & 0xffff (4464)
  // and bind(-1) port 65535, silently. uring-udp validates it like send() and connect() do.
  for (const port of [70000, 65536, -1, 1.5, '80x']) {
    t.throws(() => open(t, URING, 'udp4').bind(port as never), { code: 'ERR_SOCKET_BAD_PORT', name: 'RangeError' }, `bind(${JSON.stringify(port)})`);
  }
});

// ---- address ---------------------------------------------------------------------------------

t.test('address(): EBADF before bind, the bound address after', async (t) => {
  await agree(t, 'address() before bind', (impl) => attempt(() => open(t, impl, 'udp4').address()), {
    via: 'thrown',
    code: 'EBADF',
    class: 'Error',
    syscall: 'getsockname',
  });
  for (const [type, address] of [
    ['udp4', '127.0.0.1'],
    ['udp4', '0.0.0.0'],
    ['udp6', '::1'],
    ['udp6', '::'],
  ] as const) {
    await agree(
      t,
      `${type} address() after bind to ${address}`,
      async (impl) => {
        const socket = open(t, impl, type);
        const port = await bound(socket, 0, address);
        const result = socket.address();
        return { keys: Object.keys(result).sort(), address: result.address, family: result.family, samePort: result.port === port };
      },
      { keys: ['address', 'family', 'port'], address, family: type === 'udp4' ? 'IPv4' : 'IPv6', samePort: true },
    );
  }
  await agree(
    t,
    'address() after send() bound the socket implicitly',
    async (impl) => {
      const socket = open(t, impl, 'udp4');
      const sent = await settle(socket, (cb) => socket.send('x', 9, '127.0.0.1', cb));
      const { address, family } = socket.address();
      return { sent, address, family };
    },
    { sent: { via: 'callback', value: [1] }, address: '0.0.0.0', family: 'IPv4' },
  );
});

// ---- send ------------------------------------------------------------------------------------

t.test('send() in all its forms: the callback gets the byte count, the receiver the bytes', async (t) => {
  const { port, next } = await receiver(t);
  const host = '127.0.0.1';
  const b = (...bytes: Array<string | number[]>) => Buffer.concat(bytes.map((x) => Buffer.from(x as string)));
  const forms: Array<[string, (socket: dgram.Socket, callback: Callback) => void, Buffer]> = [
    ['Buffer', (s, cb) => s.send(Buffer.from('buffer'), port, host, cb), b('buffer')],
    ['string', (s, cb) => s.send('string', port, host, cb), b('string')],
    ['Uint8Array', (s, cb) => s.send(new Uint8Array([1, 2, 3]), port, host, cb), b([1, 2, 3])],
    ['DataView', (s, cb) => s.send(new DataView(new Uint8Array([4, 5, 6, 7, 8]).buffer, 1, 3), port, host, cb), b([5, 6, 7])],
    ['Uint16Array', (s, cb) => s.send(new Uint16Array([0x0102, 0x0304]), port, host, cb), Buffer.from(new Uint16Array([0x0102, 0x0304]).buffer)],
    ['array of Buffers and strings', (s, cb) => s.send([Buffer.from('ab'), 'cd', new Uint8Array([101])], port, host, cb), b('abcde')],
    ['empty string', (s, cb) => s.send('', port, host, cb), b('')],
    ['empty array', (s, cb) => s.send([], port, host, cb), b('')],
    ['Buffer, offset, length', (s, cb) => s.send(Buffer.from('hello world'), 6, 5, port, host, cb), b('world')],
    ['string, offset, length', (s, cb) => s.send('hello world', 0, 5, port, host, cb), b('hello')],
    ['Uint8Array, offset, length, no address', (s, cb) => s.send(new Uint8Array([9, 8, 7, 6]), 1, 2, port, cb as never), b([8, 7])],
    ['no address (127.0.0.1)', (s, cb) => s.send('default host', port, cb), b('default host')],
    ['port as a numeric string', (s, cb) => s.send('string port', String(port) as never, host, cb), b('string port')],
    ["address 'localhost' (looked up)", (s, cb) => s.send('by name', port, 'localhost', cb), b('by name')],
    ['no callback', (s, cb) => (s.send('no callback', port, host), setTimeout(cb, 20, null, 'no callback')), b('no callback')],
  ];
  for (const [what, send, bytes] of forms) {
    await agree(
      t,
      `send(${what})`,
      async (impl) => {
        const socket = open(t, impl, 'udp4');
        const sent = await settle(socket, (cb) => send(socket, cb));
        const { msg, rinfo } = await next();
        return { sent, msg, size: rinfo.size, fromSender: rinfo.port === socket.address().port };
      },
      {
        sent: { via: 'callback', value: [what === 'no callback' ? 'no callback' : bytes.length] },
        msg: bytes,
        size: bytes.length,
        fromSender: true,
      },
    );
  }
});

t.test('send() argument errors are thrown', async (t) => {
  const cases: Array<[string, (socket: dgram.Socket) => unknown, Outcome]> = [
    ['no port', (s) => s.send('x'), { via: 'thrown', code: 'ERR_SOCKET_BAD_PORT', class: 'RangeError' }],
    ['port 0', (s) => s.send('x', 0), { via: 'thrown', code: 'ERR_SOCKET_BAD_PORT', class: 'RangeError' }],
    ['port 65536', (s) => s.send('x', 65536), { via: 'thrown', code: 'ERR_SOCKET_BAD_PORT', class: 'RangeError' }],
    ['port -1', (s) => s.send('x', -1), { via: 'thrown', code: 'ERR_SOCKET_BAD_PORT', class: 'RangeError' }],
    ["port ' '", (s) => s.send('x', ' ' as never), { via: 'thrown', code: 'ERR_SOCKET_BAD_PORT', class: 'RangeError' }],
    ["port '70000'", (s) => s.send('x', '70000' as never, '127.0.0.1'), { via: 'thrown', code: 'ERR_SOCKET_BAD_PORT', class: 'RangeError' }],
    ['a callback for the port', (s) => s.send('x', (() => {}) as never), { via: 'thrown', code: 'ERR_SOCKET_BAD_PORT', class: 'RangeError' }],
    ['port 0 with offset and length', (s) => s.send('xyz', 0, 1, 0), { via: 'thrown', code: 'ERR_SOCKET_BAD_PORT', class: 'RangeError' }],
    ['a number', (s) => s.send(42 as never, 9), { via: 'thrown', code: 'ERR_INVALID_ARG_TYPE', class: 'TypeError' }],
    ['an object', (s) => s.send({} as never, 9), { via: 'thrown', code: 'ERR_INVALID_ARG_TYPE', class: 'TypeError' }],
    ['null', (s) => s.send(null as never, 9), { via: 'thrown', code: 'ERR_INVALID_ARG_TYPE', class: 'TypeError' }],
    ['an ArrayBuffer', (s) => s.send(new ArrayBuffer(4) as never, 9), { via: 'thrown', code: 'ERR_INVALID_ARG_TYPE', class: 'TypeError' }],
    ['an array holding a number', (s) => s.send([Buffer.from('a'), 1] as never, 9), { via: 'thrown', code: 'ERR_INVALID_ARG_TYPE', class: 'TypeError' }],
    ['an address that is a number', (s) => s.send('x', 9, 5 as never), { via: 'thrown', code: 'ERR_INVALID_ARG_TYPE', class: 'TypeError' }],
    ['offset past the end', (s) => s.send(Buffer.from('hello'), 9, 1, 9, '127.0.0.1'), { via: 'thrown', code: 'ERR_BUFFER_OUT_OF_BOUNDS', class: 'RangeError' }],
    ['length past the end', (s) => s.send(Buffer.from('hello'), 4, 3, 9, '127.0.0.1'), { via: 'thrown', code: 'ERR_BUFFER_OUT_OF_BOUNDS', class: 'RangeError' }],
  ];
  for (const [what, send, expected] of cases) {
    await agree(t, `send(${what})`, (impl) => attempt(() => send(open(t, impl, 'udp4'))), expected);
  }
});

t.test('deliberate: a view over a detached buffer is sent as an empty datagram, before bind and after', async (t) => {
  // node:dgram takes one before bind and then throws a TypeError from inside the bind's
  // completion (Buffer.from over the detached buffer): an uncaught exception. A detached
  // buffer's byteLength is 0, so uring-udp sends what it says it holds: nothing.
  const detached = <T extends ArrayBufferView>(view: T): T => {
    structuredClone(view.buffer, { transfer: [view.buffer as ArrayBuffer] });
    return view;
  };
  const receiver = dgram.createSocket('udp4');
  t.teardown(() => receiver.close());
  const lengths: number[] = [];
  receiver.on('message', (msg) => lengths.push(msg.length));
  const port = await bound(receiver, 0, '127.0.0.1');
  const sender = uringCreateSocket('udp4');
  t.teardown(() => closed(sender));
  sender.send(detached(new Uint8Array(8)), port, '127.0.0.1'); // before bind: copied, then sent
  await once(sender, 'listening');
  sender.send(detached(new DataView(new ArrayBuffer(8))), port, '127.0.0.1');
  sender.send([detached(new Uint8Array(4)), Buffer.from('ab')], port, '127.0.0.1');
  const deadline = Date.now() + 5000;
  while (lengths.length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  t.same([...lengths].sort(), [0, 0, 2], 'two empty datagrams and the list\'s two bytes');
});

t.test("deliberate: send(msg, '0') throws ERR_SOCKET_BAD_PORT", async (t) => {
  // node:dgram accepts the string '0' (its check is port === 0), queues the datagram behind the
  // implicit bind, and then throws ERR_SOCKET_BAD_PORT from inside the bind's completion: an
  // uncaught exception that no try/catch around send() can stop. uring-udp throws at the call.
  t.throws(() => open(t, URING, 'udp4').send('x', '0' as never), { code: 'ERR_SOCKET_BAD_PORT', name: 'RangeError' });
});

t.test('send() to an unresolvable name: ENOTFOUND to the callback, else an error event', async (t) => {
  const expected = { via: 'callback', code: 'ENOTFOUND', class: 'Error', syscall: 'getaddrinfo' } as const;
  await agree(
    t,
    'with a callback',
    (impl) => {
      const socket = open(t, impl, 'udp4');
      return settle(socket, (cb) => socket.send('x', 9, UNRESOLVABLE, cb));
    },
    expected,
  );
  await agree(
    t,
    'without a callback',
    (impl) => {
      const socket = open(t, impl, 'udp4');
      return settle(socket, () => socket.send('x', 9, UNRESOLVABLE));
    },
    { ...expected, via: "'error' event" },
  );
});

t.test('a datagram too large for udp4 fails with EMSGSIZE to the callback; the socket stays usable', async (t) => {
  const { port, next } = await receiver(t);
  for (const size of [65508, 70000]) {
    await agree(
      t,
      `send ${size} bytes`,
      async (impl) => {
        const socket = open(t, impl, 'udp4');
        const tooBig = await settle(socket, (cb) => socket.send(Buffer.alloc(size), port, '127.0.0.1', cb));
        const after = await settle(socket, (cb) => socket.send('still works', port, '127.0.0.1', cb));
        const { msg } = await next();
        return { tooBig, after, msg: msg.toString() };
      },
      {
        tooBig: { via: 'callback', code: 'EMSGSIZE', class: 'Error', syscall: 'send', address: '127.0.0.1', port },
        after: { via: 'callback', value: [11] },
        msg: 'still works',
      },
    );
  }
  await agree(
    t,
    'the largest udp4 datagram, 65507 bytes, goes through',
    async (impl) => {
      const socket = open(t, impl, 'udp4');
      const payload = Buffer.alloc(65507, 7);
      const sent = await settle(socket, (cb) => socket.send(payload, port, '127.0.0.1', cb));
      const { msg } = await next();
      return { sent, same: msg.equals(payload) };
    },
    { sent: { via: 'callback', value: [65507] }, same: true },
  );
});

t.test("deliberate: EMSGSIZE without a callback is an 'error' event", async (t) => {
  // The Node.js docs say a send error without a callback is emitted as 'error'; node:dgram
  // drops errors the send call itself returns when there is no callback, so the datagram
  // vanishes without a trace. uring-udp emits them as documented.
  const socket = open(t, URING, 'udp4');
  const outcome = await settle(socket, () => socket.send(Buffer.alloc(65508), 9, '127.0.0.1'));
  t.match(outcome, { via: "'error' event", code: 'EMSGSIZE', syscall: 'send', address: '127.0.0.1', port: 9 });
});

// ---- connect ---------------------------------------------------------------------------------

t.test("connect(): 'connect' event and callback, remoteAddress, send without a port, disconnect", async (t) => {
  const { port, next } = await receiver(t);
  for (const withAddress of [true, false]) {
    await agree(
      t,
      withAddress ? "connect(port, '127.0.0.1', callback)" : 'connect(port, callback) (127.0.0.1)',
      async (impl) => {
        const socket = open(t, impl, 'udp4');
        const events: string[] = [];
        socket.on('connect', (...args: unknown[]) => events.push(`'connect' ${args.length}`));
        const returned = await settle(socket, (cb) => (withAddress ? socket.connect(port, '127.0.0.1', cb) : socket.connect(port, cb)));
        const remote = socket.remoteAddress();
        const again = attempt(() => socket.connect(port));
        const sent = await settle(socket, (cb) => socket.send('connected', cb));
        const viaConnection = await next();
        // (before disconnect(): the kernel drops an implicitly bound port on disconnect)
        const fromClient = viaConnection.rinfo.port === socket.address().port;
        const offsetForm = await settle(socket, (cb) => socket.send(Buffer.from('abc'), 1, 2, cb));
        const sliced = await next();
        const withPort = attempt(() => socket.send(Buffer.from('x'), 0, 1, port));
        const withAddressToo = attempt(() => socket.send(Buffer.from('x'), 0, 1, port, '127.0.0.1'));
        const disconnected = attempt(() => socket.disconnect());
        const remoteAfter = attempt(() => socket.remoteAddress());
        const disconnectAgain = attempt(() => socket.disconnect());
        const sentAfter = await settle(socket, (cb) => socket.send('after', port, '127.0.0.1', cb));
        const afterDisconnect = await next();
        const reconnected = await settle(socket, (cb) => socket.connect(port, cb));
        return {
          events,
          returned,
          remote,
          again,
          sent,
          msg: viaConnection.msg.toString(),
          fromClient,
          offsetForm,
          sliced: sliced.msg.toString(),
          withPort,
          withAddressToo,
          disconnected,
          remoteAfter,
          disconnectAgain,
          sentAfter,
          afterDisconnect: afterDisconnect.msg.toString(),
          reconnected,
        };
      },
      {
        events: ["'connect' 0"],
        returned: { via: 'callback', value: [] },
        remote: { address: '127.0.0.1', family: 'IPv4', port },
        again: { via: 'thrown', code: 'ERR_SOCKET_DGRAM_IS_CONNECTED', class: 'Error' },
        sent: { via: 'callback', value: [9] },
        msg: 'connected',
        fromClient: true,
        offsetForm: { via: 'callback', value: [2] },
        sliced: 'bc',
        withPort: { via: 'thrown', code: 'ERR_SOCKET_DGRAM_IS_CONNECTED', class: 'Error' },
        withAddressToo: { via: 'thrown', code: 'ERR_SOCKET_DGRAM_IS_CONNECTED', class: 'Error' },
        disconnected: { via: 'returned', value: undefined },
        remoteAfter: { via: 'thrown', code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED', class: 'Error' },
        disconnectAgain: { via: 'thrown', code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED', class: 'Error' },
        sentAfter: { via: 'callback', value: [5] },
        afterDisconnect: 'after',
        reconnected: { via: 'callback', value: [] },
      },
    );
  }
});

t.test('udp6 connect to ::1', async (t) => {
  const { port, next } = await receiver(t, 'udp6');
  await agree(
    t,
    "connect(port, '::1')",
    async (impl) => {
      const socket = open(t, impl, 'udp6');
      const connected = await settle(socket, (cb) => socket.connect(port, '::1', cb));
      const sent = await settle(socket, (cb) => socket.send('six', cb));
      const { msg, rinfo } = await next();
      return { connected, remote: socket.remoteAddress(), sent, msg: msg.toString(), family: rinfo.family, address: rinfo.address };
    },
    { connected: { via: 'callback', value: [] }, remote: { address: '::1', family: 'IPv6', port }, sent: { via: 'callback', value: [3] }, family: 'IPv6', address: '::1' },
  );
});

t.test('disconnect() and remoteAddress() when not connected: ERR_SOCKET_DGRAM_NOT_CONNECTED', async (t) => {
  const notConnected = { via: 'thrown', code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED', class: 'Error' };
  await agree(
    t,
    'unbound',
    (impl) => {
      const socket = open(t, impl, 'udp4');
      return [attempt(() => socket.disconnect()), attempt(() => socket.remoteAddress())];
    },
    [notConnected, notConnected],
  );
  await agree(
    t,
    'bound',
    async (impl) => {
      const socket = open(t, impl, 'udp4');
      await bound(socket);
      return [attempt(() => socket.disconnect()), attempt(() => socket.remoteAddress())];
    },
    [notConnected, notConnected],
  );
  await agree(
    t,
    'connecting (before the connect event)',
    (impl) => {
      const socket = open(t, impl, 'udp4');
      socket.connect(9);
      return [attempt(() => socket.disconnect()), attempt(() => socket.remoteAddress()), attempt(() => socket.connect(9))];
    },
    [notConnected, notConnected, { via: 'thrown', code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' }],
  );
});

t.test('connect() errors: a bad port throws, a failed lookup goes to the callback or to error', async (t) => {
  for (const port of [undefined, 0, 65536, -1, '', 'x']) {
    await agree(t, `connect(${JSON.stringify(port)})`, (impl) => attempt(() => open(t, impl, 'udp4').connect(port as never)), {
      via: 'thrown',
      code: 'ERR_SOCKET_BAD_PORT',
      class: 'RangeError',
    });
  }
  await agree(t, 'connect(9, 5)', (impl) => attempt(() => open(t, impl, 'udp4').connect(9, 5 as never)), {
    via: 'thrown',
    code: 'ERR_INVALID_ARG_TYPE',
    class: 'TypeError',
  });
  await agree(
    t,
    'connect to an unresolvable name, with a callback',
    async (impl) => {
      const socket = open(t, impl, 'udp4');
      const connectEvents: unknown[] = [];
      socket.on('connect', () => connectEvents.push('connect'));
      const outcome = await settle(socket, (cb) => socket.connect(9, UNRESOLVABLE, cb));
      return { outcome, connectEvents, remote: attempt(() => socket.remoteAddress()) };
    },
    {
      outcome: { via: 'callback', code: 'ENOTFOUND', class: 'Error', syscall: 'getaddrinfo' },
      connectEvents: [],
      remote: { via: 'thrown', code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' },
    },
  );
  await agree(
    t,
    'connect to an unresolvable name, no callback',
    (impl) => {
      const socket = open(t, impl, 'udp4');
      return settle(socket, () => socket.connect(9, UNRESOLVABLE));
    },
    { via: "'error' event", code: 'ENOTFOUND', class: 'Error', syscall: 'getaddrinfo' },
  );
});

t.test('deliberate: a connected socket refuses a port; a send made while connecting waits for the connection', async (t) => {
  const { port, next } = await receiver(t);
  const socket = open(t, URING, 'udp4');
  // node:dgram reads send(msg, port, callback) on a connected socket as send(msg, callback) with
  // a junk callback: the port is ignored and the callback never called. uring-udp throws, as
  // node:dgram itself does for send(msg, offset, length, port).
  const connected = once(socket, 'connect');
  socket.connect(port, '127.0.0.1');
  // node:dgram treats the socket as unconnected until 'connect' and throws ERR_SOCKET_BAD_PORT
  // here; uring-udp queues the datagram until the connection is made.
  const early = await settle(socket, (cb) => socket.send('early', cb));
  await connected;
  t.strictSame(early, { via: 'callback', value: [5] }, 'sent once connected');
  t.equal((await next()).msg.toString(), 'early');
  t.throws(() => socket.send('x', port), { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' });
  t.throws(() => socket.send('x', port, () => {}), { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' });
});

// ---- close -----------------------------------------------------------------------------------

t.test("close(callback): returns the socket, emits 'close', then calls back", async (t) => {
  for (const state of ['unbound', 'bound', 'binding', 'connected'] as const) {
    await agree(
      t,
      `close() when ${state}`,
      async (impl) => {
        const socket = impl.createSocket('udp4');
        const peer = open(t, DGRAM, 'udp4');
        if (state === 'bound') await bound(socket);
        if (state === 'binding') socket.bind(0);
        if (state === 'connected') {
          const peerPort = await bound(peer, 0, '127.0.0.1');
          await settle(socket, (cb) => socket.connect(peerPort, cb));
        }
        const events: string[] = [];
        socket.on('listening', () => events.push("'listening'"));
        socket.on('close', (...args: unknown[]) => events.push(`'close' ${args.length}`));
        const done = new Promise<void>((resolve) => {
          const returned = socket.close((...args: unknown[]) => {
            events.push(`callback ${args.length}`);
            resolve();
          });
          events.push(returned === socket ? 'returned the socket' : 'returned something else');
        });
        await done;
        await new Promise((resolve) => setTimeout(resolve, 20));
        return events;
      },
      ['returned the socket', "'close' 0", 'callback 0'],
    );
  }
});

t.test('a closed socket: close, send, bind, address, connect throw ERR_SOCKET_DGRAM_NOT_RUNNING', async (t) => {
  const notRunning = { via: 'thrown', code: 'ERR_SOCKET_DGRAM_NOT_RUNNING', class: 'Error' };
  const notConnected = { via: 'thrown', code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED', class: 'Error' };
  const calls: Array<[string, (socket: dgram.Socket) => unknown, object?]> = [
    ['close()', (s) => s.close()],
    ['close(callback)', (s) => s.close(() => {})],
    ['send()', (s) => s.send('x', 9, '127.0.0.1')],
    ['send() with a callback', (s) => s.send('x', 9, '127.0.0.1', () => {})],
    ['bind()', (s) => s.bind(0)],
    ['address()', (s) => s.address()],
    ['connect()', (s) => s.connect(9)],
    ['disconnect()', (s) => s.disconnect(), notConnected], // not connected is checked first
    ['remoteAddress()', (s) => s.remoteAddress()],
    ['addMembership()', (s) => s.addMembership('224.0.0.114')],
  ];
  for (const when of ['at once', "after 'close'", 'after being bound'] as const) {
    for (const [what, call, expected] of calls) {
      // node:dgram's connect() on a closed, bound socket is a TypeError: see the next subtest.
      if (what === 'connect()' && when === 'after being bound') continue;
      await agree(
        t,
        `${what} ${when}`,
        async (impl) => {
          const socket = impl.createSocket('udp4');
          if (when === 'after being bound') await bound(socket);
          const closing = once(socket, 'close');
          socket.close();
          if (when !== 'at once') await closing;
          const outcome = attempt(() => call(socket));
          await closing;
          return outcome;
        },
        expected ?? notRunning,
      );
    }
  }
});

t.test('deliberate: socket options and connect() on a closed socket are a coded error, not a TypeError', async (t) => {
  // node:dgram dereferences its null handle and throws "TypeError: Cannot read properties of
  // null" (connect() does so only once the socket had been bound). uring-udp reports the
  // closed socket.
  const socket = open(t, URING, 'udp4');
  await bound(socket);
  await closed(socket);
  t.throws(() => socket.connect(9), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' }, 'connect() once bound and closed');
  t.throws(() => socket.setTTL(5), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
  t.throws(() => socket.setBroadcast(true), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
  t.throws(() => socket.getRecvBufferSize(), { code: 'ERR_SOCKET_BUFFER_SIZE' });
  t.throws(() => socket.setSendBufferSize(4096), { code: 'ERR_SOCKET_BUFFER_SIZE' });
});

// ---- ref, unref ------------------------------------------------------------------------------

t.test('ref() and unref() return the socket, in every state', async (t) => {
  await agree(
    t,
    'ref/unref',
    async (impl) => {
      const socket = impl.createSocket('udp4');
      const check = () => [socket.unref() === socket, socket.ref() === socket];
      const unbound = check();
      await bound(socket);
      const boundState = check();
      await closed(socket);
      return { unbound, bound: boundState, closed: check() };
    },
    { unbound: [true, true], bound: [true, true], closed: [true, true] },
  );
});

// ---- buffer sizes ----------------------------------------------------------------------------

t.test('buffer sizes before bind: ERR_SOCKET_BUFFER_SIZE, thrown, with errno and syscall', async (t) => {
  const methods: Array<[string, (socket: dgram.Socket) => unknown, string]> = [
    ['getRecvBufferSize()', (s) => s.getRecvBufferSize(), 'uv_recv_buffer_size'],
    ['setRecvBufferSize(8192)', (s) => s.setRecvBufferSize(8192), 'uv_recv_buffer_size'],
    ['getSendBufferSize()', (s) => s.getSendBufferSize(), 'uv_send_buffer_size'],
    ['setSendBufferSize(8192)', (s) => s.setSendBufferSize(8192), 'uv_send_buffer_size'],
  ];
  for (const [what, call, syscall] of methods) {
    await agree(
      t,
      what,
      (impl) => {
        const socket = open(t, impl, 'udp4');
        try {
          call(socket);
          return 'returned';
        } catch (error) {
          const e = error as NodeJS.ErrnoException & { info?: unknown };
          return { outcome: failed('thrown', e), errno: e.errno, message: e.message, info: e.info };
        }
      },
      {
        outcome: { via: 'thrown', code: 'ERR_SOCKET_BUFFER_SIZE', class: 'Error', syscall },
        errno: -9,
        message: `Could not get or set buffer size: ${syscall} returned EBADF (bad file descriptor)`,
        info: { errno: -9, code: 'EBADF', syscall },
      },
    );
  }
});

t.test('buffer sizes once bound: the same values as node:dgram on this kernel', async (t) => {
  for (const type of ['udp4', 'udp6'] as const) {
    await agree(t, `${type} sizes`, async (impl) => {
      const socket = open(t, impl, type);
      await bound(socket);
      const sizes: Record<string, number> = { recvDefault: socket.getRecvBufferSize(), sendDefault: socket.getSendBufferSize() };
      for (const size of [4096, 65536, 1 << 20]) {
        socket.setRecvBufferSize(size);
        socket.setSendBufferSize(size);
        sizes[`recv ${size}`] = socket.getRecvBufferSize();
        sizes[`send ${size}`] = socket.getSendBufferSize();
      }
      return sizes;
    }, undefined, systemDefaults);
  }
});

t.test('bad buffer sizes: ERR_SOCKET_BAD_BUFFER_SIZE, a thrown TypeError', async (t) => {
  for (const size of [-1, 1.5, NaN, Infinity, 2 ** 32, '4096', null, {}]) {
    for (const state of ['unbound', 'bound'] as const) {
      await agree(
        t,
        `set*BufferSize(${String(size)}) ${state}`,
        async (impl) => {
          const socket = open(t, impl, 'udp4');
          if (state === 'bound') await bound(socket);
          return [attempt(() => socket.setRecvBufferSize(size as never)), attempt(() => socket.setSendBufferSize(size as never))];
        },
        [
          { via: 'thrown', code: 'ERR_SOCKET_BAD_BUFFER_SIZE', class: 'TypeError' },
          { via: 'thrown', code: 'ERR_SOCKET_BAD_BUFFER_SIZE', class: 'TypeError' },
        ],
      );
    }
  }
});

t.test('deliberate: setRecvBufferSize(0) is a bad size', async (t) => {
  // node:dgram passes 0 on as its "get the size" request, so set*BufferSize(0) does nothing
  // on a bound socket; the error says the size must be a positive integer, and 0 is not.
  const socket = open(t, URING, 'udp4');
  await bound(socket);
  t.throws(() => socket.setRecvBufferSize(0), { code: 'ERR_SOCKET_BAD_BUFFER_SIZE', name: 'TypeError' });
  t.throws(() => socket.setSendBufferSize(0), { code: 'ERR_SOCKET_BAD_BUFFER_SIZE', name: 'TypeError' });
});

t.test('recvBufferSize and sendBufferSize options: applied at bind, validated like node:dgram', async (t) => {
  const sizes = async (impl: Impl, recvBufferSize: unknown, sendBufferSize: unknown) => {
    const socket = open(t, impl, { type: 'udp4', recvBufferSize, sendBufferSize } as dgram.SocketOptions);
    await bound(socket);
    return [socket.getRecvBufferSize(), socket.getSendBufferSize()];
  };
  for (const [recvBufferSize, sendBufferSize] of [
    [65536, 32768],
    [1 << 20, 4096],
  ]) {
    await agree(t, `{ recvBufferSize: ${recvBufferSize}, sendBufferSize: ${sendBufferSize} }`, (impl) => sizes(impl, recvBufferSize, sendBufferSize));
  }
  // Falsy sizes leave the kernel's defaults (node:dgram only validates and applies truthy ones):
  // each side beside a plain node:dgram socket bound at the same moment.
  for (const [recvBufferSize, sendBufferSize] of [
    [0, 0],
    [null, NaN],
  ]) {
    const what = `{ recvBufferSize: ${recvBufferSize}, sendBufferSize: ${sendBufferSize} }`;
    let reference: { defaults: number[]; sizes: number[] } | undefined;
    await agree(
      t,
      what,
      async (impl) => {
        const plain = open(t, DGRAM, 'udp4');
        await bound(plain);
        const result = { defaults: [plain.getRecvBufferSize(), plain.getSendBufferSize()], sizes: await sizes(impl, recvBufferSize, sendBufferSize) };
        if (impl === DGRAM) reference = result;
        return result;
      },
      undefined,
      systemDefaults,
    );
    t.strictSame(reference!.sizes, reference!.defaults, `${what}: node:dgram keeps the kernel's defaults`);
  }
  for (const [value, code, errorClass] of [
    [-1, 'ERR_OUT_OF_RANGE', 'RangeError'],
    [1.5, 'ERR_OUT_OF_RANGE', 'RangeError'],
    [2 ** 32, 'ERR_OUT_OF_RANGE', 'RangeError'],
    ['4096', 'ERR_INVALID_ARG_TYPE', 'TypeError'],
    [true, 'ERR_INVALID_ARG_TYPE', 'TypeError'],
  ] as const) {
    for (const name of ['recvBufferSize', 'sendBufferSize']) {
      await agree(
        t,
        `{ ${name}: ${JSON.stringify(value)} }`,
        (impl) =>
          attempt(() => {
            open(t, impl, { type: 'udp4', [name]: value } as never);
            return 'created';
          }),
        { via: 'thrown', code, class: errorClass },
      );
    }
  }
});

// ---- socket options --------------------------------------------------------------------------

t.test('setBroadcast, setTTL, setMulticastTTL, setMulticastLoopback: EBADF before bind, values after', async (t) => {
  const calls: Array<[string, (socket: dgram.Socket) => unknown]> = [
    ['setBroadcast(true)', (s) => s.setBroadcast(true)],
    ['setBroadcast(false)', (s) => s.setBroadcast(false)],
    ['setTTL(1)', (s) => s.setTTL(1)],
    ['setTTL(64)', (s) => s.setTTL(64)],
    ['setTTL(255)', (s) => s.setTTL(255)],
    ['setTTL(0)', (s) => s.setTTL(0)],
    ['setTTL(256)', (s) => s.setTTL(256)],
    ['setTTL(-1)', (s) => s.setTTL(-1)],
    ['setTTL(NaN)', (s) => s.setTTL(NaN)],
    ["setTTL('5')", (s) => s.setTTL('5' as never)],
    ['setTTL()', (s) => (s.setTTL as (ttl?: number) => number)()],
    ['setMulticastTTL(0)', (s) => s.setMulticastTTL(0)],
    ['setMulticastTTL(255)', (s) => s.setMulticastTTL(255)],
    ['setMulticastTTL(256)', (s) => s.setMulticastTTL(256)],
    ['setMulticastTTL(-1)', (s) => s.setMulticastTTL(-1)],
    ["setMulticastTTL('1')", (s) => s.setMulticastTTL('1' as never)],
    ['setMulticastLoopback(true)', (s) => s.setMulticastLoopback(true)],
    ['setMulticastLoopback(false)', (s) => s.setMulticastLoopback(false)],
  ];
  for (const type of ['udp4', 'udp6'] as const) {
    for (const state of ['unbound', 'bound'] as const) {
      await agree(t, `${type} ${state}`, async (impl) => {
        const socket = open(t, impl, type);
        if (state === 'bound') await bound(socket);
        return Object.fromEntries(calls.map(([what, call]) => [what, attempt(() => call(socket))]));
      });
    }
  }
  // The pinned cases: node:dgram's own results, so the comparison above means what it says.
  const reference = open(t, DGRAM, 'udp4');
  t.match(attempt(() => reference.setTTL(5)), { via: 'thrown', code: 'EBADF', syscall: 'setTTL' }, 'unbound: EBADF');
  t.match(attempt(() => reference.setMulticastLoopback(true)), { via: 'thrown', code: 'EBADF', syscall: 'setMulticastLoopback' });
  await bound(reference);
  t.match(attempt(() => reference.setTTL('5' as never)), { via: 'thrown', code: 'ERR_INVALID_ARG_TYPE', class: 'TypeError' });
  t.match(attempt(() => reference.setTTL(256)), { via: 'thrown', code: 'EINVAL', class: 'Error', syscall: 'setTTL' });
  t.match(attempt(() => reference.setTTL(64)), { via: 'returned', value: 64 });
});

t.test('deliberate: a fractional TTL is EINVAL', async (t) => {
  // node:dgram truncates setTTL(1.5) to 1 and returns 1.5, reporting a TTL it did not set.
  const socket = open(t, URING, 'udp4');
  await bound(socket);
  t.throws(() => socket.setTTL(1.5), { code: 'EINVAL', syscall: 'setTTL' });
  t.throws(() => socket.setMulticastTTL(1.5), { code: 'EINVAL', syscall: 'setMulticastTTL' });
});

// ---- multicast membership --------------------------------------------------------------------

t.test('addMembership / dropMembership on 224.0.0.114 via 127.0.0.1', async (t) => {
  const group = '224.0.0.114';
  // If the kernel refuses (no multicast route on lo), both must refuse the same way.
  await agree(t, 'join, join again, leave, leave again, other groups', async (impl) => {
    const socket = open(t, impl, 'udp4');
    await bound(socket);
    return {
      add: attempt(() => socket.addMembership(group, '127.0.0.1')),
      addAgain: attempt(() => socket.addMembership(group, '127.0.0.1')),
      drop: attempt(() => socket.dropMembership(group, '127.0.0.1')),
      dropAgain: attempt(() => socket.dropMembership(group, '127.0.0.1')),
      notMulticast: attempt(() => socket.addMembership('10.1.2.3', '127.0.0.1')),
      notAnAddress: attempt(() => socket.addMembership('not an address')),
      badInterface: attempt(() => socket.addMembership('224.0.0.115', 'not an address')),
      dropNeverJoined: attempt(() => socket.dropMembership('224.0.0.116', '127.0.0.1')),
    };
  });
  const socket = open(t, DGRAM, 'udp4');
  await bound(socket);
  const added = attempt(() => socket.addMembership(group, '127.0.0.1'));
  t.ok(added.via === 'returned' || typeof added.code === 'string', `node:dgram joins or refuses with a code: ${JSON.stringify(added)}`);
  t.match(attempt(() => socket.dropMembership('224.0.0.116', '127.0.0.1')), { via: 'thrown', code: 'EADDRNOTAVAIL', syscall: 'dropMembership' });
});

t.test('addMembership / dropMembership without a group: ERR_MISSING_ARGS', async (t) => {
  for (const state of ['unbound', 'bound'] as const) {
    for (const group of [undefined, '', null]) {
      await agree(
        t,
        `${state}, group ${JSON.stringify(group)}`,
        async (impl) => {
          const socket = open(t, impl, 'udp4');
          if (state === 'bound') await bound(socket);
          return [attempt(() => socket.addMembership(group as never)), attempt(() => socket.dropMembership(group as never))];
        },
        [
          { via: 'thrown', code: 'ERR_MISSING_ARGS', class: 'TypeError' },
          { via: 'thrown', code: 'ERR_MISSING_ARGS', class: 'TypeError' },
        ],
      );
    }
  }
});

t.test('addMembership on an unbound socket binds it to the wildcard address', async (t) => {
  await agree(
    t,
    'join before bind',
    (impl) => {
      const socket = open(t, impl, 'udp4');
      const joined = attempt(() => socket.addMembership('224.0.0.114', '127.0.0.1'));
      const address = attempt(() => {
        const { address, family, port } = socket.address();
        return { address, family, ephemeral: port > 0 };
      });
      return { joined, address };
    },
    { address: { via: 'returned', value: { address: '0.0.0.0', family: 'IPv4', ephemeral: true } } },
  );
  // Deliberate: node:dgram's socket stays "unbound" in its own bookkeeping (libuv bound the fd
  // behind its back), so a later bind() fails asynchronously with EINVAL. uring-udp records the
  // bind, emits 'listening' and throws ERR_SOCKET_ALREADY_BOUND at a later bind() call.
  const socket = open(t, URING, 'udp4');
  const listening = once(socket, 'listening');
  socket.addMembership('224.0.0.114', '127.0.0.1');
  await listening;
  t.throws(() => socket.bind(0), { code: 'ERR_SOCKET_ALREADY_BOUND' });
});

t.test('deliberate: a multicast address that is not a string is ERR_INVALID_ARG_TYPE', async (t) => {
  // node:dgram stringifies it and reports EINVAL from the kernel.
  t.throws(() => open(t, URING, 'udp4').addMembership(5 as never), { code: 'ERR_INVALID_ARG_TYPE', name: 'TypeError' });
});

// ---- receiving -------------------------------------------------------------------------------

for (const [type, host] of [
  ['udp4', '127.0.0.1'],
  ['udp6', '::1'],
] as const) {
  t.test(`${type}: 'message' delivers an owned Buffer and the same rinfo as node:dgram`, async (t) => {
    // One sender, one datagram sent to a node:dgram and a uring-udp receiver: rinfo must match.
    const sender = open(t, DGRAM, type);
    await bound(sender, 0, host);
    const receivers = await Promise.all(
      [DGRAM, URING].map(async (impl) => {
        const socket = open(t, impl, type);
        const next = inbox(socket);
        const port = await bound(socket, 0, host);
        return { socket, next, port };
      }),
    );
    const payloads = [Buffer.from('first datagram'), Buffer.alloc(0), Buffer.alloc(9000, 0xab), Buffer.from('last')];
    await agree(
      t,
      'the same datagrams',
      async (impl) => {
        const receiver = receivers[impl === DGRAM ? 0 : 1]!;
        const received: Datagram[] = [];
        for (const payload of payloads) {
          sender.send(payload, receiver.port, host);
          received.push(await receiver.next());
        }
        const first = received[0]!;
        const snapshot = Buffer.from(first.msg);
        received[1]!.msg.fill(0); // writing to one message leaves the others alone
        received[3]!.msg.fill(0x21);
        return {
          buffers: received.map(({ msg }) => Buffer.isBuffer(msg)),
          rinfo: received.map(({ rinfo }) => rinfo),
          bytesMatch: received.map(({ msg }, i) => i === 3 || msg.equals(payloads[i]!)),
          firstIntact: first.msg.equals(snapshot),
        };
      },
      {
        buffers: [true, true, true, true],
        rinfo: payloads.map((p) => ({ address: host, family: type === 'udp4' ? 'IPv4' : 'IPv6', port: sender.address().port, size: p.length })),
        bytesMatch: [true, true, true, true],
        firstIntact: true,
      },
    );
  });
}

t.test("a listener given to createSocket receives 'message'; uring-udp's sends reach node:dgram with the same rinfo", async (t) => {
  await agree(
    t,
    'listener and rinfo',
    async (impl) => {
      const got = new Promise<Datagram>((resolve) => {
        const socket = open(t, impl, { type: 'udp4' }, (msg, rinfo) => resolve({ msg, rinfo }));
        void bound(socket, 0, '127.0.0.1').then((port) => {
          const sender = open(t, impl, 'udp4');
          sender.bind(0, '127.0.0.1', () => sender.send('to the listener', port, '127.0.0.1'));
        });
      });
      const { msg, rinfo } = await got;
      return { msg: msg.toString(), family: rinfo.family, address: rinfo.address, size: rinfo.size, keys: Object.keys(rinfo).sort() };
    },
    { msg: 'to the listener', family: 'IPv4', address: '127.0.0.1', size: 15, keys: ['address', 'family', 'port', 'size'] },
  );
});

// ---- socket options at creation --------------------------------------------------------------

t.test('reuseAddr: two sockets on one port; without it the second bind is EADDRINUSE', async (t) => {
  for (const reuseAddr of [true, false]) {
    await agree(
      t,
      `reuseAddr: ${reuseAddr}`,
      async (impl) => {
        const first = open(t, impl, { type: 'udp4', reuseAddr });
        const port = await bound(first, 0, '127.0.0.1');
        const second = open(t, impl, { type: 'udp4', reuseAddr });
        const outcome = await settle(second, (cb) => second.bind(port, '127.0.0.1', () => cb(null, 'listening')));
        return { ...outcome, port: outcome.port === port ? 'the shared port' : outcome.port };
      },
      reuseAddr
        ? { via: 'callback', value: ['listening'] }
        : { via: "'error' event", code: 'EADDRINUSE', class: 'Error', syscall: 'bind', address: '127.0.0.1', port: 'the shared port' },
    );
  }
  // Both implementations set the same socket option: they share a port with each other.
  const first = open(t, DGRAM, { type: 'udp4', reuseAddr: true });
  const port = await bound(first, 0, '127.0.0.1');
  const second = open(t, URING, { type: 'udp4', reuseAddr: true });
  t.equal(await bound(second, port, '127.0.0.1'), port, 'a uring-udp socket joins a node:dgram socket on its port');
});

t.test('reusePort: two uring-udp sockets on one port, both receiving', async (t) => {
  // node:dgram has no reusePort option before Node.js 22.12 (it ignores it), so there is no
  // reference on Node.js 20; this asserts uring-udp's behaviour: SO_REUSEPORT, load-spread.
  const first = open(t, URING, { type: 'udp4', reusePort: true } as dgram.SocketOptions);
  const port = await bound(first, 0, '127.0.0.1');
  const second = open(t, URING, { type: 'udp4', reusePort: true } as dgram.SocketOptions);
  t.equal(await bound(second, port, '127.0.0.1'), port, 'second socket bound to the same port');
  const plain = open(t, URING, 'udp4');
  const refused = await settle(plain, () => plain.bind(port, '127.0.0.1'));
  t.match(refused, { via: "'error' event", code: 'EADDRINUSE' }, 'a socket without reusePort is refused');
  const seen = new Set<dgram.Socket>();
  for (const socket of [first, second]) socket.on('message', () => seen.add(socket));
  for (let i = 0; i < 64 && seen.size < 2; i++) {
    // The kernel picks the socket by a hash of the sender's address and port: vary the port.
    const from = open(t, DGRAM, 'udp4');
    await bound(from, 0, '127.0.0.1');
    await settle(from, (cb) => from.send('spread', port, '127.0.0.1', cb));
    await new Promise((resolve) => setTimeout(resolve, 5));
    await closed(from);
  }
  t.equal(seen.size, 2, 'datagrams from different senders reach both sockets');
});

t.test('ipv6Only: a udp6 socket on :: leaves the IPv4 port free only when set', async (t) => {
  for (const ipv6Only of [true, false, undefined]) {
    await agree(
      t,
      `ipv6Only: ${ipv6Only}`,
      async (impl) => {
        const six = open(t, impl, ipv6Only === undefined ? { type: 'udp6' } : { type: 'udp6', ipv6Only });
        const port = await bound(six, 0, '::');
        const four = open(t, impl, 'udp4');
        const outcome = await settle(four, (cb) => four.bind(port, '0.0.0.0', () => cb(null, 'listening')));
        return { ...outcome, port: outcome.port === port ? 'the same port' : outcome.port };
      },
      ipv6Only ? { via: 'callback', value: ['listening'] } : { via: "'error' event", code: 'EADDRINUSE', syscall: 'bind' },
    );
  }
});

// ---- signal and lookup -----------------------------------------------------------------------

t.test('signal: aborting closes the socket', async (t) => {
  await agree(
    t,
    'abort a bound socket',
    async (impl) => {
      const controller = new AbortController();
      const socket = open(t, impl, { type: 'udp4', signal: controller.signal });
      await bound(socket);
      const closing = once(socket, 'close');
      controller.abort();
      await closing;
      return { send: attempt(() => socket.send('x', 9)), listeners: getEventListeners(controller.signal, 'abort').length };
    },
    { send: { via: 'thrown', code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' }, listeners: 0 },
  );
  await agree(
    t,
    'an already aborted signal',
    async (impl) => {
      const socket = open(t, impl, { type: 'udp4', signal: AbortSignal.abort() });
      const bind = attempt(() => socket.bind(0));
      await once(socket, 'close');
      return bind;
    },
    { via: 'thrown', code: 'ERR_SOCKET_DGRAM_NOT_RUNNING', class: 'Error' },
  );
  await agree(
    t,
    'closing first removes the abort listener; aborting later is harmless',
    async (impl) => {
      const controller = new AbortController();
      const socket = impl.createSocket({ type: 'udp4', signal: controller.signal });
      const during = getEventListeners(controller.signal, 'abort').length;
      await closed(socket);
      const after = getEventListeners(controller.signal, 'abort').length;
      return { during, after, abort: attempt(() => controller.abort()) };
    },
    { during: 1, after: 0, abort: { via: 'returned' } },
  );
  for (const signal of [5, {}, 'signal']) {
    await agree(t, `signal: ${JSON.stringify(signal)}`, (impl) => attempt(() => open(t, impl, { type: 'udp4', signal } as never)), {
      via: 'thrown',
      code: 'ERR_INVALID_ARG_TYPE',
      class: 'TypeError',
    });
  }
});

t.test('lookup: called for host names in bind, send and connect; its answer is used', async (t) => {
  const { port, next } = await receiver(t);
  const scenario = async (impl: Impl) => {
    const calls: unknown[][] = [];
    const lookup = (hostname: string, options: unknown, callback: (error: Error | null, address: string, family: number) => void) => {
      calls.push([hostname, options, typeof callback]);
      if (hostname === 'broken.test') setImmediate(callback, Object.assign(new Error('no such host'), { code: 'ENOTFOUND' }), '', 0);
      else setImmediate(callback, null, '127.0.0.1', 4);
    };
    const socket = open(t, impl, { type: 'udp4', lookup });
    await new Promise<void>((resolve) => socket.bind(0, 'bind.test', resolve));
    const bindAddress = socket.address().address;
    const sent = await settle(socket, (cb) => socket.send('looked up', port, 'send.test', cb));
    const { msg } = await next();
    const broken = await settle(socket, (cb) => socket.send('x', port, 'broken.test', cb));
    const client = open(t, impl, { type: 'udp4', lookup });
    const connected = await settle(client, (cb) => client.connect(port, 'connect.test', cb));
    // node:dgram also asks lookup about IP literals (see below); compare the names.
    return { calls: calls.filter(([hostname]) => net.isIP(hostname as string) === 0), bindAddress, sent, msg: msg.toString(), broken, connected };
  };
  await agree(t, 'lookup calls and results', scenario, {
    calls: [
      ['bind.test', 4, 'function'],
      ['send.test', 4, 'function'],
      ['broken.test', 4, 'function'],
      ['connect.test', 4, 'function'],
    ],
    bindAddress: '127.0.0.1',
    sent: { via: 'callback', value: [9] },
    msg: 'looked up',
    broken: { via: 'callback', code: 'ENOTFOUND' },
    connected: { via: 'callback', value: [] },
  });
  await agree(t, 'a lookup that is not a function', (impl) => attempt(() => open(t, impl, { type: 'udp4', lookup: 5 } as never)), {
    via: 'thrown',
    code: 'ERR_INVALID_ARG_TYPE',
    class: 'TypeError',
  });
  // lookup and IP literals: see "lookup is asked about IP literals" below.
});

// ---- what Node's own dgram tests check (../shared/conformance/node-dgram) ----------------------

/** What a synchronous call threw: its code, class and message (Node's tests match messages). */
function thrownMessage(run: () => unknown): { code?: string; name?: string; message?: string } | 'returned' {
  try {
    run();
    return 'returned';
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    return { code: e.code, name: e.name, message: e.message };
  }
}

const ODD_VALUES: unknown[] = [
  null, true, 0, NaN, -0, 1n, '', 'foo', 'a'.repeat(40), Symbol(), Symbol('x'), {}, [], [1, 2], new String('udp4'),
  Object.create(null), new Map(), Buffer.from('x'), { constructor: null }, Object.create(null, { x: { value: 1, enumerable: true } }), 1.5,
];

t.test("ERR_INVALID_ARG_TYPE says what it received in Node's words", async (t) => {
  for (const value of ODD_VALUES) {
    await agree(t, `lookup: ${String(typeof value === 'symbol' ? value.toString() : typeof value)}`, (impl) =>
      thrownMessage(() => open(t, impl, { type: 'udp4', lookup: value } as never)),
    );
  }
  await agree(t, 'a named function where a string belongs', async (impl) => {
    const socket = open(t, impl, 'udp4');
    await bound(socket, 0, '127.0.0.1');
    return thrownMessage(() => socket.setMulticastInterface(function named() {} as never));
  });
  await agree(t, 'options.recvBufferSize is a property', (impl) =>
    thrownMessage(() => open(t, impl, { type: 'udp4', recvBufferSize: 'big' } as never)),
  );
});

t.test('send(): a bad address and a bad buffer-list item are worded as dgram words them', async (t) => {
  const scenario = async (impl: Impl) => {
    const socket = open(t, impl, 'udp4');
    const port = await bound(socket, 0, '127.0.0.1');
    const out: unknown[] = [];
    for (const address of [[], 0, true, 0n, {}, Symbol()]) out.push(thrownMessage(() => socket.send('x', port, address as never)));
    out.push(thrownMessage(() => socket.send([Buffer.from('x'), 23] as never, port, '127.0.0.1')));
    out.push(thrownMessage(() => socket.send(23 as never, port, '127.0.0.1')));
    return out;
  };
  const result = await agree(t, 'send errors', scenario);
  t.match(result[0], { message: 'The "address" argument must be of type string. Received an instance of Array' });
  t.match(result[6], { message: /^The "buffer list arguments" argument must be .* Received an instance of Array$/ });
});

t.test('sendto(): its numbers and address are checked first, as dgram checks them', async (t) => {
  const cases: unknown[][] = [[], ['buffer', 1, 'offset', 'port', 'address', 'cb'], ['buffer', 'offset', 1, 'port', 'address', 'cb'],
    ['buffer', 1, 1, 10, false, 'cb'], ['buffer', 1, 1, false, 'address', 'cb']];
  for (const args of cases) {
    await agree(t, `sendto(${args.map(String).join(', ')})`, (impl) => {
      const socket = open(t, impl, 'udp4');
      return thrownMessage(() => (socket as unknown as { sendto: (...a: unknown[]) => void }).sendto(...args));
    });
  }
});

t.test('createSocket: the type is checked before our options; unknown options are ignored, a near miss warns', async (t) => {
  for (const type of ['test', ['udp4'], new String('udp4'), 1, {}, true, null, undefined, { type: 'bad', reuseAdr: true }, { toString: 1 }]) {
    await agree(t, `createSocket(${util.inspect(type)})`, (impl) => thrownMessage(() => open(t, impl, type as never)));
  }
  await agree(t, 'an unknown option (multicast-dns passes toString)', (impl) =>
    thrownMessage(() => open(t, impl, { type: 'udp4', toString: () => 'x', somethingElse: 1 } as never)),
  );
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  open(t, URING, { type: 'udp4', reuseAdr: true } as never);
  open(t, URING, { type: 'udp4', reuseAdr: true } as never);
  await new Promise((resolve) => setImmediate(resolve));
  const ours = warnings.filter((w) => (w as NodeJS.ErrnoException).code === 'URING_UDP_MISSPELLED_OPTION');
  t.equal(ours.length, 1, 'one warning per misspelled name');
  t.match(ours[0]?.message, /"reuseAdr" is not known and is ignored; did you mean "reuseAddr"/);
});

t.test("new Socket(type): the same as createSocket, as in dgram (dns2 extends it)", async (t) => {
  const { Socket } = await import('../src/index');
  class Server extends Socket {
    constructor() {
      super('udp4');
    }
  }
  const server = new Server();
  t.teardown(() => closed(server as unknown as dgram.Socket));
  t.equal(server.type, 'udp4');
  await agree(t, 'new Socket()', (impl) =>
    thrownMessage(() => new (impl.name === 'node:dgram' ? dgram.Socket : (Socket as unknown as typeof dgram.Socket))(undefined as never)),
  );
});

t.test('coded errors print as Node\'s do: String(error) is "Error [ERR_SOCKET_DGRAM_NOT_RUNNING]: Not running"', async (t) => {
  await agree(t, 'String() of a coded error', (impl) => {
    const socket = open(t, impl, 'udp4');
    socket.close();
    try {
      socket.address();
      return { printed: 'nothing thrown' };
    } catch (error) {
      return { printed: String(error) };
    }
  }, { printed: 'Error [ERR_SOCKET_DGRAM_NOT_RUNNING]: Not running' });
});

t.test('socket[Symbol.asyncDispose]() closes the socket, and resolves on a closed one', async (t) => {
  const asyncDispose = (Symbol as { asyncDispose?: symbol }).asyncDispose ?? Symbol.for('nodejs.asyncDispose');
  await agree(t, 'async dispose', async (impl) => {
    const socket = open(t, impl, 'udp4');
    let closes = 0;
    socket.on('close', () => closes++);
    const dispose = (socket as unknown as Record<symbol, () => Promise<void>>)[asyncDispose]!;
    await dispose.call(socket);
    const address = thrownMessage(() => socket.address());
    await dispose.call(socket);
    return { closes, address };
  }, { closes: 1, address: { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' } });
});

t.test('failed binds leave no listener behind (no MaxListenersExceededWarning)', async (t) => {
  const holder = open(t, DGRAM, 'udp4');
  const port = await bound(holder, 0, '127.0.0.1');
  await agree(t, 'twelve failed binds', async (impl) => {
    const socket = open(t, impl, 'udp4');
    const codes: string[] = [];
    for (let i = 0; i < 12; i++) {
      const error = await new Promise<NodeJS.ErrnoException>((resolve) => {
        socket.once('error', resolve);
        socket.bind(port, '127.0.0.1', () => t.fail('bound a port in use'));
      });
      await new Promise((resolve) => setImmediate(resolve));
      codes.push(error.code ?? '');
    }
    return { codes: [...new Set(codes)], listening: socket.listenerCount('listening') };
  }, { codes: ['EADDRINUSE'], listening: 0 });
});

t.test("lookup is asked about IP literals as the running Node's dgram asks (a lookup option always; dns.lookup until Node 24)", async (t) => {
  const { port, next } = await receiver(t);
  await agree(t, 'a lookup option', async (impl) => {
    const calls: string[] = [];
    const socket = open(t, impl, { type: 'udp4', lookup: (hostname, _options, callback) => (calls.push(hostname), callback(null, '127.0.0.1', 4)) });
    await settle(socket, (cb) => socket.send('x', port, '127.0.0.1', cb));
    await next();
    return calls;
  }, ['0.0.0.0', '127.0.0.1']);
  await agree(t, 'the default, dns.lookup', async (impl) => {
    const calls: string[] = [];
    const original = dns.lookup;
    (dns as { lookup: unknown }).lookup = (hostname: string, family: number, callback: (...a: unknown[]) => void) => {
      calls.push(hostname);
      return (original as unknown as (...a: unknown[]) => void)(hostname, family, callback);
    };
    try {
      const socket = open(t, impl, 'udp4');
      await settle(socket, (cb) => socket.send('x', port, '127.0.0.1', cb));
      await next();
    } finally {
      (dns as { lookup: unknown }).lookup = original;
    }
    return calls;
  }, NODE_MAJOR >= 24 ? [] : ['0.0.0.0', '127.0.0.1']);
});

t.test('the DEP0112 members: on the Node versions whose dgram has them, with its warning', async (t) => {
  const names = ['_handle', '_receiving', '_bindState', '_queue', '_reuseAddr', '_healthCheck', '_stopReceiving'];
  const { Socket } = await import('../src/index');
  const shape = (proto: object) =>
    names.map((name) => {
      const d = Object.getOwnPropertyDescriptor(proto, name);
      return [name, d === undefined ? 'none' : d.get ? 'accessor' : typeof d.value];
    });
  t.strictSame(shape(Socket.prototype), shape(dgram.Socket.prototype), `the same members as node:dgram on Node ${NODE_MAJOR}`);
  if (NODE_MAJOR >= 26) return;
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  const socket = open(t, URING, 'udp4') as unknown as Record<string, unknown>;
  t.equal(socket._bindState, 0, '_bindState: unbound');
  await new Promise((resolve) => setImmediate(resolve));
  // Node emits a deprecation once per code in a process: node:dgram's own use would hide ours.
  const dep = warnings.filter((w) => (w as NodeJS.ErrnoException).code === 'DEP0112');
  t.ok(dep.length <= 1, 'at most once per process');
  if (dep.length === 1) t.equal(dep[0]!.message, 'Socket.prototype._bindState is deprecated');
  t.equal(socket._reuseAddr, undefined);
  t.type(socket._handle, 'object', '_handle while open');
  (socket as unknown as dgram.Socket).close();
  t.equal(socket._handle, null, '_handle: null once closed, as dgram');
  t.throws(() => (socket._healthCheck as () => void).call(socket), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
});

t.test('setMulticastInterface on udp6: EINVAL for what is not an IP address, as libuv', async (t) => {
  await agree(t, 'udp6 interface addresses', async (impl) => {
    const socket = open(t, impl, 'udp6');
    await bound(socket, 0, '::1');
    return ['undefined', '', '%lo', 'lo', '::', '::%lo0', '::%lo', '127.0.0.1', '::1'].map((address) => [address, thrownMessage(() => socket.setMulticastInterface(address))]);
  });
});

/** A link-local IPv6 address of this machine, with its interface ("fe80::1%eth0"), if it has one. */
function linkLocal(): string | undefined {
  for (const [name, entries] of Object.entries(os.networkInterfaces())) {
    for (const entry of entries ?? []) if (entry.family === 'IPv6' && entry.address.startsWith('fe80:')) return `${entry.address}%${name}`;
  }
  return undefined;
}

t.test("a link-local sender's rinfo.address carries its %scope", { skip: linkLocal() === undefined ? 'no IPv6 link-local address here' : false }, async (t) => {
  const address = linkLocal()!;
  await agree(t, 'rinfo.address', async (impl) => {
    const server = open(t, impl, 'udp6');
    const client = open(t, impl, 'udp6');
    const next = inbox(server);
    const port = await bound(server, 0, address);
    client.send('hello', port, address);
    const { rinfo } = await next();
    return { address: rinfo.address };
  }, { address });
});

t.test('cluster: workers bind through the primary (one shared port), exclusive binds do not; disconnect closes the shared sockets', async (t) => {
  const fixture = path.join(__dirname, 'fixtures', 'dgram-cluster.js');
  const results: Record<string, { ports: { shared: number[]; exclusive: number[] }; codes: number[] }> = {};
  for (const module of ['node:dgram', ROOT]) {
    const result = await run(process.execPath, [fixture, module], { timeoutMs: 30_000 });
    t.equal(result.code, 0, `${module}: the cluster exits`, { stderr: result.stderr });
    results[module] = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}');
  }
  for (const [module, { ports, codes }] of Object.entries(results)) {
    t.equal(new Set(ports.shared).size, 1, `${module}: both shared binds got the primary's one port`);
    t.equal(new Set(ports.exclusive).size, 2, `${module}: exclusive binds got a port each`);
    t.strictSame(codes, [0, 0, 0, 0], `${module}: every worker exited`);
  }
});

t.test('--test-udp-no-try-send: sends wait in the queue, and getSendQueueSize()/Count() count them', async (t) => {
  const script = `
    const dgram = require(process.argv[1]);
    const server = dgram.createSocket('udp4');
    const client = dgram.createSocket('udp4');
    server.bind(0, '127.0.0.1', () => client.connect(server.address().port, '127.0.0.1', () => {
      const before = [client.getSendQueueSize(), client.getSendQueueCount()];
      client.send('hello'); client.send('hello');
      const queued = [client.getSendQueueSize(), client.getSendQueueCount()];
      server.on('message', () => { if (++got === 2) { console.log(JSON.stringify({ before, queued, after: [client.getSendQueueSize(), client.getSendQueueCount()] })); client.close(); server.close(); } });
    }));
    let got = 0;`;
  const outputs: unknown[] = [];
  for (const module of ['node:dgram', ROOT]) {
    const result = await run(process.execPath, ['--test-udp-no-try-send', '-e', script, module], { timeoutMs: 20_000 });
    t.equal(result.code, 0, `${module} ran`, { stderr: result.stderr });
    outputs.push(JSON.parse(result.stdout));
  }
  t.strictSame(outputs[0], { before: [0, 0], queued: [10, 2], after: [0, 0] }, 'node:dgram as expected');
  t.strictSame(outputs[1], outputs[0], 'uring-udp agrees');
});

t.test("the package's exports are writable data properties, as node:dgram's (patching dgram works)", async (t) => {
  // In a child: the compiled package (lib/) beside this file's src/ would load the addon's JS twice.
  const script = `
    const dgram = require('node:dgram');
    const pkg = require(process.argv[1]);
    const shape = (o, name) => { const d = Object.getOwnPropertyDescriptor(o, name); return [d.writable, d.enumerable, d.configurable, typeof d.get]; };
    const shapes = ['createSocket', 'Socket'].map((name) => [shape(pkg, name), shape(dgram, name)]);
    pkg.createSocket = () => 'patched';
    console.log(JSON.stringify({ shapes, patched: require(process.argv[1]).createSocket() }));`;
  const result = await run(process.execPath, ['-e', script, ROOT], { timeoutMs: 20_000 });
  t.equal(result.code, 0, 'ran', { stderr: result.stderr });
  const { shapes, patched } = JSON.parse(result.stdout) as { shapes: unknown[][]; patched: string };
  for (const [ours, theirs] of shapes) t.strictSame(ours, theirs, 'the same property shape as node:dgram');
  t.equal(patched, 'patched', 'a patch is seen by every require');
});
