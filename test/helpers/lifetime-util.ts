// Shared helpers for the lifetime, flow-control and closing tests: temp socket directories, a child
// process runner with a safety timeout, and small waiting utilities.
import { spawn, type SpawnOptions } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FD_DIR } from './platform';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const HELPERS = path.join(ROOT, 'test', 'helpers');
export const DIST_CJS = path.join(ROOT, 'dist', 'index.js');
export const DIST_ESM = path.join(ROOT, 'dist', 'index.mjs');

/** A fresh private directory for socket files; `sock(name)` gives a `unix:` endpoint inside it. */
export function tempSockets(prefix = 'sipc-lt-'): { dir: string; sock: (name?: string) => string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  let n = 0;
  return {
    dir,
    sock: (name?: string) => `unix:${path.join(dir, name ?? `s${n++}.sock`)}`,
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the safety timeout had to kill the child. */
  killed: boolean;
}

const running = new Set<ReturnType<typeof spawn>>();

/** Runs `node ...args`; kills it (SIGKILL) if it has not exited after `safetyMs`. */
export function runNode(args: string[], opts: SpawnOptions & { safetyMs?: number } = {}): Promise<ChildResult> {
  const { safetyMs = 15_000, ...spawnOpts } = opts;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOpts });
    running.add(child);
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, safetyMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      running.delete(child);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, signal, stdout, stderr, killed });
    });
  });
}

/** Kills every child still running (for afterEach). */
export function killChildren(): void {
  for (const c of running) c.kill('SIGKILL');
  running.clear();
}

/** Resolves once `cond()` is true, polling every few ms; rejects after `safetyMs` (a safety net only). */
export async function waitFor(cond: () => boolean, what: string, safetyMs = 10_000): Promise<void> {
  const end = Date.now() + safetyMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** The number of open file descriptors of this process. */
export function countFds(): number {
  return fs.readdirSync(FD_DIR).length;
}

/** A 4-byte big-endian length prefix followed by the payload. */
export function lengthPrefixed(payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(payload.length, 0);
  return Buffer.concat([h, payload]);
}

/** Splits a byte stream into length-prefixed frames, keeping a partial tail for the next chunk. */
export class LengthPrefixedReader {
  #buf: Buffer = Buffer.alloc(0);
  frames: Buffer[] = [];
  push(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    let off = 0;
    while (this.#buf.length - off >= 4) {
      const len = this.#buf.readUInt32BE(off);
      if (this.#buf.length - off - 4 < len) break;
      this.frames.push(this.#buf.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    this.#buf = this.#buf.subarray(off);
  }
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
      return waitFor(() => next === total && t.stats.bufferedBytes === 0, 'every frame to be written', 20_000);
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

type ListenFn = typeof import('../../dist/index.js').listen;
type ConnectFn = typeof import('../../dist/index.js').connect;
type TransportT = import('../../dist/index.js').Transport;
type ServerT = import('../../dist/index.js').Server;

/**
 * A server and one connection to it on a fresh socket path: `client` from connect(), `peer` the
 * server's side. `cleanup` destroys both, closes the server and removes the directory.
 */
export async function transportPair(
  ipc: { listen: ListenFn; connect: ConnectFn },
  serverOpts: Parameters<ListenFn>[1] = {},
  clientOpts: Parameters<ConnectFn>[1] = {},
): Promise<{ server: ServerT; client: TransportT; peer: TransportT; endpoint: string; cleanup: () => Promise<void> }> {
  const s = tempSockets('sipc-pair-');
  const endpoint = s.sock();
  const server = await ipc.listen(endpoint, serverOpts);
  const accepted = new Promise<TransportT>((resolve) => server.once('connection', resolve));
  const client = await ipc.connect(endpoint, clientOpts);
  const peer = await accepted;
  return {
    server,
    client,
    peer,
    endpoint,
    cleanup: async () => {
      client.destroy();
      peer.destroy();
      await server.close();
      s.cleanup();
    },
  };
}

/** Records 'error' (by code) and 'close' events in order. */
export function recordEvents(t: EventEmitter): string[] {
  const events: string[] = [];
  t.on('error', (e: Error & { code?: string }) => events.push(`error ${e.code}`));
  t.on('close', () => events.push('close'));
  return events;
}
