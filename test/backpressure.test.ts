// Backpressure on the write side: send() turns false past writableHighWaterMark, 'drain' comes once a
// stalled peer reads again with nothing lost, and a sender that ignores false is cut off at
// maxBufferedBytes with one ERR_IPC_BACKPRESSURE.
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../dist/index.js';
import { cleanupAll, onCleanup, recordEvents, waitFor } from './helpers/common';
import { tempSockets } from './helpers/lifetime-util';
import { readLengthPrefixed } from './helpers/wire.cjs';

afterEach(cleanupAll);

/** A node:net server on a fresh socket path whose connections start paused (the peer never reads). */
async function pausedPeer(): Promise<{ endpoint: string; socket: Promise<net.Socket> }> {
  const s = tempSockets('sipc-bp-');
  const file = path.join(s.dir, 'peer.sock');
  const server = net.createServer({ pauseOnConnect: true });
  const sockets: net.Socket[] = [];
  const socket = new Promise<net.Socket>((resolve) =>
    server.on('connection', (c) => {
      sockets.push(c);
      c.on('error', () => {});
      resolve(c);
    }),
  );
  await new Promise<void>((resolve) => server.listen(file, resolve));
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const c of sockets) c.destroy();
        server.close(() => resolve());
      }),
  );
  return { endpoint: `unix:${file}`, socket };
}

describe('backpressure', () => {
  it('send() turns false past writableHighWaterMark, buffering stays bounded, and every frame arrives in order after drain', async () => {
    const { endpoint, socket } = await pausedPeer();
    const hwm = 64 * 1024;
    const t = await connect(endpoint, { writableHighWaterMark: hwm });
    onCleanup(() => t.destroy());
    const events = recordEvents(t);
    const peer = await socket;

    const FRAME = 1024;
    const WIRE = FRAME + 4;
    // Far more than the kernel's socket buffers hold, so the sender must stall while the peer is paused.
    const TOTAL = 4096;
    let next = 0;
    let falses = 0;
    let drains = 0;
    let maxBuffered = 0;
    t.on('drain', () => drains++);
    const frame = (i: number): Buffer => {
      const b = Buffer.alloc(FRAME, i & 0xff);
      b.writeUInt32BE(i, 0);
      return b;
    };
    /** Sends until send() says stop; checks that false comes exactly when the mark is reached. */
    const pump = (): void => {
      while (next < TOTAL) {
        const ok = t.send(frame(next++));
        const buffered = t.stats.bufferedBytes;
        maxBuffered = Math.max(maxBuffered, buffered);
        if (!ok) {
          falses++;
          expect(buffered).toBeGreaterThanOrEqual(hwm);
          return;
        }
        expect(buffered).toBeLessThan(hwm);
      }
    };

    // Send, waiting for 'drain' after each false, until a drain does not come for a while: the kernel
    // buffers are full. (Waiting longer only sends more; nothing below depends on how long.)
    pump();
    for (;;) {
      const drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          t.off('drain', onDrain);
          resolve(false);
        }, 300);
        const onDrain = (): void => {
          clearTimeout(timer);
          resolve(true);
        };
        t.once('drain', onDrain);
      });
      if (!drained) break;
      pump();
    }
    expect(next).toBeLessThan(TOTAL);
    expect(falses).toBe(drains + 1);
    // Bounded: the sender stopped at the mark, so at most one frame past it is buffered.
    expect(maxBuffered).toBeLessThan(hwm + WIRE);
    expect(t.stats.bufferedBytes).toBeGreaterThanOrEqual(hwm / 2);
    expect(t.writableLength).toBe(t.stats.bufferedBytes);

    // The peer reads again: 'drain' comes, the sender goes on to the end, and nothing is lost.
    const frames: Buffer[] = [];
    peer.on('data', readLengthPrefixed((f) => frames.push(f)));
    t.on('drain', pump);
    const drainsBefore = drains;
    peer.resume();
    await waitFor(() => next === TOTAL && t.stats.bufferedBytes === 0, 'every frame to be written');
    expect(t.writableLength).toBe(0);
    expect(drains).toBeGreaterThan(drainsBefore);
    await waitFor(() => frames.length >= TOTAL, 'the peer to read every frame');
    expect(frames.length).toBe(TOTAL);
    for (let i = 0; i < TOTAL; i++) {
      const f = frames[i]!;
      if (f.length !== FRAME || f.readUInt32BE(0) !== i || f[FRAME - 1] !== (i & 0xff)) {
        throw new Error(`frame ${i} arrived wrong: length ${f.length}, sequence ${f.readUInt32BE(0)}`);
      }
    }
    expect(t.stats.framesOut).toBe(TOTAL);
    expect(events).toEqual([]);
    await t.close();
    expect(events).toEqual(['close']);
  });

  for (const size of [8 * 1024, 100 * 1024]) {
    it(`a sender ignoring false (${size / 1024} KiB frames) gets one ERR_IPC_BACKPRESSURE past maxBufferedBytes, then close, then ERR_IPC_CLOSED`, async () => {
      const { endpoint, socket } = await pausedPeer();
      const maxBufferedBytes = 1024 * 1024;
      const t = await connect(endpoint, { writableHighWaterMark: 64 * 1024, maxBufferedBytes });
      onCleanup(() => t.destroy());
      const events = recordEvents(t);
      let error: (Error & { code?: string; bufferedBytes?: number }) | null = null;
      t.on('error', (e: Error) => (error = e));
      await socket;

      const chunk = Buffer.alloc(size, 1);
      let accepted = 0;
      let falses = 0;
      let thrown: (Error & { code?: string }) | null = null;
      // At most 32 MiB: far past maxBufferedBytes plus what the kernel takes.
      for (let i = 0; i < (32 * 1024 * 1024) / size; i++) {
        try {
          if (t.send(chunk)) accepted++;
          else falses++;
        } catch (e) {
          thrown = e as Error & { code?: string };
          break;
        }
      }
      expect(falses).toBeGreaterThan(0);
      expect(thrown).not.toBeNull();
      expect(thrown!.code).toBe('ERR_IPC_CLOSED');
      expect(t.state).not.toBe('open');

      await waitFor(() => t.state === 'closed' && events.includes('close'), "'close'");
      expect(events).toEqual(['error ERR_IPC_BACKPRESSURE', 'close']);
      expect(error).toBeInstanceOf(Error);
      expect(error!.bufferedBytes).toBeGreaterThan(maxBufferedBytes);
      expect(() => t.send('late')).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
      // close() on the failed transport resolves and emits nothing more.
      await t.close();
      expect(events).toEqual(['error ERR_IPC_BACKPRESSURE', 'close']);
    });
  }
});
