// Credit-based flow control of resumable sessions (src/credit.ts, the README's envelope table): a
// session always reads its connection, the receive window bounds what a consumer that stopped holds,
// 'W' frames hand credit back, and a peer that sends past its credit is cut off. The wire is checked
// against clients written by hand (test/helpers/envelope-util.ts), not against our own encoder.
import { afterEach, describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { once } from 'node:events';
import { reconnecting, type ServerSession } from '../dist/index.js';
import { cleanupAll, code, dirPerTest, listenAt, onCleanup, rawConnect, sleep, waitFor, type RawPeer } from './helpers/common';
import { hello, seqFrame } from './helpers/envelope-util';
import { lp, splitLengthPrefixed } from './helpers/wire.cjs';

afterEach(cleanupAll);

const dir = dirPerTest('sipc-flow-');
const SESSION = Buffer.from('fedcba9876543210', 'latin1');
const frames = (raw: RawPeer): Buffer[] => splitLengthPrefixed(raw.bytes());

/** 'W' and the new limit (u64), as the README's envelope table writes it. */
function windowFrame(limit: number): Buffer {
  const b = Buffer.alloc(9);
  b.write('W', 0, 'latin1');
  b.writeBigUInt64BE(BigInt(limit), 1);
  return b;
}

describe('resume credit on the wire', () => {
  it("the server's hello grants its receiveWindow; a client that starts a frame past it is cut off with ERR_IPC_FLOW_CONTROL", async () => {
    const file = path.join(dir(), 's.sock');
    const srv = await listenAt(`unix:${file}`, { resume: true, receiveWindow: 1024 });
    const causes: unknown[] = [];
    const sessions: ServerSession[] = [];
    srv.on('connection', (s: ServerSession) => {
      sessions.push(s);
      s.pause(); // takes nothing: no credit comes back
      s.on('disconnect', (err) => causes.push(err));
    });
    const raw = await rawConnect(file);
    raw.sock.write(lp(hello(3, SESSION, 0, 1)));
    await waitFor(() => frames(raw).length >= 1, "the server's hello");
    // The answer's window field is the server's receiveWindow: the credit we have on this connection.
    expect(frames(raw)[0]!.equals(hello(3, SESSION, 0, 1, 1024))).toBe(true);
    // Frame 1 (1000 + 64 bytes of cost) starts at 0, below 1024: allowed, though it ends past it.
    raw.sock.write(lp(seqFrame(1, 'x'.repeat(1000))));
    await waitFor(() => sessions.length === 1 && sessions[0]!.stats.heldBytes === 1064, 'frame 1 held');
    expect(causes).toEqual([]);
    // Frame 2 starts at 1064, past the limit.
    raw.sock.write(lp(seqFrame(2, 'y')));
    await waitFor(() => causes.length === 1, "the connection's end");
    expect(code(causes[0])).toBe('ERR_IPC_FLOW_CONTROL');
    expect(String((causes[0] as Error).message)).toContain('receiveWindow 1024');
    // What was held within the window is still there for the consumer.
    const got: string[] = [];
    sessions[0]!.on('message', (m: Buffer) => got.push(m.toString()));
    sessions[0]!.resume();
    await waitFor(() => got.length === 1, 'frame 1 delivered');
    expect(got[0]).toBe('x'.repeat(1000));
  });

  it('a session sends only within the credit its peer granted, waits with send() false, and goes on at each W frame', async () => {
    const file = path.join(dir(), 's.sock');
    const srv = await listenAt(`unix:${file}`, { resume: true });
    const sessions: ServerSession[] = [];
    srv.on('connection', (s: ServerSession) => sessions.push(s));
    const raw = await rawConnect(file);
    // We grant 2000 bytes of cost: frames of 500 + 64 start at 0, 564, 1128 and 1692, then none.
    raw.sock.write(lp(hello(3, SESSION, 0, 1, 2000)));
    await waitFor(() => sessions.length === 1 && frames(raw).length >= 1, 'the session');
    const s = sessions[0]!;
    const results: boolean[] = [];
    for (let i = 1; i <= 10; i++) results.push(s.send(String(i).padEnd(500, '.')));
    const data = (): Buffer[] => frames(raw).filter((f) => f[0] === 0x53);
    await waitFor(() => data().length === 4, () => `four frames within the credit (${data().length})`);
    await sleep(50);
    expect(data().length).toBe(4);
    expect(s.stats.sendCredit).toBe(0);
    expect(s.stats.queuedFrames).toBe(10); // 4 unacknowledged, 6 waiting for credit
    // Credit up to 4000: frames start at 2256, 2820 and 3384, then 3948 (below 4000): four more.
    raw.sock.write(lp(windowFrame(4000)));
    await waitFor(() => data().length === 8, () => `eight frames (${data().length})`);
    // A repeated or older update changes nothing.
    raw.sock.write(lp(windowFrame(4000), windowFrame(3000)));
    await sleep(50);
    expect(data().length).toBe(8);
    raw.sock.write(lp(windowFrame(1_000_000)));
    await waitFor(() => data().length === 10, 'all ten');
    expect(data().map((f) => f.readBigUInt64BE(1))).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n]);
    expect(data().map((f) => f.subarray(9).toString().replace(/\.+$/, ''))).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
    expect(results).toContain(true);
  });

  it('a client of envelope version 1 is refused by a message naming both versions', async () => {
    const file = path.join(dir(), 's.sock');
    const srv = await listenAt(`unix:${file}`, { resume: true });
    const errors: Error[] = [];
    srv.on('handshakeError', (e: Error) => errors.push(e));
    const raw = await rawConnect(file);
    const v1 = hello(3, SESSION, 0, 1).subarray(0, 39); // version 1's layout: no window field
    v1[5] = 1;
    raw.sock.write(lp(v1));
    await waitFor(() => errors.length === 1, 'the refusal');
    expect(code(errors[0])).toBe('ERR_IPC_HANDSHAKE');
    expect(errors[0]!.message).toMatch(/envelope version 1; this end speaks version 2/);
  });
});

describe('resume credit between two sessions', () => {
  it('a paused server session holds at most its window: the client sees send() false, pings are answered, and all arrive once, in order, after resume()', async () => {
    const file = path.join(dir(), 's.sock');
    const window = 64 * 1024;
    const srv = await listenAt(`unix:${file}`, { resume: true, receiveWindow: window });
    const got: number[] = [];
    let session: ServerSession | null = null;
    srv.on('connection', (s: ServerSession) => {
      session = s;
      s.pause();
      s.on('message', (m: Buffer) => got.push(m.readUInt32BE(0)));
    });
    const c = reconnecting(`unix:${file}`, { resume: true });
    onCleanup(() => c.destroy());
    await once(c, 'connect');
    await waitFor(() => session !== null, 'the session');
    const N = 2000;
    let sawFalse = false;
    let maxHeld = 0;
    const sending = (async () => {
      for (let i = 0; i < N; i++) {
        const f = Buffer.alloc(1024);
        f.writeUInt32BE(i, 0);
        if (!c.send(f)) {
          sawFalse = true;
          await once(c, 'drain');
        }
      }
    })();
    await waitFor(() => sawFalse, 'send() to return false');
    for (let i = 0; i < 10; i++) {
      maxHeld = Math.max(maxHeld, session!.stats.heldBytes);
      await sleep(20);
    }
    // Control frames still flow both ways while the consumer is stopped.
    expect(await c.ping(1000)).toBeGreaterThanOrEqual(0);
    expect(got).toEqual([]);
    expect(maxHeld).toBeGreaterThan(window / 2);
    expect(maxHeld).toBeLessThanOrEqual(window + 1024 + 64);
    // A probe that waits longer than its timeout sees a consumer that has stopped.
    await sleep(300);
    await expect(c.ping(200)).rejects.toMatchObject({ code: 'ERR_IPC_PING_TIMEOUT', message: expect.stringMatching(/granted no credit/) });
    session!.resume();
    await sending;
    await waitFor(() => got.length === N, () => `${got.length} of ${N}`);
    expect(got).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(session!.stats.heldBytes).toBe(0);
    expect(await c.ping(1000)).toBeGreaterThanOrEqual(0);
  });

  it('an async iterator that stops taking frames bounds what is held the same way, and reading goes on for acknowledgements', async () => {
    const file = path.join(dir(), 's.sock');
    const window = 32 * 1024;
    const srv = await listenAt(`unix:${file}`, { resume: true, receiveWindow: window });
    let session: ServerSession | null = null;
    srv.on('connection', (s: ServerSession) => (session = s));
    const c = reconnecting(`unix:${file}`, { resume: true });
    onCleanup(() => c.destroy());
    await once(c, 'connect');
    await waitFor(() => session !== null, 'the session');
    const it = session![Symbol.asyncIterator]();
    for (let i = 0; i < 500; i++) c.send(Buffer.alloc(512, i & 0xff));
    await waitFor(() => session!.stats.heldBytes > window / 2, 'frames held in the iterator');
    await sleep(100);
    expect(session!.stats.heldBytes).toBeLessThanOrEqual(window + 512 + 64);
    let taken = 0;
    while (taken < 500) {
      const r = await it.next();
      expect(r.done).toBe(false);
      expect(r.value![0]).toBe(taken & 0xff);
      taken++;
    }
    await waitFor(() => c.stats.queuedFrames === 0, 'every frame acknowledged');
    expect(session!.stats.heldBytes).toBe(0);
  });
});
