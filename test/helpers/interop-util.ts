// Shared pieces of the interoperability, connect-error, socket-file, peer and TCP tests: temporary
// directories, a line-oriented view of a child process's stdout, and hand-written framing for node:net
// peers (so those peers do not share a line of code with the package under test).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';

export const HELPERS = path.dirname(fileURLToPath(import.meta.url));
export const PY_PEER = path.join(HELPERS, 'interop-peer.py');

/** A fresh private directory; remove it with `rmTemp`. */
export function mkTemp(prefix = 'sipc-interop-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function rmTemp(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A unique abstract-namespace name for this test run. */
export function abstractName(tag: string): string {
  return `sipc-test-${tag}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/** A child process whose stdout is read line by line. */
export class LineChild {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #waiters: { test: (l: string) => boolean; resolve: (l: string) => void; reject: (e: Error) => void }[] = [];
  #seen = 0;
  #ended = false;

  constructor(command: string, args: string[], stdin: 'pipe' | 'ignore' = 'ignore') {
    this.child = spawn(command, args, { stdio: [stdin, 'pipe', 'pipe'] });
    let partial = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      partial += chunk;
      let i: number;
      while ((i = partial.indexOf('\n')) !== -1) {
        this.lines.push(partial.slice(0, i));
        partial = partial.slice(i + 1);
      }
      this.#check();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code, signal) => {
        this.#ended = true;
        this.#check();
        resolve({ code, signal });
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves with the next line (after those already consumed by earlier waits) that starts with `prefix`. */
  next(prefix: string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.#waiters.push({ test: (l) => l.startsWith(prefix), resolve, reject });
      this.#check();
    });
  }

  #check(): void {
    while (this.#waiters.length > 0) {
      const w = this.#waiters[0]!;
      let found = false;
      while (this.#seen < this.lines.length) {
        const line = this.lines[this.#seen++]!;
        if (w.test(line)) {
          this.#waiters.shift();
          w.resolve(line);
          found = true;
          break;
        }
      }
      if (found) continue;
      if (this.#ended) {
        this.#waiters.shift();
        w.reject(new Error(`child exited without the expected line; stdout: ${JSON.stringify(this.lines)}; stderr: ${this.stderr}`));
        continue;
      }
      return;
    }
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

export function python(args: string[], stdin: 'pipe' | 'ignore' = 'ignore'): LineChild {
  return new LineChild('python3', [PY_PEER, ...args], stdin);
}

/** Binds a socket file with Python and closes it without unlinking: a stale socket nobody listens on. */
export async function makeStaleSocket(file: string): Promise<void> {
  const p = python(['stale', file]);
  const { code } = await p.exited;
  if (code !== 0) throw new Error(`python stale failed: ${p.stderr}`);
}

export function lengthPrefixed(...payloads: (Buffer | string)[]): Buffer {
  const parts: Buffer[] = [];
  for (const p of payloads) {
    const b = Buffer.isBuffer(p) ? p : Buffer.from(p);
    const h = Buffer.alloc(4);
    h.writeUInt32BE(b.length, 0);
    parts.push(h, b);
  }
  return Buffer.concat(parts);
}

/** Splits a complete length-prefixed byte stream into payloads; throws on a trailing partial frame. */
export function parseLengthPrefixed(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    if (bytes.length - pos < 4) throw new Error(`partial header at ${pos}`);
    const len = bytes.readUInt32BE(pos);
    if (bytes.length - pos - 4 < len) throw new Error(`partial frame at ${pos}`);
    out.push(bytes.subarray(pos + 4, pos + 4 + len));
    pos += 4 + len;
  }
  return out;
}

/** Collects everything a node:net socket receives until it ends. */
export function collect(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return once(socket, 'end').then(() => Buffer.concat(chunks));
}

/** Resolves once `socket` has received at least `n` bytes; gives back everything received so far. */
export function readBytes(socket: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (c: Buffer): void => {
      chunks.push(c);
      total += c.length;
      if (total >= n) {
        cleanup();
        resolve(Buffer.concat(chunks));
      }
    };
    const onEnd = (): void => {
      cleanup();
      reject(new Error(`socket ended after ${total} of ${n} bytes`));
    };
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onEnd);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onEnd);
  });
}
