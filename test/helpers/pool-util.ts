// Helpers for the pool tests, on top of ./common: a server that keeps books on every connection it
// accepts (frames, ends, errors), and a pool that is closed at cleanup.
import { createPool, listen, type Pool, type PoolOptions, type Server, type Transport } from '../../dist/index.js';
import { onCleanup, sleep, waitFor } from './common';
import { tempSockets } from './lifetime-util';

/** One accepted connection, as the server saw it. */
export interface Accepted {
  t: Transport;
  frames: Buffer[];
  closed: boolean;
  errors: Error[];
}

export interface BookServer {
  server: Server;
  endpoint: string;
  peers: Accepted[];
  /** Peers whose connection is still open. */
  open(): Accepted[];
  /** Every frame received on any connection. */
  frames(): Buffer[];
  /** The peer whose connection received a frame equal to `text`. */
  peerWith(text: string): Accepted;
}

/**
 * A server on a fresh socket path that records every connection. With `answer`, each frame is passed
 * to it and a non-null result sent back on the same connection.
 */
export async function bookServer(answer?: (frame: Buffer, peer: Accepted) => string | null, endpoint = tempSockets('sipc-pool-').sock()): Promise<BookServer> {
  const server = await listen(endpoint);
  const peers: Accepted[] = [];
  server.on('connection', (t: Transport) => {
    const peer: Accepted = { t, frames: [], closed: false, errors: [] };
    peers.push(peer);
    t.on('message', (m: Buffer) => {
      peer.frames.push(Buffer.from(m));
      const reply = answer?.(m, peer);
      if (reply != null && t.state === 'open') t.send(reply);
    });
    t.on('error', (e: Error) => peer.errors.push(e));
    t.on('close', () => (peer.closed = true));
  });
  onCleanup(() => server.close());
  return {
    server,
    endpoint,
    peers,
    open: () => peers.filter((p) => !p.closed),
    frames: () => peers.flatMap((p) => p.frames),
    peerWith: (text) => {
      const found = peers.filter((p) => p.frames.some((f) => f.toString() === text));
      if (found.length !== 1) throw new Error(`expected one connection with '${text}', found ${found.length}`);
      return found[0]!;
    },
  };
}

/** What a pool emitted, in order. */
export interface PoolEvents {
  evicts: { t: Transport; reason: string }[];
  connectErrors: Error[];
  connections: Transport[];
}

export function poolEvents(pool: Pool): PoolEvents {
  const ev: PoolEvents = { evicts: [], connectErrors: [], connections: [] };
  pool.on('evict', (t: Transport, reason: string) => ev.evicts.push({ t, reason }));
  pool.on('connectError', (e: Error) => ev.connectErrors.push(e));
  pool.on('connection', (t: Transport) => ev.connections.push(t));
  return ev;
}

/**
 * A pool with its events recorded, closed at cleanup. A test that failed with a connection still
 * borrowed would keep close() waiting: after a grace period the server's cleanup (registered earlier,
 * so it runs later) cannot help, so the pool's connections are closed from this side.
 */
export function pool(target: Parameters<typeof createPool>[0], options?: PoolOptions): { pool: Pool; events: PoolEvents } {
  const p = createPool(target, options);
  const events = poolEvents(p);
  onCleanup(async () => {
    const closing = p.close();
    const done = await Promise.race([closing.then(() => true), sleep(2000).then(() => false)]);
    if (!done) {
      for (const t of events.connections) t.destroy();
      await closing;
    }
  });
  return { pool: p, events };
}

/** Waits until the pool holds `size` open connections. */
export async function settled(p: Pool, size: number): Promise<void> {
  await waitFor(() => p.stats.size === size, `pool size ${size} (now ${JSON.stringify(p.stats)})`);
}
