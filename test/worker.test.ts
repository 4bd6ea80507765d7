// The addon in worker_threads: a worker talks to the main thread and to itself, is terminated with
// handles open, or ends by itself; frames received in a worker cannot have their memory transferred.
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, listen, type Server, type Transport } from '../dist/index.js';
import { cleanupAll, listenAt, onCleanup, waitFor } from './helpers/common';
import { DIST_CJS, HELPERS, tempSockets } from './helpers/lifetime-util';

const WORKER = path.join(HELPERS, 'lifetime-worker.cjs');
afterEach(cleanupAll);

const sockets = () => tempSockets('sipc-wk-');

interface Started {
  worker: Worker;
  messages: Record<string, unknown>[];
  exited: Promise<number>;
  errors: Error[];
}

function startWorker(workerData: Record<string, unknown>): Started {
  const worker = new Worker(WORKER, { workerData: { dist: DIST_CJS, ...workerData } });
  const messages: Record<string, unknown>[] = [];
  const errors: Error[] = [];
  worker.on('message', (m: Record<string, unknown>) => messages.push(m));
  worker.on('error', (e) => errors.push(e));
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  onCleanup(() => worker.terminate());
  return { worker, messages, exited, errors };
}

function firstOfType(w: Started, type: string): Record<string, unknown> | undefined {
  return w.messages.find((m) => m.type === type || m.type === 'failed');
}

async function waitMessage(w: Started, type: string): Promise<Record<string, unknown>> {
  await waitFor(() => firstOfType(w, type) !== undefined || w.errors.length > 0, `the worker's '${type}' message`);
  expect(w.errors).toEqual([]);
  const m = firstOfType(w, type)!;
  expect(m).toMatchObject({ type });
  return m;
}

/** A server on the main thread that echoes every frame with an `echo:` prefix. */
async function echoServer(endpoint: string): Promise<{ server: Server; conns: Transport[]; events: string[] }> {
  const server = await listenAt(endpoint);
  const conns: Transport[] = [];
  const events: string[] = [];
  server.on('connection', (t: Transport) => {
    conns.push(t);
    t.on('message', (m: Buffer) => t.send(Buffer.concat([Buffer.from('echo:'), m])));
    t.on('error', (e: Error & { code?: string }) => events.push(`error ${e.code}`));
    t.on('close', () => events.push('close'));
  });
  return { server, conns, events };
}

describe('the addon in a worker thread', () => {
  it('a worker exchanges frames with the main thread; terminating it with the transport open closes the main side', async () => {
    const { sock } = sockets();
    const endpoint = sock();
    const { server, events } = await echoServer(endpoint);
    const w = startWorker({ mode: 'connect-main', endpoint, n: 500 });
    expect(await waitMessage(w, 'counts')).toEqual({ type: 'counts', sent: 500, received: 500, inOrder: true });
    expect(server.connections).toBe(1);

    // The worker's transport is still open: its teardown must close it without running JS or crashing.
    const code = await w.worker.terminate();
    expect(code).toBe(1);
    await waitFor(() => events.length > 0 && server.connections === 0, "the main thread's side to close");
    expect(events).toEqual(['close']);
    expect(w.errors).toEqual([]);
  });

  it('a worker that listens and talks to itself, with unwritten data, is terminated cleanly; the main thread sees close', async () => {
    const { sock } = sockets();
    const ownEndpoint = sock();
    const w = startWorker({ mode: 'self', ownEndpoint, n: 300 });
    // 'connections' is 2: the worker's own client and the stuck one.
    expect(await waitMessage(w, 'counts')).toEqual({ type: 'counts', sent: 300, received: 300, inOrder: true, connections: 2 });

    const t = await connect(ownEndpoint);
    onCleanup(() => t.destroy());
    const events: string[] = [];
    t.on('message', (m: Buffer) => events.push(`message ${m.toString()}`));
    t.on('error', (e: Error & { code?: string }) => events.push(`error ${e.code}`));
    t.on('close', () => events.push('close'));
    t.send('from main');
    await waitFor(() => events.length > 0, 'the echo from the worker');
    expect(events).toEqual(['message echo:from main']);

    expect(await w.worker.terminate()).toBe(1);
    await waitFor(() => t.state === 'closed', "the main thread's transport to close");
    expect(events).toEqual(['message echo:from main', 'close']);
    expect(w.errors).toEqual([]);

    // The addon loads again in a new worker after the first one's teardown.
    const w2 = startWorker({ mode: 'self', ownEndpoint: sock(), n: 10 });
    expect(await waitMessage(w2, 'counts')).toMatchObject({ sent: 10, received: 10, inOrder: true });
    expect(await w2.worker.terminate()).toBe(1);
  });

  it('a worker that closes its transport and returns exits with code 0', async () => {
    const { sock } = sockets();
    const endpoint = sock();
    const { server, events } = await echoServer(endpoint);
    const w = startWorker({ mode: 'normal-exit', endpoint, n: 100 });
    // Nothing is left open in the worker, so it ends by itself (the test timeout is the safety net).
    expect(await w.exited).toBe(0);
    expect(w.errors).toEqual([]);
    expect(w.messages).toEqual([{ type: 'counts', sent: 100, received: 100, state: 'closed' }]);
    await waitFor(() => server.connections === 0, "the main thread's side to close");
    expect(events).toEqual(['close']);
  });

  it("a frame's memory cannot be transferred out of a worker: the slab is never detached", async () => {
    const { sock } = sockets();
    const endpoint = sock();
    const server = await listen(endpoint);
    onCleanup(() => server.close());
    const accepted = new Promise<Transport>((resolve) => server.once('connection', resolve));
    const n = 5;
    const w = startWorker({ mode: 'transfer', endpoint, n });
    await waitMessage(w, 'ready');
    const t = await accepted;
    // One frame per write, spaced out, so later frames land in the slab after the transfer attempts.
    for (let i = 0; i < n; i++) {
      t.send(`frame number ${i}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const { results } = (await waitMessage(w, 'transfer')) as unknown as {
      results: { text: string; before: number; after: number; textAfter: string; threw: { name: string } | null }[];
    };
    expect(results.map((r) => r.text)).toEqual(Array.from({ length: n }, (_, i) => `frame number ${i}`));
    for (const r of results) {
      // Node >= 21 refuses an untransferable buffer in the transfer list with DataCloneError; Node 20
      // copies it instead. Either way the slab must stay attached and its bytes intact.
      if (r.threw !== null) expect(r.threw.name).toBe('DataCloneError');
      expect(r.after).toBe(r.before);
      expect(r.after).toBeGreaterThan(0);
      expect(r.textAfter).toBe(r.text);
    }
    const copies = w.messages.filter((m) => m.type === 'buffer');
    const threwCount = results.filter((r) => r.threw !== null).length;
    expect(copies.length).toBe(n - threwCount);
    for (const c of copies) expect((c.ab as ArrayBuffer).byteLength).toBeGreaterThan(0);
    await w.exited;
  });
});
