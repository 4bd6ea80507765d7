// Shared helpers for the lifetime, flow-control and closing tests: temp socket directories, a child
// process runner with a safety timeout, and small waiting utilities.
import { spawn, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
  return fs.readdirSync('/proc/self/fd').length;
}

/** A 4-byte big-endian length prefix followed by the payload. */
export function lengthPrefixed(payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(payload.length, 0);
  return Buffer.concat([h, payload]);
}

/** Splits a byte stream into length-prefixed frames, keeping a partial tail for the next chunk. */
export class LengthPrefixedReader {
  #buf = Buffer.alloc(0);
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
