// Shared pieces of the JSON and JSON-RPC tests: a connected pair of our transports in a fresh temporary
// directory, a node:net server to put a hand-written peer on the other end, and cleanup.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import { connect, listen, type Transport, type TransportOptions } from '../../dist/index.js';

export class Scope {
  #dir: string | null = null;
  #cleanups: (() => unknown)[] = [];

  file(name = 's.sock'): string {
    this.#dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'sipc-json-'));
    return path.join(this.#dir, name);
  }

  defer(fn: () => unknown): void {
    this.#cleanups.push(fn);
  }

  async dispose(): Promise<void> {
    for (const c of this.#cleanups.splice(0).reverse()) await c();
    if (this.#dir !== null) fs.rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = null;
  }

  /** Our server and our client, connected; `server` is the server's side of the connection. */
  async pair(opts: TransportOptions = {}): Promise<{ client: Transport; server: Transport }> {
    const file = this.file(`pair-${Math.random().toString(36).slice(2, 8)}.sock`);
    const srv = await listen(`unix:${file}`, opts);
    this.defer(() => srv.close());
    const accepted = once(srv, 'connection') as Promise<[Transport]>;
    const client = await connect(`unix:${file}`, opts);
    const [server] = await accepted;
    this.defer(() => client.destroy());
    this.defer(() => server.destroy());
    return { client, server };
  }

  /** Our client connected to a node:net server; `peer` is the server's raw socket. */
  async withNetPeer(opts: TransportOptions = {}): Promise<{ t: Transport; peer: net.Socket }> {
    const file = this.file(`net-${Math.random().toString(36).slice(2, 8)}.sock`);
    const server = net.createServer({ allowHalfOpen: true });
    server.listen(file);
    await once(server, 'listening');
    this.defer(() => new Promise<void>((r) => server.close(() => r())));
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const t = await connect(`unix:${file}`, opts);
    const [peer] = await accepted;
    this.defer(() => t.destroy());
    this.defer(() => peer.destroy());
    return { t, peer };
  }
}

/** Writes `data` and resolves once node:net has handed it to the OS (or buffered it past a drain). */
export function write(s: net.Socket, data: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => {
    s.write(data, (err) => (err ? reject(err) : resolve()));
  });
}
