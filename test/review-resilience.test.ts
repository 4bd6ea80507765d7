// Review of the resilience layer (issue 4): each test here failed because of a bug found in review,
// and passes with its fix. Real sockets; frames counted exactly; no timing assertions.
import { afterEach, describe, expect, it } from 'vitest';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { once } from 'node:events';
import { listen, reconnecting, spawnStdio, type ReconnectingTransport, type Server, type ServerSession, type Session } from '../dist/index.js';
import { hello, splitLengthPrefixed } from './helpers/envelope-util';
import { cleanupAll, dirPerTest, lp, onCleanup, rawConnect, runNode, waitFor, type RawPeer } from './helpers/common';

afterEach(cleanupAll);

const dir = dirPerTest('sipc-review-');

async function server(ep: string, opts: Parameters<typeof listen>[1]): Promise<Server> {
  const s = await listen(ep, opts);
  onCleanup(() => s.close());
  return s;
}

// --- the wire, by hand (length-prefixed) -----------------------------------------------------------

/** The length-prefixed frames a raw peer received, as text ('S' frames: type, seq, text). */
function frames(raw: RawPeer): string[] {
  return splitLengthPrefixed(raw.bytes()).map((f) => {
    const type = String.fromCharCode(f[0]!);
    if (type === 'S') return `S${f.readBigUInt64BE(1)} ${f.subarray(9).toString()}`;
    if (type === 'H') return `H received=${f.readBigUInt64BE(23)} first=${f.readBigUInt64BE(31)}`;
    return type;
  });
}

describe('resume replay', () => {
  it("a frame the server session sent right behind its hello is replayed without that old hello", async () => {
    const file = path.join(dir(), 's.sock');
    const srv = await server(`unix:${file}`, { resume: true });
    const sessions: ServerSession[] = [];
    // The usual greeting: the session sends as soon as it is announced, in the same tick as its hello.
    srv.on('connection', (s: ServerSession) => {
      sessions.push(s);
      s.send('greeting');
    });
    const id = Buffer.from('fedcba9876543210', 'latin1');

    // First connection: the greeting comes, and the client goes away without acknowledging it.
    const first = await rawConnect(file);
    first.sock.write(lp(hello(3, id, 0, 1)));
    await waitFor(() => frames(first).length >= 2, "the server's hello and the greeting");
    expect(frames(first)).toEqual(['H received=0 first=1', 'S1 greeting']);
    first.sock.destroy();
    await waitFor(() => sessions[0]!.connection === null, "the server's side of the first connection to go");

    // Second connection: the new hello, then the greeting replayed; nothing else.
    const second = await rawConnect(file);
    second.sock.write(lp(hello(3, id, 0, 1)));
    await waitFor(() => frames(second).length >= 2, "the server's second hello and the replayed greeting");
    // A ping: its pong comes behind whatever the replay held.
    second.sock.write(lp(Buffer.from([0x50, 0, 0, 0, 7])));
    await waitFor(() => frames(second).includes('O'), 'the pong');
    expect(frames(second)).toEqual(['H received=0 first=1', 'S1 greeting', 'O']);
    second.sock.write(lp(Buffer.concat([Buffer.from('A'), Buffer.from('0000000000000001', 'hex')])));
    await waitFor(() => sessions[0]!.stats.queuedFrames === 0, 'the acknowledgement');
    expect(sessions).toHaveLength(1);
    expect(sessions[0]!.connection).not.toBeNull();
  });
});

describe('resume replay on a connection that fails under it', () => {
  it('a client that sends its hello and is gone at once: the server session survives, and replays to the next connection', async () => {
    const file = path.join(dir(), 's.sock');
    const srv = await server(`unix:${file}`, { resume: true });
    const sessions: ServerSession[] = [];
    const big = (c: string): string => c.repeat(20_000); // past 16 KiB: written from the caller's memory
    srv.on('connection', (s: ServerSession) => {
      sessions.push(s);
      s.send(big('a'));
      s.send(big('b'));
    });
    const id = Buffer.from('0011223344556677', 'latin1');
    const first = await rawConnect(file);
    first.sock.write(lp(hello(3, id, 0, 1)));
    await waitFor(() => frames(first).length >= 3, "the server's hello and two frames");
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
    await waitFor(() => frames(third).length >= 3, 'the replay on the third connection');
    expect(frames(third)).toEqual(['H received=0 first=1', `S1 ${big('a')}`, `S2 ${big('b')}`]);
    third.sock.write(lp(Buffer.concat([Buffer.from('A'), Buffer.from('0000000000000002', 'hex')])));
    await waitFor(() => sessions[0]!.stats.queuedFrames === 0, 'the acknowledgement');
    expect(sessions).toHaveLength(1);
  });
});

describe('spawnStdio({ restart }) ended before its first child is taken', () => {
  /** Whether process `pid` still exists. */
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  // The child writes its pid to a file, then waits for its stdin to end (as a stdio server does).
  const CHILD = "require('fs').writeFileSync(process.argv[1], String(process.pid)); process.stdin.resume(); process.stdin.on('end', () => process.exit(0));";

  for (const how of ['destroy()', 'close()'] as const) {
    it(`${how}: the child spawned at the call does not outlive the transport`, async () => {
      const file = path.join(dir(), 'pid');
      const r = spawnStdio(process.execPath, ['-e', CHILD, file], { restart: true }) as ReconnectingTransport;
      let closes = 0;
      r.on('close', () => closes++);
      r.on('error', () => {});
      if (how === 'destroy()') r.destroy();
      else void r.close();
      await waitFor(() => fs.existsSync(file) && fs.readFileSync(file, 'utf8').length > 0, "the child's pid");
      const pid = Number(fs.readFileSync(file, 'utf8'));
      onCleanup(() => {
        if (alive(pid)) process.kill(pid, 'SIGKILL');
      });
      await waitFor(() => closes === 1, "the transport's 'close'");
      await waitFor(() => !alive(pid), `child ${pid} to end`);
      expect(closes).toBe(1);
    });
  }
});

describe('resume to a server session that starts anew', () => {
  function texts(s: Session): string[] {
    const out: string[] = [];
    s.on('message', (m: Buffer) => out.push(m.toString()));
    return out;
  }

  // Two ways the old session's numbers reached the new one, each releasing frames the client never
  // had: the count in the client's hello, and an acknowledgement inside a replayed batch.
  it("neither the client's hello nor its replay acknowledges the new session's frames with the old one's numbers", async () => {
    const ep = `unix:${path.join(dir(), 's.sock')}`;
    const srv = await server(ep, { resume: true });
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

describe('a heartbeat server and a client that asked for resume', () => {
  it('the connection the client gives up on cannot raise an uncaught error on the server', async () => {
    const file = path.join(dir(), 'h.sock');
    const srv = await server(`unix:${file}`, { heartbeat: true });
    let connections = 0;
    srv.on('connection', () => connections++);
    const raw = await rawConnect(file);
    raw.sock.write(lp(hello(3, Buffer.alloc(16), 0, 1)));
    await waitFor(() => frames(raw).length === 1, "the server's hello");
    expect(frames(raw)).toEqual(['H received=0 first=1']);
    // Not a frame of the envelope: the server ends the connection (nobody else listens to it there).
    raw.sock.write(lp('Zjunk'));
    await waitFor(() => raw.closed, 'the server to close the connection');
    await waitFor(() => srv.connections === 0, "the server's count of connections");
    expect(connections).toBe(0);
  });
});

describe('resume: close() right behind a send, while connected', () => {
  function drops(s: Session): string[] {
    const out: string[] = [];
    s.on('drop', (frame: Uint8Array, reason: string) => out.push(`${Buffer.from(frame).toString()} ${reason}`));
    return out;
  }

  it("the client's frames are delivered and none is reported dropped", async () => {
    const ep = `unix:${path.join(dir(), 's.sock')}`;
    const srv = await server(ep, { resume: true });
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

  it("the server session's frames are delivered and none is reported dropped", async () => {
    const ep = `unix:${path.join(dir(), 's.sock')}`;
    const srv = await server(ep, { resume: true });
    const dropped: string[] = [];
    let closed!: Promise<void>;
    srv.on('connection', (s: ServerSession) => {
      s.on('drop', (frame: Uint8Array, reason: string) => dropped.push(`${Buffer.from(frame).toString()} ${reason}`));
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
});

describe('close() while an attempt is in flight', () => {
  it('abandons the attempt: a handshake the server never answers does not hold the process', async () => {
    const file = path.join(dir(), 'plain.sock');
    // A plain server: it takes the connection and never answers a hello.
    const srv = await server(`unix:${file}`, {});
    let accepted = 0;
    srv.on('connection', () => accepted++);
    const script = `
      const { reconnecting } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.js'))});
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

describe('destroy() of a connected resumable session', () => {
  it("reports every frame not acknowledged as 'drop', each once, in the order sent", async () => {
    const ep = `unix:${path.join(dir(), 'order.sock')}`;
    const srv = await server(ep, { resume: true });
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
