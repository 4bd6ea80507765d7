// resume: true on both ends: every frame exactly once and in order across connection drops, counted
// frame by frame. The drops are real: a proxy process between the two ends killed with SIGKILL again
// and again mid-stream, a client process killed for good, a server process killed and started again.
// Also the server session's lifecycle (one 'connection' per client session, disconnect/reconnect,
// bye on close() from either end, also right behind a send, expiry), the wire format against a client
// written by hand (where replayed frames are dropped as duplicates, and the server's replay to a new
// connection, also to one that fails under it), a new server session met by an old client's numbers,
// the errors when only one end resumes, a bounded queue, and destroy()'s 'drop' of what was not
// acknowledged.
import { afterEach, describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { once } from 'node:events';
import {
  connect,
  reconnecting,
  ErrorCodes,
  type Framing,
  type ReconnectingTransport,
  type ServerSession,
  type Session,
  type Transport,
} from '../dist/index.js';
import { LineChild, cleanupAll, code, dirPerTest, listenAt, onCleanup, rawConnect, sleep, waitFor, withTimeout, type RawPeer } from './helpers/common';
import { envelopeTexts, hello, seqFrame } from './helpers/envelope-util';
import { lp, splitLengthPrefixed } from './helpers/wire.cjs';
import { DIST_CJS, HELPERS } from './helpers/lifetime-util';

afterEach(cleanupAll);

const dir = dirPerTest('sipc-resume-');

function sock(name: string): string {
  return path.join(dir(), name);
}

function client(ep: string, opts: Parameters<typeof reconnecting>[1] = {}): ReconnectingTransport {
  const t = reconnecting(ep, { resume: true, initialDelay: 10, maxDelay: 100, ...opts });
  onCleanup(() => t.destroy());
  return t;
}

/** Counts each named event of `e` as it happens, and keeps their order in `log`. */
function tally(e: NodeJS.EventEmitter, names: string[]): { count: Record<string, number>; log: string[] } {
  const out = { count: {} as Record<string, number>, log: [] as string[] };
  for (const name of names) {
    out.count[name] = 0;
    e.on(name, () => {
      out.count[name]!++;
      out.log.push(name);
    });
  }
  return out;
}

/** Every 'drop' as [frame text, reason]. */
function drops(s: Session): [string, string][] {
  const out: [string, string][] = [];
  s.on('drop', (frame: Uint8Array, reason: string) => out.push([Buffer.from(frame).toString(), reason]));
  return out;
}

function texts(s: Session): string[] {
  const out: string[] = [];
  s.on('message', (m: Buffer) => out.push(m.toString()));
  return out;
}

const range = (prefix: string, from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, i) => `${prefix}-${from + i}`);

// --- numbered frames --------------------------------------------------------------------------------

/** Frame n's padding: most frames are small, every 97th is larger than 16 KiB (sent from the caller's memory). */
function padOf(n: number): string {
  const size = n % 97 === 0 ? 16_500 + ((n * 7919) % 20_000) : (n * 37) % 120;
  return String.fromCharCode(97 + (n % 26)).repeat(size);
}

/** Frame n: JSON text without a newline, so that it fits every framing. */
const frameOf = (n: number): string => `{"n":${n},"p":"${padOf(n)}"}`;

/** What one end received: the number of each frame in order, and frames whose content was wrong. */
class Received {
  readonly numbers: number[] = [];
  readonly corrupt: string[] = [];

  constructor(s: Session) {
    s.on('message', (m: Buffer) => {
      const text = m.toString();
      let v: { n?: unknown; p?: unknown };
      try {
        v = JSON.parse(text) as typeof v;
      } catch {
        this.corrupt.push(text.slice(0, 60));
        return;
      }
      this.numbers.push(Number(v.n));
      if (typeof v.n !== 'number' || v.p !== padOf(v.n)) this.corrupt.push(text.slice(0, 60));
    });
  }

  /** Where the numbers first differ from 1, 2, 3, ... `total`, or null when they are exactly that. */
  firstGap(total: number): string | null {
    for (let i = 0; i < this.numbers.length; i++) {
      if (this.numbers[i] !== i + 1) return `frame #${i + 1} was ${this.numbers[i]} (then ${this.numbers.slice(i + 1, i + 6).join(', ')})`;
    }
    return this.numbers.length === total ? null : `${this.numbers.length} frames, not ${total}`;
  }
}

/**
 * Sends frames 1..total, a few per millisecond, never past `allowed()` (so that the stream is still
 * going when the last fault comes) and waiting for 'drain' when send() asks to.
 */
async function stream(t: Session, total: number, allowed: () => number): Promise<void> {
  let n = 0;
  while (n < total) {
    if (t.state === 'closing' || t.state === 'closed') throw new Error(`${t.endpoint} closed after ${n} of ${total} frames were sent`);
    const limit = Math.min(total, allowed());
    let more = true;
    for (let i = 0; i < 10 && n < limit && more; i++) more = t.send(frameOf(++n));
    if (!more) {
      await withTimeout(
        Promise.race([once(t, 'drain'), once(t, 'close')]),
        () => `no 'drain' after send() returned false (${n} frames sent, stats ${JSON.stringify(t.stats)})`,
      );
    } else await sleep(1);
  }
}

// --- the proxy process ------------------------------------------------------------------------------

class Proxy {
  child: LineChild | null = null;
  starts = 0;

  constructor(
    readonly from: string,
    readonly to: string,
  ) {}

  async start(): Promise<void> {
    this.child = new LineChild(process.execPath, [path.join(HELPERS, 'resume-proxy.cjs'), this.from, this.to], { stdin: 'ignore' });
    this.starts++;
    await this.child.line('listening');
  }

  async kill(): Promise<void> {
    const c = this.child!;
    c.kill();
    await c.done();
  }
}

// --- 1. exactly once, in order, through a proxy killed again and again --------------------------------

const N = 20_000; // client to server
const M = 20_000; // server to client
const KILLS = 6;

describe.each<Framing>(['length-prefixed', 'lines', 'content-length'])('resume through a proxy killed with SIGKILL, %s framing', (framing) => {
  it(`delivers ${N} frames up and ${M} down exactly once and in order across ${KILLS} kills`, async () => {
    const serverPath = sock('server.sock');
    const proxyPath = sock('proxy.sock');
    const srv = await listenAt(`unix:${serverPath}`, { resume: true, framing });
    const proxy = new Proxy(proxyPath, serverPath);
    await proxy.start();
    onCleanup(() => proxy.child?.kill());

    // The stream goes in KILLS + 1 parts: a part may start only after the kill before it, so every
    // kill comes while frames are still being sent, however fast or slow the machine is.
    let kills = 0;
    const allowed = (total: number) => (): number => (kills >= KILLS ? total : Math.floor((total * (kills + 1)) / (KILLS + 1)));

    const sessions: ServerSession[] = [];
    let atServer!: Received;
    let serverEvents!: ReturnType<typeof tally>;
    let serverDrops!: [string, string][];
    let serverSending!: Promise<void>;
    srv.on('connection', (s: ServerSession) => {
      sessions.push(s);
      atServer = new Received(s);
      serverEvents = tally(s, ['disconnect', 'reconnect', 'close']);
      serverDrops = drops(s);
      serverSending = stream(s, M, allowed(M));
      serverSending.catch(() => {});
    });

    const c = client(`unix:${proxyPath}`, { framing });
    const atClient = new Received(c);
    const clientEvents = tally(c, ['connect', 'disconnect', 'reconnect', 'close']);
    const clientDrops = drops(c);
    const errors: Error[] = [];
    c.on('error', (e: Error) => errors.push(e));
    const clientSending = stream(c, N, allowed(N));
    clientSending.catch(() => {});

    await waitFor(() => clientEvents.count.connect === 1, 'the first connection');
    for (let k = 1; k <= KILLS; k++) {
      // A random moment in the middle of the current part.
      await sleep(100 + Math.random() * 100);
      await proxy.kill();
      await proxy.start();
      kills = k;
      await waitFor(() => clientEvents.count.reconnect === k, `reconnect #${k}`, {
        hopeless: () => (clientEvents.count.close > 0 ? `the client closed: ${errors.map(String).join('; ')}` : null),
      });
    }
    await withTimeout(clientSending, () => 'the client never sent everything');
    await withTimeout(serverSending, () => 'the server never sent everything');

    const done = (): string | null => (clientEvents.count.close > 0 || serverEvents.count.close > 0 ? 'a session closed' : null);
    await waitFor(() => atServer.numbers.length >= N && atClient.numbers.length >= M, 'every frame', {
      hopeless: done,
    });
    // Everything acknowledged: nothing is left for a replay to send twice.
    await waitFor(() => c.stats.queuedFrames === 0 && sessions[0]!.stats.queuedFrames === 0, 'the last acknowledgements', { hopeless: done });
    await sleep(30);

    expect(atServer.firstGap(N)).toBeNull();
    expect(atClient.firstGap(M)).toBeNull();
    expect(atServer.corrupt).toEqual([]);
    expect(atClient.corrupt).toEqual([]);
    expect(clientDrops).toEqual([]);
    expect(serverDrops).toEqual([]);
    expect(errors).toEqual([]);

    // Each kill was one drop and one resumption, seen by both ends; one session throughout.
    expect(sessions.length).toBe(1);
    expect(clientEvents.count).toMatchObject({ connect: 1, disconnect: KILLS, reconnect: KILLS, close: 0 });
    expect(serverEvents.count).toMatchObject({ disconnect: KILLS, reconnect: KILLS, close: 0 });
    expect(c.stats.reconnects).toBe(KILLS);
    expect(c.stats.framesIn).toBe(M);
    expect(sessions[0]!.stats.framesIn).toBe(N);
    expect(proxy.starts).toBe(KILLS + 1);

    // close() on the client ends the session on both sides.
    await withTimeout(c.close(), () => 'client close() never resolved');
    await waitFor(() => serverEvents.count.close === 1, "the server session's 'close'");
  });
});

// --- 2. the server session's lifecycle ----------------------------------------------------------------

describe('the server session', () => {
  it("is announced once per client session; each drop is 'disconnect' then 'reconnect'", async () => {
    const ep = `unix:${sock('s.sock')}`;
    const srv = await listenAt(ep, { resume: true });
    const sessions: ServerSession[] = [];
    let got: string[] = [];
    let events!: ReturnType<typeof tally>;
    srv.on('connection', (s: ServerSession) => {
      sessions.push(s);
      got = texts(s);
      events = tally(s, ['disconnect', 'reconnect', 'close']);
    });

    const c = client(ep);
    const clientEvents = tally(c, ['connect', 'disconnect', 'reconnect']);
    for (let i = 1; i <= 3; i++) {
      await waitFor(() => c.connection !== null && sessions.length === 1 && sessions[0]!.connection !== null, `connection #${i}`);
      c.send(`c-${i}`);
      await waitFor(() => got.length === i, `frame c-${i}`);
      // Cut the connection under both sessions; the client dials again on its own.
      c.connection!.destroy();
      await waitFor(() => clientEvents.count.reconnect === i, `reconnect #${i}`);
    }
    await waitFor(() => events.count.reconnect === 3, "the server session's third 'reconnect'");

    expect(sessions.length).toBe(1);
    expect(srv.connections).toBe(1);
    expect(got).toEqual(['c-1', 'c-2', 'c-3']);
    expect(events.log).toEqual(['disconnect', 'reconnect', 'disconnect', 'reconnect', 'disconnect', 'reconnect']);
    expect(clientEvents.log).toEqual(['connect', 'disconnect', 'reconnect', 'disconnect', 'reconnect', 'disconnect', 'reconnect']);
    expect(sessions[0]!.connection).not.toBeNull();
  });

  it("a client back on a new path before the server saw its old connection drop: 'disconnect', 'reconnect', nothing lost", async () => {
    const serverPath = sock('server.sock');
    const proxyPath = sock('proxy.sock');
    const srv = await listenAt(`unix:${serverPath}`, { resume: true });
    const proxy = new Proxy(proxyPath, serverPath);
    await proxy.start();
    const sessions: ServerSession[] = [];
    let got: string[] = [];
    let events!: ReturnType<typeof tally>;
    srv.on('connection', (s: ServerSession) => {
      sessions.push(s);
      got = texts(s);
      events = tally(s, ['disconnect', 'reconnect', 'close']);
    });

    // The first connection goes through the proxy, later ones straight to the server.
    let dials = 0;
    const c = reconnecting(() => connect(`unix:${dials++ === 0 ? proxyPath : serverPath}`), { resume: true, initialDelay: 10, maxDelay: 100 });
    onCleanup(() => c.destroy());
    const fromServer = texts(c);
    const clientEvents = tally(c, ['connect', 'disconnect', 'reconnect']);
    for (const f of range('c', 1, 10)) c.send(f);
    await waitFor(() => got.length === 10 && c.stats.queuedFrames === 0, 'c-1..c-10, acknowledged');

    // A stopped proxy holds both connections open: neither end sees the path die. Frames sent now
    // stop in it. Then the client gives up on its connection and dials the server directly.
    proxy.child!.child.kill('SIGSTOP');
    for (const f of range('c', 11, 20)) c.send(f);
    for (const f of range('s', 1, 5)) sessions[0]!.send(f);
    c.connection!.destroy();
    await waitFor(() => clientEvents.count.reconnect === 1, "the client's 'reconnect'");
    await waitFor(() => got.length >= 20 && fromServer.length >= 5, 'the frames stuck in the proxy, replayed');
    await waitFor(() => c.stats.queuedFrames === 0 && sessions[0]!.stats.queuedFrames === 0, 'the acknowledgements');
    await sleep(30);

    expect(dials).toBe(2);
    expect(sessions.length).toBe(1);
    expect(got).toEqual(range('c', 1, 20));
    expect(fromServer).toEqual(range('s', 1, 5));
    expect(events.log).toEqual(['disconnect', 'reconnect']);
    expect(clientEvents.log).toEqual(['connect', 'disconnect', 'reconnect']);
  });

  it("the client's close() delivers what it sent, then ends the server session at once (bye)", async () => {
    const ep = `unix:${sock('s.sock')}`;
    // An expiry this long would fail the test's safety net if the session waited for it.
    const srv = await listenAt(ep, { resume: true, resumeTimeout: 600_000 });
    const sessions: ServerSession[] = [];
    let got: string[] = [];
    let serverDrops!: [string, string][];
    let closed = 0;
    srv.on('connection', (s: ServerSession) => {
      sessions.push(s);
      got = texts(s);
      serverDrops = drops(s);
      s.on('close', () => closed++);
    });

    const c = client(ep);
    const clientDrops = drops(c);
    for (const f of range('c', 1, 100)) c.send(f);
    await withTimeout(c.close(), () => 'client close() never resolved');
    expect(c.state).toBe('closed');

    await waitFor(() => closed === 1, "the server session's 'close'");
    expect(sessions.length).toBe(1);
    expect(got).toEqual(range('c', 1, 100));
    expect(clientDrops).toEqual([]);
    expect(serverDrops).toEqual([]);
    expect(sessions[0]!.state).toBe('closed');
    await waitFor(() => srv.connections === 0, 'the server to let go of the session');
  });

  it("the server session's close() delivers what it sent, then closes the client without a reconnect", async () => {
    const ep = `unix:${sock('s.sock')}`;
    const srv = await listenAt(ep, { resume: true });
    let connections = 0;
    srv.on('connection', (s: ServerSession) => {
      connections++;
      for (const f of range('s', 1, 100)) s.send(f);
      void s.close();
    });

    const c = client(ep);
    const got = texts(c);
    const events = tally(c, ['connect', 'disconnect', 'reconnecting', 'reconnect', 'close']);
    const clientDrops = drops(c);
    await withTimeout(once(c, 'close'), () => 'the client never closed');

    expect(got).toEqual(range('s', 1, 100));
    expect(c.state).toBe('closed');
    expect(clientDrops).toEqual([]);
    // Time for a reconnect attempt to show up, were one made.
    await sleep(200);
    expect(events.count).toMatchObject({ connect: 1, reconnecting: 0, reconnect: 0, close: 1 });
    expect(connections).toBe(1);
    await waitFor(() => srv.connections === 0, 'the server to let go of the session');
  });

  it("the client's close() right behind a send, while connected: its frames are delivered and none is reported dropped", async () => {
    const ep = `unix:${sock('s.sock')}`;
    const srv = await listenAt(ep, { resume: true });
    const got: string[] = [];
    let serverClosed = 0;
    srv.on('connection', (s: ServerSession) => {
      s.on('message', (m: Buffer) => got.push(m.toString()));
      s.on('close', () => serverClosed++);
    });
    const c = reconnecting(ep, { resume: true });
    onCleanup(() => c.destroy());
    const dropped = drops(c);
    await once(c, 'connect');
    c.send('x1');
    c.send('x2');
    await c.close();
    await waitFor(() => serverClosed === 1, "the server session's 'close'");
    expect(got).toEqual(['x1', 'x2']);
    expect(dropped).toEqual([]);
  });

  it("the server session's close() right behind a send, while connected: its frames are delivered and none is reported dropped", async () => {
    const ep = `unix:${sock('s.sock')}`;
    const srv = await listenAt(ep, { resume: true });
    let dropped!: [string, string][];
    let closed!: Promise<void>;
    srv.on('connection', (s: ServerSession) => {
      dropped = drops(s);
      s.send('y1');
      s.send('y2');
      closed = s.close();
    });
    const c = reconnecting(ep, { resume: true });
    onCleanup(() => c.destroy());
    const got: string[] = [];
    c.on('message', (m: Buffer) => got.push(m.toString()));
    await once(c, 'close');
    await closed;
    expect(got).toEqual(['y1', 'y2']);
    expect(dropped).toEqual([]);
  });

  it("expires when its client process is killed: 'drop' (expired) for each frame it could not deliver, then 'close'", async () => {
    const ep = `unix:${sock('s.sock')}`;
    const srv = await listenAt(ep, { resume: true, resumeTimeout: 300 });
    const sessions: ServerSession[] = [];
    srv.on('connection', (s: ServerSession) => sessions.push(s));

    const child = new LineChild(process.execPath, [path.join(HELPERS, 'resume-client.cjs'), DIST_CJS, ep], { stdin: 'ignore' });
    await child.line('connected');
    await waitFor(() => sessions.length === 1, 'the session');
    const s = sessions[0]!;
    const log: string[] = [];
    const dropped = drops(s);
    s.on('drop', () => log.push('drop'));
    s.on('disconnect', () => log.push('disconnect'));
    s.on('close', () => log.push('close'));

    // Delivered and acknowledged before the client goes: these are not the session's to drop.
    for (const f of range('a', 1, 3)) s.send(f);
    await child.line('got a-3');
    await waitFor(() => s.stats.queuedFrames === 0, 'the acknowledgement of a-1..a-3');

    child.kill();
    await child.done();
    await waitFor(() => log.includes('disconnect'), "'disconnect'");
    for (const f of range('b', 1, 5)) s.send(f);
    expect(s.stats.queuedFrames).toBe(5);

    await waitFor(() => log.includes('close'), "'close' after the resume timeout");
    expect(dropped).toEqual(range('b', 1, 5).map((f) => [f, 'expired']));
    expect(log).toEqual(['disconnect', 'drop', 'drop', 'drop', 'drop', 'drop', 'close']);
    expect(child.lines.filter((l) => l.startsWith('got '))).toEqual(range('got a', 1, 3));
    await waitFor(() => srv.connections === 0, 'the server to let go of the session');
  });
});

// --- the wire, by hand ------------------------------------------------------------------------------

describe('resume on the wire, against a client written by hand (length-prefixed)', () => {
  const frames = (raw: RawPeer): Buffer[] => splitLengthPrefixed(raw.bytes());

  it('hello with flags heartbeat|resume, numbered frames, acknowledgements, a resumed session, and replays dropped as duplicates', async () => {
    const file = sock('s.sock');
    const srv = await listenAt(`unix:${file}`, { resume: true });
    const sessions: ServerSession[] = [];
    let got: string[] = [];
    srv.on('connection', (s: ServerSession) => {
      sessions.push(s);
      got = texts(s);
    });
    const session = Buffer.from('0123456789abcdef', 'latin1');

    // The first connection: our hello, the server's answer, frames 1 and 2 sent twice, then 3.
    const first = await rawConnect(file);
    first.sock.write(lp(hello(3, session, 0, 1)));
    await waitFor(() => frames(first).length >= 1, "the server's hello");
    expect(frames(first)[0]!.equals(hello(3, session, 0, 1))).toBe(true);
    first.sock.write(lp(seqFrame(1, 'one'), seqFrame(2, 'two'), seqFrame(1, 'one'), seqFrame(2, 'two'), seqFrame(3, 'three')));
    await waitFor(() => got.length >= 3 && frames(first).length >= 2, 'three frames and an acknowledgement');
    expect(got).toEqual(['one', 'two', 'three']);
    expect(sessions[0]!.stats.duplicates).toBe(2);
    // 'A' and the last sequence number delivered.
    expect(frames(first)[1]!.equals(Buffer.concat([Buffer.from('A', 'latin1'), Buffer.from('0000000000000003', 'hex')]))).toBe(true);

    // The connection dies; the same session comes back on a new one and is known (flag 4, resumed),
    // with the server's count of what it delivered. Frame 3 again is a duplicate; 4 is new.
    first.sock.destroy();
    await waitFor(() => sessions[0]!.connection === null, "the server's side of the first connection to go");
    const second = await rawConnect(file);
    second.sock.write(lp(hello(3, session, 0, 3)));
    await waitFor(() => frames(second).length >= 1, "the server's second hello");
    expect(frames(second)[0]!.equals(hello(7, session, 3, 1))).toBe(true);
    second.sock.write(lp(seqFrame(3, 'three'), seqFrame(4, 'four')));
    await waitFor(() => got.length >= 4, 'frame 4');
    await sleep(20);
    expect(got).toEqual(['one', 'two', 'three', 'four']);
    expect(sessions[0]!.stats.duplicates).toBe(3);
    expect(sessions.length).toBe(1);
  });

  it('replay: a frame the server session sent right behind its hello is replayed without that old hello', async () => {
    const file = sock('s.sock');
    const srv = await listenAt(`unix:${file}`, { resume: true });
    const sessions: ServerSession[] = [];
    // The usual greeting: the session sends as soon as it is announced, in the same tick as its hello.
    srv.on('connection', (s: ServerSession) => {
      sessions.push(s);
      s.send('greeting');
    });
    const id = Buffer.from('fedcba9876543210', 'latin1');
    const shown = (raw: RawPeer): string[] => envelopeTexts(raw.bytes());

    // First connection: the greeting comes, and the client goes away without acknowledging it.
    const first = await rawConnect(file);
    first.sock.write(lp(hello(3, id, 0, 1)));
    await waitFor(() => shown(first).length >= 2, "the server's hello and the greeting");
    expect(shown(first)).toEqual(['H received=0 first=1', 'S1 greeting']);
    first.sock.destroy();
    await waitFor(() => sessions[0]!.connection === null, "the server's side of the first connection to go");

    // Second connection: the new hello, then the greeting replayed; nothing else.
    const second = await rawConnect(file);
    second.sock.write(lp(hello(3, id, 0, 1)));
    await waitFor(() => shown(second).length >= 2, "the server's second hello and the replayed greeting");
    // A ping: its pong comes behind whatever the replay held.
    second.sock.write(lp(Buffer.from([0x50, 0, 0, 0, 7])));
    await waitFor(() => shown(second).includes('O'), 'the pong');
    expect(shown(second)).toEqual(['H received=0 first=1', 'S1 greeting', 'O']);
    second.sock.write(lp(Buffer.concat([Buffer.from('A'), Buffer.from('0000000000000001', 'hex')])));
    await waitFor(() => sessions[0]!.stats.queuedFrames === 0, 'the acknowledgement');
    expect(sessions).toHaveLength(1);
    expect(sessions[0]!.connection).not.toBeNull();
  });

  it('replay to a connection that fails under it (a client that sends its hello and is gone at once): the server session survives, and replays to the next connection', async () => {
    const file = sock('s.sock');
    const srv = await listenAt(`unix:${file}`, { resume: true });
    const sessions: ServerSession[] = [];
    const big = (c: string): string => c.repeat(20_000); // past 16 KiB: written from the caller's memory
    srv.on('connection', (s: ServerSession) => {
      sessions.push(s);
      s.send(big('a'));
      s.send(big('b'));
    });
    const id = Buffer.from('0011223344556677', 'latin1');
    const shown = (raw: RawPeer): string[] => envelopeTexts(raw.bytes());
    const first = await rawConnect(file);
    first.sock.write(lp(hello(3, id, 0, 1)));
    await waitFor(() => shown(first).length >= 3, "the server's hello and two frames");
    first.sock.destroy();
    await waitFor(() => sessions[0]!.connection === null, "the server's side of the first connection to go");
    const disconnects: unknown[] = [];
    sessions[0]!.on('disconnect', (err: unknown) => disconnects.push(err));

    // The hello, and the socket closed as soon as it is written: the replay's first write fails (EPIPE).
    const second = await rawConnect(file);
    second.sock.write(lp(hello(3, id, 0, 1)), () => second.sock.destroy());
    await waitFor(() => disconnects.length === 1, "the session's 'disconnect' for the second connection");

    const third = await rawConnect(file);
    third.sock.write(lp(hello(3, id, 0, 1)));
    await waitFor(() => shown(third).length >= 3, 'the replay on the third connection');
    expect(shown(third)).toEqual(['H received=0 first=1', `S1 ${big('a')}`, `S2 ${big('b')}`]);
    third.sock.write(lp(Buffer.concat([Buffer.from('A'), Buffer.from('0000000000000002', 'hex')])));
    await waitFor(() => sessions[0]!.stats.queuedFrames === 0, 'the acknowledgement');
    expect(sessions).toHaveLength(1);
  });
});

// --- 3. a server process killed and started again ---------------------------------------------------

describe('resume across a server process restart', () => {
  it('the new server starts a new session; frames the old one never acknowledged reach it in order', async () => {
    const ep = `unix:${sock('s.sock')}`;
    const startServer = async (toSend: number): Promise<LineChild> => {
      const p = new LineChild(process.execPath, [path.join(HELPERS, 'resume-server.cjs'), DIST_CJS, ep, 'length-prefixed', String(toSend)], {
        stdin: 'ignore',
      });
      await p.line('listening');
      return p;
    };
    const gotBy = (p: LineChild): string[] => p.lines.filter((l) => l.startsWith('got ')).map((l) => l.slice(4));

    const a = await startServer(5);
    const c = client(ep);
    const got = texts(c);
    const events = tally(c, ['connect', 'disconnect', 'reconnect', 'close']);
    const clientDrops = drops(c);

    // c-1..c-20 reach server A and are acknowledged.
    for (const f of range('c', 1, 20)) c.send(f);
    await waitFor(() => gotBy(a).length === 20 && got.length === 5, 'the first exchange');
    await waitFor(() => c.stats.queuedFrames === 0, "A's acknowledgements");

    // c-21..c-50 go out while A is stopped: sent, never read, never acknowledged. Then A dies.
    a.child.kill('SIGSTOP');
    for (const f of range('c', 21, 50)) c.send(f);
    await waitFor(() => c.stats.queuedFrames === 30 && c.connection !== null && c.connection.stats.bufferedBytes === 0, 'c-21..c-50 handed to the OS');
    a.kill();
    await a.done();
    await waitFor(() => events.count.disconnect === 1, "the client's 'disconnect'");

    // c-51..c-100 are sent while no server runs.
    for (const f of range('c', 51, 100)) c.send(f);
    const b = await startServer(3);
    await waitFor(() => gotBy(b).length >= 80 && got.length >= 8, 'the exchange with server B', {
      hopeless: () => (b.exit !== null ? `B exited: ${b.stderr}` : null),
    });
    await waitFor(() => c.stats.queuedFrames === 0, "B's acknowledgements");
    await sleep(30);

    // A got exactly what it acknowledged; B, a new session to its process, got everything after.
    expect(gotBy(a)).toEqual(range('c', 1, 20));
    expect(gotBy(b)).toEqual(range('c', 21, 100));
    expect(b.lines.filter((l) => l === 'connection' || l === 'reconnect')).toEqual(['connection']);
    // B numbers its frames afresh; the client takes them as new, not as replays of A's.
    expect(got).toEqual([...range('server', 1, 5), ...range('server', 1, 3)]);
    expect(c.stats.duplicates).toBe(0);
    expect(events.count).toMatchObject({ connect: 1, disconnect: 1, reconnect: 1, close: 0 });
    expect(clientDrops).toEqual([]);
  });

  // Two ways the old session's numbers reached the new one, each releasing frames the client never
  // had: the count in the client's hello, and an acknowledgement inside a replayed batch.
  it("a new server session in the same server: neither the client's hello nor its replay acknowledges the new session's frames with the old one's numbers", async () => {
    const ep = `unix:${sock('s.sock')}`;
    const srv = await listenAt(ep, { resume: true });
    const sessions: ServerSession[] = [];
    srv.on('connection', (s: ServerSession) => sessions.push(s));
    const c = reconnecting(ep, { resume: true, initialDelay: 5, maxDelay: 20 });
    onCleanup(() => c.destroy());
    const got = texts(c);
    // Each frame is answered at once: the answer and the acknowledgement of what came share a batch.
    c.on('message', (m: Buffer) => c.send(`re:${m.toString()}`));
    await once(c, 'connect');
    await waitFor(() => sessions.length === 1, 'the first server session');

    // The first session sends five frames and reads nothing more, so the answers stay unacknowledged
    // in the client's replay log, with its acknowledgement of frame 5 among them. A paused session
    // still reads acknowledgements and credit (resume's flow control): stop its connection's reads.
    const first = sessions[0]!;
    first.connection!.pause();
    for (let i = 1; i <= 5; i++) first.send(`m${i}`);
    await waitFor(() => got.length === 5 && c.stats.queuedFrames === 5, () => `client: ${got.length} frames, ${c.stats.queuedFrames} unacknowledged`);

    // The session ends on the server (as when the server process restarts): the client comes back to a
    // new session, numbered from 1, and replays its five answers to it.
    first.destroy();
    await waitFor(() => sessions.length === 2, 'the second server session');
    const second = sessions[1]!;
    const answers = texts(second);
    await waitFor(() => answers.length === 5, () => `answers replayed: ${answers.length}`);

    // The new session's frames 1-3 are written to a connection the client is not reading, which dies:
    // they were never acknowledged, so they must be replayed on the next one.
    c.pause();
    second.send('n1');
    second.send('n2');
    second.send('n3');
    await waitFor(() => second.stats.bytesOut > 0 && second.connection !== null, 'n1-n3 written');
    const reconnected = once(c, 'reconnect');
    c.connection!.destroy();
    await reconnected;
    c.resume();
    second.send('n4');
    await waitFor(() => got.length === 9, 'n1-n4 at the client');
    expect(got).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'n1', 'n2', 'n3', 'n4']);
    await waitFor(() => second.stats.queuedFrames === 0, () => `server session: ${second.stats.queuedFrames} frames unacknowledged`);
    expect(answers).toEqual(['re:m1', 're:m2', 're:m3', 're:m4', 're:m5', 're:n1', 're:n2', 're:n3', 're:n4']);
    expect(sessions).toHaveLength(2);
  });
});

// --- 4. only one end resumes --------------------------------------------------------------------------

describe('reconnecting({ resume: true }) to a server that does not resume', () => {
  async function attempts(ep: string): Promise<{ causes: (string | undefined)[]; error: Error & { cause?: unknown; attempts?: number }; events: string[] }> {
    const c = client(ep, { maxAttempts: 2, connectTimeout: 300 });
    const causes: (string | undefined)[] = [];
    const events: string[] = [];
    c.on('reconnecting', (_attempt: number, _delay: number, cause: Error) => {
      causes.push(code(cause));
      events.push('reconnecting');
    });
    c.on('connect', () => events.push('connect'));
    let error: Error | undefined;
    c.on('error', (e: Error) => {
      error = e;
      events.push('error');
    });
    await withTimeout(new Promise((resolve) => c.once('close', resolve)), () => 'the client never gave up');
    events.push('close');
    return { causes, error: error!, events };
  }

  it('a heartbeat-only server: each handshake fails with ERR_IPC_HANDSHAKE, then ERR_IPC_RECONNECT_FAILED', async () => {
    const ep = `unix:${sock('s.sock')}`;
    const srv = await listenAt(ep, { heartbeat: true });
    let connections = 0;
    srv.on('connection', () => connections++);
    const { causes, error, events } = await attempts(ep);
    expect(causes).toEqual([ErrorCodes.HANDSHAKE]);
    expect(events).toEqual(['reconnecting', 'error', 'close']);
    expect(code(error)).toBe(ErrorCodes.RECONNECT_FAILED);
    expect(error.attempts).toBe(2);
    expect(code(error.cause)).toBe(ErrorCodes.HANDSHAKE);
    expect(connections).toBe(0);
  });

  it('a plain server: the same', async () => {
    const ep = `unix:${sock('s.sock')}`;
    const srv = await listenAt(ep, {});
    const hellos: string[] = [];
    srv.on('connection', (t: Transport) => {
      onCleanup(() => t.destroy());
      t.on('message', (m: Buffer) => hellos.push(m.subarray(0, 5).toString('latin1')));
    });
    const { causes, error, events } = await attempts(ep);
    expect(causes).toEqual([ErrorCodes.HANDSHAKE]);
    expect(events).toEqual(['reconnecting', 'error', 'close']);
    expect(code(error)).toBe(ErrorCodes.RECONNECT_FAILED);
    expect(error.attempts).toBe(2);
    expect(code(error.cause)).toBe(ErrorCodes.HANDSHAKE);
    // The plain server saw each attempt's hello as an ordinary frame.
    expect(hellos).toEqual(['HSIPC', 'HSIPC']);
  });
});

describe('resume with a bounded queue', () => {
  // The server turns every connection away while `open` is false, so the client stays disconnected and
  // queues; its connection is cut by hand. Frames dropped by the queue's policy were never written:
  // the frames after them take over their numbers, so the server sees no gap and no duplicate.
  async function setup(opts: Parameters<typeof reconnecting>[1]) {
    const ep = `unix:${sock('q.sock')}`;
    let open = true;
    const srv = await listenAt(ep, { resume: true, allowPeer: () => open });
    const got: string[] = [];
    const sessions: Session[] = [];
    srv.on('connection', (s: Session) => {
      sessions.push(s);
      s.on('message', (m: Buffer) => got.push(m.toString()));
    });
    const c = client(ep, { initialDelay: 5, maxDelay: 20, ...opts });
    const dropped = drops(c);
    await once(c, 'connect');
    for (const f of ['a0', 'a1', 'a2']) c.send(f);
    await waitFor(() => got.length === 3 && c.stats.queuedFrames === 0, () => `acknowledged: ${c.stats.queuedFrames} left`);
    open = false;
    c.connection!.destroy();
    await once(c, 'disconnect');
    return { c, got, sessions, dropped, reopen: () => (open = true) };
  }

  it("'drop-oldest' drops never-written frames; the rest arrive in order after the reconnect", async () => {
    const { c, got, sessions, dropped, reopen } = await setup({ queuePolicy: 'drop-oldest', maxQueueFrames: 5 });
    for (let i = 0; i < 10; i++) c.send(`b${i}`);
    expect(dropped).toEqual([0, 1, 2, 3, 4].map((i) => [`b${i}`, 'queue-full']));
    reopen();
    await once(c, 'reconnect');
    await waitFor(() => got.length === 8, () => `got ${got.join(',')}`);
    expect(got).toEqual(['a0', 'a1', 'a2', 'b5', 'b6', 'b7', 'b8', 'b9']);
    c.send('c0');
    await waitFor(() => got.length === 9, () => `got ${got.join(',')}`);
    expect(got.at(-1)).toBe('c0');
    expect(sessions).toHaveLength(1);
    expect(sessions[0]!.stats.duplicates).toBe(0);
  });

  it('queueTtl drops frames that waited too long; later frames take their numbers', async () => {
    const { c, got, sessions, dropped, reopen } = await setup({ queueTtl: 40 });
    for (let i = 0; i < 4; i++) c.send(`b${i}`);
    await waitFor(() => dropped.length === 4, () => `dropped ${dropped.length}`);
    expect(dropped).toEqual([0, 1, 2, 3].map((i) => [`b${i}`, 'ttl']));
    c.send('c0');
    c.send('c1');
    reopen();
    await once(c, 'reconnect');
    await waitFor(() => got.length === 5, () => `got ${got.join(',')}`);
    expect(got).toEqual(['a0', 'a1', 'a2', 'c0', 'c1']);
    expect(sessions).toHaveLength(1);
  });
});

describe('destroy() of a connected resumable session', () => {
  it("reports every frame not acknowledged as 'drop', each once, in the order sent", async () => {
    const ep = `unix:${sock('order.sock')}`;
    const srv = await listenAt(ep, { resume: true });
    srv.on('connection', (s: Session) => s.pause()); // takes frames, acknowledges what it reads
    const t = reconnecting(ep, { resume: true });
    onCleanup(() => t.destroy());
    await once(t, 'connect');
    const dropped: string[] = [];
    t.on('drop', (f: Buffer) => dropped.push(f.toString()));
    t.on('error', () => {});
    // Some frames written, some still in this tick's batch, none acknowledged yet.
    for (let i = 0; i < 50; i++) t.send(`f${i}`);
    t.destroy();
    await waitFor(() => t.state === 'closed', 'closed');
    expect(dropped).toEqual(Array.from({ length: 50 }, (_, i) => `f${i}`));
  });
});
