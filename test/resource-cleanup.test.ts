// Resource cleanup of what outlives one connection: reconnecting transports, resumable sessions, pools
// and health monitors. Thousands of open/send/close cycles in a child process end with the descriptor
// count they started with, flat memory and every transport collectable; close() is idempotent; timers
// never keep a process alive once everything is closed, while an open reconnecting transport does
// (unless unref'd, and then what it still had queued is reported dropped at exit); a worker that ends
// and a process that exits with all of it open leave nothing open at the server.
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { createPool, listen, reconnecting, spawnStdio, type Server, type ServerSession, type Transport } from '../dist/index.js';
import { LineChild, cleanupAll, fdCount, killChildren, onCleanup, runNode, tick, waitFor } from './helpers/common';
import { DIST_CJS, HELPERS, tempSockets } from './helpers/lifetime-util';

const CHILD = path.join(HELPERS, 'cleanup-child.cjs');
const WORKER = path.join(HELPERS, 'cleanup-worker.cjs');

afterEach(async () => {
  killChildren();
  await cleanupAll();
});

const sockets = () => tempSockets('sipc-cu-');

// --expose-gc: figures are taken after a full collection. A 1 MiB young generation: V8 otherwise grows
// it to tens of MiB over the first thousands of cycles, which shows in RSS as growth that is not ours.
const MEASURED = ['--expose-gc', '--max-semi-space-size=1'];

function runChild(mode: string, args: string[], safetyMs = 15_000) {
  return runNode([...MEASURED, CHILD, DIST_CJS, mode, sockets().dir, ...args], { safetyMs });
}

interface Figures {
  at: number;
  fds: number;
  rss: number;
  heap: number;
  frames: number;
  accepted: number;
  closes: number;
  clientCloses: number;
  clientErrors: number;
  serverErrors: number;
  drops: number;
}

// Leak checks with generous margins, not timings: one leaked transport per cycle would cost far more.
const HEAP_GROWTH_MIB = 4;
const RSS_GROWTH_MIB = 32;
// Under the sanitizer build (npm run test:asan, which names its addon in SYMPHONY_IPC_ADDON) freed
// memory waits in AddressSanitizer's quarantine, so RSS grows whatever the code does; there, leaks of
// native memory are LeakSanitizer's to find, and heap and descriptors are still checked here.
const RSS_MEANINGFUL = process.env.SYMPHONY_IPC_ADDON === undefined;

describe('open/send/close cycles leave no descriptor and no memory behind (measured in a child process)', () => {
  // kind, cycles, cycles side by side. A resumable client's close() waits for the server's
  // acknowledgement of its frame (a round trip more than a plain close), so resume cycles run 20 at a
  // time, which also has sessions overlap on the server.
  const cases = [
    ['reconnecting', 'reconnecting(ep) to a plain server', 1],
    ['heartbeat', 'connect(ep, { heartbeat: true }) to a heartbeat server', 1],
    ['resume', 'reconnecting(ep, { resume: true }) to a resume server, 20 at a time', 20],
  ] as const;
  for (const [kind, what, atATime] of cases) {
    it(`10,000 cycles of ${what}`, async () => {
      const n = 10_000;
      const r = await runChild('cycles', [kind, String(n), String(atATime)], 60_000);
      expect(r.killed, r.stderr).toBe(false);
      expect(r.stderr).toBe('');
      const lines = r.stdout.trim().split('\n');
      expect(lines.length, r.stdout).toBe(5);
      const [start, warm, end] = lines.slice(0, 3).map((l) => JSON.parse(l) as Figures);
      console.log(`${kind}: descriptors ${start!.fds}/${warm!.fds}/${end!.fds}, heap ${warm!.heap} -> ${end!.heap} MiB, RSS ${warm!.rss} -> ${end!.rss} MiB (cycle 1,000 -> 10,000)`);
      expect([start!.at, warm!.at, end!.at]).toEqual([1, 1000, n]);
      // Every cycle's frame arrived, each connection (or session) ended on both sides, without an error.
      expect(end).toMatchObject({ frames: n, accepted: n, closes: n, clientCloses: n, clientErrors: 0, serverErrors: 0, drops: 0 });
      expect(warm!.fds).toBe(start!.fds);
      expect(end!.fds).toBe(start!.fds);
      expect(end!.heap).toBeLessThan(warm!.heap + HEAP_GROWTH_MIB);
      if (RSS_MEANINGFUL) expect(end!.rss).toBeLessThan(warm!.rss + RSS_GROWTH_MIB);
      // The listening socket was the last descriptor of ours.
      expect(lines[3]).toBe(`server closed ${start!.fds - 1}`);
      // Every transport of either side, once closed and dropped, was garbage-collected.
      expect(lines[4]).toBe(`collected ${2 * n} of ${2 * n}`);
      // And nothing kept the process alive afterwards.
      expect(r.code).toBe(0);
    }, 70_000);
  }

  it('a pool (min 2, max 4): 2,000 borrows, some connections destroyed and replaced, then close()', async () => {
    const n = 2000;
    const r = await runChild('pool', [String(n)], 30_000);
    expect(r.killed, r.stderr).toBe(false);
    expect(r.stderr).toBe('');
    const report = JSON.parse(r.stdout.trim()) as {
      before: { fds: number; heap: number };
      after: { fds: number; heap: number };
      frames: number;
      accepted: number;
      closes: number;
      serverErrors: number;
      validations: number;
      evicts: Record<string, number>;
      open: { size: number; created: number };
      closed: { size: number; created: number; destroyed: number };
    };
    console.log(`pool: descriptors ${report.before.fds} -> ${report.after.fds}, heap ${report.before.heap} -> ${report.after.heap} MiB, ${report.closed.created} connections`);
    expect(report.frames).toBe(n);
    expect(report.serverErrors).toBe(0);
    // Every 100th validation failed: that many connections were destroyed and replaced.
    expect(report.evicts).toEqual({ invalid: Math.floor(report.validations / 100) });
    expect(report.open.size).toBeGreaterThanOrEqual(2);
    expect(report.open.size).toBeLessThanOrEqual(4);
    expect(report.closed).toMatchObject({ size: 0, created: report.accepted, destroyed: report.accepted });
    expect(report.closes).toBe(report.accepted);
    expect(report.after.fds).toBe(report.before.fds);
    expect(r.code).toBe(0);
  }, 40_000);
});

describe('close() is idempotent', () => {
  /**
   * Three close() calls give one promise, and once it resolved a fourth still gives it; returns a
   * count of the 'close' events, for the caller to check once nothing more can come.
   */
  async function closeThrice(t: { close(): Promise<void>; on(event: 'close', fn: () => void): unknown }): Promise<() => number> {
    let closes = 0;
    t.on('close', () => closes++);
    const first = t.close();
    expect(t.close()).toBe(first);
    expect(t.close()).toBe(first);
    await first;
    await tick();
    expect(t.close()).toBe(first);
    await t.close();
    await tick();
    return () => closes;
  }

  it('ReconnectingTransport, connected or still connecting; destroy() afterwards changes nothing', async () => {
    const endpoint = sockets().sock();
    const server = await listen(endpoint);
    onCleanup(() => server.close());
    const t = reconnecting(endpoint);
    onCleanup(() => t.destroy());
    await new Promise((resolve) => t.once('connect', resolve));
    const closes = await closeThrice(t);
    t.destroy();
    await tick();
    expect(closes()).toBe(1);
    expect(t.state).toBe('closed');

    // Closed in the tick it was made, before its first dial.
    const early = reconnecting(endpoint);
    onCleanup(() => early.destroy());
    let connects = 0;
    early.on('connect', () => connects++);
    const earlyCloses = await closeThrice(early);
    expect(earlyCloses()).toBe(1);
    expect(connects).toBe(0);
    await waitFor(() => server.connections === 0, 'the server to see the connection end');
  });

  it('ServerSession (and its client, told by the bye)', async () => {
    const endpoint = sockets().sock();
    const server = await listen(endpoint, { resume: true });
    onCleanup(() => server.close());
    const accepted = new Promise<ServerSession>((resolve) => server.once('connection', resolve));
    const client = reconnecting(endpoint, { resume: true });
    onCleanup(() => client.destroy());
    let clientCloses = 0;
    client.on('close', () => clientCloses++);
    const session = await accepted;
    const closes = await closeThrice(session);
    expect(session.state).toBe('closed');
    expect(server.connections).toBe(0);
    await waitFor(() => client.state === 'closed', 'the client to close after the bye');
    await tick();
    expect(closes()).toBe(1);
    expect(clientCloses).toBe(1);
  });

  it('Pool', async () => {
    const endpoint = sockets().sock();
    const server = await listen(endpoint);
    onCleanup(() => server.close());
    const pool = createPool(endpoint, { min: 2, max: 4 });
    onCleanup(() => pool.close());
    await waitFor(() => pool.stats.size === 2 && server.connections === 2, 'the pool to open 2 connections');
    const closes = await closeThrice(pool);
    expect(closes()).toBe(1);
    expect(pool.stats).toMatchObject({ size: 0, created: 2, destroyed: 2 });
    await waitFor(() => server.connections === 0, 'the server to see both connections end');
  });

  it('spawnStdio(..., { restart: true })', async () => {
    const t = spawnStdio(process.execPath, ['-e', 'process.stdin.pipe(process.stdout)'], { restart: true });
    onCleanup(() => t.destroy());
    const echoed = new Promise<string>((resolve) => t.once('message', (m: Buffer) => resolve(m.toString())));
    t.send('echo me');
    expect(await echoed).toBe('echo me');
    const closes = await closeThrice(t);
    expect(closes()).toBe(1);
    expect(t.state).toBe('closed');
    expect(t.stats.reconnects).toBe(0);
  });
});

describe('timers and process lifetime (child processes)', () => {
  it('closing a reconnecting transport, a pool, a monitored transport and a restarting child lets the process end by itself', async () => {
    const r = await runChild('close-all', []);
    expect(r.killed, r.stdout).toBe(false);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['frames 3', 'echo from stdio', 'closed closed true closed closed 0', 'exit 0']);
    expect(r.code).toBe(0);
  });

  for (const queued of [0, 3]) {
    it(`an open reconnecting transport whose server is gone, with ${queued} frames queued, keeps the process alive`, async () => {
      const c = new LineChild(process.execPath, [CHILD, DIST_CJS, 'disconnected', sockets().dir, 'ref', String(queued)], { stdin: 'ignore' });
      const seen = (e: Error) => new Error(`${e.message}; stdout ${JSON.stringify(c.lines)}; stderr ${c.stderr}`);
      await c.line(`disconnected open ${queued}`).catch((e: Error) => Promise.reject(seen(e)));
      // Still dialing: only the transport is left to hold the loop (the server is closed).
      await c.line('reconnecting 5').catch((e: Error) => Promise.reject(seen(e)));
      expect(c.exit).toBeNull();
      c.kill();
      await c.done();
      expect(c.stderr).toBe('');
      expect(c.lines.filter((l) => !l.startsWith('reconnecting'))).toEqual([`disconnected open ${queued}`]);
    });

    it(`unref()'d, it lets the process end by itself; each of its ${queued} queued frames is a 'drop' with reason 'exit'`, async () => {
      const r = await runChild('disconnected', ['unref', String(queued)]);
      expect(r.killed, r.stdout).toBe(false);
      expect(r.stderr).toBe('');
      // An attempt whose timer was due before the loop emptied may or may not have been reported.
      const lines = r.stdout
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('reconnecting'));
      const drops = Array.from({ length: queued }, (_, i) => `drop exit queued ${i}`);
      expect(lines).toEqual([`disconnected open ${queued}`, ...drops, 'exit 0 open']);
      expect(r.code).toBe(0);
    });
  }
});

/** A server listening with resume (and so heartbeat), keeping books on every connection or session. */
async function bookServer(resumeTimeout: number) {
  const endpoint = sockets().sock();
  const server: Server = await listen(endpoint, { resume: true, resumeTimeout });
  onCleanup(() => server.close());
  const seen: { kind: string; events: string[] }[] = [];
  let frames = 0;
  server.on('connection', (t: Transport | ServerSession) => {
    const entry = { kind: 'sessionId' in t ? 'session' : 'transport', events: [] as string[] };
    seen.push(entry);
    t.on('message', () => frames++);
    t.on('disconnect', () => entry.events.push('disconnect'));
    t.on('error', (e: Error & { code?: string }) => entry.events.push(`error ${e.code}`));
    t.on('close', () => entry.events.push('close'));
  });
  return { server, endpoint, seen, frames: () => frames };
}

/**
 * What the server must have seen from a client that went away with a resumable session, a pool of two
 * heartbeat connections and a heartbeat transport open: each heartbeat connection closed (no error);
 * the session lost its connection, then expired; nothing is left open.
 */
async function expectAllEnded(b: Awaited<ReturnType<typeof bookServer>>): Promise<void> {
  await waitFor(() => b.server.connections === 0, `the server to see every connection end (${b.server.connections} open)`);
  const sorted = [...b.seen].sort((x, y) => x.kind.localeCompare(y.kind));
  expect(sorted).toEqual([
    { kind: 'session', events: ['disconnect', 'close'] },
    { kind: 'transport', events: ['close'] },
    { kind: 'transport', events: ['close'] },
    { kind: 'transport', events: ['close'] },
  ]);
}

describe('a worker thread that ends with everything open', () => {
  for (const mode of ['terminate', 'exit', 'unref'] as const) {
    const how = { terminate: 'is terminated', exit: 'calls process.exit(0)', unref: "unrefs it all and returns" }[mode];
    it(`${how}: the server sees every connection end, and the descriptors come back`, async () => {
      // A short resumeTimeout: a session whose client vanished lingers that long by design.
      const b = await bookServer(200);
      await tick();
      const fdsBefore = fdCount();
      const worker = new Worker(WORKER, { workerData: { dist: DIST_CJS, endpoint: b.endpoint, mode } });
      onCleanup(() => worker.terminate());
      const messages: unknown[] = [];
      const errors: Error[] = [];
      worker.on('message', (m) => messages.push(m));
      worker.on('error', (e) => errors.push(e));
      const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
      await waitFor(() => messages.length > 0 || errors.length > 0, "the worker's report");
      expect(errors).toEqual([]);
      expect(messages).toEqual([{ type: 'open', states: ['open', 2, 'open', true] }]);
      // 'exit' sends two more frames in the tick it exits in.
      const frames = mode === 'exit' ? 5 : 3;
      await waitFor(() => b.frames() >= 3, 'the first three frames at the server');

      if (mode === 'terminate') expect(await worker.terminate()).toBe(1);
      else expect(await exited).toBe(0);
      expect(errors).toEqual([]);
      await expectAllEnded(b);
      expect(b.frames()).toBe(frames);
      await waitFor(() => fdCount() === fdsBefore, `descriptors back to ${fdsBefore} (now ${fdCount()})`);
    });
  }
});

describe('process.exit() with everything open', () => {
  it('exits at once with code 0, reports the queued frames dropped, and the server sees every connection end', async () => {
    const b = await bookServer(200);
    const r = await runNode([CHILD, DIST_CJS, 'exit-open', sockets().dir, b.endpoint]);
    expect(r.killed, r.stdout).toBe(false);
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['open open 2 open 2', 'drop exit lost 0', 'drop exit lost 1', 'exit 0']);
    expect(r.code).toBe(0);
    await expectAllEnded(b);
    // Frames sent before the exit, even in its own tick, are not lost with it.
    expect(b.frames()).toBe(5);
  });
});
