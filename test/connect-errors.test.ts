// How connect() fails: each failure rejects once with an error in Node's shape (`connect ENOENT /path`,
// with code, errno, syscall and address), and a wrong argument throws at the call.
import { describe, it, expect, afterEach } from 'vitest';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import { connect, listen, resolveEndpoint, TransportError, MAX_UNIX_PATH, type Transport } from '../dist/index.js';
import { cleanupAll, dirPerTest, LineChild, onCleanup } from './helpers/common';
import { abstractName, makeStaleSocket, python } from './helpers/interop-util';
import { DARWIN, LINUX } from './helpers/platform';

const E = os.constants.errno;
/** sizeof(sun_path) - 1 where the suite runs: 108-byte sun_path on Linux, 104-byte on macOS. */
const EXPECTED_MAX_UNIX_PATH = ({ linux: 107, darwin: 103 } as Record<string, number>)[process.platform];
afterEach(cleanupAll);

const tmp = dirPerTest('sipc-connerr-');

/** The error a connect promise rejects with; fails the test (and closes the transport) if it resolves. */
async function rejection(p: Promise<Transport>): Promise<TransportError & Error> {
  try {
    const t = await p;
    t.destroy();
  } catch (e) {
    return e as TransportError;
  }
  throw new Error('connect() resolved; expected it to reject');
}

function expectSystemError(err: unknown, code: string, address: string): void {
  expect(err).toBeInstanceOf(TransportError);
  const e = err as TransportError;
  expect(e.name).toBe('TransportError');
  expect(e.code).toBe(code);
  expect(e.errno).toBe(-E[code as keyof typeof E]);
  expect(e.syscall).toBe('connect');
  expect(e.address).toBe(address);
  expect(e.message).toBe(`connect ${code} ${address}`);
}

/** A Python listener whose backlog is full: a connect to it can neither succeed nor be refused. */
async function fullBacklog(address: string): Promise<LineChild> {
  const p = python(['backlog', address], 'pipe');
  const ready = await p.next('READY');
  expect(Number(ready.split(' ')[1])).toBeGreaterThan(0);
  return p;
}

describe('system errors', () => {
  it('ENOENT for a path where nothing exists', async () => {
    const file = path.join(tmp(), 'missing.sock');
    expectSystemError(await rejection(connect(`unix:${file}`)), 'ENOENT', file);
  });

  it('ENOENT for a bare absolute path too, reported as given', async () => {
    const file = path.join(tmp(), 'missing2.sock');
    expectSystemError(await rejection(connect(file)), 'ENOENT', file);
  });

  it('ECONNREFUSED for a stale socket file nobody listens on', async () => {
    const file = path.join(tmp(), 'stale.sock');
    await makeStaleSocket(file);
    expect(fs.lstatSync(file).isSocket()).toBe(true);
    expectSystemError(await rejection(connect(`unix:${file}`)), 'ECONNREFUSED', file);
    // connect() must not remove or alter someone else's file.
    expect(fs.lstatSync(file).isSocket()).toBe(true);
  });

  it('ECONNREFUSED for the socket file of a node:net server that was killed', async () => {
    const file = path.join(tmp(), 'killed.sock');
    const owner = new LineChild(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(file)}, () => console.log('READY'))`,
    ], { stdin: 'ignore' });
    await owner.next('READY');
    owner.child.kill('SIGKILL');
    expect((await owner.exited).signal).toBe('SIGKILL');
    expect(fs.lstatSync(file).isSocket()).toBe(true);
    expectSystemError(await rejection(connect(`unix:${file}`)), 'ECONNREFUSED', file);
  });

  // Linux refuses a connect to a file that is not a socket; macOS says ENOTSOCK (next test).
  it.runIf(LINUX)('ECONNREFUSED for a regular file (Linux), which is left unchanged', async () => {
    const file = path.join(tmp(), 'plain.txt');
    fs.writeFileSync(file, 'not a socket');
    expectSystemError(await rejection(connect(`unix:${file}`)), 'ECONNREFUSED', file);
    expect(fs.readFileSync(file, 'utf8')).toBe('not a socket');
  });

  // macOS (XNU unp_connect) fails a connect to a file that is not a socket with ENOTSOCK.
  it.runIf(DARWIN)('ENOTSOCK for a regular file (macOS), which is left unchanged', async () => {
    const file = path.join(tmp(), 'plain.txt');
    fs.writeFileSync(file, 'not a socket');
    expectSystemError(await rejection(connect(`unix:${file}`)), 'ENOTSOCK', file);
    expect(fs.readFileSync(file, 'utf8')).toBe('not a socket');
  });

  it('ENOTDIR when a parent of the path is a regular file', async () => {
    const parent = path.join(tmp(), 'file');
    fs.writeFileSync(parent, '');
    const file = path.join(parent, 'x.sock');
    expectSystemError(await rejection(connect(`unix:${file}`)), 'ENOTDIR', file);
  });

  // The abstract namespace exists only on Linux.
  it.runIf(LINUX)('ECONNREFUSED for an abstract name nobody listens on, with the address as @name', async () => {
    const name = abstractName('nobody');
    expectSystemError(await rejection(connect(`unix:@${name}`)), 'ECONNREFUSED', `unix:@${name}`);
  });

  it('a failed connect does not disturb a later successful one to the same path', async () => {
    const file = path.join(tmp(), 'later.sock');
    expectSystemError(await rejection(connect(`unix:${file}`)), 'ENOENT', file);
    const server = await listen(`unix:${file}`);
    onCleanup(() => server.close());
    const t = await connect(`unix:${file}`);
    onCleanup(() => t.destroy());
    expect(t.state).toBe('open');
  });
});

describe('path too long', () => {
  // The limit is computed (MAX_UNIX_PATH: 107 on Linux, 103 on macOS), so these run on both.
  it(`rejects a ${MAX_UNIX_PATH + 1}-byte path with ERR_IPC_PATH_TOO_LONG naming the limit of ${MAX_UNIX_PATH}`, async () => {
    const base = tmp() + '/';
    const file = base + 'p'.repeat(MAX_UNIX_PATH + 1 - Buffer.byteLength(base));
    expect(Buffer.byteLength(file)).toBe(MAX_UNIX_PATH + 1);
    expect(MAX_UNIX_PATH).toBe(EXPECTED_MAX_UNIX_PATH);
    const err = await rejection(connect(`unix:${file}`));
    expect(err).toBeInstanceOf(TransportError);
    expect(err.code).toBe('ERR_IPC_PATH_TOO_LONG');
    expect(err.address).toBe(file);
    expect(err.message).toContain(String(MAX_UNIX_PATH));
    expect(err.message).toContain(file);
    expect((err as unknown as { limit: number }).limit).toBe(MAX_UNIX_PATH);
  });

  it(`counts bytes, not characters: ${(MAX_UNIX_PATH - 1) / 2 + 1} two-byte characters are ${MAX_UNIX_PATH + 1} bytes`, async () => {
    // '/' + n two-byte characters + 'x' is MAX_UNIX_PATH + 1 bytes (MAX_UNIX_PATH is odd: 107 or 103).
    const n = (MAX_UNIX_PATH - 1) / 2;
    const file = '/' + 'é'.repeat(n) + 'x';
    expect(file.length).toBe(n + 2);
    expect(Buffer.byteLength(file)).toBe(MAX_UNIX_PATH + 1);
    const err = await rejection(connect(`unix:${file}`));
    expect(err.code).toBe('ERR_IPC_PATH_TOO_LONG');
  });

  it(`a ${MAX_UNIX_PATH}-byte path is not too long (it fails only because nothing is there)`, async () => {
    const base = tmp() + '/';
    const file = base + 'q'.repeat(MAX_UNIX_PATH - Buffer.byteLength(base));
    expect(Buffer.byteLength(file)).toBe(MAX_UNIX_PATH);
    expectSystemError(await rejection(connect(`unix:${file}`)), 'ENOENT', file);
  });

  // macOS: sun_path is 104 bytes, so 103 is the longest path; spelled out rather than computed.
  it.runIf(DARWIN)('macOS: a 103-byte path is accepted and a 104-byte one refused with ERR_IPC_PATH_TOO_LONG (limit 103)', async () => {
    expect(MAX_UNIX_PATH).toBe(103);
    const base = tmp() + '/';
    const fits = base + 'f'.repeat(103 - Buffer.byteLength(base));
    expect(Buffer.byteLength(fits)).toBe(103);
    expectSystemError(await rejection(connect(`unix:${fits}`)), 'ENOENT', fits);
    const over = base + 'o'.repeat(104 - Buffer.byteLength(base));
    expect(Buffer.byteLength(over)).toBe(104);
    const err = await rejection(connect(`unix:${over}`));
    expect(err.code).toBe('ERR_IPC_PATH_TOO_LONG');
    expect((err as unknown as { limit: number }).limit).toBe(103);
    expect(err.message).toContain('104 bytes');
  });

  // The abstract namespace exists only on Linux.
  it.runIf(LINUX)('rejects an abstract name longer than sun_path allows (108 characters after the NUL)', async () => {
    const name = 'n'.repeat(MAX_UNIX_PATH + 1);
    const err = await rejection(connect(`unix:@${name}`));
    expect(err.code).toBe('ERR_IPC_PATH_TOO_LONG');
    expect(err.address).toBe(`unix:@${name}`);
  });
});

describe('timeout and abort', () => {
  // A connect that waits (EAGAIN on a full backlog) needs Linux: macOS refuses at once (ECONNREFUSED)
  // when the backlog is full, and these use an abstract name, which only Linux has.
  it.runIf(LINUX)('connectTimeout ends a connect that cannot complete (listener backlog full) with ERR_IPC_CONNECT_TIMEOUT', async () => {
    const name = abstractName('backlog');
    await fullBacklog(`@${name}`);
    const err = await rejection(connect(`unix:@${name}`, { connectTimeout: 150 }));
    expect(err).toBeInstanceOf(TransportError);
    expect(err.code).toBe('ERR_IPC_CONNECT_TIMEOUT');
    expect(err.syscall).toBe('connect');
    expect(err.address).toBe(`unix:@${name}`);
    expect(err.message).toContain('150 ms');
  });

  it('an already aborted signal rejects with an AbortError carrying the reason', async () => {
    const file = path.join(tmp(), 'never.sock');
    const server = await listen(`unix:${file}`);
    onCleanup(() => server.close());
    let connections = 0;
    server.on('connection', () => connections++);
    const reason = new Error('changed my mind');
    const err = await rejection(connect(`unix:${file}`, { signal: AbortSignal.abort(reason) }));
    expect(err).not.toBeInstanceOf(TransportError);
    expect(err.name).toBe('AbortError');
    expect(err.code).toBe('ABORT_ERR');
    expect((err as Error).cause).toBe(reason);
    // A round trip on a second connection: had the aborted one been made, its accept would come first.
    const accepted = once(server, 'connection');
    const t = await connect(`unix:${file}`);
    onCleanup(() => t.destroy());
    await accepted;
    expect(connections).toBe(1);
  });

  // Linux only, for the same reasons as the connectTimeout test above.
  it.runIf(LINUX)('aborting while the connect waits on a full backlog rejects with an AbortError', async () => {
    const name = abstractName('abort');
    await fullBacklog(`@${name}`);
    const ac = new AbortController();
    const p = connect(`unix:@${name}`, { signal: ac.signal, connectTimeout: 20_000 });
    let settled = false;
    p.then(
      () => (settled = true),
      () => (settled = true),
    );
    await new Promise((r) => setTimeout(r, 30));
    expect(settled).toBe(false);
    ac.abort();
    const err = await rejection(p);
    expect(err.name).toBe('AbortError');
    expect(err.code).toBe('ABORT_ERR');
  });

  it('aborting a TCP connect in flight rejects with an AbortError and never opens a connection', async () => {
    const server = net.createServer();
    let accepted = 0;
    server.on('connection', (s) => {
      accepted++;
      s.destroy();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    onCleanup(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as net.AddressInfo).port;
    const ac = new AbortController();
    const p = connect(`tcp:localhost:${port}`, { signal: ac.signal });
    ac.abort();
    const err = await rejection(p);
    expect(err.name).toBe('AbortError');
    // A connection made after the abort would reach the server before this one.
    const s = net.connect(port, '127.0.0.1');
    await once(s, 'connect');
    await once(s, 'close');
    expect(accepted).toBe(1);
  });
});

describe('invalid arguments throw synchronously', () => {
  const file = '/tmp/sipc-never-used.sock';

  function thrown(fn: () => unknown): Error & { code?: string } {
    try {
      const r = fn();
      if (r instanceof Promise) r.catch(() => {});
    } catch (e) {
      return e as Error & { code?: string };
    }
    throw new Error('expected a synchronous throw');
  }

  it('an unknown option is a TypeError with code ERR_INVALID_ARG_VALUE', () => {
    const err = thrown(() => connect(`unix:${file}`, { bogus: 1 } as never));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(err.message).toContain('bogus');
  });

  it('a listen-only option given to connect() is unknown there', () => {
    const err = thrown(() => connect(`unix:${file}`, { mode: 0o600 } as never));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
  });

  it('maxFrameSize: -1 is a RangeError', () => {
    const err = thrown(() => connect(`unix:${file}`, { maxFrameSize: -1 }));
    expect(err).toBeInstanceOf(RangeError);
    expect(err.code).toBe('ERR_OUT_OF_RANGE');
    expect(err.message).toContain('maxFrameSize');
  });

  it("framing: 'xml' is a TypeError", () => {
    const err = thrown(() => connect(`unix:${file}`, { framing: 'xml' as never }));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(err.message).toContain('xml');
  });

  it('connectTimeout: 0 is a RangeError and a string connectTimeout a TypeError', () => {
    expect(thrown(() => connect(`unix:${file}`, { connectTimeout: 0 }))).toBeInstanceOf(RangeError);
    const err = thrown(() => connect(`unix:${file}`, { connectTimeout: '5' as never }));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_TYPE');
  });

  it('a signal that is not an AbortSignal is a TypeError', () => {
    const err = thrown(() => connect(`unix:${file}`, { signal: {} as never }));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_TYPE');
  });

  it('options that are not an object are a TypeError', () => {
    const err = thrown(() => connect(`unix:${file}`, 'fast' as never));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_TYPE');
  });

  it.each([
    ['an empty string', ''],
    ['a relative path', 'relative/path.sock'],
    ['an unknown scheme', 'http://localhost:80'],
    ['tcp: without a port', 'tcp:localhost'],
    ['a non-numeric port', 'tcp:127.0.0.1:http'],
    ['a port past 65535', 'tcp:127.0.0.1:65536'],
    ['a NUL in a path', 'unix:/tmp/a\0b.sock'],
  ])('%s is a TypeError with code ERR_INVALID_ARG_VALUE', (_what, endpoint) => {
    const err = thrown(() => connect(endpoint));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
  });

  it.each([
    ['unix: with no path', 'unix:'],
    ['unix:@ with no name', 'unix:@'],
    ['a number', 42],
    ['null', null],
  ])('%s is a TypeError with code ERR_INVALID_ARG_TYPE', (_what, endpoint) => {
    const err = thrown(() => connect(endpoint as never));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_TYPE');
  });

  // macOS has no abstract namespace: resolveEndpoint refuses unix:@name before any socket is made.
  it.runIf(DARWIN)('macOS: an abstract endpoint (unix:@name or { type: abstract }) is a TypeError with code ERR_INVALID_ARG_VALUE', () => {
    for (const endpoint of ['unix:@sipc-no-abstract', { type: 'abstract' as const, name: 'sipc-no-abstract' }]) {
      for (const call of [() => connect(endpoint), () => listen(endpoint), () => resolveEndpoint(endpoint)]) {
        const err = thrown(call);
        expect(err).toBeInstanceOf(TypeError);
        expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
        expect(err.message).toContain('only on Linux');
      }
    }
  });

  it('an endpoint object of an unknown type is a TypeError', () => {
    const err = thrown(() => connect({ type: 'pigeon' } as never));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
  });
});
