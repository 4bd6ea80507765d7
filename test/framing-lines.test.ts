// Lines framing over a real Unix socket, against a raw `node:net` peer that writes exactly the bytes
// each test describes, split into separate writes exactly as described.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupAll, waitFor } from './helpers/common';
import {
  clientWithRawServer,
  gap,
  linePattern,
  sameBytes,
  serverWithRawClient,
  writeParts,
} from './helpers/framing-peer';

afterEach(cleanupAll);

const LINES = { framing: 'lines' } as const;
const hex = (ms: Buffer[]): string[] => ms.map((m) => m.toString('hex'));
const h = (s: string | Buffer): string => (typeof s === 'string' ? Buffer.from(s, 'latin1') : s).toString('hex');

describe('lines: receiving', () => {
  it('splits on \\n and strips one \\r before it', async () => {
    const { rec, peer } = await serverWithRawClient(LINES);
    peer.sock.write('one\ntwo\r\nthree\r\r\nfour\rmid\n');
    await rec.waitMessages(4);
    await gap();
    // Only one trailing \r is stripped; a \r elsewhere in the line stays.
    expect(hex(rec.messages)).toEqual([h('one'), h('two'), h('three\r'), h('four\rmid')]);
    expect(rec.errors).toEqual([]);
  });

  it('skips blank lines, with or without \\r', async () => {
    const { rec, peer } = await serverWithRawClient(LINES);
    peer.sock.write('\n\na\n\r\n\n\r\nb\r\n\n');
    await rec.waitMessages(2);
    await gap();
    expect(hex(rec.messages)).toEqual([h('a'), h('b')]);
  });

  it('joins a line split across reads, including between \\r and \\n', async () => {
    const { rec, peer } = await serverWithRawClient(LINES);
    await writeParts(peer.sock, ['hel', 'lo wor', 'ld\r', '\nsecond', '\n', 'third\r\n']);
    await rec.waitMessages(3);
    await gap();
    expect(hex(rec.messages)).toEqual([h('hello world'), h('second'), h('third')]);
  });

  it('reassembles lines written one byte at a time', async () => {
    const { rec, peer } = await serverWithRawClient(LINES);
    const wire = Buffer.from('ab\r\n\nc\nxyz\r\n', 'latin1');
    for (let i = 0; i < wire.length; i++) {
      peer.sock.write(wire.subarray(i, i + 1));
      await gap();
    }
    await rec.waitMessages(3);
    await gap();
    expect(hex(rec.messages)).toEqual([h('ab'), h('c'), h('xyz')]);
  });

  it('delivers NUL bytes and invalid UTF-8 unchanged', async () => {
    const { rec, peer } = await serverWithRawClient(LINES);
    const a = Buffer.from([0x00, 0x41, 0x00, 0x00]);
    const b = Buffer.from([0xff, 0xfe, 0x80, 0xc3]);
    const c = Buffer.from([0x00]);
    peer.sock.write(Buffer.concat([a, Buffer.from('\n'), b, Buffer.from('\r\n'), c, Buffer.from('\n')]));
    await rec.waitMessages(3);
    await gap();
    expect(hex(rec.messages)).toEqual([h(a), h(b), h(c)]);
  });

  it('delivers many lines from one write, in order', async () => {
    const { rec, peer } = await serverWithRawClient(LINES);
    const N = 10_000;
    peer.sock.write(Array.from({ length: N }, (_, i) => `line ${i}\n`).join(''));
    await rec.waitMessages(N);
    await gap();
    expect(rec.messages.length).toBe(N);
    for (let i = 0; i < N; i++) {
      if (rec.messages[i]!.toString() !== `line ${i}`) throw new Error(`line ${i}: got ${rec.messages[i]!.toString()}`);
    }
  });

  it('delivers a final line without a newline when the peer ends, then closes without error', async () => {
    const { rec, peer } = await serverWithRawClient(LINES);
    peer.sock.write('complete\nlast without newline');
    await gap();
    peer.sock.end();
    await rec.waitClosed();
    expect(hex(rec.messages)).toEqual([h('complete'), h('last without newline')]);
    expect(rec.errors).toEqual([]);
    expect(rec.log).toEqual(['message', 'message', 'close']);
  });

  it('delivers thousands of lines and then the final unterminated one, all from one write ended at once', async () => {
    const { rec, peer } = await serverWithRawClient(LINES);
    const N = 8000;
    peer.sock.end(Array.from({ length: N }, (_, i) => `${i}\n`).join('') + 'tail');
    await rec.waitClosed();
    expect(rec.messages.length).toBe(N + 1);
    for (let i = 0; i < N; i++) {
      if (rec.messages[i]!.toString() !== String(i)) throw new Error(`line ${i}: got ${rec.messages[i]!.toString()}`);
    }
    expect(rec.messages[N]!.toString()).toBe('tail');
    expect(rec.errors).toEqual([]);
    expect(rec.closes).toBe(1);
  });

  it('strips a trailing \\r from the final line at EOF and skips a blank remainder', async () => {
    const { rec, peer } = await serverWithRawClient(LINES);
    await writeParts(peer.sock, ['x\n', 'final\r']);
    peer.sock.end();
    await rec.waitClosed();
    expect(hex(rec.messages)).toEqual([h('x'), h('final')]);

    const second = await serverWithRawClient(LINES);
    await writeParts(second.peer.sock, ['y\n', '\r']);
    second.peer.sock.end();
    await second.rec.waitClosed();
    expect(hex(second.rec.messages)).toEqual([h('y')]);
    expect(second.rec.errors).toEqual([]);
    expect(second.rec.closes).toBe(1);
  });

  it('reassembles a line much longer than a read slab', async () => {
    const { rec, peer } = await serverWithRawClient({ ...LINES, slabSize: 4096 });
    const long = linePattern(300_000, 5);
    const wire = Buffer.concat([long, Buffer.from('\nafter\n')]);
    const parts: Buffer[] = [];
    for (let off = 0; off < wire.length; off += 37_000) parts.push(wire.subarray(off, off + 37_000));
    await writeParts(peer.sock, parts);
    await rec.waitMessages(2);
    await gap();
    expect(rec.messages.length).toBe(2);
    expect(sameBytes(rec.messages[0]!, long)).toBe('equal');
    expect(rec.messages[1]!.toString()).toBe('after');
  });
});

describe('lines: sending', () => {
  it('writes each frame followed by \\n', async () => {
    const { transport, peer } = await clientWithRawServer(LINES);
    const big = linePattern(20_000, 7); // past the 16 KiB copy limit
    expect(transport.send('first')).toBe(true);
    expect(transport.send(Buffer.from([0x00, 0xff, 0xfe]))).toBe(true);
    expect(transport.send(big)).toBe(true);
    expect(transport.send('\rlast')).toBe(true);
    await transport.close();
    await waitFor(() => peer.ended, 'the peer to see our end');
    const expected = Buffer.concat([
      Buffer.from('first\n'),
      Buffer.from([0x00, 0xff, 0xfe, 0x0a]),
      big,
      Buffer.from('\n'),
      Buffer.from('\rlast\n'),
    ]);
    expect(sameBytes(peer.bytes(), expected)).toBe('equal');
  });

  it.each([
    ['an empty string', ''],
    ['an empty Buffer', Buffer.alloc(0)],
    ['a frame containing \\n', 'a\nb'],
    ['a frame ending in \\n', 'ab\n'],
    ['a frame ending in \\r', 'a\r'],
    ['a large frame containing \\n', Buffer.concat([linePattern(20_000, 8), Buffer.from('\n'), linePattern(10, 9)])],
  ])('refuses %s with ERR_IPC_INVALID_FRAME and stays usable', async (_name, bad) => {
    const { transport, rec, peer } = await clientWithRawServer(LINES);
    let thrown: unknown;
    try {
      transport.send(bad);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).name).toBe('TransportError');
    expect((thrown as { code?: string }).code).toBe('ERR_IPC_INVALID_FRAME');
    expect(transport.state).toBe('open');
    expect(transport.stats.framesOut).toBe(0);
    expect(transport.send('ok')).toBe(true);
    await waitFor(() => peer.bytes().length >= 3, 'the valid frame');
    await gap();
    expect(peer.bytes().toString('latin1')).toBe('ok\n');
    // Receiving still works too.
    peer.sock.write('pong\n');
    await rec.waitMessages(1);
    expect(rec.messages[0]!.toString()).toBe('pong');
    expect(rec.errors).toEqual([]);
    expect(rec.closes).toBe(0);
  });
});
