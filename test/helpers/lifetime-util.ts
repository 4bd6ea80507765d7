// Helpers for the lifetime, flow-control, backpressure and closing tests, on top of ./common: paths of
// the built package, temp socket directories, a connected pair, a sender that honours backpressure and
// numbered frames.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type ConnectOptions, type ListenOptions, type Server, type Transport } from '../../dist/index.js';
import { listenAt, onCleanup, tempDir, waitFor } from './common';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const HELPERS = path.join(ROOT, 'test', 'helpers');
export const DIST_CJS = path.join(ROOT, 'dist', 'index.js');
export const DIST_ESM = path.join(ROOT, 'dist', 'index.mjs');

/**
 * A fresh private directory for socket files, removed at cleanup; `sock(name)` gives a `unix:` endpoint
 * inside it (numbered names when none is given).
 */
export function tempSockets(prefix = 'sipc-lt-'): { dir: string; sock: (name?: string) => string } {
  const dir = tempDir(prefix);
  let n = 0;
  return { dir, sock: (name?: string) => `unix:${path.join(dir, name ?? `s${n++}.sock`)}` };
}

interface Sender {
  send(frame: Uint8Array | string): boolean;
  on(event: 'drain', fn: () => void): unknown;
  once(event: 'drain', fn: () => void): unknown;
  off(event: 'drain', fn: () => void): unknown;
  readonly stats: { bufferedBytes: number };
}

/**
 * Sends `total` frames made by `make(i)`, honouring backpressure: stops at false, goes on at 'drain'.
 * `stalled()` resolves once no 'drain' has come for `quietMs` (the peer stopped reading); waiting longer
 * only lets more through, so no result depends on how long it is.
 */
export function pump(t: Sender, total: number, make: (i: number) => Uint8Array | string) {
  let next = 0;
  let falses = 0;
  const run = (): void => {
    while (next < total) {
      if (!t.send(make(next++))) {
        falses++;
        return;
      }
    }
  };
  t.on('drain', run);
  run();
  return {
    get sent(): number {
      return next;
    },
    get falses(): number {
      return falses;
    },
    async stalled(quietMs = 300): Promise<void> {
      for (;;) {
        if (next === total) return;
        const drained = await new Promise<boolean>((resolve) => {
          const onDrain = (): void => {
            clearTimeout(timer);
            resolve(true);
          };
          const timer = setTimeout(() => {
            t.off('drain', onDrain);
            resolve(false);
          }, quietMs);
          t.once('drain', onDrain);
        });
        if (!drained) return;
      }
    },
    finished(): Promise<void> {
      return waitFor(() => next === total && t.stats.bufferedBytes === 0, 'every frame to be written', { ms: 20_000 });
    },
    stop(): void {
      t.off('drain', run);
    },
  };
}

/** A frame of `size` bytes carrying its sequence number in the first four bytes. */
export function numbered(i: number, size = 1024): Buffer {
  const b = Buffer.alloc(size, i & 0xff);
  b.writeUInt32BE(i, 0);
  return b;
}

/** Throws unless `frames` are exactly the numbered frames 0..n-1 of `size` bytes, in order. */
export function checkNumbered(frames: Buffer[], n: number, size = 1024): void {
  if (frames.length !== n) throw new Error(`expected ${n} frames, got ${frames.length}`);
  for (let i = 0; i < n; i++) {
    const f = frames[i]!;
    if (f.length !== size || f.readUInt32BE(0) !== i || f[size - 1] !== (i & 0xff)) {
      throw new Error(`frame ${i} is wrong: length ${f.length}, sequence ${f.length >= 4 ? f.readUInt32BE(0) : -1}`);
    }
  }
}

/**
 * A server and one connection to it on a fresh socket path: `client` from connect(), `peer` the
 * server's side. At cleanup both are destroyed, the server closed and the directory removed.
 */
export async function transportPair(
  serverOpts: ListenOptions = {},
  clientOpts: ConnectOptions = {},
): Promise<{ server: Server; client: Transport; peer: Transport; endpoint: string }> {
  const endpoint = tempSockets('sipc-pair-').sock();
  const server = await listenAt(endpoint, serverOpts);
  const accepted = new Promise<Transport>((resolve) => server.once('connection', resolve));
  const client = await connect(endpoint, clientOpts);
  const peer = await accepted;
  onCleanup(() => {
    client.destroy();
    peer.destroy();
  });
  return { server, client, peer, endpoint };
}
