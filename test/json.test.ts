// sendJson and jsonMessages: JSON values as frames over any transport. Peers are our own transports and
// node:net sockets with hand-written framing, so a byte out of place on the wire shows as a difference.
import { describe, it, expect, afterEach } from 'vitest';
import { once } from 'node:events';
import { TransportError, type Transport } from '../dist/index.js';
import { jsonMessages, sendJson } from '../dist/json.js';
import { collect } from './helpers/common';
import { Scope, write } from './helpers/json-util';
import { encode } from './helpers/wire.cjs';

const FRAMINGS = ['lines', 'content-length', 'length-prefixed'] as const;

let scope = new Scope();
afterEach(async () => {
  await scope.dispose();
  scope = new Scope();
});

/** Takes exactly `n` values from an iterator. */
async function take(it: AsyncIterator<unknown>, n: number): Promise<unknown[]> {
  const out: unknown[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done === true) throw new Error(`stream ended after ${out.length} of ${n} values`);
    out.push(r.value);
  }
  return out;
}

const VALUES: unknown[] = [
  { a: 1, nested: { list: [1, 2.5, -3e-7], empty: {}, none: null }, t: true, f: false },
  [1, 'two', null, true, [], [[['deep']]]],
  'a plain string',
  'unicode: héllo wörld, 世界, emoji 😀🎉, line and paragraph separators \u2028\u2029, BOM \ufeff',
  'escaped NUL: a\u0000b, and every control character \u0001\u0007\b\t\n\v\f\r\u001b\u001f',
  { 'key with "quotes" and \\backslash\\': 'and a NUL \u0000 in the value', '\u0000': 'NUL as a key' },
  'lone surrogates survive as escapes: \ud800 \udfff',
  0,
  -1.5e300,
  null,
  false,
  '',
  { big: 'x'.repeat(200_000), n: 200_000 },
];

describe.each(FRAMINGS)('%s framing', (framing) => {
  it('round-trips objects, arrays, strings with unicode and escaped NUL, numbers and literals both ways', async () => {
    const { client, server } = await scope.pair({ framing });
    const serverIn = jsonMessages(server);
    const clientIn = jsonMessages(client);
    for (const v of VALUES) sendJson(client, v);
    const got = await take(serverIn, VALUES.length);
    expect(got).toEqual(VALUES);
    for (const v of got) sendJson(server, v);
    expect(await take(clientIn, VALUES.length)).toEqual(VALUES);
    expect(client.stats.framesOut).toBe(VALUES.length);
    expect(server.stats.framesIn).toBe(VALUES.length);

    // The client's end reaches the server's iterator as a clean end of stream.
    void client.close();
    expect(await serverIn.next()).toEqual({ value: undefined, done: true });
  });

  it('puts exactly JSON.stringify(value) on the wire, one frame per value, with no raw NUL or newline', async () => {
    const { t, peer } = await scope.withNetPeer({ framing });
    const all = collect(peer);
    const values = [{ nul: '\u0000', text: 'héllo\n' }, ['\u0000'], 'x'];
    for (const v of values) expect(sendJson(t, v)).toBe(true);
    peer.end();
    await t.close();
    const bytes = await all;
    const expected = Buffer.concat(values.map((v) => encode(framing, Buffer.from(JSON.stringify(v), 'utf8'))));
    expect(bytes.equals(expected)).toBe(true);
    // The NUL and the newline travel as escapes inside the text.
    expect(bytes.includes(Buffer.from('"nul":"\\u0000","text":"h\u00e9llo\\n"'))).toBe(true);
  });

  it('reports bad syntax, invalid UTF-8 and a raw NUL as one "invalid" event each, never "error", and goes on in order', async () => {
    const { t, peer } = await scope.withNetPeer({ framing });
    const bad = [
      Buffer.from('{"unterminated": ', 'utf8'),
      Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), // {"a":"<ff fe>"}
      Buffer.from('{"a":"x\u0000y"}', 'utf8'), // a raw NUL byte inside a string
      Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]), // a UTF-8 encoded surrogate, which UTF-8 forbids
      Buffer.from('not json at all', 'utf8'),
    ];
    const good = [{ seq: 1 }, { seq: 2, s: 'ü' }, [3], 'four', { seq: 5 }, { seq: 6 }];
    const enc = (v: unknown): Buffer => Buffer.from(JSON.stringify(v), 'utf8');
    // Interleaved: good, bad, good, bad, ... good.
    const wire: Buffer[] = [];
    for (let i = 0; i < good.length; i++) {
      wire.push(encode(framing, enc(good[i])));
      if (i < bad.length) wire.push(encode(framing, bad[i]!));
    }
    const invalid: { err: TransportError; frame: Buffer }[] = [];
    let errors = 0;
    t.on('invalid', (err: TransportError, frame: Buffer) => invalid.push({ err, frame: Buffer.from(frame) }));
    t.on('error', () => errors++);
    const closed = once(t, 'close');
    // One byte at a time for the first frames, the rest in one write: frames split across reads too.
    const all = Buffer.concat(wire);
    for (const byte of all.subarray(0, 40)) await write(peer, Buffer.from([byte]));
    peer.end(all.subarray(40));

    const values: unknown[] = [];
    for await (const v of jsonMessages(t)) values.push(v);
    expect(values).toEqual(good);
    expect(invalid).toHaveLength(bad.length);
    for (let i = 0; i < bad.length; i++) {
      const { err, frame } = invalid[i]!;
      expect(err).toBeInstanceOf(TransportError);
      expect(err.code).toBe('ERR_IPC_INVALID_JSON');
      expect(err.address).toBe(t.endpoint);
      expect(frame.equals(bad[i]!)).toBe(true);
    }
    expect(invalid[1]!.err.message).toMatch(/not valid UTF-8/);
    expect(invalid[3]!.err.message).toMatch(/not valid UTF-8/);
    expect(invalid[0]!.err.message).toMatch(/not JSON/);
    expect(invalid[2]!.err.message).toMatch(/not JSON/);
    expect(errors).toBe(0);
    expect((await closed)[0]).toBe(false);
  });
});

describe('jsonMessages', () => {
  it('goes on past an invalid frame when nobody listens for "invalid"', async () => {
    const { t, peer } = await scope.withNetPeer({ framing: 'lines' });
    peer.end('{"n":1}\n{oops}\n{"n":2}\n');
    const values: unknown[] = [];
    for await (const v of jsonMessages(t)) values.push(v);
    expect(values).toEqual([{ n: 1 }, { n: 2 }]);
    expect(t.listenerCount('invalid')).toBe(0);
  });

  it("throws the transport's error after the frames before it, without an 'invalid' event", async () => {
    const { t, peer } = await scope.withNetPeer({ framing: 'content-length' });
    let invalid = 0;
    t.on('invalid', () => invalid++);
    peer.end('Content-Length: 7\r\n\r\n{"n":1}Content-Length: 50\r\n\r\n{"cut short');
    const it = jsonMessages(t);
    expect(await it.next()).toEqual({ value: { n: 1 }, done: false });
    await expect(it.next()).rejects.toMatchObject({ code: 'ERR_IPC_TRUNCATED' });
    expect(invalid).toBe(0);
  });

  it('closes the transport when the loop is left early', async () => {
    const { client, server } = await scope.pair({ framing: 'lines' });
    sendJson(client, 1);
    sendJson(client, 2);
    const serverClosed = once(server, 'close');
    const clientClosed = once(client, 'close');
    for await (const v of jsonMessages(server)) {
      expect(v).toBe(1);
      break;
    }
    expect(server.state).not.toBe('open');
    void client.close();
    expect((await serverClosed)[0]).toBe(false);
    expect((await clientClosed)[0]).toBe(false);
  });
});

describe('sendJson', () => {
  it('throws a TypeError and sends nothing for a value JSON cannot represent', async () => {
    const { client, server } = await scope.pair({ framing: 'lines' });
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;
    const cases: [unknown, RegExp][] = [
      [10n, /BigInt/],
      [{ nested: { n: 1n } }, /BigInt/],
      [cycle, /circular/i],
      [undefined, /undefined has no JSON representation/],
      [() => 1, /function has no JSON representation/],
      [Symbol('s'), /symbol has no JSON representation/],
      [
        {
          toJSON() {
            throw new RangeError('toJSON refused');
          },
        },
        /toJSON refused/,
      ],
    ];
    for (const [value, message] of cases) {
      let thrown: unknown;
      try {
        sendJson(client, value);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(TypeError);
      expect((thrown as TypeError & { code: string }).code).toBe('ERR_INVALID_ARG_VALUE');
      expect((thrown as Error).message).toMatch(/^The value cannot be sent as JSON: /);
      expect((thrown as Error).message).toMatch(message);
    }
    expect(client.stats.framesOut).toBe(0);
    expect(client.stats.bufferedBytes).toBe(0);

    // The transport is unharmed: the next value is the first and only frame the server sees.
    sendJson(client, { after: true });
    void client.close();
    const values: unknown[] = [];
    for await (const v of jsonMessages(server)) values.push(v);
    expect(values).toEqual([{ after: true }]);
    expect(server.stats.framesIn).toBe(1);
  });

  it("throws what send() throws: ERR_IPC_CLOSED after close, ERR_IPC_FRAME_TOO_LARGE past maxFrameSize", async () => {
    const { client } = await scope.pair({ framing: 'lines', maxFrameSize: 1000 });
    expect(() => sendJson(client, 'y'.repeat(1000))).toThrow(expect.objectContaining({ code: 'ERR_IPC_FRAME_TOO_LARGE' }));
    await client.close();
    expect(() => sendJson(client, { late: true })).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
  });

  it("returns send()'s backpressure signal: false once the peer stops reading, then 'drain'", async () => {
    const { client, server } = await scope.pair({ framing: 'content-length', writableHighWaterMark: 64 * 1024 });
    server.pause();
    const value = { pad: 'p'.repeat(32 * 1024) };
    let sent = 0;
    // The socket buffers some megabytes at most before send() must say false; the bound is a safety net.
    while (sendJson(client, { ...value, seq: sent++ })) if (sent > 10_000) throw new Error('send() never returned false');
    const drained = once(client, 'drain');
    const it = jsonMessages(server);
    server.resume();
    const got = await take(it, sent);
    await drained;
    expect(got.map((v) => (v as { seq: number }).seq)).toEqual(Array.from({ length: sent }, (_, i) => i));
  });
});

describe('xi-editor dialect over lines: objects without "jsonrpc"', () => {
  it('carries requests, responses and notifications both ways', async () => {
    const { client: frontend, server: core } = await scope.pair({ framing: 'lines' });
    const coreIn = jsonMessages(core);
    const frontendIn = jsonMessages(frontend);

    // Frontend -> core: a notification and a request.
    sendJson(frontend, { method: 'client_started', params: { config_dir: '/home/u/.config/xi' } });
    sendJson(frontend, { id: 0, method: 'new_view', params: { file_path: '/tmp/a.txt' } });
    const [started, newView] = (await take(coreIn, 2)) as Record<string, unknown>[];
    expect(started).toEqual({ method: 'client_started', params: { config_dir: '/home/u/.config/xi' } });
    expect(newView).toEqual({ id: 0, method: 'new_view', params: { file_path: '/tmp/a.txt' } });
    expect('jsonrpc' in newView!).toBe(false);

    // Core -> frontend: the response, a notification, and a request of its own with its own id space.
    sendJson(core, { id: newView!.id, result: 'view-id-1' });
    sendJson(core, { method: 'update', params: { view_id: 'view-id-1', update: { ops: [{ op: 'ins', n: 1, lines: [{ text: 'hi\n' }] }], pristine: true } } });
    sendJson(core, { id: 0, method: 'measure_width', params: [{ id: 0, strings: ['a', 'bb'] }] });
    const [response, update, measure] = (await take(frontendIn, 3)) as Record<string, unknown>[];
    expect(response).toEqual({ id: 0, result: 'view-id-1' });
    expect(update).toMatchObject({ method: 'update', params: { view_id: 'view-id-1' } });
    expect(measure).toEqual({ id: 0, method: 'measure_width', params: [{ id: 0, strings: ['a', 'bb'] }] });

    // Frontend answers the core's request.
    sendJson(frontend, { id: measure!.id, result: [[7, 14]] });
    expect(await take(coreIn, 1)).toEqual([{ id: 0, result: [[7, 14]] }]);

    void frontend.close();
    expect(await coreIn.next()).toEqual({ value: undefined, done: true });
    expect(await frontendIn.next()).toEqual({ value: undefined, done: true });
  });

  it('delivers a burst of 20,000 update notifications of a few KiB from a node:net peer, complete and in order', async () => {
    // A small readableHighWaterMark makes the consumer's pace throttle the reads many times over.
    const { t, peer } = await scope.withNetPeer({ framing: 'lines', readableHighWaterMark: 64 });
    const COUNT = 20_000;
    const line = (rev: number): string =>
      JSON.stringify({
        method: 'update',
        params: {
          view_id: 'view-id-1',
          update: {
            rev,
            ops: [{ op: 'copy', n: rev % 97 }, { op: 'ins', n: 24, lines: Array.from({ length: 24 }, (_, i) => ({ text: `${rev}:${i} ${'ab\u00e9\u4e16'.repeat(25)}\n`, cursor: [i] })) }],
            pristine: rev % 2 === 0,
          },
        },
      }) + '\n';
    const size = Buffer.byteLength(line(0));
    expect(size).toBeGreaterThan(2048);
    expect(size).toBeLessThan(8192);

    // The peer writes with node:net's own backpressure, in chunks that cut lines anywhere.
    const writer = (async () => {
      let pending = '';
      for (let rev = 0; rev < COUNT; rev++) {
        pending += line(rev);
        if (pending.length >= 50_000 || rev === COUNT - 1) {
          const cut = Math.floor(pending.length / 3);
          peer.write(pending.slice(0, cut));
          if (!peer.write(pending.slice(cut))) await once(peer, 'drain');
          pending = '';
        }
      }
      peer.end();
    })();

    let n = 0;
    let invalid = 0;
    t.on('invalid', () => invalid++);
    for await (const v of jsonMessages(t)) {
      const u = (v as { method: string; params: { update: { rev: number; ops: { lines?: { text: string }[] }[] } } }).params.update;
      if (u.rev !== n) throw new Error(`update ${u.rev} arrived as number ${n}`);
      if (u.ops[1]!.lines![23]!.text !== `${n}:23 ${'ab\u00e9\u4e16'.repeat(25)}\n`) throw new Error(`update ${n} is damaged`);
      n++;
      // A consumer that stops now and then, so the transport has to hold reads back.
      if (n % 1000 === 0) await new Promise((r) => setImmediate(r));
    }
    await writer;
    expect(n).toBe(COUNT);
    expect(invalid).toBe(0);
    expect(t.stats.framesIn).toBe(COUNT);
  });
});
