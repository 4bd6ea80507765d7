// Pieces of the interoperability, connect-error, socket-file, peer and TCP tests, on top of ./common:
// the Python peer (interop-peer.py), abstract names, and reading node:net peers' bytes (their framing
// is ./wire.cjs, so those peers do not share a line of code with the package under test).
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';
import { LineChild } from './common';

export const HELPERS = path.dirname(fileURLToPath(import.meta.url));
export const PY_PEER = path.join(HELPERS, 'interop-peer.py');

/** A unique abstract-namespace name for this test run. */
export function abstractName(tag: string): string {
  return `sipc-test-${tag}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Runs the Python peer (interop-peer.py) with `args`; its stdin is /dev/null unless `stdin` is 'pipe'. */
export function python(args: string[], stdin: 'pipe' | 'ignore' = 'ignore'): LineChild {
  return new LineChild('python3', [PY_PEER, ...args], { stdin });
}

/** Binds a socket file with Python and closes it without unlinking: a stale socket nobody listens on. */
export async function makeStaleSocket(file: string): Promise<void> {
  const p = python(['stale', file]);
  const { code } = await p.exited;
  if (code !== 0) throw new Error(`python stale failed: ${p.stderr}`);
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
