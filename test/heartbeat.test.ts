// heartbeat: true on both ends: the handshake, ping()/pong, data frames unchanged under the envelope,
// refusals when only one end opted in, a client asking a heartbeat server for resume, ping() errors,
// the documented wire format checked byte for byte against a peer written by hand, and monitor()
// detecting a peer that stopped reading.
import { afterEach, describe, expect, it } from 'vitest';
import * as net from 'node:net';
import * as path from 'node:path';
import { once } from 'node:events';
import { connect, monitor, ErrorCodes, type Framing, type Server, type Transport } from '../dist/index.js';
import { cleanupAll, code, dirPerTest, listenAt, onCleanup, rawConnect, sleep, waitFor, withTimeout, type RawPeer } from './helpers/common';
import { envelopeTexts, hello } from './helpers/envelope-util';
import { cl, line, lp, splitContentLength, splitLengthPrefixed, splitLines } from './helpers/wire.cjs';

afterEach(cleanupAll);

const dir = dirPerTest('sipc-heartbeat-');

function sock(name = 's.sock'): string {
  return path.join(dir(), name);
}

/** A heartbeat server and a heartbeat client connected to it; `peer` is the server's end. */
async function pair(framing: Framing = 'length-prefixed'): Promise<{ srv: Server; client: Transport; peer: Transport }> {
  const file = sock();
  const srv = await listenAt(`unix:${file}`, { heartbeat: true, framing });
  const accepted = new Promise<Transport>((resolve) => srv.once('connection', resolve));
  const client = await connect(`unix:${file}`, { heartbeat: true, framing });
  const peer = await withTimeout(accepted, () => 'no connection on the server');
  // A paused peer holds back its 'close'; resume it so that cleanup never waits on it.
  onCleanup(() => {
    peer.resume();
    peer.destroy();
    client.destroy();
  });
  return { srv, client, peer };
}

/** Bytes 0..255 without a newline (lines framing cannot carry one), then patterned frames of many KiB. */
const NO_NEWLINE = Buffer.from(Array.from({ length: 256 }, (_, i) => i).filter((b) => b !== 0x0a && b !== 0x0d));
const patterned = (n: number, salt: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => 0x20 + ((i * 31 + salt) % 90)));

function framesFor(framing: Framing): Buffer[] {
  const frames = [Buffer.from('hello'), NO_NEWLINE, Buffer.from('{"jsonrpc":"2.0","id":1}'), patterned(20_000, 1), patterned(300_000, 2), Buffer.from('x')];
  // An empty frame has a length of its own in length-prefixed and content-length framing only.
  if (framing !== 'lines') frames.splice(2, 0, Buffer.alloc(0), Buffer.alloc(0));
  return frames;
}

describe.each<Framing>(['length-prefixed', 'lines', 'content-length'])('heartbeat on both ends, %s framing', (framing) => {
  it('both ends report heartbeat, ping() resolves both ways, and data frames arrive unchanged both ways', async () => {
    const { client, peer } = await pair(framing);
    expect(client.heartbeat).toBe(true);
    expect(peer.heartbeat).toBe(true);

    const atServer: Buffer[] = [];
    peer.on('message', (m: Buffer) => {
      atServer.push(Buffer.from(m));
      peer.send(m);
    });
    const atClient: Buffer[] = [];
    client.on('message', (m: Buffer) => atClient.push(Buffer.from(m)));

    const frames = framesFor(framing);
    for (const f of frames) client.send(f);
    await waitFor(() => atClient.length >= frames.length, `${frames.length} echoed frames (have ${atClient.length})`);

    expect(atServer.map((b) => b.length)).toEqual(frames.map((b) => b.length));
    expect(atClient.map((b) => b.length)).toEqual(frames.map((b) => b.length));
    frames.forEach((f, i) => {
      expect(atServer[i]!.equals(f), `frame ${i} at the server`).toBe(true);
      expect(atClient[i]!.equals(f), `frame ${i} back at the client`).toBe(true);
    });

    const fromClient = await client.ping();
    const fromServer = await peer.ping();
    expect(fromClient).toBeGreaterThan(0);
    expect(fromServer).toBeGreaterThan(0);
    // Pings and pongs are not data: neither end saw them as frames.
    await sleep(20);
    expect(atServer.length).toBe(frames.length);
    expect(atClient.length).toBe(frames.length);
    // Nor in the stats, which count the user's frames and bytes only.
    const bytes = frames.reduce((n, f) => n + f.length, 0);
    expect(client.stats).toMatchObject({ framesOut: frames.length, framesIn: frames.length, bytesOut: bytes, bytesIn: bytes });
    expect(peer.stats).toMatchObject({ framesOut: frames.length, framesIn: frames.length, bytesOut: bytes, bytesIn: bytes });
  });
});

describe('one end without heartbeat', () => {
  it('a plain client of a heartbeat server is refused with handshakeError and never announced', async () => {
    const file = sock();
    const srv = await listenAt(`unix:${file}`, { heartbeat: true });
    const handshakeErrors: Error[] = [];
    let connections = 0;
    srv.on('handshakeError', (e: Error) => handshakeErrors.push(e));
    srv.on('connection', () => connections++);

    const client = await connect(`unix:${file}`);
    onCleanup(() => client.destroy());
    const closed = once(client, 'close');
    client.on('error', () => {});
    client.send('hello');
    await withTimeout(closed, () => 'the server did not close the plain client');

    expect(handshakeErrors.map(code)).toEqual([ErrorCodes.HANDSHAKE]);
    expect(connections).toBe(0);
    await waitFor(() => srv.connections === 0, 'the refused connection to go');
  });

  it('a ping before the hello is refused like any other first frame, not answered', async () => {
    const file = sock();
    const srv = await listenAt(`unix:${file}`, { heartbeat: true });
    const handshakeErrors: Error[] = [];
    srv.on('handshakeError', (e: Error) => handshakeErrors.push(e));
    const raw: RawPeer = await rawConnect(file);
    raw.sock.write(lp(Buffer.from([0x50, 0, 0, 0, 7]))); // 'P', id 7
    await waitFor(() => raw.closed, 'the server to close the connection');
    expect(raw.bytes().length).toBe(0); // no pong, no hello: nothing at all
    expect(handshakeErrors.map(code)).toEqual([ErrorCodes.HANDSHAKE]);
  });

  it('a heartbeat client of a plain server rejects ERR_IPC_HANDSHAKE after connectTimeout', async () => {
    const file = sock();
    const srv = await listenAt(`unix:${file}`);
    const seen: Buffer[] = [];
    srv.on('connection', (t: Transport) => {
      onCleanup(() => t.destroy());
      t.on('message', (m: Buffer) => seen.push(Buffer.from(m)));
    });
    const err = await connect(`unix:${file}`, { heartbeat: true, connectTimeout: 300 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(code(err)).toBe(ErrorCodes.HANDSHAKE);
    // What the plain server got was the client's hello: one frame, 'H' then the magic.
    expect(seen.length).toBe(1);
    expect(seen[0]!.subarray(0, 5).toString('latin1')).toBe('HSIPC');
  });

  it('a heartbeat client of a node:net server that closes at once rejects ERR_IPC_HANDSHAKE', async () => {
    const file = sock('net.sock');
    const netServer = net.createServer((s) => s.destroy());
    netServer.listen(file);
    await once(netServer, 'listening');
    onCleanup(() => new Promise<void>((r) => netServer.close(() => r())));

    for (let i = 0; i < 5; i++) {
      const err = await connect(`unix:${file}`, { heartbeat: true, connectTimeout: 5000 }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(code(err), String(err)).toBe(ErrorCodes.HANDSHAKE);
    }
  });
});

describe('a heartbeat server and a client that asked for resume', () => {
  it('the connection the client gives up on cannot raise an uncaught error on the server', async () => {
    const file = sock('h.sock');
    const srv = await listenAt(`unix:${file}`, { heartbeat: true });
    let connections = 0;
    srv.on('connection', () => connections++);
    const raw = await rawConnect(file);
    const shown = (): string[] => envelopeTexts(raw.bytes());
    raw.sock.write(lp(hello(3, Buffer.alloc(16), 0, 1)));
    await waitFor(() => shown().length === 1, "the server's hello");
    expect(shown()).toEqual(['H received=0 first=1']);
    // Not a frame of the envelope: the server ends the connection (nobody else listens to it there).
    raw.sock.write(lp('Zjunk'));
    await waitFor(() => raw.closed, 'the server to close the connection');
    await waitFor(() => srv.connections === 0, "the server's count of connections");
    expect(connections).toBe(0);
  });
});

describe('ping() errors', () => {
  it('rejects ERR_IPC_UNSUPPORTED on a transport without heartbeat', async () => {
    const file = sock();
    const srv = await listenAt(`unix:${file}`);
    srv.on('connection', (t: Transport) => onCleanup(() => t.destroy()));
    const client = await connect(`unix:${file}`);
    onCleanup(() => client.destroy());
    expect(client.heartbeat).toBe(false);
    await expect(client.ping()).rejects.toMatchObject({ code: ErrorCodes.UNSUPPORTED });
  });

  it('rejects ERR_IPC_PING_TIMEOUT when the peer stopped reading', async () => {
    const { client, peer } = await pair();
    peer.pause();
    await expect(client.ping(50)).rejects.toMatchObject({ code: ErrorCodes.PING_TIMEOUT });
    // Once the peer reads again, it answers.
    peer.resume();
    expect(await client.ping()).toBeGreaterThan(0);
  });

  it('rejects ERR_IPC_CLOSED when the transport closes with a ping pending', async () => {
    const { client, peer } = await pair();
    peer.pause();
    const pending = client.ping(60_000);
    const outcome = pending.then(
      () => null,
      (e: unknown) => e,
    );
    client.destroy();
    expect(code(await withTimeout(outcome, () => 'the pending ping never settled'))).toBe(ErrorCodes.CLOSED);
    // And a ping after close rejects the same way.
    await expect(client.ping()).rejects.toMatchObject({ code: ErrorCodes.CLOSED });
  });

  it('throws RangeError at the call for a timeout that is not a number > 0', async () => {
    const { client } = await pair();
    expect(() => client.ping(0)).toThrow(RangeError);
    expect(() => client.ping(-1)).toThrow(RangeError);
    expect(() => client.ping(Number.NaN)).toThrow(RangeError);
    expect(() => client.ping('x' as unknown as number)).toThrow(RangeError);
    expect(await client.ping()).toBeGreaterThan(0);
  });
});

// The fields of a heartbeat hello after its type byte: flags 1 (heartbeat), a zero session, received
// 0, first 1 (test/helpers/envelope-util.ts builds it by hand, not with the package).
function helloFields(): Buffer {
  return hello(1, Buffer.alloc(16), 0, 1).subarray(1);
}

interface WireCase {
  framing: Framing;
  frame: (...payloads: Buffer[]) => Buffer;
  split: (bytes: Buffer) => Buffer[];
  /** The fixed fields after a control frame's type byte, as the documentation says to write them. */
  fields: (b: Buffer) => Buffer;
}

const WIRE: WireCase[] = [
  { framing: 'length-prefixed', frame: (...p) => lp(...p), split: splitLengthPrefixed, fields: (b) => b },
  {
    framing: 'lines',
    frame: (...p) => line(...p),
    split: splitLines,
    fields: (b) => Buffer.from(b.toString('hex'), 'latin1'),
  },
  {
    framing: 'content-length',
    frame: (...p) => cl(...p),
    split: splitContentLength,
    fields: (b) => b,
  },
];

describe.each(WIRE)('the documented wire format, $framing framing, against a peer written by hand', ({ framing, frame, split, fields }) => {
  it('hello, a data frame and a ping with id 7 get the documented answers', async () => {
    const file = sock();
    const srv = await listenAt(`unix:${file}`, { heartbeat: true, framing });
    const connections: Transport[] = [];
    srv.on('connection', (t: Transport) => {
      connections.push(t);
      t.on('message', (m: Buffer) => t.send(m));
    });

    const raw: RawPeer = await rawConnect(file);
    const hello = Buffer.concat([Buffer.from('H', 'latin1'), fields(helloFields())]);
    raw.sock.write(frame(hello));
    await waitFor(() => split(raw.bytes()).length >= 1, "the server's hello");

    // The server's answer: its own hello, with the same layout, flags 1 and our (zero) session echoed.
    const answer = split(raw.bytes())[0]!;
    expect(answer.subarray(0, 1).toString('latin1')).toBe('H');
    const body = framing === 'lines' ? Buffer.from(answer.subarray(1).toString('latin1'), 'hex') : answer.subarray(1);
    if (framing === 'lines') expect(/^[0-9a-f]+$/.test(answer.subarray(1).toString('latin1'))).toBe(true);
    expect(body.length).toBe(46);
    expect(body.subarray(0, 4).toString('latin1')).toBe('SIPC');
    expect(body[4]).toBe(2); // version
    expect(body[5]).toBe(1); // flags: heartbeat
    expect(body.subarray(6, 22).equals(Buffer.alloc(16))).toBe(true);
    expect(body.readBigUInt64BE(22)).toBe(0n); // received
    expect(body.readBigUInt64BE(30)).toBe(1n); // first
    expect(body.readBigUInt64BE(38)).toBe(0n); // window: no credit is kept without resume
    await waitFor(() => connections.length === 1, 'the connection announced');
    expect(connections[0]!.heartbeat).toBe(true);

    const id7 = Buffer.from([0, 0, 0, 7]);
    raw.sock.write(frame(Buffer.from('Dhello', 'latin1'), Buffer.concat([Buffer.from('P', 'latin1'), fields(id7)])));
    await waitFor(() => split(raw.bytes()).length >= 3, 'the echo and the pong');
    const [, echo, pong] = split(raw.bytes());
    // The echo was sent from the 'message' handler before the ping was read, so it comes first.
    expect(echo!.toString('latin1')).toBe('Dhello');
    expect(pong!.equals(Buffer.concat([Buffer.from('O', 'latin1'), fields(id7)]))).toBe(true);
    await sleep(20);
    expect(split(raw.bytes()).length).toBe(3);
    expect(raw.closed).toBe(false);
  });
});

describe('monitor() with the default probe', () => {
  it('is exported, and reports a peer that stops reading as unhealthy once', async () => {
    expect(typeof monitor).toBe('function');
    const { client, peer } = await pair();
    const m = monitor(client, { interval: 30, timeout: 50, failures: 2 });
    onCleanup(() => m.stop());
    const unhealthy: Error[] = [];
    m.on('unhealthy', (e: Error) => unhealthy.push(e));

    // Answered probes first: the peer is reading.
    await waitFor(() => m.stats.rtt !== null, 'an answered probe');
    expect(unhealthy.length).toBe(0);

    peer.pause();
    await waitFor(() => unhealthy.length > 0, "'unhealthy'");
    const probesAtUnhealthy = m.stats.probes;
    // Further failed probes do not repeat the event.
    await waitFor(() => m.stats.probes >= probesAtUnhealthy + 2, 'more probes');
    expect(unhealthy.map(code)).toEqual([ErrorCodes.UNHEALTHY]);
    expect(code((unhealthy[0] as Error & { cause?: unknown }).cause)).toBe(ErrorCodes.PING_TIMEOUT);
    expect(m.healthy).toBe(false);
    // The peer is stuck, not gone: nothing closed.
    expect(client.state).toBe('open');
  });
});
