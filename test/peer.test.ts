// Peer credentials (SO_PEERCRED on Linux, getpeereid + LOCAL_PEERPID on macOS) on both ends of a unix connection, and allowPeer, which turns a peer
// away before any frame it sent is read.
import { describe, it, expect, afterEach } from 'vitest';
import * as path from 'node:path';
import { once } from 'node:events';
import { connect, listen, type Peer, type Server, type Transport } from '../dist/index.js';
import { LineChild, cleanupAll, dirPerTest, listenAt, onCleanup } from './helpers/common';
import { HELPERS, abstractName, python } from './helpers/interop-util';
import { LINUX } from './helpers/platform';

afterEach(cleanupAll);

const dir = dirPerTest('sipc-peer-');

function sock(name = 'p.sock'): string {
  return path.join(dir(), name);
}

const ME: Peer = { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() };

async function serve(endpoint: string, opts: Parameters<typeof listen>[1] = {}): Promise<{ server: Server; accepted: Transport[] }> {
  const server = await listenAt(endpoint, opts);
  const accepted: Transport[] = [];
  server.on('connection', (t: Transport) => {
    accepted.push(t);
    t.on('message', (f: Buffer) => t.send(f));
  });
  return { server, accepted };
}

function nodeChild(endpoint: string, text: string): LineChild {
  return new LineChild(process.execPath, [path.join(HELPERS, 'interop-client.js'), endpoint, text], { stdin: 'ignore' });
}

describe('transport.peer', () => {
  async function bothEndsAreMe(_what: string, endpoint: () => string): Promise<void> {
    const ep = endpoint();
    const { server } = await serve(ep);
    const accepted = once(server, 'connection') as Promise<[Transport]>;
    const client = await connect(ep);
    onCleanup(() => client.destroy());
    const [serverSide] = await accepted;
    expect(client.peer).toEqual(ME);
    expect(serverSide.peer).toEqual(ME);
  }

  it.each([['a socket file', () => `unix:${sock()}`]])('is this process on both ends of a connection within one process (%s)', bothEndsAreMe);
  // The abstract namespace exists only on Linux.
  it.runIf(LINUX).each([['an abstract name', () => `unix:@${abstractName('peer')}`]])(
    'is this process on both ends of a connection within one process (%s)',
    bothEndsAreMe,
  );

  it('names a Node child process client by its pid, and the child sees our pid', async () => {
    const file = sock();
    const { server, accepted } = await serve(`unix:${file}`);
    const child = nodeChild(`unix:${file}`, 'from node child');
    const peerLine = await child.next('PEER ');
    expect(JSON.parse(peerLine.slice(5))).toEqual(ME);
    expect(await child.next('ECHO ')).toBe('ECHO from node child');
    expect((await child.exited).code).toBe(0);
    expect(accepted).toHaveLength(1);
    expect(accepted[0]!.peer).toEqual({ pid: child.pid, uid: ME.uid, gid: ME.gid });
    expect(accepted[0]!.peer!.pid).not.toBe(process.pid);
    expect(server.connections).toBe(0);
  });

  it('names a Python server by its pid on our client, and our pid is what the Python side would see', async () => {
    const file = sock();
    const p = python(['server', file, 'length-prefixed']);
    await p.next('READY');
    const t = await connect(`unix:${file}`);
    onCleanup(() => t.destroy());
    expect(t.peer).toEqual({ pid: p.pid, uid: ME.uid, gid: ME.gid });
    await t.close();
    expect(await p.next('DONE')).toBe('DONE 0 0');
  });

  it('names a Python client by its pid on our server', async () => {
    const file = sock();
    const { accepted } = await serve(`unix:${file}`);
    const p = python(['client', file, 'length-prefixed', Buffer.from('x').toString('hex')]);
    expect(await p.next('FRAME')).toBe('FRAME 78');
    expect((await p.exited).code).toBe(0);
    expect(accepted.map((t) => t.peer)).toEqual([{ pid: p.pid, uid: ME.uid, gid: ME.gid }]);
  });
});

describe('allowPeer', () => {
  it('returning false ends the connection before anything it sent is read; refused fires once', async () => {
    const file = sock();
    const seen: (Peer | null)[] = [];
    const { server, accepted } = await serve(`unix:${file}`, {
      allowPeer: (peer) => {
        seen.push(peer);
        return false;
      },
    });
    const refused: (Peer | null)[] = [];
    server.on('refused', (peer: Peer | null) => refused.push(peer));

    const client = await connect(`unix:${file}`);
    onCleanup(() => client.destroy());
    const messages: Buffer[] = [];
    const errors: (Error & { code?: string })[] = [];
    client.on('message', (f: Buffer) => messages.push(f));
    client.on('error', (e: Error) => errors.push(e));
    // events.once() would reject on 'error'; the close that follows it is what is awaited here.
    const closed = new Promise<boolean>((resolve) => client.once('close', resolve));
    expect(client.send('must never be read')).toBe(true);
    const hadError = await closed;

    expect(messages).toHaveLength(0);
    expect(seen).toEqual([ME]);
    expect(refused).toEqual([ME]);
    expect(accepted).toHaveLength(0);
    expect(server.connections).toBe(0);
    if (LINUX) {
      // The server closed with our frame unread in its receive queue: Linux reports that as a reset.
      expect(hadError).toBe(true);
      expect(errors.map((e) => e.code)).toEqual(['ECONNRESET']);
    } else {
      // macOS (XNU unp_detach/unp_disconnect) never resets a Unix stream: the peer sees end of stream.
      expect(hadError).toBe(false);
      expect(errors).toEqual([]);
    }
    expect(client.state).toBe('closed');
  });

  it('returning false to a client that sent nothing gives it a clean close', async () => {
    const file = sock();
    const { server, accepted } = await serve(`unix:${file}`, { allowPeer: () => false });
    let refused = 0;
    server.on('refused', () => refused++);
    const client = await connect(`unix:${file}`);
    onCleanup(() => client.destroy());
    let messages = 0;
    let errors = 0;
    client.on('message', () => messages++);
    client.on('error', () => errors++);
    const [hadError] = (await once(client, 'close')) as [boolean];
    expect(hadError).toBe(false);
    expect(messages).toBe(0);
    expect(errors).toBe(0);
    expect(refused).toBe(1);
    expect(accepted).toHaveLength(0);
  });

  it('refuses a Node child process by pid while letting this process in', async () => {
    const file = sock();
    const { server, accepted } = await serve(`unix:${file}`, { allowPeer: (peer) => peer?.pid === process.pid });
    const refused: (Peer | null)[] = [];
    server.on('refused', (peer: Peer | null) => refused.push(peer));

    const child = nodeChild(`unix:${file}`, 'let me in');
    await child.exited;
    // The child never gets an echo: its connection is closed under it (cleanly or by a reset, depending
    // on whether its frame had arrived when the server closed, which is up to two processes' timing).
    expect(child.lines.filter((l) => l.startsWith('ECHO'))).toEqual([]);
    expect(child.lines.filter((l) => l.startsWith('PEER'))).toHaveLength(1);
    expect(refused).toEqual([{ pid: child.pid, uid: ME.uid, gid: ME.gid }]);
    expect(accepted).toHaveLength(0);

    const t = await connect(`unix:${file}`);
    onCleanup(() => t.destroy());
    t.send('me');
    const [frame] = (await once(t, 'message')) as [Buffer];
    expect(frame.toString()).toBe('me');
    expect(accepted).toHaveLength(1);
    expect(refused).toHaveLength(1);
  });

  it('returning true lets the connection through; allowPeer runs once per connection', async () => {
    const file = sock();
    const seen: (Peer | null)[] = [];
    const { server, accepted } = await serve(`unix:${file}`, {
      allowPeer: (peer) => {
        seen.push(peer);
        return true;
      },
    });
    let refused = 0;
    server.on('refused', () => refused++);
    for (const text of ['first', 'second']) {
      const t = await connect(`unix:${file}`);
      t.send(text);
      const [frame] = (await once(t, 'message')) as [Buffer];
      expect(frame.toString()).toBe(text);
      await t.close();
    }
    expect(seen).toEqual([ME, ME]);
    expect(accepted).toHaveLength(2);
    expect(accepted.map((t) => t.peer)).toEqual([ME, ME]);
    expect(refused).toBe(0);
  });

  it('a truthy value that is not true does not let the peer in', async () => {
    const file = sock();
    const { server, accepted } = await serve(`unix:${file}`, { allowPeer: () => 1 as unknown as boolean });
    let refused = 0;
    server.on('refused', () => refused++);
    const client = await connect(`unix:${file}`);
    onCleanup(() => client.destroy());
    await once(client, 'close');
    expect(refused).toBe(1);
    expect(accepted).toHaveLength(0);
  });
});
