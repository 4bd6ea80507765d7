// Content-Length (LSP base protocol) framing over a real Unix socket, against a raw `node:net` peer that
// writes exactly the bytes each test describes, split into separate writes exactly as described.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupAll, waitFor } from './helpers/common';
import {
  clientWithRawServer,
  gap,
  pattern,
  sameBytes,
  serverWithRawClient,
  writeParts,
} from './helpers/framing-peer';
import { cl } from './helpers/wire.cjs';

afterEach(cleanupAll);

const CL = { framing: 'content-length' } as const;
const strings = (ms: Buffer[]): string[] => ms.map((m) => m.toString('latin1'));

describe('content-length: receiving', () => {
  it.each(['Content-Length', 'content-length', 'CONTENT-LENGTH', 'cOnTeNt-LeNgTh'])('accepts the header name %s', async (name) => {
    const { rec, peer } = await serverWithRawClient(CL);
    peer.sock.write(`${name}: 5\r\n\r\nhello`);
    await rec.waitMessages(1);
    await gap();
    expect(strings(rec.messages)).toEqual(['hello']);
    expect(rec.errors).toEqual([]);
  });

  it('ignores unknown headers before and after the length', async () => {
    const { rec, peer } = await serverWithRawClient(CL);
    peer.sock.write(
      'Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: 2\r\nX-Other: Content-Length: 99\r\n\r\n{}' +
        'X-First: 1\r\nContent-Length: 3\r\n\r\nabc',
    );
    await rec.waitMessages(2);
    await gap();
    expect(strings(rec.messages)).toEqual(['{}', 'abc']);
    expect(rec.errors).toEqual([]);
  });

  it('accepts spaces and tabs around the value', async () => {
    const { rec, peer } = await serverWithRawClient(CL);
    peer.sock.write('Content-Length:3\r\n\r\nabc' + 'Content-Length:    4   \r\n\r\nwxyz' + 'Content-Length:\t2\t\r\n\r\nok');
    await rec.waitMessages(3);
    await gap();
    expect(strings(rec.messages)).toEqual(['abc', 'wxyz', 'ok']);
  });

  it('finds the blank line when "\\r\\n\\r\\n" is split across reads at each position', async () => {
    const { rec, peer } = await serverWithRawClient(CL);
    const expected: string[] = [];
    const header = 'Content-Length: 7\r\n\r\n';
    // Cut at each of the five positions from just before the blank line's \r\n\r\n to just after it.
    for (let k = 0; k <= 4; k++) {
      const body = `split-${k}`.slice(0, 7);
      const wire = Buffer.from(header + body, 'latin1');
      const cut = header.length - 4 + k;
      await writeParts(peer.sock, [wire.subarray(0, cut), wire.subarray(cut)]);
      expected.push(body);
    }
    // And the delimiter delivered one byte per read, between a header and body in their own reads.
    await writeParts(peer.sock, ['Content-Length: 7', '\r', '\n', '\r', '\n', 'bytewis']);
    expected.push('bytewis');
    await rec.waitMessages(expected.length);
    await gap();
    expect(strings(rec.messages)).toEqual(expected);
    expect(rec.errors).toEqual([]);
  });

  it('reassembles messages written one byte at a time', async () => {
    const { rec, peer } = await serverWithRawClient(CL);
    const wire = Buffer.concat([cl('{"id":1}'), cl(''), cl('x')]);
    for (let i = 0; i < wire.length; i++) {
      peer.sock.write(wire.subarray(i, i + 1));
      await gap();
    }
    await rec.waitMessages(3);
    await gap();
    expect(strings(rec.messages)).toEqual(['{"id":1}', '', 'x']);
  });

  it('delivers several messages from one write, in order', async () => {
    const { rec, peer } = await serverWithRawClient(CL);
    const N = 5000;
    const bodies = Array.from({ length: N }, (_, i) => `{"jsonrpc":"2.0","id":${i}}`);
    peer.sock.write(Buffer.concat(bodies.map((b) => cl(b))));
    await rec.waitMessages(N);
    await gap();
    expect(strings(rec.messages)).toEqual(bodies);
  });

  it('takes a body containing \\r\\n\\r\\n and header-like text as body bytes', async () => {
    const { rec, peer } = await serverWithRawClient(CL);
    const tricky = 'a\r\n\r\nContent-Length: 999\r\n\r\nb';
    peer.sock.write(Buffer.concat([cl(tricky), cl('next')]));
    await rec.waitMessages(2);
    await gap();
    expect(strings(rec.messages)).toEqual([tricky, 'next']);
    expect(rec.errors).toEqual([]);
  });

  it('accepts a header block of exactly 8 KiB', async () => {
    const { rec, peer } = await serverWithRawClient(CL);
    const fixed = 'Content-Length: 2\r\nX-Pad: \r\n\r\n';
    const header = fixed.replace('X-Pad: ', 'X-Pad: ' + 'p'.repeat(8192 - fixed.length));
    expect(header.length).toBe(8192);
    peer.sock.write(header + 'ok');
    await rec.waitMessages(1);
    await gap();
    expect(strings(rec.messages)).toEqual(['ok']);
    expect(rec.errors).toEqual([]);
  });

  it('reassembles a body larger than a read slab that arrives in many pieces', async () => {
    const { rec, peer } = await serverWithRawClient({ ...CL, slabSize: 4096 });
    const big = pattern(150_000, 21);
    const wire = Buffer.concat([cl('a'), cl(big), cl('z')]);
    const parts: Buffer[] = [];
    for (let off = 0; off < wire.length; off += 33_333) parts.push(wire.subarray(off, off + 33_333));
    await writeParts(peer.sock, parts);
    await rec.waitMessages(3);
    await gap();
    expect(rec.messages.length).toBe(3);
    expect(rec.messages[0]!.toString()).toBe('a');
    expect(sameBytes(rec.messages[1]!, big)).toBe('equal');
    expect(rec.messages[2]!.toString()).toBe('z');
  });
});

describe('content-length: malformed header blocks', () => {
  it.each([
    ['a missing length', 'Content-Type: application/json\r\n\r\n{}'],
    ['a duplicate length', 'Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}'],
    ['a negative length', 'Content-Length: -1\r\n\r\n{}'],
    ['a non-numeric length', 'Content-Length: abc\r\n\r\n{}'],
    ['an exponent', 'Content-Length: 1e9\r\n\r\n{}'],
    ['an empty length', 'Content-Length: \r\n\r\n{}'],
    ['a header line without a colon', 'Content-Length: 2\r\nnonsense\r\n\r\n{}'],
    ['a header block over 8 KiB with no end', 'X-Pad: ' + 'p'.repeat(9000)],
  ])('ends the connection on %s: one ERR_IPC_PROTOCOL error, then close', async (_name, wire) => {
    const { transport, rec, peer } = await serverWithRawClient(CL);
    // A good message first: it is delivered before the bad one ends the connection.
    peer.sock.write(cl('good'));
    await rec.waitMessages(1);
    peer.sock.write(wire);
    await rec.waitClosed();
    expect(strings(rec.messages)).toEqual(['good']);
    expect(rec.errors.length).toBe(1);
    expect(rec.closes).toBe(1);
    expect(rec.log).toEqual(['message', 'error', 'close']);
    const err = rec.errors[0] as Error & { code?: string; address?: string };
    expect(err.code).toBe('ERR_IPC_PROTOCOL');
    expect(err.address).toBe(transport.endpoint);
    expect(transport.state).toBe('closed');
    // The peer sees the connection go away.
    await waitFor(() => peer.closed, 'the peer socket to close');
  });

  it('reports the oversized header block even when it arrives in small pieces', async () => {
    const { rec, peer } = await serverWithRawClient(CL);
    const parts: string[] = ['Content-Type: x\r\n'];
    for (let i = 0; i < 10; i++) parts.push('X-Pad: ' + 'q'.repeat(1000) + '\r\n');
    for (const p of parts) {
      if (peer.closed) break;
      peer.sock.write(p);
      await gap();
    }
    await rec.waitClosed();
    expect(rec.log).toEqual(['error', 'close']);
    expect((rec.errors[0] as { code?: string }).code).toBe('ERR_IPC_PROTOCOL');
  });
});

describe('content-length: sending', () => {
  it('writes Content-Length: N\\r\\n\\r\\n then the body', async () => {
    const { transport, peer } = await clientWithRawServer(CL);
    const big = pattern(20_000, 22); // past the 16 KiB copy limit
    expect(transport.send('{"id":1}')).toBe(true);
    expect(transport.send('')).toBe(true);
    expect(transport.send(big)).toBe(true);
    expect(transport.send('é')).toBe(true);
    await transport.close();
    await waitFor(() => peer.ended, 'the peer to see our end');
    const expected = Buffer.concat([
      Buffer.from('Content-Length: 8\r\n\r\n{"id":1}'),
      Buffer.from('Content-Length: 0\r\n\r\n'),
      Buffer.from('Content-Length: 20000\r\n\r\n'),
      big,
      Buffer.from('Content-Length: 2\r\n\r\n\xc3\xa9', 'latin1'),
    ]);
    expect(sameBytes(peer.bytes(), expected)).toBe('equal');
  });
});
