// Review of the pool: an acquire whose validation is still running when the pool closes, frames given
// to send() on a pool with min 0, the pool's 'drain' after the connection that applied backpressure
// broke, stats.waiting after a timeout during validation, and queued frames while the only connection
// is borrowed and unhealthy, a server that accepts and closes at once, and the process lifetime while
// a closed connection waits for its replacement. Real servers from listen(); counts are exact, waits
// are safety nets only.
import { afterEach, describe, expect, it } from 'vitest';
import type { Transport } from '../dist/index.js';
import { cleanupAll, code, runNode, tick, waitFor, withTimeout } from './helpers/common';
import { DIST_CJS } from './helpers/lifetime-util';
import { bookServer, pool, settled } from './helpers/pool-util';

afterEach(cleanupAll);

const rejection = async (p: Promise<unknown>): Promise<unknown> => p.then(() => new Error('expected a rejection'), (e: unknown) => e);

describe('pool: close() while validate is running', () => {
  for (const verdict of [true, false]) {
    it(`the acquire rejects ERR_IPC_CLOSED and the connection is closed (validate resolves ${verdict} after close)`, async () => {
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

describe('pool: send() with min 0', () => {
  it('a frame sent while no connection is open opens one and is delivered', async () => {
    const s = await bookServer();
    const { pool: p } = pool(s.endpoint, { min: 0, max: 2 });
    expect(p.send('a')).toBe(true);
    expect(p.send('b')).toBe(true);
    await waitFor(() => s.frames().length === 2, `the 2 frames at the server (pool ${JSON.stringify(p.stats)})`);
    await withTimeout(p.drain(), () => 'drain()');
    expect(s.frames().map(String)).toEqual(['a', 'b']);
    expect(s.peers.length).toBe(1);
  });
});

describe("pool: 'drain' after send() returned false", () => {
  it('comes once the connection that returned false broke and was replaced', async () => {
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

describe('pool: stats.waiting', () => {
  it('an acquire that timed out while validate ran no longer counts as waiting', async () => {
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

describe('pool: send() while the only connection is borrowed and unhealthy', () => {
  it('opens another connection (within max) for the queued frames', async () => {
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

describe('pool: a server that accepts and closes at once', () => {
  it('is not redialed at once: the replacement waits like a failed attempt, and still comes', async () => {
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

describe('pool: process lifetime across a dropped connection', () => {
  it('a ref\'d pool keeps the process alive while it waits to replace a connection the server closed', async () => {
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
