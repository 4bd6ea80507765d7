// Flow control on the read side: pause()/resume(), frames held until a 'message' listener exists,
// async iteration (order, end, errors, early exit) and its bound on unconsumed frames.
import { afterEach, describe, expect, it } from 'vitest';
import type { Transport } from '../dist/index.js';
import { cleanupAll, recordEvents, waitFor } from './helpers/common';
import { checkNumbered, numbered, pump, transportPair } from './helpers/lifetime-util';

afterEach(cleanupAll);

// Far more than the kernel's socket buffers hold: a sender of this much must stall when nobody reads.
const TOTAL = 4096;

describe('pause() and resume()', () => {
  it('pause() stops message events and reading until resume(), which delivers the held frames in order, then the rest', async () => {
    const { client, peer } = await transportPair({}, { writableHighWaterMark: 64 * 1024 });
    const got: Buffer[] = [];
    peer.on('message', (m: Buffer) => {
      got.push(m);
      if (got.length === 10) peer.pause();
    });
    const peerEvents = recordEvents(peer);
    const sender = pump(client, TOTAL, (i) => numbered(i));

    await sender.stalled();
    // Not one event after pause(), though more frames had already been read in the same batch.
    expect(got.length).toBe(10);
    expect(peer.isPaused).toBe(true);
    // Reading stopped: the sender could not get everything out, and its buffer filled up.
    expect(sender.sent).toBeLessThan(TOTAL);
    expect(peer.stats.framesIn).toBeLessThan(TOTAL);
    expect(client.stats.bufferedBytes).toBeGreaterThanOrEqual(32 * 1024);

    peer.resume();
    expect(peer.isPaused).toBe(false);
    await sender.finished();
    await waitFor(() => got.length === TOTAL, 'every frame after resume()');
    checkNumbered(got, TOTAL);
    expect(peer.stats.framesIn).toBe(TOTAL);
    expect(peerEvents).toEqual([]);
  });

  it('frames that arrive before any message listener are delivered, in order, once one is attached', async () => {
    const { client, peer } = await transportPair();
    for (let i = 0; i < 50; i++) client.send(numbered(i, 64));
    await waitFor(() => peer.stats.framesIn === 50, 'the frames to be read');
    const got: Buffer[] = [];
    peer.on('message', (m: Buffer) => got.push(m));
    // Delivery starts on a microtask after the listener is added, not inside on().
    expect(got.length).toBe(0);
    await waitFor(() => got.length === 50, 'the held frames');
    // And frames sent afterwards follow them.
    for (let i = 50; i < 60; i++) client.send(numbered(i, 64));
    await waitFor(() => got.length === 60, 'the later frames');
    await new Promise((r) => setTimeout(r, 20));
    checkNumbered(got, 60, 64);
  });

  it('without a listener reading stops at readableHighWaterMark (the sender stalls); none is lost once one is attached', async () => {
    const { client, peer } = await transportPair({ readableHighWaterMark: 100 }, { writableHighWaterMark: 64 * 1024 });
    const sender = pump(client, TOTAL, (i) => numbered(i));
    await sender.stalled();
    expect(sender.sent).toBeLessThan(TOTAL);
    // At most one read (a 64 KiB slab of 1 KiB frames) past the mark.
    expect(peer.stats.framesIn).toBeGreaterThanOrEqual(100);
    expect(peer.stats.framesIn).toBeLessThanOrEqual(100 + 64);

    const got: Buffer[] = [];
    peer.on('message', (m: Buffer) => got.push(m));
    await sender.finished();
    await waitFor(() => got.length === TOTAL, 'every frame');
    checkNumbered(got, TOTAL);
  });
});

describe('async iteration', () => {
  it('yields every frame in order and ends when the peer closes', async () => {
    const { client, peer } = await transportPair();
    const n = 1000;
    for (let i = 0; i < n; i++) client.send(numbered(i, 100));
    const closing = client.close();
    const got: Buffer[] = [];
    for await (const f of peer) got.push(f);
    checkNumbered(got, n, 100);
    await closing;
    expect(peer.state).toBe('closed');
  });

  it("rethrows the transport's error after the frames that came before it", async () => {
    const { client, peer } = await transportPair({ maxFrameSize: 1000 });
    const peerEvents = recordEvents(peer);
    client.send(numbered(0, 100));
    client.send(numbered(1, 100));
    client.send(numbered(2, 100));
    client.send(Buffer.alloc(5000));
    const got: Buffer[] = [];
    let caught: (Error & { code?: string }) | null = null;
    try {
      for await (const f of peer) got.push(f);
    } catch (e) {
      caught = e as Error & { code?: string };
    }
    checkNumbered(got, 3, 100);
    expect(caught).not.toBeNull();
    expect(caught!.code).toBe('ERR_IPC_FRAME_TOO_LARGE');
    expect(peerEvents).toEqual(['error ERR_IPC_FRAME_TOO_LARGE', 'close']);
  });

  /**
   * Sends `before` frames, reads five in a for-await loop and breaks out of it (calling `atBreak` just
   * before), then checks the outcome both break tests expect: the five frames in order, the transport the
   * loop read closed by the loop's exit, and one 'close' and no error on each end.
   */
  async function breakAfterFive(before: number, atBreak: (client: Transport) => void = () => {}): Promise<void> {
    const { server, client, peer } = await transportPair();
    const peerEvents = recordEvents(peer);
    const clientEvents = recordEvents(client);
    for (let i = 0; i < before; i++) client.send(numbered(i, 100));
    const got: Buffer[] = [];
    for await (const f of peer) {
      got.push(f);
      if (got.length === 5) {
        atBreak(client);
        break;
      }
    }
    checkNumbered(got, 5, 100);
    // The loop's exit waited for close().
    expect(peer.state).toBe('closed');
    await waitFor(() => client.state === 'closed' && clientEvents.length > 0, 'the client to close');
    expect(clientEvents).toEqual(['close']);
    await waitFor(() => peerEvents.length > 0, "the peer's 'close'", { ms: 1000 }).catch(() => {});
    expect(peerEvents).toEqual(['close']);
    expect(server.connections).toBe(0);
  }

  it('breaking out of the loop closes the transport; both ends emit close', async () => {
    await breakAfterFive(20);
  });

  it('breaking out of the loop while the peer is still sending closes the transport and emits close', async () => {
    await breakAfterFive(5, (client) => {
      // The peer sends ten more as the consumer leaves: they reach a transport nobody reads any more,
      // before the client's end of stream.
      for (let i = 5; i < 15; i++) client.send(numbered(i, 100));
    });
  });

  it('a slow consumer bounds the frames held: reading stops at readableHighWaterMark and the sender stalls', async () => {
    const hwm = 64;
    const { client, peer } = await transportPair({ readableHighWaterMark: hwm }, { writableHighWaterMark: 64 * 1024 });
    const it = peer[Symbol.asyncIterator]();
    const got: Buffer[] = [];
    const sender = pump(client, TOTAL, (i) => numbered(i));
    for (let i = 0; i < 10; i++) got.push((await it.next()).value as Buffer);

    // The consumer stops taking frames.
    await sender.stalled();
    expect(sender.sent).toBeLessThan(TOTAL);
    // Taken, plus the mark, plus at most one read (a 64 KiB slab of 1 KiB frames).
    expect(peer.stats.framesIn).toBeLessThanOrEqual(10 + hwm + 64);

    // It goes on: everything arrives, in order, and the loop ends when the sender closes.
    const finished = sender.finished().then(() => client.close());
    for await (const f of it) got.push(f);
    await finished;
    checkNumbered(got, TOTAL);
  });
});
