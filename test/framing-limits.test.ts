// maxFrameSize on both directions, EOF in the middle of a frame, and a server that keeps serving after
// one of its connections hit a framing error. A raw `node:net` peer writes the crafted bytes.
import { afterEach, describe, expect, it } from 'vitest';
import type { Framing, Transport } from '../dist/index.js';
import { cleanupAll, waitFor } from './helpers/common';
import { cl, encode, line, lp, lpHeader } from './helpers/wire.cjs';
import {
  clientWithRawServer,
  gap,
  linePattern,
  pattern,
  rawClient,
  sameBytes,
  serverWithRawClient,
  writeParts,
} from './helpers/framing-peer';

afterEach(cleanupAll);

const MAX = 1000;
const code = (e: unknown): string | undefined => (e as { code?: string }).code;

function expectOneError(rec: { errors: Error[]; closes: number; log: string[] }, expectedCode: string, messagesBefore = 0): void {
  expect(rec.errors.length).toBe(1);
  expect(rec.closes).toBe(1);
  expect(rec.log).toEqual([...Array<string>(messagesBefore).fill('message'), 'error', 'close']);
  expect(code(rec.errors[0])).toBe(expectedCode);
}

describe('maxFrameSize on receive', () => {
  it('length-prefixed: a length header above the limit fails at once, before any body is sent', async () => {
    const { transport, rec, peer } = await serverWithRawClient({ maxFrameSize: MAX });
    peer.sock.write(lp('fine'));
    await rec.waitMessages(1);
    peer.sock.write(lpHeader(MAX + 1));
    // No body follows: the header alone must end the connection.
    await rec.waitClosed();
    expectOneError(rec, 'ERR_IPC_FRAME_TOO_LARGE', 1);
    expect((rec.errors[0] as { maxFrameSize?: number }).maxFrameSize).toBe(MAX);
    expect(transport.state).toBe('closed');
    await waitFor(() => peer.closed, 'the peer socket to close');
  });

  it('length-prefixed: a 0xFFFFFFFF length header fails the same way', async () => {
    const { rec, peer } = await serverWithRawClient();
    peer.sock.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    await rec.waitClosed();
    expectOneError(rec, 'ERR_IPC_FRAME_TOO_LARGE');
  });

  it('length-prefixed: a frame of exactly maxFrameSize is accepted', async () => {
    const { rec, peer } = await serverWithRawClient({ maxFrameSize: MAX });
    const exact = pattern(MAX, 1);
    peer.sock.write(Buffer.concat([lp(exact), lp('after')]));
    await rec.waitMessages(2);
    await gap();
    expect(sameBytes(rec.messages[0]!, exact)).toBe('equal');
    expect(rec.messages[1]!.toString()).toBe('after');
    expect(rec.errors).toEqual([]);
  });

  it('lines: a line longer than the limit with no newline yet fails', async () => {
    const { rec, peer } = await serverWithRawClient({ framing: 'lines', maxFrameSize: MAX });
    peer.sock.write('fine\n');
    await rec.waitMessages(1);
    // The newline never comes; the limit must stop the line anyway.
    peer.sock.write(Buffer.alloc(MAX + 1, 0x61));
    await rec.waitClosed();
    expectOneError(rec, 'ERR_IPC_FRAME_TOO_LARGE', 1);
  });

  it('lines: a line over the limit that grows across many reads fails', async () => {
    const { rec, peer } = await serverWithRawClient({ framing: 'lines', maxFrameSize: MAX });
    const parts: Buffer[] = [];
    for (let i = 0; i < 15; i++) parts.push(Buffer.alloc(100, 0x62));
    for (const p of parts) {
      if (peer.closed) break;
      peer.sock.write(p);
      await gap();
    }
    await rec.waitClosed();
    expectOneError(rec, 'ERR_IPC_FRAME_TOO_LARGE');
  });

  it('lines: a complete line over the limit in one read fails', async () => {
    const { rec, peer } = await serverWithRawClient({ framing: 'lines', maxFrameSize: MAX });
    peer.sock.write(line(Buffer.alloc(MAX + 1, 0x63)));
    await rec.waitClosed();
    expectOneError(rec, 'ERR_IPC_FRAME_TOO_LARGE');
  });

  it('lines: a line of exactly maxFrameSize is accepted, with \\n or with \\r\\n split between reads', async () => {
    const { rec, peer } = await serverWithRawClient({ framing: 'lines', maxFrameSize: MAX });
    const a = linePattern(MAX, 2);
    const b = linePattern(MAX, 3);
    // The \r of the second line arrives alone, one byte past the limit, before its \n.
    await writeParts(peer.sock, [line(a), b, '\r', '\n']);
    await rec.waitMessages(2);
    await gap();
    expect(rec.messages.length).toBe(2);
    expect(sameBytes(rec.messages[0]!, a)).toBe('equal');
    expect(sameBytes(rec.messages[1]!, b)).toBe('equal');
    expect(rec.errors).toEqual([]);
    expect(rec.closes).toBe(0);
  });

  it('content-length: a length above the limit fails at once, before any body is sent', async () => {
    const { rec, peer } = await serverWithRawClient({ framing: 'content-length', maxFrameSize: MAX });
    peer.sock.write(cl('fine'));
    await rec.waitMessages(1);
    peer.sock.write(`Content-Length: ${MAX + 1}\r\n\r\n`);
    await rec.waitClosed();
    expectOneError(rec, 'ERR_IPC_FRAME_TOO_LARGE', 1);
  });

  it('content-length: a length too big for any integer type is too large, not malformed', async () => {
    const { rec, peer } = await serverWithRawClient({ framing: 'content-length', maxFrameSize: MAX });
    peer.sock.write(`Content-Length: ${'9'.repeat(40)}\r\n\r\n`);
    await rec.waitClosed();
    expectOneError(rec, 'ERR_IPC_FRAME_TOO_LARGE');
  });

  it('content-length: a body of exactly maxFrameSize is accepted', async () => {
    const { rec, peer } = await serverWithRawClient({ framing: 'content-length', maxFrameSize: MAX });
    const exact = pattern(MAX, 4);
    peer.sock.write(Buffer.concat([cl(exact), cl('after')]));
    await rec.waitMessages(2);
    await gap();
    expect(sameBytes(rec.messages[0]!, exact)).toBe('equal');
    expect(rec.messages[1]!.toString()).toBe('after');
    expect(rec.errors).toEqual([]);
  });
});

describe('frames before a bad one in the same read', () => {
  it.each<[Framing, Buffer]>([
    ['length-prefixed', Buffer.concat([lp('a'), lp('b'), lpHeader(MAX + 1)])],
    ['lines', Buffer.concat([Buffer.from('a\nb\n'), Buffer.alloc(MAX + 2, 0x61)])],
    ['content-length', Buffer.concat([cl('a'), cl('b'), Buffer.from(`Content-Length: ${MAX + 1}\r\n\r\n`)])],
  ])('%s: are delivered, then one ERR_IPC_FRAME_TOO_LARGE error, then close', async (framing, wire) => {
    const { rec, peer } = await serverWithRawClient({ framing, maxFrameSize: MAX });
    peer.sock.write(wire);
    await rec.waitClosed();
    expect(rec.messages.map((m) => m.toString())).toEqual(['a', 'b']);
    expectOneError(rec, 'ERR_IPC_FRAME_TOO_LARGE', 2);
  });
});

describe('maxFrameSize on send', () => {
  it.each<[Framing]>([['length-prefixed'], ['lines'], ['content-length']])(
    '%s: send() of a frame over the limit throws ERR_IPC_FRAME_TOO_LARGE and the transport stays open',
    async (framing) => {
      const { transport, rec, peer } = await clientWithRawServer({ framing, maxFrameSize: MAX });
      const over = linePattern(MAX + 1, 5);
      let thrown: unknown;
      try {
        transport.send(over);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(Error);
      expect(code(thrown)).toBe('ERR_IPC_FRAME_TOO_LARGE');
      expect(transport.state).toBe('open');
      expect(transport.stats.framesOut).toBe(0);
      // A frame of exactly the limit still goes out, and nothing of the refused one did.
      const exact = linePattern(MAX, 6);
      expect(transport.send(exact)).toBe(true);
      await transport.close();
      await waitFor(() => peer.ended, 'the peer to see our end');
      expect(sameBytes(peer.bytes(), encode(framing, exact))).toBe('equal');
      expect(rec.errors).toEqual([]);
    },
  );
});

describe('EOF in the middle of a frame', () => {
  const cases: Array<[string, Framing, Buffer[]]> = [
    ['length-prefixed, inside the header', 'length-prefixed', [lp('ok'), Buffer.from([0, 0])]],
    ['length-prefixed, inside the payload', 'length-prefixed', [lp('ok'), lp('0123456789').subarray(0, 9)]],
    ['length-prefixed, inside a payload larger than a slab', 'length-prefixed', [lp('ok'), lp(pattern(300_000, 7)).subarray(0, 200_000)]],
    ['content-length, inside the header block', 'content-length', [cl('ok'), Buffer.from('Content-Length: 5\r\n')]],
    ['content-length, inside the body', 'content-length', [cl('ok'), cl('0123456789').subarray(0, 25)]],
    ['content-length, inside a body larger than a slab', 'content-length', [cl('ok'), cl(pattern(300_000, 8)).subarray(0, 200_000)]],
  ];
  it.each(cases)('%s: one ERR_IPC_TRUNCATED error, then close', async (_name, framing, parts) => {
    const { rec, peer } = await serverWithRawClient({ framing });
    await writeParts(peer.sock, parts);
    await rec.waitMessages(1);
    peer.sock.end();
    await rec.waitClosed();
    expect(rec.messages.map((m) => m.toString())).toEqual(['ok']);
    expectOneError(rec, 'ERR_IPC_TRUNCATED', 1);
  });

  it('length-prefixed and content-length: EOF right after a whole frame is a clean close', async () => {
    for (const framing of ['length-prefixed', 'content-length'] as const) {
      const { rec, peer } = await serverWithRawClient({ framing });
      peer.sock.end(framing === 'length-prefixed' ? lp('last') : cl('last'));
      await rec.waitClosed();
      expect(rec.log).toEqual(['message', 'close']);
      expect(rec.messages[0]!.toString()).toBe('last');
    }
  });
});

describe('a server after one connection failed', () => {
  it.each<[Framing, Buffer]>([
    ['length-prefixed', Buffer.from([0xff, 0xff, 0xff, 0xff])],
    ['lines', Buffer.alloc(MAX + 10, 0x61)],
    ['content-length', Buffer.from('Content-Length: x\r\n\r\n')],
  ])('%s: keeps serving the other connections and accepts new ones', async (framing, bad) => {
    const opts = { framing, maxFrameSize: MAX };
    const { server, path: socketPath, rec: badRec, peer: badPeer, transport: badT } = await serverWithRawClient(opts);
    const frame = (s: string): Buffer => (framing === 'length-prefixed' ? lp(s) : framing === 'lines' ? Buffer.from(s + '\n') : cl(s));
    // Every connection echoes, so the surviving ones can be checked from the raw peer.
    const echo = (t: Transport): void => {
      t.on('message', (m: Buffer) => t.send(m));
    };
    echo(badT);
    const before = await rawClient(server, socketPath);
    echo(before.transport);
    expect(server.connections).toBe(2);

    badPeer.sock.write(bad);
    await badRec.waitClosed();
    expect(badRec.errors.length).toBe(1);
    expect(badRec.closes).toBe(1);
    await waitFor(() => server.connections === 1, 'the failed connection to leave the server');

    const after = await rawClient(server, socketPath);
    echo(after.transport);
    expect(server.connections).toBe(2);
    before.peer.sock.write(frame('still here'));
    after.peer.sock.write(frame('new one'));
    await before.rec.waitMessages(1);
    await after.rec.waitMessages(1);
    await waitFor(() => before.peer.bytes().length >= frame('still here').length, 'the echo to the older client');
    await waitFor(() => after.peer.bytes().length >= frame('new one').length, 'the echo to the new client');
    expect(sameBytes(before.peer.bytes(), frame('still here'))).toBe('equal');
    expect(sameBytes(after.peer.bytes(), frame('new one'))).toBe('equal');
    expect(before.rec.errors).toEqual([]);
    expect(after.rec.errors).toEqual([]);
    expect(server.listening).toBe(true);
  });
});
