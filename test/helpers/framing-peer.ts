// Plumbing for the framing tests, on top of ./common: a raw `node:net` peer on the other end of one of
// our transports (so the test decides every byte on the wire and how the bytes are split into writes),
// writes split into separate reads, and deterministic payloads.
import * as net from 'node:net';
import * as path from 'node:path';
import { connect, type ConnectOptions, type ListenOptions, type Server, type Transport, type TransportOptions } from '../../dist/index.js';
import { listenAt, onCleanup, rawConnect, record, tempDir, tick, watchSocket, type RawPeer, type Recorder } from './common';

/** A fresh temp directory, removed at cleanup; returns a `unix:` endpoint inside it. */
export function tempEndpoint(name = 's.sock'): { endpoint: string; path: string } {
  const p = path.join(tempDir('ipc-framing-'), name);
  return { endpoint: `unix:${p}`, path: p };
}

/**
 * Waits long enough for the receiving side (in this same process) to read everything written so far,
 * so the next write lands in a separate read. A Unix-socket write from `node:net` reaches the kernel
 * at once, and the next loop iteration's poll phase reads it; two iterations leave a margin.
 */
export async function gap(): Promise<void> {
  await tick();
  await tick();
}

/** Writes each part with its own `socket.write()`, with a loop turn between them. */
export async function writeParts(sock: net.Socket, parts: Array<Buffer | Uint8Array | string>): Promise<void> {
  for (const part of parts) {
    sock.write(part);
    await gap();
  }
}

/**
 * Our server with a raw `node:net` client: the client writes crafted bytes, our server-side transport
 * frames them. The transport's events are recorded from the moment the connection is announced.
 */
export async function serverWithRawClient(opts: ListenOptions = {}): Promise<{
  server: Server;
  transport: Transport;
  rec: Recorder;
  peer: RawPeer;
  endpoint: string;
  path: string;
}> {
  const { endpoint, path: p } = tempEndpoint();
  const server = await listenAt(endpoint, opts);
  const { transport, rec, peer } = await rawClient(server, p);
  return { server, transport, rec, peer, endpoint, path: p };
}

/** Connects one more raw client to `server` and returns the server-side transport for it. */
export async function rawClient(server: Server, socketPath: string): Promise<{ transport: Transport; rec: Recorder; peer: RawPeer }> {
  const accepted = new Promise<{ transport: Transport; rec: Recorder }>((resolve) => {
    server.once('connection', (t: Transport) => resolve({ transport: t, rec: record(t) }));
  });
  const peer = await rawConnect(socketPath);
  const { transport, rec } = await accepted;
  onCleanup(() => transport.destroy());
  return { transport, rec, peer };
}

/**
 * A raw `node:net` server with our client connected to it: the test reads exactly the bytes our
 * `send()` put on the wire from `peer.bytes()`.
 */
export async function clientWithRawServer(opts: ConnectOptions = {}): Promise<{ transport: Transport; rec: Recorder; peer: RawPeer }> {
  const { path: p, endpoint } = tempEndpoint();
  const srv = net.createServer();
  const accepted = new Promise<RawPeer>((resolve) => srv.once('connection', (s) => resolve(watchSocket(s))));
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(p, resolve);
  });
  onCleanup(() => new Promise<void>((resolve) => srv.close(() => resolve())));
  const transport = await connect(endpoint, opts);
  onCleanup(() => transport.destroy());
  const rec = record(transport);
  const peer = await accepted;
  return { transport, rec, peer };
}

/**
 * An echo server of ours (each frame sent straight back) and a client of ours connected to it, both
 * with the same options.
 */
export async function echoPair(opts: TransportOptions = {}): Promise<{ server: Server; client: Transport; rec: Recorder }> {
  const { endpoint } = tempEndpoint();
  const server = await listenAt(endpoint, opts);
  server.on('connection', (t: Transport) => {
    t.on('message', (m: Buffer) => t.send(m));
    t.on('error', () => {});
  });
  const client = await connect(endpoint, opts);
  onCleanup(() => client.destroy());
  const rec = record(client);
  return { server, client, rec };
}

/** Deterministic bytes for a frame: depends on `seed` and the position, so misplaced bytes show. */
export function pattern(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = (seed * 2654435761 + 12345) >>> 0;
  for (let i = 0; i < size; i++) {
    // xorshift32: cheap and never settles into a short cycle, unlike i & 0xff.
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** Like `pattern`, but usable as a line: no 0x0A anywhere and no 0x0D at the end. */
export function linePattern(size: number, seed: number): Buffer {
  const b = pattern(size, seed);
  for (let i = 0; i < size; i++) if (b[i] === 0x0a) b[i] = 0x0b;
  if (size > 0 && b[size - 1] === 0x0d) b[size - 1] = 0x0e;
  return b;
}

/** Asserts with a short message instead of dumping megabytes when two buffers differ. */
export function sameBytes(actual: Buffer, expected: Buffer): string {
  if (actual.length !== expected.length) return `length ${actual.length}, expected ${expected.length}`;
  if (actual.equals(expected)) return 'equal';
  let i = 0;
  while (actual[i] === expected[i]) i++;
  return `first difference at byte ${i}: ${actual[i]} vs ${expected[i]}`;
}
