// Closing: close() flushes and is idempotent, destroy() is immediate, send() after close throws, the
// other end sees 'close', server.close() closes its connections, asyncDispose, and closeTimeout.
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as ipc from '../dist/index.js';
import type { Transport } from '../dist/index.js';
import { cleanupAll, onCleanup, recordEvents, waitFor } from './helpers/common';
import { checkNumbered, numbered, tempSockets, transportPair } from './helpers/lifetime-util';

afterEach(cleanupAll);

const closedError = expect.objectContaining({ code: 'ERR_IPC_CLOSED' });

describe('close()', () => {
  it('flushes every frame sent before it: 10,000 frames then close() at once all arrive, in order', async () => {
    const { client, peer } = await transportPair();
    const got: Buffer[] = [];
    peer.on('message', (m: Buffer) => got.push(m));
    const peerEvents = recordEvents(peer);
    const clientEvents = recordEvents(client);
    const n = 10_000;
    // Mostly small frames (copied into batches), every 1000th one large (written from its own memory).
    const size = (i: number): number => (i % 1000 === 999 ? 20_000 : 100);
    for (let i = 0; i < n; i++) client.send(numbered(i, size(i)));
    await client.close();
    expect(client.state).toBe('closed');
    await waitFor(() => peerEvents.length > 0, "the peer's 'close'");
    expect(got.length).toBe(n);
    for (let i = 0; i < n; i++) {
      const f = got[i]!;
      if (f.length !== size(i) || f.readUInt32BE(0) !== i) throw new Error(`frame ${i} is wrong`);
    }
    expect(peerEvents).toEqual(['close']);
    expect(clientEvents).toEqual(['close']);
    expect(client.stats.framesOut).toBe(n);
    expect(client.stats.bufferedBytes).toBe(0);
  });

  it('is idempotent: every call resolves, and close is emitted once', async () => {
    const { client } = await transportPair();
    const events = recordEvents(client);
    let closes = 0;
    client.on('close', () => closes++);
    const a = client.close();
    const b = client.close();
    expect(client.state).not.toBe('open');
    await expect(Promise.all([a, b])).resolves.toEqual([undefined, undefined]);
    expect(client.state).toBe('closed');
    await expect(client.close()).resolves.toBeUndefined();
    await new Promise((r) => setTimeout(r, 10));
    expect(closes).toBe(1);
    expect(events).toEqual(['close']);
  });

  it('send() after close() throws ERR_IPC_CLOSED synchronously, while closing and once closed', async () => {
    const { client } = await transportPair();
    const closing = client.close();
    expect(client.state).toBe('closing');
    expect(() => client.send('x')).toThrow(closedError);
    expect(() => client.send(Buffer.alloc(100_000))).toThrow(closedError);
    await closing;
    expect(() => client.send('x')).toThrow(closedError);
    let thrown: unknown = null;
    try {
      client.send('y');
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ipc.TransportError);
    expect(client.stats.framesOut).toBe(0);
  });

  it('closing one end makes the other emit close, with no error, either way round', async () => {
    for (const closer of ['client', 'peer'] as const) {
      const p = await transportPair();
      const other = closer === 'client' ? p.peer : p.client;
      const events = recordEvents(other);
      const got: string[] = [];
      other.on('message', (m: Buffer) => got.push(m.toString()));
      p[closer].send('last words');
      await p[closer].close();
      await waitFor(() => events.length > 0, "the other end's 'close'");
      expect(events).toEqual(['close']);
      expect(got).toEqual(['last words']);
      expect(other.state).toBe('closed');
    }
  });

  it('a transport holding received frames nobody took emits close when closed', async () => {
    const { server, client, peer } = await transportPair();
    const events = recordEvents(peer);
    client.send('unread 1');
    client.send('unread 2');
    await waitFor(() => peer.stats.framesIn === 2, 'the frames to be read');
    await peer.close();
    expect(peer.state).toBe('closed');
    await waitFor(() => events.length > 0, "'close'", { ms: 1000 }).catch(() => {});
    expect(events).toEqual(['close']);
    expect(server.connections).toBe(0);
  });

  it('frames read behind one whose listener destroyed the transport are neither delivered nor counted', async () => {
    const { client, peer } = await transportPair();
    const events = recordEvents(peer);
    const got: string[] = [];
    peer.on('message', (m: Buffer) => {
      got.push(m.toString());
      peer.destroy();
    });
    // Three frames in one write, so they are read in one batch and the listener's destroy() comes
    // between the first and the other two.
    client.send('one');
    client.send('two');
    client.send('three');
    await waitFor(() => events.length > 0, "'close'");
    expect(got).toEqual(['one']);
    expect(events).toEqual(['close']);
    expect(peer.stats.framesIn).toBe(1);
    expect(peer.stats.bytesIn).toBe(3);
  });

  it('a paused transport closed with a frame held delivers it on resume(), then emits close', async () => {
    const { server, client, peer } = await transportPair();
    const events = recordEvents(peer);
    const got: string[] = [];
    peer.on('message', (m: Buffer) => {
      got.push(m.toString());
      peer.pause();
    });
    // Both in one write, so the second is read in the same batch and held by pause().
    client.send('first');
    client.send('held');
    await waitFor(() => peer.stats.framesIn === 2, 'the frames to be read');
    expect(got).toEqual(['first']);
    await peer.close();
    expect(peer.state).toBe('closed');
    peer.resume();
    await waitFor(() => events.length > 0, "'close'", { ms: 1000 }).catch(() => {});
    expect(got).toEqual(['first', 'held']);
    expect(events).toEqual(['close']);
    expect(server.connections).toBe(0);
  });
});

describe('destroy()', () => {
  it('closes at once, dropping frames not yet written; the peer sees close', async () => {
    const { client, peer } = await transportPair();
    const events = recordEvents(client);
    const peerEvents = recordEvents(peer);
    let got = 0;
    peer.on('message', () => got++);
    for (let i = 0; i < 100; i++) client.send(`dropped ${i}`);
    client.destroy();
    expect(client.state).toBe('closing');
    expect(() => client.send('x')).toThrow(closedError);
    await waitFor(() => client.state === 'closed' && events.length > 0, "'close'");
    expect(events).toEqual(['close']);
    await waitFor(() => peerEvents.length > 0, "the peer's 'close'");
    expect(peerEvents).toEqual(['close']);
    expect(got).toBe(0);
    // Idempotent, and close() afterwards resolves.
    client.destroy();
    await expect(client.close()).resolves.toBeUndefined();
    expect(events).toEqual(['close']);
  });

  it('destroy(err) emits that error once, then close', async () => {
    const { client } = await transportPair();
    const errors: Error[] = [];
    const events = recordEvents(client);
    client.on('error', (e: Error) => errors.push(e));
    const err = Object.assign(new Error('gave up'), { code: 'E_TEST' });
    client.destroy(err);
    client.destroy(new Error('second'));
    await waitFor(() => events.includes('close'), "'close'");
    expect(events).toEqual(['error E_TEST', 'close']);
    expect(errors).toEqual([err]);
  });
});

describe('server.close()', () => {
  it('closes every open connection and resolves; connections counts them', async () => {
    const s = tempSockets('sipc-close-');
    const endpoint = s.sock();
    const server = await ipc.listen(endpoint);
    let serverCloses = 0;
    server.on('close', () => serverCloses++);
    const accepted: Transport[] = [];
    server.on('connection', (t: Transport) => accepted.push(t));
    const clients: Transport[] = [];
    const clientEvents: string[][] = [];
    for (let i = 0; i < 5; i++) {
      const c = await ipc.connect(endpoint);
      onCleanup(() => c.destroy());
      clients.push(c);
      clientEvents.push(recordEvents(c));
    }
    await waitFor(() => accepted.length === 5, 'five connections');
    expect(server.connections).toBe(5);
    const acceptedEvents = accepted.map(recordEvents);
    clients[0]!.close();
    await waitFor(() => server.connections === 4, 'one connection to close');

    await server.close();
    expect(server.connections).toBe(0);
    expect(server.listening).toBe(false);
    for (const t of accepted) expect(t.state).toBe('closed');
    await waitFor(() => clients.every((c) => c.state === 'closed'), 'the clients to close');
    for (const e of clientEvents) expect(e).toEqual(['close']);
    for (const e of acceptedEvents) expect(e).toEqual(['close']);
    expect(serverCloses).toBe(1);
    // Idempotent.
    await server.close();
    expect(serverCloses).toBe(1);
    await expect(ipc.connect(endpoint)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('Symbol.asyncDispose', () => {
  it('closes a transport and a server', async () => {
    const { server, client, peer } = await transportPair();
    const peerEvents = recordEvents(peer);
    await client[Symbol.asyncDispose]();
    expect(client.state).toBe('closed');
    await waitFor(() => peerEvents.length > 0, "the peer's 'close'");
    expect(peerEvents).toEqual(['close']);
    await server[Symbol.asyncDispose]();
    expect(server.listening).toBe(false);
  });
});

describe('closeTimeout', () => {
  it('close() against a peer that never reads resolves after closeTimeout with one ERR_IPC_CLOSE_TIMEOUT', async () => {
    const s = tempSockets('sipc-close-');
    const file = path.join(s.dir, 'stalled.sock');
    const netServer = net.createServer({ pauseOnConnect: true });
    const sockets: net.Socket[] = [];
    netServer.on('connection', (c) => {
      sockets.push(c);
      c.on('error', () => {});
    });
    await new Promise<void>((resolve) => netServer.listen(file, resolve));
    onCleanup(() => new Promise<void>((resolve) => {
      for (const c of sockets) c.destroy();
      netServer.close(() => resolve());
    }));

    const t = await ipc.connect(`unix:${file}`, { closeTimeout: 200 });
    const events = recordEvents(t);
    const errors: (Error & { code?: string; unsentBytes?: number })[] = [];
    t.on('error', (e: Error) => errors.push(e));
    // 8 MiB: far more than the socket buffers take, under maxBufferedBytes (64 MiB).
    const chunk = Buffer.alloc(64 * 1024, 3);
    for (let i = 0; i < 128; i++) t.send(chunk);
    expect(t.stats.bufferedBytes).toBeGreaterThan(0);
    await t.close();
    expect(t.state).toBe('closed');
    expect(events).toEqual(['error ERR_IPC_CLOSE_TIMEOUT', 'close']);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.unsentBytes).toBeGreaterThan(0);
    expect(errors[0]).toBeInstanceOf(ipc.TransportError);
  });
});

export type { Transport };
export { checkNumbered };
