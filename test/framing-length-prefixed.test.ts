// Length-prefixed framing over a real Unix socket, against a raw `node:net` peer that writes exactly the
// bytes each test describes, split into separate writes (and so separate reads) exactly as described.
import { afterEach, describe, expect, it } from 'vitest';
import * as net from 'node:net';
import { cleanupAll, waitFor } from './helpers/common';
import { lp } from './helpers/wire.cjs';
import {
  clientWithRawServer,
  gap,
  pattern,
  sameBytes,
  serverWithRawClient,
  tempEndpoint,
  writeParts,
} from './helpers/framing-peer';

afterEach(cleanupAll);

const strings = (ms: Buffer[]): string[] => ms.map((m) => m.toString('latin1'));

describe('the split-write technique', () => {
  it('makes a node:net reader see each part as its own read', async () => {
    // The framing tests rely on writeParts() turning each part into a separate read on the other side;
    // Node's own reader shows that it does.
    const { path: p } = tempEndpoint();
    const chunks: Buffer[] = [];
    let accepted = false;
    const srv = net.createServer((s) => {
      accepted = true;
      s.on('data', (d: Buffer) => chunks.push(d));
    });
    await new Promise<void>((resolve) => srv.listen(p, resolve));
    const sock = net.connect(p);
    await new Promise<void>((resolve) => sock.once('connect', resolve));
    await waitFor(() => accepted, 'accept');
    await writeParts(sock, ['a', 'bc', 'd', 'efg']);
    await waitFor(() => chunks.length >= 4, 'four reads');
    expect(chunks.map((c) => c.toString())).toEqual(['a', 'bc', 'd', 'efg']);
    sock.destroy();
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  });
});

describe('length-prefixed: receiving', () => {
  it('joins a header split across reads at every position', async () => {
    const { rec, peer } = await serverWithRawClient();
    const expected: string[] = [];
    // Split the 4-byte header after 1, 2 and 3 bytes, and between header and payload.
    for (const cut of [1, 2, 3, 4]) {
      const payload = `frame cut at ${cut}`;
      const wire = lp(payload);
      await writeParts(peer.sock, [wire.subarray(0, cut), wire.subarray(cut)]);
      expected.push(payload);
    }
    // And a header split into four single-byte reads with the payload in a fifth.
    const wire = lp('four pieces');
    await writeParts(peer.sock, [wire.subarray(0, 1), wire.subarray(1, 2), wire.subarray(2, 3), wire.subarray(3, 4), wire.subarray(4)]);
    expected.push('four pieces');
    await rec.waitMessages(expected.length);
    await gap();
    expect(strings(rec.messages)).toEqual(expected);
    expect(rec.errors).toEqual([]);
  });

  it('reassembles frames written one byte at a time', async () => {
    const { rec, peer } = await serverWithRawClient();
    const wire = Buffer.concat([lp('hello'), lp(''), lp(Buffer.from([0, 0xff, 0x0a, 0x0d])), lp('world!')]);
    for (let i = 0; i < wire.length; i++) {
      peer.sock.write(wire.subarray(i, i + 1));
      await gap();
    }
    await rec.waitMessages(4);
    await gap();
    expect(rec.messages.map((m) => m.toString('hex'))).toEqual([
      Buffer.from('hello').toString('hex'),
      '',
      '00ff0a0d',
      Buffer.from('world!').toString('hex'),
    ]);
    expect(rec.errors).toEqual([]);
  });

  it('delivers many frames from one write, in order', async () => {
    const { rec, peer } = await serverWithRawClient();
    // More frames than the native frame table holds (4096 pairs) in a single write.
    const N = 10_000;
    const payloads = Array.from({ length: N }, (_, i) => (i % 7 === 0 ? Buffer.alloc(0) : Buffer.from(`#${i}`)));
    peer.sock.write(Buffer.concat(payloads.map((p) => lp(p))));
    await rec.waitMessages(N);
    await gap();
    expect(rec.messages.length).toBe(N);
    for (let i = 0; i < N; i++) {
      if (!rec.messages[i]!.equals(payloads[i]!)) throw new Error(`frame ${i}: got ${rec.messages[i]!.toString('hex')}`);
    }
    expect(rec.errors).toEqual([]);
  });

  it('delivers zero-length frames as empty Buffers', async () => {
    const { rec, peer } = await serverWithRawClient();
    peer.sock.write(Buffer.concat([lp(''), lp('x'), lp(''), lp('')]));
    await rec.waitMessages(4);
    await gap();
    expect(rec.messages.length).toBe(4);
    for (const i of [0, 2, 3]) {
      expect(Buffer.isBuffer(rec.messages[i])).toBe(true);
      expect(rec.messages[i]!.length).toBe(0);
    }
    expect(rec.messages[1]!.toString()).toBe('x');
  });

  it('reassembles frames larger than a read slab that arrive in many pieces', async () => {
    const { transport, rec, peer } = await serverWithRawClient({ slabSize: 4096 });
    const big = pattern(200_000, 1);
    const small = pattern(1000, 2);
    // The big frame's header shares a write with the tail of a small frame, and its last bytes share
    // one with the head of the next frame.
    const wire = Buffer.concat([lp(small), lp(big), lp(small), lp('end')]);
    const cuts = [500, 1010, 5000, 50_000, 120_000, 201_000, 201_500, wire.length];
    const parts: Buffer[] = [];
    let from = 0;
    for (const c of cuts) {
      parts.push(wire.subarray(from, c));
      from = c;
    }
    await writeParts(peer.sock, parts);
    await rec.waitMessages(4);
    await gap();
    expect(rec.messages.length).toBe(4);
    expect(sameBytes(rec.messages[0]!, small)).toBe('equal');
    expect(sameBytes(rec.messages[1]!, big)).toBe('equal');
    expect(sameBytes(rec.messages[2]!, small)).toBe('equal');
    expect(rec.messages[3]!.toString()).toBe('end');
    expect(transport.stats.framesIn).toBe(4);
    expect(transport.stats.bytesIn).toBe(2 * 1000 + 200_000 + 3);
    expect(rec.errors).toEqual([]);
  });
});

describe('length-prefixed: sending', () => {
  it('puts exactly [length BE32][payload] on the wire for each frame', async () => {
    const { transport, peer } = await clientWithRawServer();
    const big = pattern(20_000, 3); // past the 16 KiB copy limit: written from the caller's memory
    expect(transport.send('hello')).toBe(true);
    expect(transport.send(Buffer.alloc(0))).toBe(true);
    expect(transport.send(new Uint8Array([1, 2, 0, 255]))).toBe(true);
    expect(transport.send(big)).toBe(true);
    expect(transport.send('é')).toBe(true);
    await transport.close();
    await waitFor(() => peer.ended, 'the peer to see our end');
    const expected = Buffer.concat([
      Buffer.from([0, 0, 0, 5]),
      Buffer.from('hello'),
      Buffer.from([0, 0, 0, 0]),
      Buffer.from([0, 0, 0, 4, 1, 2, 0, 255]),
      Buffer.from([0, 0, 0x4e, 0x20]),
      big,
      Buffer.from([0, 0, 0, 2, 0xc3, 0xa9]),
    ]);
    expect(sameBytes(peer.bytes(), expected)).toBe('equal');
  });
});

describe('length-prefixed: sending views and reused buffers', () => {
  it('sends only the bytes of a Uint8Array view, small or large', async () => {
    const { transport, peer } = await clientWithRawServer();
    const backing = pattern(100_000, 4);
    const small = backing.subarray(10, 1010);
    const large = new Uint8Array(backing.buffer, backing.byteOffset + 5000, 40_000);
    transport.send(small);
    transport.send(large);
    await transport.close();
    await waitFor(() => peer.ended, 'the peer to see our end');
    expect(sameBytes(peer.bytes(), Buffer.concat([lp(Buffer.from(small)), lp(Buffer.from(large))]))).toBe('equal');
  });

  it('copies a small frame at send(), so the caller may reuse its buffer at once', async () => {
    const { transport, peer } = await clientWithRawServer();
    const buf = Buffer.from('original');
    transport.send(buf);
    buf.write('modified');
    transport.send(buf);
    await transport.close();
    await waitFor(() => peer.ended, 'the peer to see our end');
    expect(peer.bytes().toString('latin1')).toBe(lp('original').toString('latin1') + lp('modified').toString('latin1'));
  });
});

describe('length-prefixed: frames are Buffer views', () => {
  it('backs each frame with an ArrayBuffer that small frames from one read share', async () => {
    const { rec, peer } = await serverWithRawClient();
    peer.sock.write(Buffer.concat([lp('first'), lp('second')]));
    await rec.waitMessages(2);
    const [a, b] = rec.messages as [Buffer, Buffer];
    expect(a.buffer).toBeInstanceOf(ArrayBuffer);
    expect(b.buffer).toBeInstanceOf(ArrayBuffer);
    expect(a.buffer).toBe(b.buffer);
    expect(b.byteOffset).toBe(a.byteOffset + a.length + 4);
    expect(a.toString()).toBe('first');
    expect(b.toString()).toBe('second');
  });

  it("never changes a delivered frame's bytes as later frames arrive", async () => {
    const { rec, peer } = await serverWithRawClient();
    // One frame larger than a read slab (read into a buffer of its own), then two small frames that
    // share the start of a fresh slab.
    const early = [pattern(70_000, 10), pattern(100, 11), pattern(3000, 12)];
    peer.sock.write(lp(early[0]!));
    await rec.waitMessages(1);
    peer.sock.write(Buffer.concat([lp(early[1]!), lp(early[2]!)]));
    await rec.waitMessages(3);
    expect(rec.messages[1]!.buffer).toBe(rec.messages[2]!.buffer);
    const kept = rec.messages.slice(0, 3);
    // 10 MiB more. First as small frames in writes that each end on a frame boundary, so reads end on
    // one too and a read slab fills up with nothing left over (the moment a reader could be tempted to
    // reuse it); then in large writes that cut frames anywhere.
    const later: Buffer[] = [];
    for (let i = 0; i < 10 * 1024; i++) later.push(pattern(i % 97 === 0 ? 9000 : 1000, 100 + i));
    let total = 0;
    for (const p of later) total += p.length;
    expect(total).toBeGreaterThanOrEqual(10 * 1024 * 1024);
    const half = later.length / 2;
    for (let i = 0; i < half; i += 8) {
      peer.sock.write(Buffer.concat(later.slice(i, i + 8).map((p) => lp(p))));
      await gap();
    }
    const rest = Buffer.concat(later.slice(half).map((p) => lp(p)));
    for (let off = 0; off < rest.length; off += 1024 * 1024) {
      peer.sock.write(rest.subarray(off, off + 1024 * 1024));
      await gap();
    }
    await rec.waitMessages(3 + later.length);
    for (let i = 0; i < 3; i++) expect(sameBytes(kept[i]!, early[i]!)).toBe('equal');
    // Every later frame is intact too, checked only now that all of them have arrived.
    for (let i = 0; i < later.length; i++) {
      if (!rec.messages[3 + i]!.equals(later[i]!)) throw new Error(`later frame ${i} differs`);
    }
    expect(rec.messages.length).toBe(3 + later.length);
  });
});
