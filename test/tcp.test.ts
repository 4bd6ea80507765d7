// TCP endpoints: a real port from tcp:127.0.0.1:0, frames both ways with our client and with node:net,
// and the errors of a closed port or a taken one.
import { describe, it, expect, afterEach } from 'vitest';
import * as net from 'node:net';
import * as os from 'node:os';
import { once } from 'node:events';
import { connect, listen, TransportError, type Server, type Transport } from '../dist/index.js';
import { cleanupAll, collect, listenAt, onCleanup } from './helpers/common';
import { lp } from './helpers/wire.cjs';

afterEach(cleanupAll);

async function serve(endpoint: Parameters<typeof listen>[0], opts: Parameters<typeof listen>[1] = {}): Promise<{ server: Server; got: Buffer[] }> {
  const server = await listenAt(endpoint, opts);
  const got: Buffer[] = [];
  server.on('connection', (t: Transport) => {
    t.on('message', (f: Buffer) => {
      got.push(Buffer.from(f));
      t.send(f);
    });
  });
  return { server, got };
}

function portOf(server: Server): number {
  const m = /^tcp:127\.0\.0\.1:(\d+)$/.exec(server.endpoint);
  expect(m).not.toBeNull();
  return Number(m![1]);
}

const BIG = Buffer.alloc(2 * 1024 * 1024, 0).map((_, i) => (i * 13) & 0xff) as Buffer;

/** A port that was free a moment ago and has nobody listening now. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('tcp:127.0.0.1:0', () => {
  it('listens on a real port the endpoint names, reachable by node:net', async () => {
    const { server } = await serve('tcp:127.0.0.1:0');
    const port = portOf(server);
    expect(port).toBeGreaterThan(0);
    const s = net.connect(port, '127.0.0.1');
    await once(s, 'connect');
    expect(s.remotePort).toBe(port);
    s.destroy();
  });

  it('exchanges frames both ways with our client, including a 2 MiB frame', async () => {
    const { server, got } = await serve('tcp:127.0.0.1:0');
    const t = await connect(server.endpoint);
    onCleanup(() => t.destroy());
    expect(t.peer).toBeNull();
    expect(t.endpoint).toBe(server.endpoint);
    const received: Buffer[] = [];
    t.on('message', (f: Buffer) => received.push(Buffer.from(f)));
    t.send('small');
    t.send(Buffer.alloc(0));
    t.send(BIG);
    t.send('after big');
    await t.close();
    expect(received.map((f) => f.length)).toEqual([5, 0, BIG.length, 9]);
    expect(received[2]!.equals(BIG)).toBe(true);
    expect(received[3]!.toString()).toBe('after big');
    expect(got.map((f) => f.length)).toEqual([5, 0, BIG.length, 9]);
    expect(t.stats.framesIn).toBe(4);
    expect(t.stats.framesOut).toBe(4);
  });

  it('accepts tcp endpoint objects, the host defaulting to 127.0.0.1', async () => {
    const { server } = await serve({ type: 'tcp', host: '127.0.0.1', port: 0 });
    const port = portOf(server);
    const t = await connect({ type: 'tcp', port });
    onCleanup(() => t.destroy());
    t.send('object endpoint');
    const [frame] = (await once(t, 'message')) as [Buffer];
    expect(frame.toString()).toBe('object endpoint');
  });

  it('speaks lines over TCP', async () => {
    const { server, got } = await serve('tcp:127.0.0.1:0', { framing: 'lines' });
    const t = await connect(server.endpoint, { framing: 'lines' });
    onCleanup(() => t.destroy());
    const received: string[] = [];
    t.on('message', (f: Buffer) => received.push(f.toString()));
    t.send('{"a":1}');
    t.send('{"b":2}');
    await t.close();
    expect(received).toEqual(['{"a":1}', '{"b":2}']);
    expect(got.map(String)).toEqual(['{"a":1}', '{"b":2}']);
  });
});

describe('node:net peers over TCP', () => {
  it('a node:net client gets back exactly the bytes it sent', async () => {
    const { server, got } = await serve('tcp:127.0.0.1:0');
    const s = net.connect(portOf(server), '127.0.0.1');
    onCleanup(() => s.destroy());
    await once(s, 'connect');
    const all = collect(s);
    const sent = lp('net one', Buffer.alloc(0), BIG);
    s.end(sent);
    expect((await all).equals(sent)).toBe(true);
    expect(got.map((f) => f.length)).toEqual([7, 0, BIG.length]);
  });

  it('our client talks to a node:net TCP server that frames by hand', async () => {
    let serverGot!: Promise<Buffer>;
    const ns = net.createServer({ allowHalfOpen: true }, (s) => {
      serverGot = collect(s);
      void serverGot.then(() => s.end(lp('reply', BIG)));
    });
    ns.listen(0, '127.0.0.1');
    await once(ns, 'listening');
    onCleanup(() => new Promise<void>((r) => ns.close(() => r())));
    const port = (ns.address() as net.AddressInfo).port;

    const t = await connect(`tcp:127.0.0.1:${port}`);
    onCleanup(() => t.destroy());
    const received: Buffer[] = [];
    t.on('message', (f: Buffer) => received.push(Buffer.from(f)));
    t.send('hello tcp');
    t.send(Buffer.from([0, 1, 2, 255]));
    await t.close();
    expect((await serverGot).equals(lp('hello tcp', Buffer.from([0, 1, 2, 255])))).toBe(true);
    expect(received).toHaveLength(2);
    expect(received[0]!.toString()).toBe('reply');
    expect(received[1]!.equals(BIG)).toBe(true);
  });
});

describe('TCP errors', () => {
  it('connect to a closed port rejects with ECONNREFUSED', async () => {
    const port = await closedPort();
    const address = `tcp:127.0.0.1:${port}`;
    let err: TransportError | undefined;
    try {
      (await connect(address)).destroy();
    } catch (e) {
      err = e as TransportError;
    }
    expect(err).toBeInstanceOf(TransportError);
    expect(err!.code).toBe('ECONNREFUSED');
    expect(err!.errno).toBe(-os.constants.errno.ECONNREFUSED);
    expect(err!.syscall).toBe('connect');
    expect(err!.address).toBe(address);
    expect(err!.message).toBe(`connect ECONNREFUSED ${address}`);
  });

  it('listen on a port in use rejects with EADDRINUSE and the first server keeps working', async () => {
    const { server } = await serve('tcp:127.0.0.1:0');
    const err = await listen(server.endpoint).then(
      async (s) => {
        await s.close();
        return undefined;
      },
      (e: TransportError) => e,
    );
    expect(err).toBeInstanceOf(TransportError);
    expect(err!.code).toBe('EADDRINUSE');
    expect(err!.syscall).toBe('listen');
    expect(err!.address).toBe(server.endpoint);
    const t = await connect(server.endpoint);
    onCleanup(() => t.destroy());
    t.send('still here');
    const [frame] = (await once(t, 'message')) as [Buffer];
    expect(frame.toString()).toBe('still here');
  });

  it('server.close() closes its TCP connections and frees the port', async () => {
    const { server } = await serve('tcp:127.0.0.1:0');
    const port = portOf(server);
    const accepted = once(server, 'connection');
    const t = await connect(server.endpoint);
    onCleanup(() => t.destroy());
    const closed = new Promise<boolean>((resolve) => t.once('close', resolve));
    await accepted;
    expect(server.connections).toBe(1);
    await server.close();
    expect(await closed).toBe(false);
    expect(server.connections).toBe(0);
    await expect(connect(`tcp:127.0.0.1:${port}`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
