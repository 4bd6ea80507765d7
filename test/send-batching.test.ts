// The send path: small frames sent in one tick are copied into a batch buffer and written together;
// a batch that the socket did not take at once stays with libuv until its write completes. These tests
// make the sender outrun a slow reader, so batches are left in flight while new ones fill, and check
// every frame's bytes at the other end, across write-buffer limits from tiny to large.
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, listen, type Transport } from '../dist/index.js';
import { cleanupAll, onCleanup, sleep } from './helpers/common';
import { tempEndpoint } from './helpers/framing-peer';
import { readLengthPrefixed } from './helpers/wire.cjs';

afterEach(cleanupAll);

/** Frame i: its index as 4 bytes, then a byte pattern derived from it, of a size that varies with i. */
function frame(i: number): Buffer {
  const size = 4 + (i % 7) * 13 + (i % 101 === 0 ? 3000 : 0);
  const b = Buffer.allocUnsafe(size);
  b.writeUInt32BE(i, 0);
  for (let k = 4; k < size; k++) b[k] = (i * 31 + k) & 0xff;
  return b;
}

/** Reads length-prefixed frames from a raw node:net socket and checks each against frame(i). */
function verifyingReader(sock: net.Socket, onFrame: (i: number) => void, onBad: (msg: string) => void): void {
  let next = 0;
  sock.on(
    'data',
    readLengthPrefixed((got) => {
      const want = frame(next);
      if (!got.equals(want)) onBad(`frame ${next} differs (got ${got.length} bytes, index ${got.length >= 4 ? got.readUInt32BE(0) : -1})`);
      onFrame(next++);
    }),
  );
}

async function rawServer(): Promise<{ endpoint: string; accepted: Promise<net.Socket> }> {
  const { endpoint, path } = tempEndpoint();
  let resolve!: (s: net.Socket) => void;
  const accepted = new Promise<net.Socket>((r) => (resolve = r));
  const server = net.createServer((s) => resolve(s));
  await new Promise<void>((r) => server.listen(path, r));
  onCleanup(() => new Promise<void>((r) => server.close(() => r())));
  onCleanup(async () => (await accepted).destroy());
  return { endpoint, accepted };
}

describe('batched sending', () => {
  it('keeps every frame intact when the sender outruns a slow reader and ignores backpressure', async () => {
    const { endpoint, accepted } = await rawServer();
    const t = await connect(endpoint, { maxBufferedBytes: 256 * 1024 * 1024 });
    onCleanup(() => t.destroy());
    const sock = await accepted;
    sock.pause();
    const N = 200_000;
    let received = 0;
    const bad: string[] = [];
    verifyingReader(sock, () => received++, (m) => bad.length < 5 && bad.push(m));
    // All in one tick: batches fill, the socket buffer fills, later batches queue behind earlier ones.
    for (let i = 0; i < N; i++) t.send(frame(i));
    expect(t.stats.bufferedBytes).toBeGreaterThan(0);
    await sleep(20);
    sock.resume();
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (received === N || bad.length > 0) {
          clearInterval(timer);
          resolve();
        }
      }, 5);
      t.once('error', reject);
    });
    expect(bad).toEqual([]);
    expect(received).toBe(N);
    expect(t.stats.framesOut).toBe(N);
    expect(t.stats.bufferedBytes).toBe(0);
  });

  for (const hwm of [1, 1024, 16 * 1024, 64 * 1024, 1024 * 1024]) {
    it(`a sender that waits for 'drain' gets every frame through with writableHighWaterMark ${hwm}`, async () => {
      const { endpoint, accepted } = await rawServer();
      const t = await connect(endpoint, { writableHighWaterMark: hwm });
      onCleanup(() => t.destroy());
      const sock = await accepted;
      const N = 50_000;
      let received = 0;
      const bad: string[] = [];
      verifyingReader(sock, () => received++, (m) => bad.length < 5 && bad.push(m));
      let falses = 0;
      let drains = 0;
      t.on('drain', () => drains++);
      await new Promise<void>((resolve, reject) => {
        let i = 0;
        const pump = (): void => {
          while (i < N) {
            if (!t.send(frame(i++))) {
              falses++;
              t.once('drain', pump);
              return;
            }
          }
          resolve();
        };
        t.once('error', reject);
        pump();
      });
      await t.close();
      // close() resolves once the peer has ended too, so everything has been read by now.
      expect(bad).toEqual([]);
      expect(received).toBe(N);
      // Every false was followed by exactly one 'drain' (the last one before close as well).
      expect(drains).toBe(falses);
      if (hwm <= 1024) expect(falses).toBeGreaterThan(0);
    });
  }

  it('writes frames sent in one tick with one write call (a lone frame still goes out at once)', async () => {
    const { endpoint, accepted } = await rawServer();
    const t: Transport = await connect(endpoint);
    onCleanup(() => t.destroy());
    const sock = await accepted;
    const chunks: Buffer[] = [];
    sock.on('data', (d) => chunks.push(d));
    for (let i = 0; i < 100; i++) t.send(frame(i));
    // Not yet written: the batch goes out when this tick's microtasks run.
    expect(t.stats.bufferedBytes).toBeGreaterThan(0);
    await Promise.resolve();
    expect(t.stats.bufferedBytes).toBe(0);
    await sleep(20);
    // The reader saw the 100 frames arrive together, in one read.
    expect(chunks.length).toBe(1);
    t.send(frame(100));
    await sleep(20);
    expect(chunks.length).toBe(2);
    expect(chunks[1]!.readUInt32BE(0)).toBe(frame(100).length);
  });
});

describe('large frames are written from the caller memory', () => {
  it('interleaves small batched frames and large zero-copy frames in send order', async () => {
    const server = await listen(tempEndpoint().endpoint);
    onCleanup(() => server.close());
    const got: Buffer[] = [];
    const all = new Promise<void>((resolve) =>
      server.on('connection', (c) =>
        c.on('message', (f: Buffer) => {
          got.push(Buffer.from(f));
          if (got.length === 300) resolve();
        }),
      ),
    );
    const t = await connect(server.endpoint);
    onCleanup(() => t.destroy());
    const sent: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const f = i % 10 === 0 ? Buffer.alloc(100_000 + i, i & 0xff) : frame(i);
      sent.push(f);
      t.send(f);
    }
    await all;
    expect(got.length).toBe(300);
    for (let i = 0; i < 300; i++) expect(got[i]!.equals(sent[i]!)).toBe(true);
  });
});
