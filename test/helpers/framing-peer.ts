// Shared plumbing for the framing tests: a temp directory for socket files, a raw `node:net` peer on the
// other end of one of our transports (so the test decides every byte on the wire and how the bytes are
// split into writes), and a recorder that counts a transport's events in the order they happen.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { connect, listen, type ConnectOptions, type ListenOptions, type Server, type Transport, type TransportOptions } from '../../dist/index.js';

/** Safety net for waits; the tests never assert on how long anything took. */
export const WAIT_MS = 10_000;

const cleanups: Array<() => Promise<void> | void> = [];

/** Registers something to undo in `cleanupAll()` (run it from afterEach). */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

/** Runs the registered cleanups, latest first. */
export async function cleanupAll(): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!;
    try {
      await fn();
    } catch {
      // A cleanup failing must not hide the others; the test itself already reported what went wrong.
    }
  }
}

/** A fresh temp directory, removed at cleanup; returns a `unix:` endpoint inside it. */
export function tempEndpoint(name = 's.sock'): { endpoint: string; path: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ipc-framing-'));
  onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  const p = path.join(dir, name);
  return { endpoint: `unix:${p}`, path: p };
}

/** One turn of the event loop: libuv polls sockets (and reads what is ready) before setImmediate runs. */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
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

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Writes each part with its own `socket.write()`, with a loop turn between them. */
export async function writeParts(sock: net.Socket, parts: Array<Buffer | Uint8Array | string>): Promise<void> {
  for (const part of parts) {
    sock.write(part);
    await gap();
  }
}

/**
 * Polls `cond` every millisecond until it holds; throws (with `what`) after WAIT_MS, or at once when
 * `hopeless()` says it never will.
 */
export async function waitFor(cond: () => boolean, what: string, hopeless: () => string | null = () => null): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!cond()) {
    const why = hopeless();
    if (why !== null) throw new Error(`gave up waiting for ${what}: ${why}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

export interface Recorder {
  messages: Buffer[];
  errors: Error[];
  closes: number;
  /** Event names in order: 'message', 'error', 'close'. */
  log: string[];
  /** Resolves on the first 'close'. */
  closed: Promise<void>;
  waitMessages(n: number): Promise<void>;
}

/** Records every 'message', 'error' and 'close' of a transport from now on. */
export function record(t: Transport): Recorder {
  let onClose!: () => void;
  const rec: Recorder = {
    messages: [],
    errors: [],
    closes: 0,
    log: [],
    closed: new Promise<void>((resolve) => (onClose = resolve)),
    waitMessages: (n) =>
      waitFor(
        () => rec.messages.length >= n,
        `${n} messages`,
        // Once closed, no more frames come: say so at once, with the error if there was one.
        () => (rec.closes > 0 ? `closed after ${rec.messages.length} messages${rec.errors[0] ? ` with ${String(rec.errors[0])}` : ''}` : null),
      ),
  };
  t.on('message', (m: Buffer) => {
    rec.messages.push(m);
    rec.log.push('message');
  });
  t.on('error', (e: Error) => {
    rec.errors.push(e);
    rec.log.push('error');
  });
  t.on('close', () => {
    rec.closes++;
    rec.log.push('close');
    onClose();
  });
  return rec;
}

/** Resolves on 'close', failing after WAIT_MS. */
export async function waitClosed(rec: Recorder): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    rec.closed,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out waiting for close')), WAIT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
  // Give a second 'error' or 'close', if there were one, the chance to show up before counting.
  await sleep(20);
}

/** What a raw peer socket saw: every byte it received, and whether its side ended and closed. */
export interface PeerState {
  sock: net.Socket;
  data: Buffer[];
  bytes(): Buffer;
  ended: boolean;
  closed: boolean;
  errors: Error[];
}

function watchPeer(sock: net.Socket): PeerState {
  const st: PeerState = {
    sock,
    data: [],
    bytes: () => Buffer.concat(st.data),
    ended: false,
    closed: false,
    errors: [],
  };
  sock.on('data', (d: Buffer) => st.data.push(d));
  sock.on('end', () => (st.ended = true));
  sock.on('close', () => (st.closed = true));
  // A reset is a legitimate outcome once our side closed on an error; record it instead of throwing.
  sock.on('error', (e) => st.errors.push(e));
  onCleanup(() => {
    sock.destroy();
  });
  return st;
}

/**
 * Our server with a raw `node:net` client: the client writes crafted bytes, our server-side transport
 * frames them. The transport's events are recorded from the moment the connection is announced.
 */
export async function serverWithRawClient(opts: ListenOptions = {}): Promise<{
  server: Server;
  transport: Transport;
  rec: Recorder;
  peer: PeerState;
  endpoint: string;
  path: string;
}> {
  const { endpoint, path: p } = tempEndpoint();
  const server = await listen(endpoint, opts);
  onCleanup(() => server.close());
  const { transport, rec, peer } = await rawClient(server, p);
  return { server, transport, rec, peer, endpoint, path: p };
}

/** Connects one more raw client to `server` and returns the server-side transport for it. */
export async function rawClient(server: Server, socketPath: string): Promise<{ transport: Transport; rec: Recorder; peer: PeerState }> {
  const accepted = new Promise<{ transport: Transport; rec: Recorder }>((resolve) => {
    server.once('connection', (t: Transport) => resolve({ transport: t, rec: record(t) }));
  });
  const sock = net.connect(socketPath);
  const peer = watchPeer(sock);
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const { transport, rec } = await accepted;
  onCleanup(() => transport.destroy());
  return { transport, rec, peer };
}

/**
 * A raw `node:net` server with our client connected to it: the test reads exactly the bytes our
 * `send()` put on the wire from `peer.bytes()`.
 */
export async function clientWithRawServer(opts: ConnectOptions = {}): Promise<{ transport: Transport; rec: Recorder; peer: PeerState }> {
  const { path: p, endpoint } = tempEndpoint();
  const srv = net.createServer();
  const accepted = new Promise<PeerState>((resolve) => srv.once('connection', (s) => resolve(watchPeer(s))));
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
  const server = await listen(endpoint, opts);
  onCleanup(() => server.close());
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

/** A 4-byte big-endian length prefix and the payload. */
export function lp(payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length, 0);
  return Buffer.concat([h, body]);
}

/** An LSP message: `Content-Length: N\r\n\r\n` and the body. */
export function cl(body: Buffer | string): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  return Buffer.concat([Buffer.from(`Content-Length: ${b.length}\r\n\r\n`, 'latin1'), b]);
}

/** Asserts with a short message instead of dumping megabytes when two buffers differ. */
export function sameBytes(actual: Buffer, expected: Buffer): string {
  if (actual.length !== expected.length) return `length ${actual.length}, expected ${expected.length}`;
  if (actual.equals(expected)) return 'equal';
  let i = 0;
  while (actual[i] === expected[i]) i++;
  return `first difference at byte ${i}: ${actual[i]} vs ${expected[i]}`;
}
