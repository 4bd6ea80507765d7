// vscode-jsonrpc over our transports: a MessageConnection on each end of one of our socket pairs, and
// against vscode-jsonrpc's own stream reader and writer on a node:net socket (the reference
// implementation of LSP's Content-Length framing).
import { describe, it, expect, afterEach } from 'vitest';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import * as rpc from 'vscode-jsonrpc/node';
import type { Transport } from '../dist/index.js';
import { createMessageConnection, createMessageReader, createMessageWriter } from '../dist/jsonrpc.js';
import { jsonMessages, sendJson } from '../dist/json.js';
import { collect } from './helpers/common';
import { Scope } from './helpers/json-util';

let scope = new Scope();
afterEach(async () => {
  await scope.dispose();
  scope = new Scope();
});

type Conn = rpc.MessageConnection;

function conn(t: Transport): Conn {
  const c = createMessageConnection(t);
  scope.defer(() => c.dispose());
  return c;
}

/** The same handlers on both sides, so every case runs both ways. */
function serve(c: Conn, name: string): { notes: unknown[] } {
  const notes: unknown[] = [];
  c.onRequest('add', (p: { x: number; y: number }) => p.x + p.y);
  c.onRequest('echo', (v: unknown) => v);
  c.onRequest('whoami', () => name);
  c.onRequest('fail', (p: { how: 'return' | 'throw' }) => {
    const err = new rpc.ResponseError(-32001, `${name} refuses`, { detail: [1, 'two'], from: name });
    if (p.how === 'throw') throw err;
    return err;
  });
  c.onNotification('note', (p: unknown) => notes.push(p));
  c.listen();
  return { notes };
}

async function expectResponseError(p: Promise<unknown>, message: string, from: string): Promise<void> {
  let thrown: unknown;
  try {
    await p;
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(rpc.ResponseError);
  expect(thrown).toMatchObject({ code: -32001, message, data: { detail: [1, 'two'], from } });
}

describe.each(['content-length', 'lines'] as const)('MessageConnection on both ends, %s framing', (framing) => {
  it('answers requests, carries notifications in order and returns ResponseErrors, both ways', async () => {
    const { client, server } = await scope.pair({ framing });
    const a = conn(client);
    const b = conn(server);
    const sa = serve(a, 'client');
    const sb = serve(b, 'server');

    expect(await a.sendRequest('add', { x: 2, y: 3 })).toBe(5);
    expect(await b.sendRequest('add', { x: -1, y: 0.5 })).toBe(-0.5);
    expect(await a.sendRequest('whoami')).toBe('server');
    expect(await b.sendRequest('whoami')).toBe('client');
    const odd = { s: 'héllo 世界 😀 \u0000 \n', list: [null, true, { deep: [] }] };
    expect(await a.sendRequest('echo', odd)).toEqual(odd);
    expect(await b.sendRequest('echo', odd)).toEqual(odd);

    await expectResponseError(a.sendRequest('fail', { how: 'return' }), 'server refuses', 'server');
    await expectResponseError(a.sendRequest('fail', { how: 'throw' }), 'server refuses', 'server');
    await expectResponseError(b.sendRequest('fail', { how: 'return' }), 'client refuses', 'client');
    await expectResponseError(b.sendRequest('fail', { how: 'throw' }), 'client refuses', 'client');
    // A method nobody handles is JSON-RPC's MethodNotFound.
    await expect(a.sendRequest('nope')).rejects.toMatchObject({ code: rpc.ErrorCodes.MethodNotFound });

    for (let i = 0; i < 5; i++) {
      await a.sendNotification('note', { from: 'client', i });
      await b.sendNotification('note', { from: 'server', i });
    }
    // A request sent after the notifications is answered after they are handled: the connection
    // processes its queue in order.
    await a.sendRequest('whoami');
    await b.sendRequest('whoami');
    expect(sb.notes).toEqual(Array.from({ length: 5 }, (_, i) => ({ from: 'client', i })));
    expect(sa.notes).toEqual(Array.from({ length: 5 }, (_, i) => ({ from: 'server', i })));
  });

  it('answers 1,000 concurrent requests from each side, each with its own result', async () => {
    const { client, server } = await scope.pair({ framing });
    const a = conn(client);
    const b = conn(server);
    serve(a, 'client');
    serve(b, 'server');
    const N = 1000;
    const fromA = Array.from({ length: N }, (_, i) => a.sendRequest('add', { x: i, y: 1_000_000 }));
    const fromB = Array.from({ length: N }, (_, i) => b.sendRequest('echo', { i, pad: 'z'.repeat(i) }));
    const [ra, rb] = await Promise.all([Promise.all(fromA), Promise.all(fromB)]);
    expect(ra).toEqual(Array.from({ length: N }, (_, i) => i + 1_000_000));
    expect(rb).toEqual(Array.from({ length: N }, (_, i) => ({ i, pad: 'z'.repeat(i) })));
  });

  it('reports a frame that is not JSON through onError once and goes on answering', async () => {
    const { client, server } = await scope.pair({ framing });
    const b = conn(server);
    serve(b, 'server');
    const errors: [Error, unknown, unknown][] = [];
    b.onError((e) => errors.push(e));
    let transportErrors = 0;
    server.on('error', () => transportErrors++);

    const replies = jsonMessages(client);
    client.send('{"jsonrpc":"2.0","id":1,"method":'); // cut short
    client.send(Buffer.from([0x7b, 0xc3, 0x28, 0x7d])); // invalid UTF-8
    sendJson(client, { jsonrpc: '2.0', id: 2, method: 'add', params: { x: 40, y: 2 } });
    expect((await replies.next()).value).toEqual({ jsonrpc: '2.0', id: 2, result: 42 });
    expect(errors).toHaveLength(2);
    for (const [err] of errors) expect(err).toMatchObject({ name: 'TransportError', code: 'ERR_IPC_INVALID_JSON', address: server.endpoint });
    expect(transportErrors).toBe(0);
    expect(server.state).toBe('open');
  });
});

describe('closing and failures', () => {
  it('fires onClose once when the peer closes the transport', async () => {
    const { client, server } = await scope.pair({ framing: 'content-length' });
    const b = conn(server);
    serve(b, 'server');
    let closes = 0;
    let errors = 0;
    b.onClose(() => closes++);
    b.onError(() => errors++);
    const closed = once(server, 'close');
    await client.close();
    await closed;
    await new Promise((r) => setImmediate(r));
    expect(closes).toBe(1);
    expect(errors).toBe(0);
  });

  it("turns the transport's own failure into one onError, then onClose, with nothing thrown", async () => {
    const { t, peer } = await scope.withNetPeer({ framing: 'content-length' });
    const c = conn(t);
    c.listen();
    const events: string[] = [];
    c.onError(([err]) => events.push(`error ${(err as Error & { code: string }).code}`));
    c.onClose(() => events.push('close'));
    // Not events.once: it would reject on the 'error' event that comes first.
    const closed = new Promise<[boolean]>((resolve) => t.once('close', (hadError: boolean) => resolve([hadError])));
    peer.end('Content-Length: 100\r\n\r\n{"jsonrpc":"2.0"'); // EOF in the middle of a frame
    expect((await closed)[0]).toBe(true);
    expect(events).toEqual(['error ERR_IPC_TRUNCATED', 'close']);
  });

  it('end() closes the transport gracefully after the last message', async () => {
    const { client, server } = await scope.pair({ framing: 'content-length' });
    const a = conn(client);
    a.listen();
    const got: unknown[] = [];
    const reading = (async () => {
      for await (const m of jsonMessages(server)) got.push(m);
    })();
    await a.sendNotification('last', { n: 1 });
    a.end();
    await reading;
    expect(got).toEqual([{ jsonrpc: '2.0', method: 'last', params: { n: 1 } }]);
    expect(client.state).not.toBe('open');
  });

  it('fires the reader\'s close for a transport that closed before the reader was made', async () => {
    const { client } = await scope.pair({ framing: 'lines' });
    await client.close();
    const reader = createMessageReader(client);
    const writer = createMessageWriter(client);
    const seen: string[] = [];
    reader.onClose(() => seen.push('reader'));
    writer.onClose(() => seen.push('writer'));
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['reader', 'writer']);
  });
});

describe('MessageWriter', () => {
  it("holds messages back while send() reports backpressure and sends them all, in order, after 'drain'", async () => {
    const HWM = 64 * 1024;
    const { client, server } = await scope.pair({ framing: 'content-length', writableHighWaterMark: HWM });
    server.pause();
    const writer = createMessageWriter(client);
    const errors: unknown[] = [];
    writer.onError((e) => errors.push(e));
    const N = 200;
    const SIZE = 32 * 1024;
    const settled: number[] = [];
    const writes = Array.from({ length: N }, (_, i) =>
      writer.write({ jsonrpc: '2.0', method: 'chunk', params: { i, pad: 'q'.repeat(SIZE) } } as rpc.NotificationMessage).then(() => settled.push(i)),
    );
    // Let libuv hand what it can to the socket; the rest must wait in the writer, not in the transport.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(client.stats.framesOut).toBeLessThan(N);
    expect(client.stats.bufferedBytes).toBeLessThanOrEqual(HWM + SIZE + 200);
    expect(settled.length).toBeLessThan(N);

    const got: number[] = [];
    const reading = (async () => {
      for await (const m of jsonMessages(server)) {
        got.push((m as { params: { i: number } }).params.i);
        if (got.length === N) break;
      }
    })();
    server.resume();
    await Promise.all(writes);
    await reading;
    expect(got).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(settled).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(client.stats.framesOut).toBe(N);
    expect(errors).toEqual([]);
  });

  it('rejects a write on a closed transport and reports it through onError with the message and a count', async () => {
    const { client } = await scope.pair({ framing: 'content-length' });
    const writer = createMessageWriter(client);
    const errors: [Error, unknown, unknown][] = [];
    writer.onError((e) => errors.push(e));
    await client.close();
    const m1 = { jsonrpc: '2.0', method: 'late', params: [1] } as rpc.NotificationMessage;
    const m2 = { jsonrpc: '2.0', method: 'later' } as rpc.NotificationMessage;
    await expect(writer.write(m1)).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
    await expect(writer.write(m2)).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED' });
    expect(errors.map(([e, m, n]) => [(e as Error & { code: string }).code, m, n])).toEqual([
      ['ERR_IPC_CLOSED', m1, 1],
      ['ERR_IPC_CLOSED', m2, 2],
    ]);
  });

  it('rejects a message JSON cannot represent, reports it, and sends the next one', async () => {
    const { client, server } = await scope.pair({ framing: 'lines' });
    const writer = createMessageWriter(client);
    const errors: unknown[] = [];
    writer.onError((e) => errors.push(e));
    const bad = { jsonrpc: '2.0', method: 'big', params: { n: 1n } } as unknown as rpc.NotificationMessage;
    await expect(writer.write(bad)).rejects.toBeInstanceOf(TypeError);
    await writer.write({ jsonrpc: '2.0', method: 'ok' } as rpc.NotificationMessage);
    expect(errors).toHaveLength(1);
    const it = jsonMessages(server);
    expect((await it.next()).value).toEqual({ jsonrpc: '2.0', method: 'ok' });
    expect(client.stats.framesOut).toBe(1);
  });
});

describe("interop with vscode-jsonrpc's own StreamMessageReader/Writer on a node:net socket", () => {
  it('talks both ways with the reference implementation', async () => {
    const { t, peer } = await scope.withNetPeer({ framing: 'content-length' });
    const ours = conn(t);
    serve(ours, 'ours');
    const theirs = rpc.createMessageConnection(new rpc.StreamMessageReader(peer), new rpc.StreamMessageWriter(peer));
    scope.defer(() => theirs.dispose());
    const st = serve(theirs, 'theirs');

    expect(await ours.sendRequest('whoami')).toBe('theirs');
    expect(await theirs.sendRequest('whoami')).toBe('ours');
    const odd = { text: 'héllo 世界 😀 \u0000 \r\n', n: [1.5, -2, 1e21] };
    expect(await ours.sendRequest('echo', odd)).toEqual(odd);
    expect(await theirs.sendRequest('echo', odd)).toEqual(odd);
    await expectResponseError(ours.sendRequest('fail', { how: 'throw' }), 'theirs refuses', 'theirs');
    await expectResponseError(theirs.sendRequest('fail', { how: 'return' }), 'ours refuses', 'ours');
    await ours.sendNotification('note', { k: 1 });
    await ours.sendNotification('note', { k: 2 });
    const big = { text: 'B'.repeat(3 * 1024 * 1024) };
    expect(await theirs.sendRequest('echo', big)).toEqual(big);
    expect(st.notes).toEqual([{ k: 1 }, { k: 2 }]);

    const N = 500;
    const results = await Promise.all([
      ...Array.from({ length: N }, (_, i) => ours.sendRequest('add', { x: i, y: 1 })),
      ...Array.from({ length: N }, (_, i) => theirs.sendRequest('add', { x: i, y: 2 })),
    ]);
    expect(results).toEqual([...Array.from({ length: N }, (_, i) => i + 1), ...Array.from({ length: N }, (_, i) => i + 2)]);
  });

  it('writes Content-Length frames byte for byte as StreamMessageWriter does', async () => {
    const messages: rpc.Message[] = [
      { jsonrpc: '2.0', id: 1, method: 'initialize', params: { processId: null, rootUri: 'file:///tmp/ü', capabilities: {} } } as rpc.RequestMessage,
      { jsonrpc: '2.0', method: 'textDocument/didOpen', params: { textDocument: { uri: 'file:///a.json', text: '{"k": "世界 😀"}\n' } } } as rpc.NotificationMessage,
      { jsonrpc: '2.0', id: 'x', result: { nul: '\u0000', list: [] } } as rpc.ResponseMessage,
      { jsonrpc: '2.0', id: 7, error: { code: -32600, message: 'bad', data: 'ü'.repeat(40_000) } } as rpc.ResponseMessage,
    ];

    // The reference: StreamMessageWriter into a pipe.
    const pipe = new PassThrough();
    const refChunks: Buffer[] = [];
    pipe.on('data', (c: Buffer) => refChunks.push(c));
    const ref = new rpc.StreamMessageWriter(pipe);
    for (const m of messages) await ref.write(m);
    const expected = Buffer.concat(refChunks);

    // Ours, onto a real socket.
    const { t, peer } = await scope.withNetPeer({ framing: 'content-length' });
    const all = collect(peer);
    const writer = createMessageWriter(t);
    for (const m of messages) await writer.write(m);
    peer.end();
    await t.close();
    const actual = await all;
    expect(actual.length).toBe(expected.length);
    expect(actual.equals(expected)).toBe(true);
  });
});

describe('without vscode-jsonrpc installed', () => {
  it('the module loads and a call explains which package is missing', () => {
    // A copy of the three compiled modules involved, where no node_modules lies on the resolution path.
    const dir = scope.file('no-peer');
    fs.mkdirSync(dir);
    for (const f of ['jsonrpc.js', 'json.js', 'errors.js']) fs.copyFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', f), path.join(dir, f));
    const out = execFileSync(
      process.execPath,
      [
        '-e',
        `const m = require('./jsonrpc.js');
         try { m.createMessageConnection({}); console.log('no throw'); }
         catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`,
      ],
      { cwd: dir, encoding: 'utf8', env: { ...process.env, NODE_PATH: '' } },
    );
    expect(JSON.parse(out)).toEqual({
      code: 'MODULE_NOT_FOUND',
      message: 'The JSON-RPC adapters need the optional peer dependency vscode-jsonrpc (>=8): npm install vscode-jsonrpc',
    });
  });
});
