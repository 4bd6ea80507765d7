// reconnecting() without resume: a server killed and restarted mid-stream, the events of each outage,
// giving up and aborting, the queue's bounds while disconnected, a reconnect storm spread by jitter,
// process lifetime, close() while disconnected or with an attempt in flight, bad options, and a factory as the target. Frames are
// numbered (first four bytes) and counted one by one at the receiving end.
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, listen, reconnecting, type ReconnectingTransport, type Server, type Transport } from '../dist/index.js';
import { LineChild, WAIT_MS, cleanupAll, code, killChildren, listenAt, onCleanup, runNode, sleep, tick, waitFor } from './helpers/common';
import { DIST_CJS, HELPERS, numbered, tempSockets } from './helpers/lifetime-util';

const SERVER = path.join(HELPERS, 'reconnect-server.cjs');
const CHILD = path.join(HELPERS, 'reconnect-child.cjs');

afterEach(async () => {
  killChildren();
  await cleanupAll();
});

const sockets = () => tempSockets('sipc-rc-');
const closedError = expect.objectContaining({ code: 'ERR_IPC_CLOSED' });
const queueFull = expect.objectContaining({ code: 'ERR_IPC_QUEUE_FULL' });

/** [from, from + 1, ..., to - 1] */
function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
}

interface Watched {
  /** Every event in order: 'connect', 'disconnect <code|null>', 'reconnecting <n>', 'reconnect <n>', 'drop <reason> <frame>', 'error <code>', 'close'. */
  log: string[];
  connects: number;
  disconnects: (Error | null)[];
  reconnecting: { attempt: number; delay: number; cause: Error | null }[];
  reconnects: number[];
  drops: { frame: Buffer; reason: string }[];
  errors: Error[];
  closes: number;
}

/** Records every event of a reconnecting transport; destroys it at cleanup. */
function watch(r: ReconnectingTransport): Watched {
  const w: Watched = { log: [], connects: 0, disconnects: [], reconnecting: [], reconnects: [], drops: [], errors: [], closes: 0 };
  r.on('connect', () => {
    w.connects++;
    w.log.push('connect');
  });
  r.on('disconnect', (cause: Error | null) => {
    w.disconnects.push(cause);
    w.log.push(`disconnect ${cause === null ? 'null' : (code(cause) ?? cause.message)}`);
  });
  r.on('reconnecting', (attempt: number, delay: number, cause: Error | null) => {
    w.reconnecting.push({ attempt, delay, cause });
    w.log.push(`reconnecting ${attempt}`);
  });
  r.on('reconnect', (attempt: number) => {
    w.reconnects.push(attempt);
    w.log.push(`reconnect ${attempt}`);
  });
  r.on('drop', (frame: Buffer, reason: string) => {
    w.drops.push({ frame, reason });
    w.log.push(`drop ${reason} ${frame.readUInt32BE(0)}`);
  });
  r.on('error', (err: Error) => {
    w.errors.push(err);
    w.log.push(`error ${code(err)}`);
  });
  r.on('close', () => {
    w.closes++;
    w.log.push('close');
  });
  onCleanup(() => r.destroy());
  return w;
}

/** An in-process server recording the number of every frame it receives, over all its connections. */
async function serve(endpoint: string): Promise<{ server: Server; got: number[]; conns: Transport[] }> {
  const server = await listenAt(endpoint);
  const got: number[] = [];
  const conns: Transport[] = [];
  server.on('connection', (t: Transport) => {
    conns.push(t);
    t.on('error', () => {});
    t.on('message', (m: Buffer) => got.push(m.readUInt32BE(0)));
  });
  return { server, got, conns };
}

/** The frame numbers a reconnect-server.cjs process printed. */
function framesOf(child: LineChild): number[] {
  return child.lines.filter((l) => l.startsWith('f ')).map((l) => Number(l.slice(2)));
}

function serverProcess(endpoint: string, pauseAt?: number): LineChild {
  return new LineChild(process.execPath, [SERVER, DIST_CJS, endpoint, ...(pauseAt === undefined ? [] : [String(pauseAt)])], { stdin: 'ignore' });
}

describe('a server killed and restarted mid-stream', () => {
  it('frames sent while it was down and frames still in our write queue all reach the new server, in order, once', async () => {
    const SIZE = 1024;
    const WIRE = SIZE + 4; // length-prefixed: a 4-byte header per frame
    const PAUSE_AT = 99;
    const ep = sockets().sock();
    const first = serverProcess(ep, PAUSE_AT);
    await first.line('listening');

    const r = reconnecting(ep, { initialDelay: 20, maxDelay: 200 });
    const w = watch(r);
    await waitFor(() => w.connects === 1, "'connect'");
    let sent = 0;
    const send = (): boolean => r.send(numbered(sent++, SIZE));
    while (sent <= PAUSE_AT) send();
    await first.line('paused');

    // The server reads no more: fill the kernel's buffers until our own write queue holds frames.
    const conn = r.connection!;
    while (conn.stats.bufferedBytes < 128 * 1024) {
      if (sent > 100_000) throw new Error(`the write queue stayed empty after ${sent} frames to a server that does not read`);
      for (let i = 0; i < 32; i++) send();
      await tick();
    }
    // Nothing can move now until the kill: what is buffered here never reached the OS.
    await sleep(20);
    const atKill = { sent, buffered: conn.stats.bufferedBytes, queued: r.stats.queuedFrames };
    expect(atKill.buffered).toBeGreaterThan(0);
    const unwritten = Math.floor(atKill.buffered / WIRE) + atKill.queued;
    expect(unwritten).toBeGreaterThan(0);
    first.kill();
    await first.exited;

    await waitFor(() => w.disconnects.length === 1, "'disconnect'");
    expect(r.connected).toBe(false);
    // The frames the dead connection never wrote went back to our queue.
    expect(r.stats.queuedFrames).toBeGreaterThanOrEqual(unwritten);

    // Frames sent while the server is down are queued; let a few attempts fail before it comes back.
    for (let i = 0; i < 300; i++) send();
    await waitFor(() => w.reconnecting.length >= 3, 'three reconnect attempts');
    expect(r.connected).toBe(false);
    const second = serverProcess(ep);
    await second.line('listening');
    await waitFor(() => w.reconnects.length === 1, "'reconnect'");
    for (let i = 0; i < 100; i++) send();
    const total = sent;
    await waitFor(() => second.lines.includes(`f ${total - 1}`), `frame ${total - 1} at the restarted server`, {
      hopeless: () => (second.exit !== null ? `it exited: ${second.stderr}` : null),
    });

    const got1 = framesOf(first);
    const got2 = framesOf(second);
    // The first server got a prefix; the second a contiguous run ending at the last frame, each once.
    expect(got1).toEqual(range(0, got1.length));
    expect(got1.length).toBeGreaterThan(PAUSE_AT);
    const resumedAt = got2[0]!;
    expect(got2).toEqual(range(resumedAt, total));
    expect(resumedAt).toBeGreaterThanOrEqual(got1.length);
    // The frames lost in between are only ones the OS had taken: every frame that was still in our
    // write queue at the kill, and every later one, arrived.
    expect(resumedAt).toBeLessThanOrEqual(atKill.sent - unwritten);

    expect(w.connects).toBe(1);
    expect(w.reconnects).toEqual([w.reconnecting.length]);
    expect(w.log[1]).toMatch(/^disconnect /);
    expect(w.log).toEqual(['connect', w.log[1], ...w.reconnecting.map((e) => `reconnecting ${e.attempt}`), `reconnect ${w.reconnecting.length}`]);
    expect(w.errors).toEqual([]);
    expect(w.drops).toEqual([]);
    expect(r.stats.reconnects).toBe(1);
    expect(r.stats.framesOut).toBe(total);
  });
});

describe('events', () => {
  it("'connect' once; per outage 'disconnect', 'reconnecting' with attempts 1, 2, 3... and bounded delays, then 'reconnect'", async () => {
    const ep = sockets().sock();
    const srv = await serve(ep);
    const r = reconnecting(ep, { initialDelay: 20, maxDelay: 80 });
    const w = watch(r);
    await waitFor(() => w.connects === 1, "'connect'");

    // Outage 1: our connection fails with an error; the first attempt succeeds.
    const boom = new Error('boom');
    r.connection!.destroy(boom);
    await waitFor(() => w.reconnects.length === 1, "the first 'reconnect'");
    expect(w.disconnects).toEqual([boom]);
    expect(w.reconnecting.length).toBe(1);
    expect(w.reconnecting[0]!.attempt).toBe(1);
    expect(w.reconnecting[0]!.cause).toBe(boom);
    expect(w.reconnects).toEqual([1]);
    r.send(numbered(0, 16));
    await waitFor(() => srv.got.length === 1, 'frame 0');

    // Outage 2: the server goes away (a clean end: cause null), and several attempts fail.
    await srv.server.close();
    await waitFor(() => w.reconnecting.length >= 1 + 4, 'four attempts in the second outage');
    const srv2 = await serve(ep);
    await waitFor(() => w.reconnects.length === 2, "the second 'reconnect'");
    r.send(numbered(1, 16));
    await waitFor(() => srv2.got.length === 1, 'frame 1');

    expect(w.disconnects).toEqual([boom, null]);
    const outage2 = w.reconnecting.slice(1);
    expect(outage2.map((e) => e.attempt)).toEqual(range(1, outage2.length + 1));
    expect(outage2[0]!.cause).toBeNull();
    for (const e of outage2.slice(1)) expect(['ENOENT', 'ECONNREFUSED']).toContain(code(e.cause));
    expect(w.reconnects).toEqual([1, outage2.length]);
    // Full jitter: uniform in [0, min(maxDelay, initialDelay * factor^(attempt - 1))], whole ms.
    for (const e of w.reconnecting) {
      expect(Number.isInteger(e.delay)).toBe(true);
      expect(e.delay).toBeGreaterThanOrEqual(0);
      expect(e.delay).toBeLessThanOrEqual(Math.min(80, 20 * 2 ** (e.attempt - 1)));
    }
    expect(w.connects).toBe(1);
    expect(w.log).toEqual([
      'connect',
      'disconnect boom',
      'reconnecting 1',
      'reconnect 1',
      'disconnect null',
      ...outage2.map((e) => `reconnecting ${e.attempt}`),
      `reconnect ${outage2.length}`,
    ]);
    expect(srv.got).toEqual([0]);
    expect(srv2.got).toEqual([1]);
    expect(r.stats.reconnects).toBe(2);
  });

  it("maxAttempts failed in a row: 'error' ERR_IPC_RECONNECT_FAILED with the last cause, then 'close'; queued frames dropped", async () => {
    // Never connected: the first dial is attempt 1, so 'reconnecting' announces attempts 2 and 3.
    const ep = sockets().sock();
    const r = reconnecting(ep, { initialDelay: 10, maxDelay: 40, maxAttempts: 3 });
    const w = watch(r);
    r.send(numbered(0, 16));
    r.send(numbered(1, 16));
    await waitFor(() => w.closes === 1, "'close'");
    await sleep(20);
    expect(w.log).toEqual(['reconnecting 2', 'reconnecting 3', 'drop closed 0', 'drop closed 1', 'error ERR_IPC_RECONNECT_FAILED', 'close']);
    const err = w.errors[0] as Error & { attempts?: number; cause?: unknown };
    expect(err.attempts).toBe(3);
    expect(code(err.cause)).toBe('ENOENT');
    expect(w.reconnecting.map((e) => code(e.cause))).toEqual(['ENOENT', 'ENOENT']);
    expect(r.state).toBe('closed');
    expect(() => r.send('x')).toThrow(closedError);
  });

  it('maxAttempts counts the attempts of one outage, after a connection dropped', async () => {
    const ep = sockets().sock();
    const srv = await serve(ep);
    const r = reconnecting(ep, { initialDelay: 10, maxDelay: 40, maxAttempts: 2 });
    const w = watch(r);
    await waitFor(() => w.connects === 1, "'connect'");
    await srv.server.close();
    await waitFor(() => w.closes === 1, "'close'");
    await sleep(20);
    expect(w.log).toEqual(['connect', 'disconnect null', 'reconnecting 1', 'reconnecting 2', 'error ERR_IPC_RECONNECT_FAILED', 'close']);
    expect((w.errors[0] as Error & { attempts?: number }).attempts).toBe(2);
    expect(code(w.errors[0]!.cause)).toBe('ENOENT');
  });

  it("an AbortSignal closes it: queued frames 'drop' 'closed', 'error' ABORT_ERR, 'close', and no more attempts", async () => {
    const ep = sockets().sock();
    const ac = new AbortController();
    const r = reconnecting(ep, { initialDelay: 10, maxDelay: 20, signal: ac.signal });
    const w = watch(r);
    for (let i = 0; i < 3; i++) r.send(numbered(i, 16));
    await waitFor(() => w.reconnecting.length >= 2, 'two failed attempts');
    ac.abort();
    await waitFor(() => w.closes === 1, "'close'");
    const attempts = w.reconnecting.length;
    await sleep(100);
    expect(r.state).toBe('closed');
    expect(w.log.slice(attempts)).toEqual(['drop closed 0', 'drop closed 1', 'drop closed 2', 'error ABORT_ERR', 'close']);
    expect(w.reconnecting.length).toBe(attempts);
    expect(r.stats.queuedFrames).toBe(0);
    expect(() => r.send('x')).toThrow(closedError);
  });

  it('an AbortSignal aborted while connected closes the connection too', async () => {
    const ep = sockets().sock();
    const srv = await serve(ep);
    const ac = new AbortController();
    const r = reconnecting(ep, { initialDelay: 10, maxDelay: 20, signal: ac.signal });
    const w = watch(r);
    await waitFor(() => w.connects === 1, "'connect'");
    await waitFor(() => srv.conns.length === 1, 'the server to accept');
    let serverCloses = 0;
    srv.conns[0]!.on('close', () => serverCloses++);
    ac.abort();
    await waitFor(() => w.closes === 1 && serverCloses === 1, "'close' on both ends");
    await sleep(50);
    expect(w.log).toEqual(['connect', 'error ABORT_ERR', 'close']);
    expect(srv.conns.length).toBe(1);
  });

  it('an AbortSignal already aborted closes it before any attempt', async () => {
    const ep = sockets().sock();
    const srv = await serve(ep);
    const r = reconnecting(ep, { signal: AbortSignal.abort() });
    const w = watch(r);
    await waitFor(() => w.closes === 1, "'close'");
    await sleep(50);
    expect(w.log).toEqual(['error ABORT_ERR', 'close']);
    expect(srv.conns.length).toBe(0);
  });
});

describe('the queue while disconnected', () => {
  it("policy 'error': send() throws ERR_IPC_QUEUE_FULL at maxQueueFrames; every frame accepted before arrives, in order", async () => {
    const ep = sockets().sock();
    const r = reconnecting(ep, { initialDelay: 10, maxDelay: 40, maxQueueFrames: 5 });
    const w = watch(r);
    for (let i = 0; i < 5; i++) r.send(numbered(i, 100));
    expect(() => r.send(numbered(99, 100))).toThrow(queueFull);
    expect(() => r.send(numbered(99, 4))).toThrow(queueFull);
    expect(r.stats.queuedFrames).toBe(5);
    expect(r.stats.framesOut).toBe(5);
    const srv = await serve(ep);
    await waitFor(() => srv.got.length === 5, 'the 5 queued frames');
    // Connected, frames go straight to the connection: the bound is for the queue only.
    for (let i = 5; i < 20; i++) r.send(numbered(i, 100));
    await waitFor(() => srv.got.length === 20, '20 frames');
    expect(srv.got).toEqual(range(0, 20));
    expect(w.drops).toEqual([]);
    expect(w.errors).toEqual([]);
  });

  it("policy 'error': send() throws ERR_IPC_QUEUE_FULL at maxQueueBytes; a frame that still fits is taken", async () => {
    const ep = sockets().sock();
    const r = reconnecting(ep, { initialDelay: 10, maxDelay: 40, maxQueueBytes: 1000 });
    const w = watch(r);
    for (let i = 0; i < 3; i++) r.send(numbered(i, 300));
    expect(() => r.send(numbered(99, 300))).toThrow(queueFull);
    expect(() => r.send(numbered(99, 2000))).toThrow(queueFull);
    r.send(numbered(3, 100)); // exactly 1000 bytes now
    expect(() => r.send(numbered(99, 4))).toThrow(queueFull);
    expect(r.stats.queuedBytes).toBe(1000);
    const srv = await serve(ep);
    await waitFor(() => srv.got.length === 4, 'the 4 queued frames');
    await sleep(20);
    expect(srv.got).toEqual([0, 1, 2, 3]);
    expect(w.drops).toEqual([]);
  });

  it("policy 'drop-oldest': exactly the oldest frames are dropped, one 'drop' 'queue-full' each with its bytes; the rest arrive", async () => {
    const ep = sockets().sock();
    const r = reconnecting(ep, { initialDelay: 10, maxDelay: 40, maxQueueFrames: 5, queuePolicy: 'drop-oldest' });
    const w = watch(r);
    for (let i = 0; i < 8; i++) expect(r.send(numbered(i, 100 + i))).toBe(true);
    expect(w.drops.map((d) => d.reason)).toEqual(['queue-full', 'queue-full', 'queue-full']);
    for (let i = 0; i < 3; i++) expect(w.drops[i]!.frame.equals(numbered(i, 100 + i))).toBe(true);
    expect(r.stats.queuedFrames).toBe(5);
    expect(r.stats.queuedBytes).toBe(103 + 104 + 105 + 106 + 107);
    const srv = await serve(ep);
    await waitFor(() => srv.got.length === 5, 'the 5 frames left');
    await sleep(20);
    expect(srv.got).toEqual([3, 4, 5, 6, 7]);
    expect(w.drops.length).toBe(3);
  });

  it("policy 'drop-oldest' by bytes: drops as few of the oldest as make room; a frame larger than the whole queue is refused without dropping any", async () => {
    const ep = sockets().sock();
    const r = reconnecting(ep, { initialDelay: 10, maxDelay: 40, maxQueueBytes: 1000, queuePolicy: 'drop-oldest' });
    const w = watch(r);
    r.send(numbered(0, 400));
    r.send(numbered(1, 300));
    r.send(numbered(2, 200));
    r.send(numbered(3, 500)); // 1400 bytes: frame 0 (400) goes, 1000 left
    expect(w.log).toEqual(['drop queue-full 0']);
    expect(w.drops[0]!.frame.equals(numbered(0, 400))).toBe(true);
    expect(() => r.send(numbered(99, 1001))).toThrow(queueFull);
    expect(w.drops.length).toBe(1);
    expect(r.stats.queuedFrames).toBe(3);
    expect(r.stats.queuedBytes).toBe(1000);
    const srv = await serve(ep);
    await waitFor(() => srv.got.length === 3, 'the 3 frames left');
    await sleep(20);
    expect(srv.got).toEqual([1, 2, 3]);
  });

  it("queueTtl: frames older than the ttl are dropped with reason 'ttl'; later ones are delivered", async () => {
    const ep = sockets().sock();
    const r = reconnecting(ep, { initialDelay: 10, maxDelay: 40, queueTtl: 600 });
    const w = watch(r);
    for (let i = 0; i < 3; i++) r.send(numbered(i, 50 + i));
    await waitFor(() => w.drops.length === 3, "three 'drop' 'ttl'");
    expect(w.drops.map((d) => d.reason)).toEqual(['ttl', 'ttl', 'ttl']);
    for (let i = 0; i < 3; i++) expect(w.drops[i]!.frame.equals(numbered(i, 50 + i))).toBe(true);
    expect(r.stats.queuedFrames).toBe(0);
    for (let i = 3; i < 6; i++) r.send(numbered(i, 50));
    const srv = await serve(ep);
    await waitFor(() => srv.got.length === 3, 'the fresh frames');
    await sleep(20);
    expect(srv.got).toEqual([3, 4, 5]);
    expect(w.drops.length).toBe(3);
    expect(w.errors).toEqual([]);
  });

  it('queued frames go out, in order, before any frame sent once connected', async () => {
    const ep = sockets().sock();
    const r = reconnecting(ep, { initialDelay: 10, maxDelay: 40 });
    const w = watch(r);
    // 2 MiB queued: more than the connection takes before pushing back, so some are still queued at 'connect'.
    const QUEUED = 2000;
    for (let i = 0; i < QUEUED; i++) r.send(numbered(i, 1024));
    let stillQueued = -1;
    r.once('connect', () => {
      stillQueued = r.stats.queuedFrames;
      for (let i = QUEUED; i < QUEUED + 100; i++) r.send(numbered(i, 1024));
    });
    const srv = await serve(ep);
    await waitFor(() => srv.got.length === QUEUED + 100, `${QUEUED + 100} frames`);
    expect(stillQueued).toBeGreaterThan(0);
    expect(srv.got).toEqual(range(0, QUEUED + 100));
    expect(w.drops).toEqual([]);
  });
});

describe('a reconnect storm', () => {
  it('50 clients reconnecting to a restarted server arrive spread out by jitter, and all reconnect', async () => {
    const ep = sockets().sock();
    const N = 50;
    let server = await listen(ep);
    onCleanup(() => server.close());
    // Defaults: initialDelay 100, factor 2, so the jitter window is hundreds of ms wide.
    const clients = Array.from({ length: N }, () => reconnecting(ep));
    const watched = clients.map(watch);
    await waitFor(() => watched.every((w) => w.connects === 1), 'every client to connect');

    await server.close();
    await waitFor(() => watched.every((w) => w.disconnects.length === 1), 'every client to disconnect');
    await sleep(300);
    const arrivals: number[] = [];
    server = await listen(ep);
    onCleanup(() => server.close());
    server.on('connection', () => arrivals.push(performance.now()));
    // A client's connect completes before the server accepts: wait for both ends.
    await waitFor(() => watched.every((w) => w.reconnects.length === 1) && arrivals.length === N, 'every client to reconnect');

    expect(arrivals.length).toBe(N);
    expect(server.connections).toBe(N);
    // The first delays of the outage are drawn from [0, 100]: many distinct values, not one for all.
    const firstDelays = watched.map((w) => w.reconnecting[0]!.delay);
    expect(new Set(firstDelays).size).toBeGreaterThanOrEqual(20);
    expect(Math.max(...firstDelays) - Math.min(...firstDelays)).toBeGreaterThanOrEqual(50);
    // Arrivals are not bunched: without jitter all 50 would land together. The bounds are loose (the
    // expected span is ~1 s, rarely below 0.4 s; the fullest 5 ms bucket holds about 3) so a stalled
    // event loop cannot fail them.
    const t0 = Math.min(...arrivals);
    const buckets = new Map<number, number>();
    for (const t of arrivals) buckets.set(Math.floor((t - t0) / 5), (buckets.get(Math.floor((t - t0) / 5)) ?? 0) + 1);
    expect(Math.max(...buckets.values())).toBeLessThanOrEqual(15);
    expect(Math.max(...arrivals) - t0).toBeGreaterThanOrEqual(100);
    for (const w of watched) {
      expect(w.reconnects).toEqual([w.reconnecting.length]);
      expect(w.errors).toEqual([]);
    }
  });
});

describe('process lifetime', () => {
  it('frames queued for an endpoint nobody serves yet keep the process alive; they arrive once a server appears, and close() lets it exit', async () => {
    const ep = sockets().sock();
    const child = new LineChild(process.execPath, [CHILD, DIST_CJS, 'wait-then-close', ep, '10'], { stdin: 'ignore' });
    await child.line('queued 10');
    await child.line('reconnecting 4');
    expect(child.exit).toBeNull();
    const srv = await serve(ep);
    const exit = await child.done();
    expect(exit).toEqual({ code: 0, signal: null });
    await waitFor(() => srv.got.length >= 10, '10 frames');
    expect(srv.got).toEqual(range(0, 10));
    expect(child.lines).toContain('connect');
    expect(child.lines).toContain('closed timers 0');
    expect(child.lines.at(-1)).toBe('exit 0 closed drops []');
    expect(child.stderr).toBe('');
  });

  it("with unref(), the process exits with frames queued, and each is reported as 'drop' 'exit'", async () => {
    const ep = sockets().sock();
    const run = await runNode([CHILD, DIST_CJS, 'unref', ep, '10']);
    expect(run.killed).toBe(false);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toBe('queued 10');
    expect(lines.at(-1)).toBe(`exit 0 connecting drops [${range(0, 10).map((i) => `exit:${i}`).join(',')}]`);
  });

  it('after close(), nothing keeps the process alive: with frames delivered to a server, and while retrying', async () => {
    const ep = sockets().sock();
    const srv = await serve(ep);
    const delivered = await runNode([CHILD, DIST_CJS, 'close-now', ep, '10']);
    expect(delivered.killed).toBe(false);
    expect(delivered.code).toBe(0);
    expect(delivered.stdout.trim().split('\n')).toEqual(['queued 10', 'close', 'closed timers 0', 'exit 0 closed drops []']);
    await waitFor(() => srv.got.length >= 10, '10 frames');
    expect(srv.got).toEqual(range(0, 10));

    const nobody = sockets().sock();
    const retrying = await runNode([CHILD, DIST_CJS, 'close-while-retrying', nobody, '0']);
    expect(retrying.killed).toBe(false);
    expect(retrying.code).toBe(0);
    expect(retrying.stdout.trim().split('\n')).toEqual(['queued 0', 'reconnecting 2', 'reconnecting 3', 'close', 'closed timers 0', 'exit 0 closed drops []']);
  });
});

describe('close() while disconnected', () => {
  it("with nobody listening: waits closeTimeout, then every queued frame is a 'drop' 'closed', then 'close'", async () => {
    const ep = sockets().sock();
    const r = reconnecting(ep, { initialDelay: 10, maxDelay: 40, closeTimeout: 300 });
    const w = watch(r);
    for (let i = 0; i < 5; i++) r.send(numbered(i, 32));
    const closing = r.close();
    expect(r.state).toBe('closing');
    expect(() => r.send('x')).toThrow(closedError);
    await closing;
    expect(r.state).toBe('closed');
    await sleep(20);
    const attempts = w.reconnecting.length;
    expect(w.log).toEqual([...w.reconnecting.map((e) => `reconnecting ${e.attempt}`), ...range(0, 5).map((i) => `drop closed ${i}`), 'close']);
    for (let i = 0; i < 5; i++) expect(w.drops[i]!.frame.equals(numbered(i, 32))).toBe(true);
    // Closed: no more attempts.
    await sleep(100);
    expect(w.reconnecting.length).toBe(attempts);
    expect(r.stats.queuedFrames).toBe(0);
  });

  it('with a server appearing before closeTimeout: the queued frames are delivered, then it closes', async () => {
    const ep = sockets().sock();
    const r = reconnecting(ep, { initialDelay: 10, maxDelay: 40, closeTimeout: WAIT_MS });
    const w = watch(r);
    for (let i = 0; i < 5; i++) r.send(numbered(i, 32));
    const closing = r.close();
    await waitFor(() => w.reconnecting.length >= 2, 'two failed attempts while closing');
    expect(r.state).toBe('closing');
    const srv = await serve(ep);
    let serverCloses = 0;
    srv.server.on('connection', (t: Transport) => t.on('close', () => serverCloses++));
    await closing;
    await waitFor(() => serverCloses === 1, 'the server side to close');
    expect(srv.got).toEqual(range(0, 5));
    expect(r.state).toBe('closed');
    expect(w.drops).toEqual([]);
    expect(w.errors).toEqual([]);
    expect(w.log.slice(w.reconnecting.length)).toEqual(['connect', 'close']);
  });
});

describe('close() while an attempt is in flight', () => {
  it('abandons the attempt: a handshake the server never answers does not hold the process', async () => {
    const file = path.join(sockets().dir, 'plain.sock');
    // A plain server: it takes the connection and never answers a hello.
    const srv = await listenAt(`unix:${file}`, {});
    let accepted = 0;
    srv.on('connection', () => accepted++);
    const script = `
      const { reconnecting } = require(${JSON.stringify(DIST_CJS)});
      const t = reconnecting(${JSON.stringify(`unix:${file}`)}, { heartbeat: true, connectTimeout: 60000 });
      t.on('error', () => {});
      setTimeout(() => { t.close().then(() => console.log('closed')); }, 200);
    `;
    // With the attempt left running, its 60 s handshake timer would outlive the 15 s safety net.
    const r = await runNode(['-e', script]);
    expect(r.killed).toBe(false);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('closed');
    expect(accepted).toBe(1);
  });
});

describe('misuse', () => {
  it('send() after close() or destroy() throws ERR_IPC_CLOSED', async () => {
    const ep = sockets().sock();
    const srv = await serve(ep);
    const r = reconnecting(ep);
    const w = watch(r);
    await waitFor(() => w.connects === 1, "'connect'");
    await r.close();
    expect(() => r.send('x')).toThrow(closedError);
    expect(r.stats.framesOut).toBe(0);

    const d = reconnecting(ep);
    watch(d);
    d.destroy();
    expect(() => d.send('x')).toThrow(closedError);
    await sleep(20);
    expect(srv.got).toEqual([]);
  });

  it('bad options throw TypeError or RangeError with a code, at the call', () => {
    const ep = 'unix:/nonexistent/x.sock';
    const thrown = (options: unknown): unknown => {
      try {
        reconnecting(ep, options as never);
      } catch (e) {
        return e;
      }
      return null;
    };
    const unknownKey = thrown({ retries: 3 });
    expect(unknownKey).toBeInstanceOf(TypeError);
    expect(code(unknownKey)).toBe('ERR_INVALID_ARG_VALUE');
    const factor = thrown({ factor: 0.5 });
    expect(factor).toBeInstanceOf(RangeError);
    expect(code(factor)).toBe('ERR_OUT_OF_RANGE');
    const delays = thrown({ initialDelay: 100, maxDelay: 50 });
    expect(delays).toBeInstanceOf(RangeError);
    expect(code(delays)).toBe('ERR_OUT_OF_RANGE');
    const policy = thrown({ queuePolicy: 'x' });
    expect(policy).toBeInstanceOf(TypeError);
    expect(code(policy)).toBe('ERR_INVALID_ARG_VALUE');
    const attempts = thrown({ maxAttempts: 0 });
    expect(attempts).toBeInstanceOf(RangeError);
    expect(code(attempts)).toBe('ERR_OUT_OF_RANGE');
    const ttl = thrown({ queueTtl: 'soon' });
    expect(ttl).toBeInstanceOf(TypeError);
    expect(code(ttl)).toBe('ERR_INVALID_ARG_TYPE');
  });
});

describe('a factory as the target', () => {
  it('reconnecting(() => connect(ep)) reconnects after a server restart, one factory call per attempt', async () => {
    const ep = sockets().sock();
    const srv = await serve(ep);
    let calls = 0;
    const r = reconnecting(
      () => {
        calls++;
        return connect(ep);
      },
      { initialDelay: 10, maxDelay: 40 },
    );
    const w = watch(r);
    await waitFor(() => w.connects === 1, "'connect'");
    for (let i = 0; i < 5; i++) r.send(numbered(i, 64));
    await waitFor(() => srv.got.length === 5, '5 frames');

    await srv.server.close();
    await waitFor(() => w.disconnects.length === 1, "'disconnect'");
    for (let i = 5; i < 10; i++) r.send(numbered(i, 64));
    await waitFor(() => w.reconnecting.length >= 3, 'three attempts');
    const srv2 = await serve(ep);
    await waitFor(() => w.reconnects.length === 1, "'reconnect'");
    for (let i = 10; i < 15; i++) r.send(numbered(i, 64));
    await waitFor(() => srv2.got.length === 10, '10 frames at the new server');

    expect(srv.got).toEqual(range(0, 5));
    expect(srv2.got).toEqual(range(5, 15));
    expect(calls).toBe(1 + w.reconnecting.length);
    expect(w.reconnects).toEqual([w.reconnecting.length]);
    expect(r.endpoint).toBe('reconnecting(factory)');
    expect(w.errors).toEqual([]);
  });

  it('a factory that throws counts as a failed attempt, with what it threw as the cause', async () => {
    const ep = sockets().sock();
    const srv = await serve(ep);
    const failures = [new Error('not yet 1'), new Error('not yet 2')];
    let calls = 0;
    const r = reconnecting(
      () => {
        const f = failures[calls++];
        if (f !== undefined) throw f;
        return connect(ep);
      },
      { initialDelay: 10, maxDelay: 40 },
    );
    const w = watch(r);
    r.send(numbered(0, 16));
    await waitFor(() => w.connects === 1, "'connect'");
    await waitFor(() => srv.got.length === 1, 'frame 0');
    expect(calls).toBe(3);
    expect(w.reconnecting.map((e) => e.cause)).toEqual(failures);
    expect(w.log).toEqual(['reconnecting 2', 'reconnecting 3', 'connect']);
  });
});
