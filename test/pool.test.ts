// Connection pools: warm-up to min, borrowing (acquire/release/use), FIFO waiters, maxWaiting and
// acquireTimeout (stats.waiting too when validate outlives the timeout), eviction of broken and invalid
// connections with background replacement (held back for a server that accepts and closes at once),
// shared send() spread by buffered bytes, its queue before the first connection (with min 0 too) and
// its 'drain' across a replaced connection, idleTimeout, maxLifetime, close() (with validate still
// running), descriptors, failing connection attempts, health (send() past an unhealthy borrowed
// connection), process lifetime, unref and option checks. Every peer is a real server from listen();
// counts are exact, waits are safety nets only.
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, createPool, type Transport } from '../dist/index.js';
import { cleanupAll, code, fdCount, runNode, sleep, tick, waitFor, withTimeout } from './helpers/common';
import { DIST_CJS, tempSockets } from './helpers/lifetime-util';
import { bookServer, pool, settled } from './helpers/pool-util';

afterEach(cleanupAll);

const rejection = async (p: Promise<unknown>): Promise<unknown> => p.then(() => new Error('expected a rejection'), (e: unknown) => e);

describe('createPool(): warm-up and borrowing', () => {
  it('opens min connections at once, and no more', async () => {
    const s = await bookServer();
    const { pool: p, events } = pool(s.endpoint, { min: 3, max: 5 });
    await settled(p, 3);
    await waitFor(() => s.peers.length === 3, 'the server to accept 3 connections');
    // A few more loop turns: nothing else is opened.
    for (let i = 0; i < 10; i++) await tick();
    expect(s.peers.length).toBe(3);
    expect(events.connections.length).toBe(3);
    expect(p.stats).toEqual({ size: 3, idle: 3, inUse: 0, waiting: 0, created: 3, destroyed: 0, reuseRatio: 0 });
  });

  it('acquire/release reuses one connection; a second concurrent borrower gets a new one (reuseRatio)', async () => {
    const s = await bookServer();
    const { pool: p } = pool(s.endpoint, { min: 1, max: 2 });
    await settled(p, 1);
    const seen = new Set<Transport>();
    for (let i = 0; i < 5; i++) {
      const t = await p.acquire();
      expect(p.stats).toMatchObject({ inUse: 1, idle: 0 });
      t.send(`frame ${i}`);
      seen.add(t);
      p.release(t);
    }
    expect(seen.size).toBe(1);
    expect(p.stats).toMatchObject({ size: 1, idle: 1, inUse: 0, created: 1, reuseRatio: 1 });

    const a = await p.acquire();
    const b = await p.acquire();
    expect(a).not.toBe(b);
    expect(seen.has(a)).toBe(true);
    // 6 of 7 acquires found a connection already open; b's was opened for it.
    expect(p.stats).toMatchObject({ size: 2, inUse: 2, created: 2, reuseRatio: 6 / 7 });
    p.release(a);
    p.release(b);
    await waitFor(() => s.frames().length === 5, '5 frames at the server');
    expect(s.peers.length).toBe(2);
    expect(s.peers[0]!.frames.map(String)).toEqual(['frame 0', 'frame 1', 'frame 2', 'frame 3', 'frame 4']);
  });

  it('release() refuses a transport not borrowed from the pool, and a second release', async () => {
    const s = await bookServer();
    const { pool: p } = pool(s.endpoint, { min: 1, max: 1 });
    const other = await connect(s.endpoint);
    expect(() => p.release(other)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => p.release(null as unknown as Transport)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    other.destroy();
    const t = await p.acquire();
    p.release(t);
    expect(() => p.release(t)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }));
    expect(p.stats).toMatchObject({ size: 1, idle: 1, inUse: 0 });
  });

  it("use() returns fn's result, and releases the connection when fn throws", async () => {
    const s = await bookServer();
    const { pool: p } = pool(s.endpoint, { min: 1, max: 1 });
    let borrowed: Transport | null = null;
    await expect(
      p.use((t) => {
        borrowed = t;
        expect(p.stats.inUse).toBe(1);
        return 42;
      }),
    ).resolves.toBe(42);
    expect(p.stats).toMatchObject({ inUse: 0, idle: 1 });
    const boom = new Error('boom');
    await expect(
      p.use(async (t) => {
        expect(t).toBe(borrowed);
        await tick();
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(p.stats).toMatchObject({ size: 1, inUse: 0, idle: 1, created: 1 });
    // The connection went back: the next borrower gets the same one at once.
    await expect(p.use((t) => t)).resolves.toBe(borrowed);
    expect(() => p.use(null as unknown as () => void)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  it('at max, waiters are served in FIFO order as connections are released', async () => {
    const s = await bookServer();
    const { pool: p } = pool(s.endpoint, { min: 0, max: 2 });
    const a = await p.acquire();
    const b = await p.acquire();
    const served: string[] = [];
    const got: Record<string, Transport> = {};
    const wait = (name: string): Promise<void> =>
      p.acquire().then((t) => {
        served.push(name);
        got[name] = t;
      });
    const all = Promise.all([wait('c'), wait('d'), wait('e')]);
    await tick();
    expect(p.stats).toMatchObject({ size: 2, inUse: 2, waiting: 3 });
    p.release(b);
    await waitFor(() => served.length === 1, 'c to be served');
    p.release(a);
    await waitFor(() => served.length === 2, 'd to be served');
    p.release(got.c!);
    await all;
    expect(served).toEqual(['c', 'd', 'e']);
    expect(got.c).toBe(b);
    expect(got.d).toBe(a);
    expect(got.e).toBe(b);
    expect(p.stats).toMatchObject({ size: 2, inUse: 2, waiting: 0, created: 2 });
    expect(s.peers.length).toBe(2);
    p.release(got.d!);
    p.release(got.e!);
  });

  it('past maxWaiting, acquire() rejects at once with ERR_IPC_POOL_EXHAUSTED', async () => {
    const s = await bookServer();
    const { pool: p } = pool(s.endpoint, { min: 1, max: 1, maxWaiting: 1 });
    const a = await p.acquire();
    const second = p.acquire();
    const err = await rejection(p.acquire());
    expect(code(err)).toBe('ERR_IPC_POOL_EXHAUSTED');
    expect(p.stats.waiting).toBe(1);
    p.release(a);
    await expect(second).resolves.toBe(a);
    p.release(a);
    expect(p.stats).toMatchObject({ waiting: 0, created: 1, size: 1 });
  });

  it('maxWaiting 0 refuses any acquire that would wait', async () => {
    const s = await bookServer();
    const { pool: p } = pool(s.endpoint, { min: 1, max: 1, maxWaiting: 0 });
    await settled(p, 1);
    const a = await p.acquire();
    expect(code(await rejection(p.acquire()))).toBe('ERR_IPC_POOL_EXHAUSTED');
    p.release(a);
  });

  it('acquireTimeout rejects with ERR_IPC_ACQUIRE_TIMEOUT and the waiter leaves the queue', async () => {
    const s = await bookServer();
    const { pool: p } = pool(s.endpoint, { min: 1, max: 1, acquireTimeout: 30 });
    const a = await p.acquire();
    const pending = p.acquire();
    expect(p.stats.waiting).toBe(1);
    const err = await rejection(pending);
    expect(code(err)).toBe('ERR_IPC_ACQUIRE_TIMEOUT');
    expect(p.stats.waiting).toBe(0);
    // The connection is not lost to the timed-out waiter: the next acquire gets it.
    p.release(a);
    await expect(p.acquire()).resolves.toBe(a);
    p.release(a);
    expect(p.stats).toMatchObject({ size: 1, idle: 1, created: 1 });
  });

  it('stats.waiting: an acquire that timed out while validate ran no longer counts as waiting', async () => {
    const s = await bookServer();
    let answer: ((ok: boolean) => void) | null = null;
    const { pool: p } = pool(s.endpoint, {
      min: 1,
      max: 1,
      acquireTimeout: 20,
      validate: () => new Promise<boolean>((resolve) => (answer = resolve)),
    });
    await settled(p, 1);
    const err = await rejection(p.acquire());
    expect(code(err)).toBe('ERR_IPC_ACQUIRE_TIMEOUT');
    expect(answer).not.toBe(null);
    expect(p.stats).toMatchObject({ size: 1, idle: 0, waiting: 0 });
    answer!(true);
    await waitFor(() => p.stats.idle === 1, `the connection back in the pool (${JSON.stringify(p.stats)})`);
    expect(p.stats).toMatchObject({ size: 1, idle: 1, inUse: 0, waiting: 0, created: 1, destroyed: 0 });
  });
});

describe('eviction and replacement', () => {
  it('a connection the server destroys is evicted, replaced, and never handed out', async () => {
    const s = await bookServer();
    const { pool: p, events } = pool(s.endpoint, { min: 2, max: 2 });
    await waitFor(() => s.peers.length === 2 && p.stats.size === 2, '2 connections');
    // Tell the two apart: the server destroys the one that says 'victim'.
    const v = await p.acquire();
    v.send('victim');
    p.release(v);
    await waitFor(() => s.frames().length === 1, "the server to get 'victim'");
    s.peerWith('victim').t.destroy();
    await waitFor(() => events.evicts.length === 1, "the pool's 'evict'");
    expect(events.evicts[0]!.t).toBe(v);
    expect(events.evicts[0]!.reason).toBe('closed');
    await waitFor(() => s.peers.length === 3 && p.stats.size === 2, 'a replacement connection');
    const a = await p.acquire();
    const b = await p.acquire();
    expect([a, b]).not.toContain(v);
    expect(a.state).toBe('open');
    expect(b.state).toBe('open');
    expect(p.stats).toMatchObject({ size: 2, created: 3, destroyed: 1 });
    expect(events.evicts.length).toBe(1);
    p.release(a);
    p.release(b);
  });

  it('a borrowed connection that breaks leaves the pool at once, and its release is still accepted (once)', async () => {
    const s = await bookServer();
    const { pool: p, events } = pool(s.endpoint, { min: 1, max: 1 });
    const t = await p.acquire();
    t.send('mine');
    await waitFor(() => s.frames().length === 1, 'the frame');
    s.peerWith('mine').t.destroy();
    await waitFor(() => events.evicts.length === 1, "'evict'");
    expect(events.evicts[0]).toEqual({ t, reason: 'closed' });
    // Replaced while still borrowed: the pool is back to min.
    await waitFor(() => s.peers.length === 2 && p.stats.size === 1, 'the replacement');
    expect(p.stats).toMatchObject({ size: 1, idle: 1, inUse: 0, created: 2, destroyed: 1 });
    p.release(t);
    expect(() => p.release(t)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    const u = await p.acquire();
    expect(u).not.toBe(t);
    p.release(u);
  });

  it('validate false (sync), a throw, or false (async) destroys the connection and another is handed out', async () => {
    const s = await bookServer();
    const refused = new Set<Transport>();
    let calls = 0;
    let mode: 'sync' | 'throw' | 'async' = 'sync';
    const validate = (t: Transport): boolean | Promise<boolean> => {
      calls++;
      if (refused.size === 0 || (mode !== 'sync' && refused.size === 1) || (mode === 'async' && refused.size === 2)) {
        refused.add(t);
        if (mode === 'throw') throw new Error('bad connection');
        return mode === 'async' ? Promise.resolve(false) : false;
      }
      return mode === 'async' ? Promise.resolve(true) : true;
    };
    const { pool: p, events } = pool(s.endpoint, { min: 2, max: 2, validate });
    await settled(p, 2);
    for (mode of ['sync', 'throw', 'async'] as const) {
      const before = refused.size;
      const t = await p.acquire();
      expect(refused.size).toBe(before + 1);
      expect(refused.has(t)).toBe(false);
      p.release(t);
      await waitFor(() => p.stats.size === 2, 'the replacement');
    }
    expect(calls).toBe(6);
    expect(events.evicts.map((e) => e.reason)).toEqual(['invalid', 'invalid', 'invalid']);
    expect(events.evicts.map((e) => e.t)).toEqual([...refused]);
    await waitFor(() => [...refused].every((t) => t.state === 'closed'), 'the refused connections to close');
    await waitFor(() => s.peers.filter((x) => x.closed).length === 3, 'the server to see 3 connections end');
    expect(p.stats).toMatchObject({ size: 2, created: 5, destroyed: 3, waiting: 0 });
  });
  it('a server that accepts and closes at once is not redialed at once: the replacement waits like a failed attempt, and still comes', async () => {
    const s = await bookServer();
    s.server.on('connection', (t: Transport) => t.destroy());
    const { pool: p, events } = pool(s.endpoint, { min: 1, max: 1 });
    await waitFor(() => events.evicts.length >= 1, 'the first eviction');
    // A few loop turns: room for many connect/accept/close rounds if the replacement is not held back.
    for (let i = 0; i < 20; i++) await tick();
    expect(s.peers.length).toBe(1);
    expect(p.stats).toMatchObject({ size: 0, created: 1, destroyed: 1 });
    await waitFor(() => s.peers.length >= 2, 'the replacement');
  });
});

describe('shared send()', () => {
  it('spreads frames over the connections by fewest buffered bytes; each arrives exactly once', async () => {
    const s = await bookServer();
    const { pool: p } = pool(s.endpoint, { min: 3, max: 3 });
    await waitFor(() => s.peers.length === 3 && p.stats.size === 3, '3 connections');
    const n = 300;
    // Equal frames sent in one turn: each send() raises its connection's buffered bytes, so the next
    // goes to another, and the three share them exactly.
    for (let i = 0; i < n; i++) expect(p.send(`frame ${String(i).padStart(4, '0')}`)).toBe(true);
    await waitFor(() => s.frames().length === n, `${n} frames at the server`);
    expect(s.peers.map((x) => x.frames.length)).toEqual([100, 100, 100]);
    const got = s.frames().map(String).sort();
    expect(got).toEqual(Array.from({ length: n }, (_, i) => `frame ${String(i).padStart(4, '0')}`));
    // Each connection got its share in order.
    for (const peer of s.peers) {
      const nums = peer.frames.map((f) => Number(String(f).slice(6)));
      expect(nums).toEqual([...nums].sort((x, y) => x - y));
    }
  });

  it('skips a connection whose peer stopped reading while its frames are still buffered', async () => {
    const s = await bookServer();
    const { pool: p } = pool(s.endpoint, { min: 3, max: 3 });
    await waitFor(() => s.peers.length === 3 && p.stats.size === 3, '3 connections');
    const slow = await p.acquire();
    slow.send('slow');
    await waitFor(() => s.frames().length === 1, "the server to get 'slow'");
    const slowPeer = s.peerWith('slow');
    slowPeer.t.pause();
    // Far more than the socket buffers hold: most of it stays buffered on our side.
    slow.send(Buffer.alloc(4 * 1024 * 1024, 7));
    await tick();
    expect(slow.stats.bufferedBytes).toBeGreaterThan(0);
    for (let i = 0; i < 100; i++) p.send(`shared ${i}`);
    await waitFor(() => s.frames().length === 101, 'the 100 shared frames');
    expect(slowPeer.frames.length).toBe(1);
    expect(s.peers.filter((x) => x !== slowPeer).map((x) => x.frames.length)).toEqual([50, 50]);
    slowPeer.t.resume();
    await p.drain();
    expect(slow.stats.bufferedBytes).toBe(0);
    await waitFor(() => slowPeer.frames.length === 2, 'the large frame');
    expect(slowPeer.frames[1]!.length).toBe(4 * 1024 * 1024);
    expect(s.frames().length).toBe(102);
    p.release(slow);
  });

  it('before any connection opens, frames wait in order and all go to the first one', async () => {
    const s = await bookServer();
    const { pool: p } = pool(s.endpoint, { min: 2, max: 2 });
    // connect() resolves on a later turn: none is open yet.
    expect(p.stats.size).toBe(0);
    for (let i = 0; i < 50; i++) expect(p.send(`q${i}`)).toBe(true);
    await p.drain();
    await waitFor(() => s.frames().length === 50, '50 frames');
    const withFrames = s.peers.filter((x) => x.frames.length > 0);
    expect(withFrames.length).toBe(1);
    expect(withFrames[0]!.frames.map(String)).toEqual(Array.from({ length: 50 }, (_, i) => `q${i}`));
  });

  it('the queue holds writableHighWaterMark bytes: false when full, ERR_IPC_QUEUE_FULL past it, then drain', async () => {
    const s = await bookServer();
    const { pool: p } = pool(s.endpoint, { min: 1, max: 1, writableHighWaterMark: 1024 });
    let drains = 0;
    p.on('drain', () => drains++);
    expect(p.send(Buffer.alloc(1000, 1))).toBe(true);
    expect(p.send(Buffer.alloc(24, 2))).toBe(false);
    expect(() => p.send('x')).toThrow(expect.objectContaining({ code: 'ERR_IPC_QUEUE_FULL' }));
    await waitFor(() => s.frames().length === 2, 'the 2 queued frames');
    expect(s.frames().map((f) => f.length)).toEqual([1000, 24]);
    expect(drains).toBe(1);
    // With a connection open, frames go straight to it.
    expect(p.send('y')).toBe(true);
    await waitFor(() => s.frames().length === 3, 'the third frame');
  });

  it("frames still queued at close() are each reported as 'drop' with reason 'closed', and drain() rejects", async () => {
    // Nobody listens on this endpoint: the pool never gets a connection, so its queue never empties.
    const { pool: p } = pool(tempSockets('sipc-pool-').sock(), { min: 1, max: 1 });
    p.on('connectError', () => {});
    const dropped: [string, string][] = [];
    p.on('drop', (f: Buffer, reason: string) => dropped.push([f.toString(), reason]));
    p.send('q0');
    p.send(Buffer.from('q1'));
    const drained = p.drain();
    await p.close();
    expect(dropped).toEqual([
      ['q0', 'closed'],
      ['q1', 'closed'],
    ]);
    await expect(drained).rejects.toMatchObject({ code: 'ERR_IPC_CLOSED', unsent: 2 });
  });

  it('a queued frame larger than maxFrameSize is refused at the call', async () => {
    const s = await bookServer();
    const { pool: p } = pool(s.endpoint, { min: 1, maxFrameSize: 10 });
    expect(() => p.send('01234567890')).toThrow(expect.objectContaining({ code: 'ERR_IPC_FRAME_TOO_LARGE' }));
    expect(() => p.send(42 as unknown as string)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
  it('with min 0, a frame sent while no connection is open opens one and is delivered', async () => {
    const s = await bookServer();
    const { pool: p } = pool(s.endpoint, { min: 0, max: 2 });
    expect(p.send('a')).toBe(true);
    expect(p.send('b')).toBe(true);
    await waitFor(() => s.frames().length === 2, `the 2 frames at the server (pool ${JSON.stringify(p.stats)})`);
    await withTimeout(p.drain(), () => 'drain()');
    expect(s.frames().map(String)).toEqual(['a', 'b']);
    expect(s.peers.length).toBe(1);
  });

  it("'drain' after send() returned false comes once the connection that returned false broke and was replaced", async () => {
    const s = await bookServer();
    const { pool: p, events } = pool(s.endpoint, { min: 1, max: 1 });
    let drains = 0;
    p.on('drain', () => drains++);
    await settled(p, 1);
    await waitFor(() => s.peers.length === 1, 'the server to accept');
    s.peers[0]!.t.pause();
    const frame = Buffer.alloc(64 * 1024, 1);
    let sent = 0;
    while (p.send(frame)) {
      sent++;
      expect(sent).toBeLessThan(1000);
    }
    expect(drains).toBe(0);
    // The peer goes away with our frames still buffered: that connection will never drain.
    s.peers[0]!.t.destroy();
    await waitFor(() => events.evicts.length === 1 && p.stats.size === 1 && s.peers.length === 2, `the replacement (pool ${JSON.stringify(p.stats)})`);
    for (let i = 0; i < 5; i++) await tick();
    expect(events.evicts.map((e) => e.reason)).toEqual(['error']);
    expect(drains).toBe(1);
    // The writer goes on, on the new connection.
    expect(p.send('after')).toBe(true);
    await waitFor(() => s.peers[1]!.frames.length === 1, "'after' at the server");
    expect(String(s.peers[1]!.frames[0])).toBe('after');
  });
});

describe('idleTimeout and maxLifetime', () => {
  it('idleTimeout closes idle connections beyond min', async () => {
    const s = await bookServer();
    const { pool: p, events } = pool(s.endpoint, { min: 1, max: 3, idleTimeout: 50 });
    const ts = await Promise.all([p.acquire(), p.acquire(), p.acquire()]);
    expect(p.stats).toMatchObject({ size: 3, created: 3 });
    for (const t of ts) p.release(t);
    await waitFor(() => events.evicts.length === 2, '2 idle evictions');
    expect(events.evicts.map((e) => e.reason)).toEqual(['idleTimeout', 'idleTimeout']);
    await waitFor(() => s.open().length === 1, 'the server to see 2 connections end');
    // The last one is min: it stays, however long it idles.
    await sleep(150);
    expect(events.evicts.length).toBe(2);
    expect(p.stats).toMatchObject({ size: 1, idle: 1, created: 3, destroyed: 2 });
    expect(s.peers.length).toBe(3);
  });

  it('maxLifetime retires an idle connection at once and a borrowed one at release, replacing both', async () => {
    const s = await bookServer();
    const { pool: p, events } = pool(s.endpoint, { min: 1, max: 1, maxLifetime: 60 });
    await settled(p, 1);
    const first = events.connections[0]!;
    await waitFor(() => events.evicts.length === 1, 'the first retirement');
    expect(events.evicts[0]).toEqual({ t: first, reason: 'maxLifetime' });
    await waitFor(() => events.connections.length === 2 && p.stats.size === 1, 'the replacement');
    await waitFor(() => s.peers[0]!.closed, 'the server to see the first connection end');
    const second = await p.acquire();
    expect(second).toBe(events.connections[1]);
    // Past its lifetime while borrowed: it stays with the borrower.
    await waitFor(() => Date.now() - second.stats.createdAt > 200, 'well past maxLifetime');
    expect(second.state).toBe('open');
    expect(events.evicts.length).toBe(1);
    p.release(second);
    expect(events.evicts[1]).toEqual({ t: second, reason: 'maxLifetime' });
    await waitFor(() => events.connections.length === 3 && p.stats.size === 1, 'the second replacement');
    await waitFor(() => s.peers[1]!.closed, 'the server to see the second connection end');
    expect(s.peers.slice(0, 2).every((x) => x.errors.length === 0)).toBe(true);
  });
});

describe('close()', () => {
  it('rejects waiters, closes idle connections at once and borrowed ones at release; the server sees every end', async () => {
    const s = await bookServer();
    const { pool: p, events } = pool(s.endpoint, { min: 3, max: 3 });
    await waitFor(() => s.peers.length === 3 && p.stats.size === 3, '3 connections');
    const a = await p.acquire();
    const b = await p.acquire();
    const c = await p.acquire();
    p.release(c);
    a.send('last words');
    const d = await p.acquire();
    const waiter = p.acquire();
    expect(p.stats.waiting).toBe(1);
    let resolved = false;
    const closing = p.close().then(() => (resolved = true));
    let poolClose = 0;
    p.on('close', () => poolClose++);
    expect(p.close()).toBe(p.close());
    expect(code(await rejection(waiter))).toBe('ERR_IPC_CLOSED');
    expect(code(await rejection(p.acquire()))).toBe('ERR_IPC_CLOSED');
    expect(() => p.send('x')).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
    expect(p.stats.waiting).toBe(0);
    // All three are borrowed: nothing closes until they come back.
    await sleep(20);
    expect(resolved).toBe(false);
    expect(s.open().length).toBe(3);
    p.release(a);
    await waitFor(() => s.open().length === 2, "the server to see a's end");
    expect(s.peerWith('last words').closed).toBe(true);
    p.release(b);
    p.release(d);
    await closing;
    expect(poolClose).toBe(1);
    for (const t of [a, b, d]) expect(t.state).toBe('closed');
    await waitFor(() => s.open().length === 0, 'the server to see every connection end');
    expect(s.peers.every((x) => x.errors.length === 0)).toBe(true);
    expect(p.stats).toMatchObject({ size: 0, idle: 0, inUse: 0, waiting: 0, created: 3, destroyed: 3 });
    expect(events.evicts).toEqual([]);
    await expect(p.close()).resolves.toBeUndefined();
  });

  it('waits for connection attempts in flight and closes them too', async () => {
    const s = await bookServer();
    const { pool: p } = pool(s.endpoint, { min: 4, max: 4 });
    await p.close();
    expect(p.stats).toMatchObject({ size: 0, created: 4, destroyed: 4 });
    await waitFor(() => s.peers.length === 4 && s.open().length === 0, 'the server to see 4 connections end');
  });

  it('leaves no descriptor behind', async () => {
    const s = await bookServer();
    await tick();
    const fdsListening = fdCount();
    const { pool: p } = pool(s.endpoint, { min: 2, max: 4 });
    const ts = await Promise.all([1, 2, 3, 4].map(() => p.acquire()));
    await waitFor(() => s.peers.length === 4, 'the server to accept 4 connections');
    // Each connection holds two descriptors here: ours and the server's side.
    expect(fdCount() - fdsListening).toBe(8);
    for (const t of ts) p.release(t);
    for (let i = 0; i < 20; i++) p.send(`f${i}`);
    await p.drain();
    await p.close();
    await waitFor(() => s.server.connections === 0, 'the server to drop every connection');
    await waitFor(() => fdCount() === fdsListening, `descriptors back to ${fdsListening} (now ${fdCount()})`);
    expect(s.frames().length).toBe(20);
  });
  for (const verdict of [true, false]) {
    it(`while validate is running: the acquire rejects ERR_IPC_CLOSED and the connection is closed (validate resolves ${verdict} after close)`, async () => {
      const s = await bookServer();
      let answer: ((ok: boolean) => void) | null = null;
      let checks = 0;
      const { pool: p } = pool(s.endpoint, {
        min: 1,
        max: 1,
        acquireTimeout: 0,
        validate: () => {
          checks++;
          return new Promise<boolean>((resolve) => (answer = resolve));
        },
      });
      await settled(p, 1);
      const acquiring = rejection(p.acquire());
      await waitFor(() => answer !== null, 'validate to be called');
      const closing = p.close();
      answer!(verdict);
      const err = await withTimeout(acquiring, () => 'the acquire() to settle');
      expect(code(err)).toBe('ERR_IPC_CLOSED');
      await withTimeout(closing, () => `close() to resolve (${JSON.stringify(p.stats)})`);
      expect(checks).toBe(1);
      expect(p.stats).toMatchObject({ size: 0, idle: 0, inUse: 0, waiting: 0, created: 1, destroyed: 1 });
      await waitFor(() => s.peers.length === 1 && s.peers[0]!.closed, 'the server to see the connection end');
    });
  }
});

describe('failing connection attempts', () => {
  it("are retried in the background as 'connectError' events while acquire() waits", async () => {
    const endpoint = tempSockets('sipc-pool-').sock();
    const { pool: p, events } = pool(endpoint, { min: 1, max: 1, acquireTimeout: 20_000 });
    const waiting = p.acquire();
    await waitFor(() => events.connectErrors.length >= 2, 'two failed attempts');
    expect(events.connectErrors.every((e) => code(e) === 'ENOENT')).toBe(true);
    expect(p.stats).toMatchObject({ size: 0, waiting: 1, created: 0 });
    const s = await bookServer(undefined, endpoint);
    const t = await waiting;
    expect(t.state).toBe('open');
    await waitFor(() => s.peers.length === 1, 'the server to accept');
    expect(p.stats).toMatchObject({ size: 1, inUse: 1, created: 1, waiting: 0 });
    p.release(t);
  });

  it('a factory that throws or rejects is retried the same way; its transports are pooled', async () => {
    const s = await bookServer();
    let calls = 0;
    const factory = (): Promise<Transport> => {
      calls++;
      if (calls === 1) throw new Error('sync failure');
      if (calls === 2) return Promise.reject(new Error('async failure'));
      return connect(s.endpoint);
    };
    const { pool: p, events } = pool(factory, { min: 1, max: 1 });
    const t = await p.acquire();
    expect(events.connectErrors.map((e) => e.message)).toEqual(['sync failure', 'async failure']);
    expect(calls).toBe(3);
    expect(p.stats).toMatchObject({ size: 1, created: 1 });
    p.release(t);
  });
});

describe('health', () => {
  it('a connection whose probe fails is evicted as unhealthy and replaced', async () => {
    // The server answers 'ping' with 'pong' until its side of a connection is paused.
    const s = await bookServer((f) => (String(f) === 'ping' ? 'pong' : null));
    const probe = (t: { send(f: string): boolean; once(e: string, fn: (m: Buffer) => void): unknown }): Promise<unknown> =>
      new Promise((resolve) => {
        t.once('message', resolve);
        t.send('ping');
      });
    const { pool: p, events } = pool(s.endpoint, { min: 2, max: 2, health: { interval: 10, timeout: 50, failures: 2, probe: probe as never } });
    await waitFor(() => s.peers.length === 2 && p.stats.size === 2, '2 connections');
    await waitFor(() => s.peers.every((x) => x.frames.length > 0), 'probes at both connections');
    s.peers[0]!.t.pause();
    await waitFor(() => events.evicts.length === 1, 'an eviction');
    expect(events.evicts[0]).toEqual({ t: events.connections[0], reason: 'unhealthy' });
    await waitFor(() => s.peers.length === 3 && p.stats.size === 2, 'the replacement');
    expect(events.evicts.length).toBe(1);
    expect(p.stats).toMatchObject({ created: 3, destroyed: 1 });
  });
  it('send() while the only connection is borrowed and unhealthy opens another connection (within max) for the queued frames', async () => {
    const s = await bookServer();
    let bad: Transport | null = null;
    let badProbes = 0;
    const { pool: p } = pool(s.endpoint, {
      min: 1,
      max: 2,
      health: {
        interval: 10,
        failures: 1,
        probe: async (t) => {
          if (t !== bad) return;
          badProbes++;
          throw new Error('no answer');
        },
      },
    });
    await settled(p, 1);
    bad = await p.acquire();
    // The second probe starts only after the first one failed: by then the pool knows it is unhealthy.
    await waitFor(() => badProbes >= 2, 'two failed probes');
    expect(p.send('x')).toBe(true);
    await waitFor(() => s.frames().length === 1, `'x' at the server (pool ${JSON.stringify(p.stats)})`);
    expect(String(s.frames()[0])).toBe('x');
    expect(s.peers.length).toBe(2);
    expect(s.peers[0]!.frames.length).toBe(0);
    p.release(bad);
  });
});

describe('process lifetime', () => {
  it("a ref'd pool keeps the process alive while it waits to replace a connection the server closed", async () => {
    const s = await bookServer();
    let first = true;
    s.server.on('connection', (t: Transport) => {
      if (first) t.destroy();
      first = false;
    });
    const script = `
      const { createPool } = require(${JSON.stringify(DIST_CJS)});
      const pool = createPool(${JSON.stringify(s.endpoint)}, { min: 1, max: 1 });
      let n = 0;
      pool.on('connection', () => {
        if (++n === 2) pool.close().then(() => console.log('replaced'));
      });
    `;
    const r = await runNode(['-e', script]);
    expect(r.killed).toBe(false);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('replaced');
    expect(s.peers.length).toBe(2);
  });
});

describe('unref()', () => {
  it('lets the process exit with the pool open (idle timers and connections alike)', async () => {
    const s = await bookServer();
    const script = `
      const { createPool } = require(${JSON.stringify(DIST_CJS)});
      const pool = createPool(${JSON.stringify(s.endpoint)}, { min: 2, max: 2 });
      pool.use(async (t) => t.send('hello')).then(() => { pool.unref(); console.log('unref', JSON.stringify(pool.stats)); });
    `;
    const r = await runNode(['-e', script]);
    expect(r.killed).toBe(false);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^unref .*"size":2/);
    await waitFor(() => s.peers.length === 2 && s.open().length === 0, 'the server to see both connections end');
    expect(s.frames().map(String)).toEqual(['hello']);
  });
});

describe('options', () => {
  const ep = (): string => `unix:${path.join('/tmp', 'sipc-pool-never.sock')}`;
  it.each([
    [{ min: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ min: 1.5 }, 'ERR_OUT_OF_RANGE'],
    [{ max: 0 }, 'ERR_OUT_OF_RANGE'],
    [{ min: 5, max: 2 }, 'ERR_OUT_OF_RANGE'],
    [{ max: '3' }, 'ERR_INVALID_ARG_TYPE'],
    [{ idleTimeout: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ maxLifetime: 2 ** 31 }, 'ERR_OUT_OF_RANGE'],
    [{ acquireTimeout: NaN }, 'ERR_OUT_OF_RANGE'],
    [{ maxWaiting: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ validate: true }, 'ERR_INVALID_ARG_TYPE'],
    [{ health: 'yes' }, 'ERR_INVALID_ARG_TYPE'],
    [{ health: { interval: 0, probe: async () => {} } }, 'ERR_OUT_OF_RANGE'],
    [{ health: { often: true } }, 'ERR_INVALID_ARG_VALUE'],
    // The default probe is a ping: without heartbeat every connection would fail to be monitored.
    [{ health: true }, 'ERR_INVALID_ARG_VALUE'],
    [{ bogus: 1 }, 'ERR_INVALID_ARG_VALUE'],
    [{ framing: 'xml' }, 'ERR_INVALID_ARG_VALUE'],
    [{ connectTimeout: 0 }, 'ERR_OUT_OF_RANGE'],
  ])('%o throws %s', (options, expected) => {
    expect(() => createPool(ep(), options as never)).toThrow(expect.objectContaining({ code: expected }));
  });

  it('refuses a bad endpoint, non-object options, and connect() options next to a factory', () => {
    expect(() => createPool(42 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => createPool(ep(), 'x' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => createPool(() => connect(ep()), { framing: 'lines' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('accepts maxWaiting Infinity, min 0 and health false (and opens nothing with min 0)', async () => {
    let calls = 0;
    const p = createPool(
      () => {
        calls++;
        return Promise.reject(new Error('never called'));
      },
      { min: 0, maxWaiting: Infinity, health: false },
    );
    await tick();
    expect(calls).toBe(0);
    await p.close();
  });
});
