// Hostile and broken peers: raw `node:net` sockets and Python sockets write crafted bytes at our server.
// Each bad connection must end in exactly one 'error' with the right code, then 'close', and the server
// must go on serving a second, well-behaved connection (checked by exchanging frames both ways).
import { afterEach, describe, expect, it } from 'vitest';
import type { Transport } from '../dist/index.js';
import { connect } from '../dist/index.js';
import { cleanupAll, code, onCleanup, rawConnect, record, sleep, tick, waitFor, type Recorder } from './helpers/common';
import { lp } from './helpers/wire.cjs';
import { checkServes, pyPeer, startServer } from './helpers/hostile-util';

afterEach(cleanupAll);

function expectOneError(rec: Recorder, expected: string | string[], messagesBefore = 0): void {
  const codes = Array.isArray(expected) ? expected : [expected];
  expect(rec.errors.length, `errors: ${rec.errors.map(String).join('; ')}`).toBe(1);
  expect(codes).toContain(code(rec.errors[0]));
  expect(rec.closes).toBe(1);
  expect(rec.log).toEqual([...Array<string>(messagesBefore).fill('message'), 'error', 'close']);
  expect(rec.t.state).toBe('closed');
}

describe('length-prefixed', () => {
  it('a length header of 0xFFFFFFFF (4 GiB) fails with ERR_IPC_FRAME_TOO_LARGE and the server keeps serving', async () => {
    const ts = await startServer();
    const peer = await rawConnect(ts.path);
    const rec = await ts.nth(0);
    peer.sock.write(Buffer.concat([lp('before'), Buffer.from([0xff, 0xff, 0xff, 0xff])]));
    // No body follows: the header alone must end the connection (nobody waits for 4 GiB).
    await rec.waitClosed();
    expectOneError(rec, 'ERR_IPC_FRAME_TOO_LARGE', 1);
    expect(rec.messages[0]!.toString()).toBe('before');
    await waitFor(() => peer.closed, 'the hostile peer to see its socket closed');
    await checkServes(ts);
    expect(ts.server.connections).toBe(0);
  });

  it('0xFFFFFFFF is too large even with maxFrameSize at its 1 GiB ceiling', async () => {
    const ts = await startServer({ maxFrameSize: 1024 * 1024 * 1024 });
    const peer = await rawConnect(ts.path);
    const rec = await ts.nth(0);
    peer.sock.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00]));
    await rec.waitClosed();
    expectOneError(rec, 'ERR_IPC_FRAME_TOO_LARGE');
    await checkServes(ts);
  });
});

describe('content-length', () => {
  const good = 'Content-Length: 2\r\n\r\nok';
  const cases: Array<[string, string | Buffer, string]> = [
    ['a negative length (-1)', 'Content-Length: -1\r\n\r\n', 'ERR_IPC_PROTOCOL'],
    ['a length in exponent notation (1e9)', 'Content-Length: 1e9\r\n\r\n', 'ERR_IPC_PROTOCOL'],
    ['a length of 9999999999 (past 32 bits)', 'Content-Length: 9999999999\r\n\r\n', 'ERR_IPC_FRAME_TOO_LARGE'],
    ['a length of 99999999999999999999999 (past 64 bits)', 'Content-Length: 99999999999999999999999\r\n\r\n', 'ERR_IPC_FRAME_TOO_LARGE'],
    ['a non-numeric length (abc)', 'Content-Length: abc\r\n\r\n', 'ERR_IPC_PROTOCOL'],
    ['an empty length', 'Content-Length: \r\n\r\n', 'ERR_IPC_PROTOCOL'],
    ['two Content-Length headers (same value)', 'Content-Length: 2\r\nContent-Length: 2\r\n\r\nhi', 'ERR_IPC_PROTOCOL'],
    ['two Content-Length headers (different values)', 'Content-Length: 2\r\ncontent-length: 5\r\n\r\nhello', 'ERR_IPC_PROTOCOL'],
    ['no Content-Length header at all', 'Content-Type: text/plain\r\n\r\n', 'ERR_IPC_PROTOCOL'],
    ['a header line without a colon', 'Content-Length 2\r\n\r\nhi', 'ERR_IPC_PROTOCOL'],
    ['a header block that never ends: one long line past 8 KiB', `X-Junk: ${'a'.repeat(9000)}`, 'ERR_IPC_PROTOCOL'],
    ['a header block that never ends: many short lines past 8 KiB', 'X-Junk: y\r\n'.repeat(1000), 'ERR_IPC_PROTOCOL'],
  ];

  it.each(cases)('%s fails with the right code after a good frame, and the server keeps serving', async (_name, bad, expected) => {
    const ts = await startServer({ framing: 'content-length' });
    const peer = await rawConnect(ts.path);
    const rec = await ts.nth(0);
    peer.sock.write(good);
    await rec.waitMessages(1);
    peer.sock.write(bad);
    await rec.waitClosed();
    expectOneError(rec, expected, 1);
    expect(rec.messages[0]!.toString()).toBe('ok');
    await waitFor(() => peer.closed, 'the hostile peer to see its socket closed');
    await checkServes(ts, { framing: 'content-length' });
  });

  it('the same bad header split one byte per write still fails once (9999999999 -> too large)', async () => {
    const ts = await startServer({ framing: 'content-length' });
    const peer = await rawConnect(ts.path);
    const rec = await ts.nth(0);
    for (const byte of Buffer.from('Content-Length: 9999999999\r\n\r\n')) {
      if (peer.closed) break;
      peer.sock.write(Buffer.from([byte]));
      await tick();
    }
    await rec.waitClosed();
    expectOneError(rec, 'ERR_IPC_FRAME_TOO_LARGE');
    await checkServes(ts, { framing: 'content-length' });
  });
});

describe('lines', () => {
  it('a line that never ends, past maxFrameSize, fails with ERR_IPC_FRAME_TOO_LARGE', async () => {
    const max = 64 * 1024;
    const ts = await startServer({ framing: 'lines', maxFrameSize: max });
    const peer = await rawConnect(ts.path);
    const rec = await ts.nth(0);
    peer.sock.write('fine\n');
    await rec.waitMessages(1);
    // 4 KiB at a time, no newline ever, until the server hangs up (at most 4x the limit).
    let written = 0;
    while (!peer.closed && written < 4 * max && rec.closes === 0) {
      peer.sock.write(Buffer.alloc(4096, 0x78));
      written += 4096;
      await tick();
    }
    await rec.waitClosed();
    expectOneError(rec, 'ERR_IPC_FRAME_TOO_LARGE', 1);
    await checkServes(ts, { framing: 'lines' });
  });

  it('a line that never ends past the default 8 MiB limit fails the same way', async () => {
    const ts = await startServer({ framing: 'lines' });
    const peer = await rawConnect(ts.path);
    const rec = await ts.nth(0);
    const chunk = Buffer.alloc(1024 * 1024, 0x79);
    for (let i = 0; i < 9 && !peer.closed; i++) peer.sock.write(chunk);
    await rec.waitClosed();
    expectOneError(rec, 'ERR_IPC_FRAME_TOO_LARGE');
    await checkServes(ts, { framing: 'lines' });
  });

  it('NUL bytes and invalid UTF-8 are frames like any other: delivered unchanged both ways, no error', async () => {
    const ts = await startServer({ framing: 'lines' });
    const peer = await rawConnect(ts.path);
    const rec = await ts.nth(0);
    const frames = [
      Buffer.from([0x00]),
      Buffer.from([0x00, 0x41, 0x00, 0x00]),
      Buffer.from([0xff, 0xfe, 0xfd]), // never valid UTF-8
      Buffer.from([0xc3, 0x28]), // a broken two-byte sequence
      Buffer.from([0xed, 0xa0, 0x80]), // an encoded UTF-16 surrogate
      Buffer.from([0xf4, 0x90, 0x80, 0x80]), // past U+10FFFF
      Buffer.from([0x61, 0x0d, 0x62]), // a \r that is not at the end stays
      Buffer.from([0xc0, 0x80, 0x00, 0xe2, 0x82]), // overlong NUL, NUL, a truncated sequence
    ];
    peer.sock.write(Buffer.concat(frames.flatMap((f) => [f, Buffer.from('\n')])));
    await rec.waitMessages(frames.length);
    expect(rec.messages.map((m) => m.toString('hex'))).toEqual(frames.map((f) => f.toString('hex')));
    // And our side sends the same bytes back unchanged.
    for (const f of frames) expect(rec.t.send(f)).toBe(true);
    const expectedBack = Buffer.concat(frames.flatMap((f) => [f, Buffer.from('\n')]));
    await waitFor(() => peer.bytes().length >= expectedBack.length, 'the frames sent back');
    expect(peer.bytes().toString('hex')).toBe(expectedBack.toString('hex'));
    peer.sock.end();
    await rec.waitClosed();
    expect(rec.errors).toEqual([]);
    expect(rec.log).toEqual([...Array<string>(frames.length).fill('message'), 'close']);
    expect(rec.t.stats.framesIn).toBe(frames.length);
  });
});

describe('peers that are slow or do not read', () => {
  it('a peer sending one byte per 100 ms hits frameTimeout (ERR_IPC_FRAME_TIMEOUT) while another connection is served', async () => {
    const ts = await startServer({ frameTimeout: 300 });
    // The well-behaved connection first: its server side echoes every frame.
    const good = await connect(ts.endpoint);
    onCleanup(() => good.destroy());
    const goodRec = record(good);
    const goodServer = await ts.nth(0);
    goodServer.t.on('message', (m: Buffer) => goodServer.t.send(m));

    // A 104-byte frame at 10 bytes/s would take over 10 s: far past the 300 ms limit.
    const py = pyPeer('trickle', ts.path, lp(Buffer.alloc(100, 0x7a)).toString('hex'), '100');
    await py.line('CONNECTED');
    const bad = await ts.nth(1);

    let sent = 0;
    while (bad.closes === 0) {
      good.send(`ping ${sent}`);
      sent++;
      await goodRec.waitMessages(sent);
      await sleep(20);
      if (sent > 2000) throw new Error('the trickling peer was never cut off');
    }
    await bad.waitClosed();
    expectOneError(bad, 'ERR_IPC_FRAME_TIMEOUT');
    expect((bad.errors[0] as { frameTimeout?: number }).frameTimeout).toBe(300);

    // The peer finds its socket closed before it could finish the frame.
    const failed = await py.line('FAILED');
    const bytesSent = Number(failed.split(' ')[1]);
    expect(bytesSent).toBeLessThan(104);

    // The good connection got every frame back, in order, and is still open after idling longer than
    // frameTimeout (the limit is per frame, not per connection or per silence).
    expect(goodRec.messages.map(String)).toEqual(Array.from({ length: sent }, (_, i) => `ping ${i}`));
    expect(goodServer.messages.length).toBe(sent);
    await sleep(400);
    good.send('after idling');
    await goodRec.waitMessages(sent + 1);
    expect(goodRec.messages[sent]!.toString()).toBe('after idling');
    expect(goodRec.errors).toEqual([]);
    expect(goodServer.errors).toEqual([]);
    expect(good.state).toBe('open');
    await good.close();
    await goodServer.waitClosed();
    expect(goodServer.log.filter((e) => e !== 'message')).toEqual(['close']);
    await checkServes(ts);
  });

  it('a frame that arrives in parts within frameTimeout is delivered', async () => {
    const ts = await startServer({ frameTimeout: 5000 });
    const peer = await rawConnect(ts.path);
    const rec = await ts.nth(0);
    const frame = lp('slow but in time');
    for (let i = 0; i < frame.length; i += 5) {
      peer.sock.write(frame.subarray(i, i + 5));
      await sleep(10);
    }
    await rec.waitMessages(1);
    expect(rec.messages[0]!.toString()).toBe('slow but in time');
    expect(rec.errors).toEqual([]);
    expect(rec.t.state).toBe('open');
  });

  for (const [name, size] of [
    ['small frames (copied into batches)', 4096],
    ['large frames (written from the caller memory)', 64 * 1024],
  ] as const) {
    it(`a peer that never reads while we send ${name} and ignore send()'s false: bounded buffer, then ERR_IPC_BACKPRESSURE`, async () => {
      const maxBufferedBytes = 1024 * 1024;
      const ts = await startServer({ maxBufferedBytes });
      const py = pyPeer('noread', ts.path);
      await py.line('CONNECTED');
      const rec = await ts.nth(0);
      const frame = Buffer.alloc(size, 0x42);
      let maxSeen = 0;
      let falses = 0;
      let sent = 0;
      for (let round = 0; round < 10_000 && rec.t.state === 'open'; round++) {
        for (let i = 0; i < 16 && rec.t.state === 'open'; i++) {
          if (!rec.t.send(frame)) falses++;
          sent++;
          maxSeen = Math.max(maxSeen, rec.t.stats.bufferedBytes);
        }
        await tick();
      }
      await rec.waitClosed();
      expectOneError(rec, 'ERR_IPC_BACKPRESSURE');
      // Never more than the limit plus the one frame that crossed it.
      expect(maxSeen).toBeLessThanOrEqual(maxBufferedBytes + size + 4);
      expect(maxSeen).toBeGreaterThan(0);
      expect(falses).toBeGreaterThan(0);
      // It did send past the limit: the kernel buffer plus our 1 MiB.
      expect(sent * size).toBeGreaterThan(maxBufferedBytes);
      expect((rec.errors[0] as { bufferedBytes?: number }).bufferedBytes).toBeGreaterThan(maxBufferedBytes);
      expect(() => rec.t.send('late')).toThrow(expect.objectContaining({ code: 'ERR_IPC_CLOSED' }));
      await checkServes(ts);
    });
  }
});

describe('peers that leave', () => {
  it('peers that connect and close at once: each is one connection then one close, no error', async () => {
    const ts = await startServer();
    const n = 20;
    for (let i = 0; i < n; i++) {
      const peer = await rawConnect(ts.path);
      peer.sock.destroy();
    }
    await waitFor(() => ts.accepted.length === n && ts.accepted.every((r) => r.closes > 0), `${n} connections to open and close`);
    await sleep(20);
    expect(ts.accepted.length).toBe(n);
    for (const rec of ts.accepted) {
      expect(rec.log).toEqual(['close']);
      expect(rec.errors).toEqual([]);
    }
    expect(ts.server.connections).toBe(0);
    await checkServes(ts);
  });

  it('a Python peer that connects and closes before sending anything: connection, close, no error', async () => {
    const ts = await startServer();
    const py = pyPeer('noread', ts.path);
    await py.line('CONNECTED');
    const rec = await ts.nth(0);
    py.child.stdin!.end();
    await py.done();
    await rec.waitClosed();
    expect(rec.log).toEqual(['close']);
    await checkServes(ts);
  });

  const partial = Buffer.concat([lp('first'), Buffer.from([0, 0, 0, 100]), Buffer.alloc(10, 0x70)]);

  async function resetCase(where: 'unix' | 'tcp', unread: boolean): Promise<void> {
    const ts = await startServer({}, where);
    const addr = where === 'unix' ? ts.path : `tcp:${ts.endpoint.slice(4)}`;
    const py = pyPeer('reset', addr, partial.toString('hex'), ...(unread ? ['unread'] : []));
    await py.line('CONNECTED');
    const rec = await ts.nth(0);
    if (unread) rec.t.send('this frame is never read');
    await py.line('SENT');
    // The first frame arrived, so the 10 bytes after it (in the same write) sit in the framer.
    await rec.waitMessages(1);
    if (unread) await py.line('UNREAD');
    py.send('go');
    await py.line('RESET');
    await rec.waitClosed();
    expectOneError(rec, ['ERR_IPC_TRUNCATED', 'ECONNRESET'], 1);
    await checkServes(ts);
  }

  it('a Python peer that resets mid-frame (SO_LINGER 0) on a Unix socket: one error, TRUNCATED or ECONNRESET', async () => {
    await resetCase('unix', false);
  });

  it('a Python peer that resets mid-frame leaving our frame unread on a Unix socket: one error, TRUNCATED or ECONNRESET', async () => {
    await resetCase('unix', true);
  });

  it('a Python peer that resets mid-frame (SO_LINGER 0, an RST) over TCP: one error, TRUNCATED or ECONNRESET', async () => {
    await resetCase('tcp', false);
  });

  it('a node:net peer that resets mid-frame with resetAndDestroy() over TCP: one error, TRUNCATED or ECONNRESET', async () => {
    const ts = await startServer({}, 'tcp');
    const port = Number(ts.endpoint.split(':').pop());
    const peer = await rawConnect({ host: '127.0.0.1', port });
    const rec = await ts.nth(0);
    peer.sock.write(partial);
    await rec.waitMessages(1);
    peer.sock.resetAndDestroy();
    await rec.waitClosed();
    expectOneError(rec, ['ERR_IPC_TRUNCATED', 'ECONNRESET'], 1);
    await checkServes(ts);
  });

  it('a peer that half-closes after a complete frame: the frame is delivered, our reply reaches it, no error', async () => {
    const ts = await startServer();
    // Only this first connection replies; checkServes() later does its own echo.
    ts.server.once('connection', (t: Transport) => {
      t.on('message', (m: Buffer) => t.send(`reply to ${m.toString()}`));
    });
    const peer = await rawConnect(ts.path);
    const rec = await ts.nth(0);
    peer.sock.end(lp('request'));
    await rec.waitClosed();
    expect(rec.log).toEqual(['message', 'close']);
    expect(rec.messages[0]!.toString()).toBe('request');
    expect(rec.errors).toEqual([]);
    await waitFor(() => peer.closed, 'the half-closed peer to see the end');
    expect(peer.ended).toBe(true);
    expect(peer.errors).toEqual([]);
    expect(peer.bytes().toString('hex')).toBe(lp('reply to request').toString('hex'));
    await checkServes(ts);
  });

  it('a half-close right after a partial frame is ERR_IPC_TRUNCATED, not a silent drop', async () => {
    const ts = await startServer();
    const peer = await rawConnect(ts.path);
    const rec = await ts.nth(0);
    peer.sock.end(partial);
    await rec.waitClosed();
    expectOneError(rec, 'ERR_IPC_TRUNCATED', 1);
    await checkServes(ts);
  });
});
