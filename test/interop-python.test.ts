// Interoperability with a peer written in Python with only `socket` and `struct` (test/helpers/
// interop-peer.py). Besides the framing, this pins down the abstract-namespace address: Python binds and
// connects `\0name` with exactly len(name) + 1 bytes, so a padded address on our side would not meet it.
import { describe, it, expect, afterEach } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { connect, MAX_UNIX_PATH, type Server, type Transport } from '../dist/index.js';
import { cleanupAll, dirPerTest, listenAt, onCleanup, type LineChild } from './helpers/common';
import { abstractName, python } from './helpers/interop-util';
import { LINUX } from './helpers/platform';

afterEach(cleanupAll);

const dir = dirPerTest('sipc-interop-');

function sock(name = 's.sock'): string {
  return path.join(dir(), name);
}

/** Echoes every frame on every connection. Returns the frames each connection received. */
function echo(server: Server): Buffer[][] {
  const perConnection: Buffer[][] = [];
  server.on('connection', (t: Transport) => {
    const got: Buffer[] = [];
    perConnection.push(got);
    t.on('message', (f: Buffer) => {
      got.push(Buffer.from(f));
      t.send(f);
    });
  });
  return perConnection;
}

const BINARY = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const LARGE = Buffer.alloc(200_000, 0).map((_, i) => (i * 7 + 3) & 0xff) as Buffer;

async function echoThroughPythonServer(endpoint: string, p: LineChild, framing: 'length-prefixed' | 'lines', frames: Buffer[]) {
  const ready = await p.next('READY');
  expect(Number(ready.split(' ')[1])).toBe(p.pid);
  const t = await connect(endpoint, { framing });
  onCleanup(() => t.destroy());
  const received: Buffer[] = [];
  let closes = 0;
  let errors = 0;
  t.on('message', (f: Buffer) => received.push(Buffer.from(f)));
  t.on('close', () => closes++);
  t.on('error', () => errors++);
  for (const f of frames) t.send(f);
  // close() ends our side; Python sees EOF, ends its own after echoing, and we read the echoes first.
  await t.close();
  const done = await p.next('DONE');
  const { code } = await p.exited;
  return { t, received, closes, errors, done, code };
}

async function pythonClientThrough(address: string, framing: string, frames: Buffer[]) {
  const p = python(['client', address, framing, ...frames.map((f) => f.toString('hex'))]);
  await p.next('CONNECTED');
  const echoed: Buffer[] = [];
  for (let i = 0; i < frames.length; i++) {
    echoed.push(Buffer.from((await p.next('FRAME')).slice('FRAME '.length), 'hex'));
  }
  const eof = await p.next('EOF');
  const { code } = await p.exited;
  return { p, echoed, eof, code };
}

describe('Python server, our client', () => {
  it('echoes length-prefixed frames (binary, empty, 200 KB) over a socket file', async () => {
    const file = sock();
    const p = python(['server', file, 'length-prefixed']);
    const frames = [Buffer.from('hello python'), Buffer.alloc(0), BINARY, LARGE];
    const r = await echoThroughPythonServer(`unix:${file}`, p, 'length-prefixed', frames);
    expect(r.received).toHaveLength(4);
    r.received.forEach((f, i) => expect(f.equals(frames[i]!)).toBe(true));
    expect(r.done).toBe(`DONE 4 ${12 + 0 + 256 + 200_000}`);
    expect(r.code).toBe(0);
    expect(r.closes).toBe(1);
    expect(r.errors).toBe(0);
    expect(r.t.peer?.pid).toBe(p.pid);
  });

  it('echoes lines', async () => {
    const file = sock();
    const p = python(['server', file, 'lines']);
    const frames = ['{"id":1}', 'plain text', 'tab\tand\rcarriage'].map((s) => Buffer.from(s));
    const r = await echoThroughPythonServer(`unix:${file}`, p, 'lines', frames);
    expect(r.received.map(String)).toEqual(['{"id":1}', 'plain text', 'tab\tand\rcarriage']);
    expect(r.done).toBe(`DONE 3 ${8 + 10 + 16}`);
    expect(r.code).toBe(0);
    expect(r.errors).toBe(0);
  });

  // The abstract namespace exists only on Linux.
  it.runIf(LINUX)('connects to a Python server on an abstract name', async () => {
    const name = abstractName('pysrv');
    const p = python(['server', `@${name}`, 'length-prefixed']);
    const frames = [Buffer.from('abstract'), BINARY];
    const r = await echoThroughPythonServer(`unix:@${name}`, p, 'length-prefixed', frames);
    expect(r.received).toHaveLength(2);
    expect(r.received[0]!.toString()).toBe('abstract');
    expect(r.received[1]!.equals(BINARY)).toBe(true);
    expect(r.done).toBe('DONE 2 264');
    expect(r.code).toBe(0);
    expect(r.t.endpoint).toBe(`unix:@${name}`);
  });
});

describe('our server, Python client', () => {
  it('echoes length-prefixed frames to a Python client over a socket file', async () => {
    const file = sock();
    const server = await listenAt(`unix:${file}`);
    const got = echo(server);
    const frames = [Buffer.from('from python'), Buffer.alloc(0), BINARY, Buffer.alloc(40_000, 0xab)];
    const r = await pythonClientThrough(file, 'length-prefixed', frames);
    expect(r.echoed).toHaveLength(4);
    r.echoed.forEach((f, i) => expect(f.equals(frames[i]!)).toBe(true));
    expect(r.eof).toBe('EOF 0');
    expect(r.code).toBe(0);
    expect(got).toHaveLength(1);
    expect(got[0]!.map((f) => f.length)).toEqual([11, 0, 256, 40_000]);
  });

  it('echoes lines to a Python client', async () => {
    const file = sock();
    const server = await listenAt(`unix:${file}`, { framing: 'lines' });
    const got = echo(server);
    const frames = ['one', '{"jsonrpc":"2.0"}', 'ünïcödé'].map((s) => Buffer.from(s));
    const r = await pythonClientThrough(file, 'lines', frames);
    expect(r.echoed.map(String)).toEqual(['one', '{"jsonrpc":"2.0"}', 'ünïcödé']);
    expect(r.eof).toBe('EOF 0');
    expect(r.code).toBe(0);
    expect(got[0]!.map(String)).toEqual(['one', '{"jsonrpc":"2.0"}', 'ünïcödé']);
  });

  // The abstract namespace exists only on Linux.
  it.runIf(LINUX)('a Python client reaches our abstract socket unix:@name, so the bound name is not padded', async () => {
    const name = abstractName('oursrv');
    const server = await listenAt(`unix:@${name}`);
    expect(server.endpoint).toBe(`unix:@${name}`);
    const got = echo(server);
    const peers: (number | undefined)[] = [];
    server.on('connection', (t: Transport) => peers.push(t.peer?.pid));
    const r = await pythonClientThrough(`@${name}`, 'length-prefixed', [Buffer.from('no padding'), BINARY]);
    expect(r.code).toBe(0);
    expect(r.echoed[0]!.toString()).toBe('no padding');
    expect(r.echoed[1]!.equals(BINARY)).toBe(true);
    expect(r.eof).toBe('EOF 0');
    expect(got).toHaveLength(1);
    expect(got[0]!).toHaveLength(2);
    expect(peers).toEqual([r.p.pid]);
  });

  // The abstract namespace exists only on Linux.
  it.runIf(LINUX)('an abstract name may use every byte of sun_path (107 characters after the NUL)', async () => {
    const base = abstractName('max');
    const name = base + 'x'.repeat(MAX_UNIX_PATH - base.length);
    expect(Buffer.byteLength(name)).toBe(107);
    const server = await listenAt(`unix:@${name}`);
    const got = echo(server);
    const r = await pythonClientThrough(`@${name}`, 'length-prefixed', [Buffer.from('long name')]);
    expect(r.code).toBe(0);
    expect(r.echoed.map(String)).toEqual(['long name']);
    expect(got[0]!.map(String)).toEqual(['long name']);
  });

  it('serves three Python clients one after another on the same socket file', async () => {
    const file = sock();
    const server = await listenAt(`unix:${file}`);
    const got = echo(server);
    for (let i = 0; i < 3; i++) {
      const r = await pythonClientThrough(file, 'length-prefixed', [Buffer.from(`client ${i}`)]);
      expect(r.code).toBe(0);
      expect(r.echoed.map(String)).toEqual([`client ${i}`]);
    }
    expect(got.map((frames) => frames.map(String))).toEqual([['client 0'], ['client 1'], ['client 2']]);
    expect(fs.statSync(file).isSocket()).toBe(true);
  });
});
