// Options are checked at the call: a wrong type throws TypeError, a value out of range RangeError, an
// unknown option TypeError, each with a Node-style code, synchronously from connect() and listen().
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, listen, type Server, type Transport } from '../dist/index.js';
import { cleanupAll, onCleanup } from './helpers/common';
import { tempSockets } from './helpers/lifetime-util';

afterEach(cleanupAll);

const dir = () => tempSockets('sipc-opt-');

type Case = [name: string, value: unknown, kind: 'type' | 'range'];

const TRANSPORT_CASES: Case[] = [
  ['framing', 'json', 'type'],
  ['framing', 1, 'type'],
  ['framing', null, 'type'],
  ['framing', 'LINES', 'type'],
  ['maxFrameSize', '1024', 'type'],
  ['maxFrameSize', null, 'type'],
  ['maxFrameSize', 1024n, 'type'],
  ['maxFrameSize', 0, 'range'],
  ['maxFrameSize', -1, 'range'],
  ['maxFrameSize', 1.5, 'range'],
  ['maxFrameSize', NaN, 'range'],
  ['maxFrameSize', Infinity, 'range'],
  ['maxFrameSize', 2 ** 32, 'range'],
  ['maxFrameSize', 1024 * 1024 * 1024 + 1, 'range'],
  ['writableHighWaterMark', '64k', 'type'],
  ['writableHighWaterMark', 0, 'range'],
  ['writableHighWaterMark', -5, 'range'],
  ['writableHighWaterMark', 0.5, 'range'],
  ['maxBufferedBytes', true, 'type'],
  ['maxBufferedBytes', 0, 'range'],
  ['maxBufferedBytes', NaN, 'range'],
  ['readableHighWaterMark', '10', 'type'],
  ['readableHighWaterMark', 0, 'range'],
  ['readableHighWaterMark', 2 ** 31, 'range'],
  ['readableHighWaterMark', 2.5, 'range'],
  ['closeTimeout', '100', 'type'],
  ['closeTimeout', -1, 'range'],
  ['closeTimeout', 0.1, 'range'],
  ['closeTimeout', 2 ** 31, 'range'],
  ['slabSize', '64k', 'type'],
  ['slabSize', 1023, 'range'],
  ['slabSize', 0, 'range'],
  ['slabSize', 256 * 1024 * 1024 + 1, 'range'],
];

const CONNECT_CASES: Case[] = [
  ['connectTimeout', '1000', 'type'],
  ['connectTimeout', 0, 'range'],
  ['connectTimeout', -1, 'range'],
  ['connectTimeout', 1.5, 'range'],
  ['connectTimeout', 2 ** 31, 'range'],
  ['signal', {}, 'type'],
  ['signal', 'abort', 'type'],
  ['signal', null, 'type'],
];

const LISTEN_CASES: Case[] = [
  ['mode', '600', 'type'],
  ['mode', -1, 'range'],
  ['mode', 0o1000, 'range'],
  ['mode', 1.5, 'range'],
  ['backlog', '5', 'type'],
  ['backlog', 0, 'range'],
  ['backlog', 65536, 'range'],
  ['allowPeer', 'yes', 'type'],
  ['allowPeer', {}, 'type'],
  ['allowPeer', null, 'type'],
  ['sameUserOnly', 'true', 'type'],
  ['sameUserOnly', 1, 'type'],
  ['sameUserOnly', null, 'type'],
];

/** Calls `fn`, which must throw synchronously (not return a rejected promise); returns the error. */
function thrownBy(fn: () => unknown): Error & { code?: string } {
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    return e as Error & { code?: string };
  }
  if (result instanceof Promise) result.catch(() => {});
  throw new Error(`did not throw synchronously (returned ${result instanceof Promise ? 'a promise' : String(result)})`);
}

function checkError(err: Error & { code?: string }, kind: 'type' | 'range', name: string): void {
  if (kind === 'type') {
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toMatch(/^ERR_INVALID_ARG_(TYPE|VALUE)$/);
  } else {
    expect(err).toBeInstanceOf(RangeError);
    expect(err.code).toBe('ERR_OUT_OF_RANGE');
  }
  expect(err.message).toContain(name);
}

describe('connect() options', () => {
  it.each([...TRANSPORT_CASES, ...CONNECT_CASES])('%s = %o throws a %s error at the call', (name, value, kind) => {
    const { sock } = dir();
    checkError(thrownBy(() => connect(sock(), { [name]: value } as never)), kind, name);
  });

  it('a wrong type of a number option is ERR_INVALID_ARG_TYPE', () => {
    const { sock } = dir();
    expect(thrownBy(() => connect(sock(), { maxFrameSize: '1' } as never)).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(thrownBy(() => connect(sock(), { signal: {} } as never)).code).toBe('ERR_INVALID_ARG_TYPE');
  });

  it.each([['foo'], ['highWaterMark'], ['mode'], ['backlog'], ['allowPeer'], ['sameUserOnly'], ['timeout']])(
    'the unknown option %s throws TypeError ERR_INVALID_ARG_VALUE',
    (name) => {
      const { sock } = dir();
      const err = thrownBy(() => connect(sock(), { [name]: 1 } as never));
      expect(err).toBeInstanceOf(TypeError);
      expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
      expect(err.message).toContain(name);
    },
  );

  it.each([[null], ['fast'], [5], [true]])('options = %o throws TypeError ERR_INVALID_ARG_TYPE', (options) => {
    const { sock } = dir();
    const err = thrownBy(() => connect(sock(), options as never));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_TYPE');
  });

  it('maxBufferedBytes below writableHighWaterMark is a RangeError', () => {
    const { sock } = dir();
    const err = thrownBy(() => connect(sock(), { writableHighWaterMark: 1024 * 1024, maxBufferedBytes: 1024 }));
    expect(err).toBeInstanceOf(RangeError);
    expect(err.code).toBe('ERR_OUT_OF_RANGE');
    expect(err.message).toContain('maxBufferedBytes');
  });

  it('the boundary values are accepted and work', async () => {
    const { sock } = dir();
    const endpoint = sock();
    const server: Server = await listen(endpoint, { readableHighWaterMark: 1, slabSize: 1024, closeTimeout: 0, backlog: 1, mode: 0o600 });
    onCleanup(() => server.close());
    const got = new Promise<string>((resolve) => server.once('connection', (t: Transport) => t.once('message', (m: Buffer) => resolve(m.toString()))));
    const t = await connect(endpoint, {
      maxFrameSize: 1,
      writableHighWaterMark: 1,
      maxBufferedBytes: 1024 * 1024,
      connectTimeout: 1,
      closeTimeout: 0,
      slabSize: 1024,
      framing: 'length-prefixed',
      signal: new AbortController().signal,
    });
    onCleanup(() => t.destroy());
    expect(t.send('x')).toBe(false);
    expect(await got).toBe('x');
  });
});

describe('listen() options', () => {
  it.each([...TRANSPORT_CASES, ...LISTEN_CASES])('%s = %o throws a %s error at the call, creating no file', (name, value, kind) => {
    const { dir: d, sock } = dir();
    checkError(thrownBy(() => listen(sock(), { [name]: value } as never)), kind, name);
    expect(fs.readdirSync(d)).toEqual([]);
  });

  it.each([['foo'], ['connectTimeout'], ['signal'], ['port'], ['exclusive']])('the unknown option %s throws TypeError ERR_INVALID_ARG_VALUE', (name) => {
    const { sock } = dir();
    const err = thrownBy(() => listen(sock(), { [name]: 1 } as never));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(err.message).toContain(name);
  });

  it.each([[null], ['fast'], [5]])('options = %o throws TypeError ERR_INVALID_ARG_TYPE', (options) => {
    const { sock } = dir();
    const err = thrownBy(() => listen(sock(), options as never));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_TYPE');
  });
});
