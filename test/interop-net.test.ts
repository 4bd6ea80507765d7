// Interoperability with Node's own `net`: the peer frames by hand, so a frame that is one byte off, a
// missing newline or a swallowed blank line shows as a byte difference.
import { describe, it, expect, afterEach } from 'vitest';
import * as net from 'node:net';
import * as path from 'node:path';
import { once } from 'node:events';
import { connect, type Transport } from '../dist/index.js';
import { cleanupAll, collect, dirPerTest, listenAt, onCleanup } from './helpers/common';
import { lp, parseLengthPrefixed, readLengthPrefixed } from './helpers/wire.cjs';

afterEach(cleanupAll);

const dir = dirPerTest('sipc-interop-');

function sock(name = 's.sock'): string {
  return path.join(dir(), name);
}

function netClient(file: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(file, () => resolve(s));
    s.once('error', reject);
    onCleanup(() => s.destroy());
  });
}

async function netServer(onSocket: (s: net.Socket) => void): Promise<{ server: net.Server; file: string }> {
  const file = sock('net.sock');
  const server = net.createServer({ allowHalfOpen: true }, onSocket);
  server.listen(file);
  await once(server, 'listening');
  onCleanup(() => new Promise<void>((r) => server.close(() => r())));
  return { server, file };
}

/** Every payload byte 0..255 plus a large one, so a framing slip cannot hide. */
const BINARY = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const LARGE = Buffer.alloc(300_000, 0).map((_, i) => (i * 31 + 7) & 0xff) as Buffer;

describe('length-prefixed: our server, node:net client', () => {
  it('echoes frames sent in one write, including an empty frame and a 300 KB frame, byte for byte', async () => {
    const file = sock();
    const server = await listenAt(`unix:${file}`);
    const received: Buffer[] = [];
    let connections = 0;
    const serverClosed = new Promise<boolean>((resolve) => {
      server.on('connection', (t: Transport) => {
        connections++;
        t.on('message', (f: Buffer) => {
          received.push(Buffer.from(f));
          t.send(f);
        });
        t.once('close', (hadError: boolean) => resolve(hadError));
      });
    });

    const client = await netClient(file);
    const all = collect(client);
    const sent = lp('hello', Buffer.alloc(0), BINARY, LARGE);
    client.end(sent);

    const echoed = await all;
    expect(echoed.equals(sent)).toBe(true);
    expect(await serverClosed).toBe(false);
    expect(connections).toBe(1);
    expect(received.map((b) => b.length)).toEqual([5, 0, 256, 300_000]);
    expect(received[0]!.toString()).toBe('hello');
    expect(received[2]!.equals(BINARY)).toBe(true);
    expect(received[3]!.equals(LARGE)).toBe(true);
  });

  it('reassembles a frame written one byte at a time', async () => {
    const file = sock();
    const server = await listenAt(`unix:${file}`);
    const received: Buffer[] = [];
    const closed = new Promise<void>((resolve) => {
      server.on('connection', (t: Transport) => {
        t.on('message', (f: Buffer) => received.push(Buffer.from(f)));
        t.once('close', () => resolve());
      });
    });
    const client = await netClient(file);
    const bytes = lp('split across reads', 'second');
    for (const byte of bytes) {
      await new Promise<void>((resolve, reject) => client.write(Buffer.from([byte]), (e) => (e ? reject(e) : resolve())));
      await new Promise((r) => setImmediate(r));
    }
    client.end();
    await closed;
    expect(received.map(String)).toEqual(['split across reads', 'second']);
  });

  it('frames our server sends first arrive as exactly header + payload', async () => {
    const file = sock();
    const server = await listenAt(`unix:${file}`);
    server.on('connection', (t: Transport) => {
      expect(t.send('abc')).toBe(true);
      expect(t.send(BINARY)).toBe(true);
      expect(t.send(LARGE)).toBe(true);
      void t.close();
    });
    const client = await netClient(file);
    const all = collect(client);
    // The server's close() waits for our end before closing; give it.
    client.end();
    const bytes = await all;
    expect(bytes.equals(lp('abc', BINARY, LARGE))).toBe(true);
    expect(parseLengthPrefixed(bytes)).toHaveLength(3);
  });
});

describe('length-prefixed: node:net server, our client', () => {
  it('ping-pongs 50 frames of growing size with a hand-written echo server', async () => {
    let serverBytesIn = 0;
    const { file } = await netServer((s) => {
      const echo = readLengthPrefixed((payload) => s.write(lp(payload)));
      s.on('data', (chunk: Buffer) => {
        serverBytesIn += chunk.length;
        echo(chunk);
      });
      s.on('end', () => s.end());
    });

    const t = await connect(`unix:${file}`);
    onCleanup(() => t.destroy());
    const it = t[Symbol.asyncIterator]();
    let expectedWire = 0;
    for (let i = 0; i < 50; i++) {
      const payload = Buffer.alloc(i * 997, i);
      expectedWire += 4 + payload.length;
      t.send(payload);
      const r = await it.next();
      expect(r.done).toBe(false);
      expect((r.value as Buffer).equals(payload)).toBe(true);
    }
    await t.close();
    expect(serverBytesIn).toBe(expectedWire);
    expect(t.stats.framesIn).toBe(50);
    expect(t.stats.framesOut).toBe(50);
    expect(t.state).toBe('closed');
  });

  it('the net server sees exactly our bytes, and its reply frames arrive before close', async () => {
    let serverGot!: Promise<Buffer>;
    const { file } = await netServer((s) => {
      serverGot = collect(s);
      void serverGot.then(() => s.end(lp('reply-1', Buffer.alloc(0), BINARY)));
    });
    const t = await connect(`unix:${file}`);
    onCleanup(() => t.destroy());
    const messages: Buffer[] = [];
    let closes = 0;
    let errors = 0;
    t.on('message', (f: Buffer) => messages.push(Buffer.from(f)));
    t.on('close', () => closes++);
    t.on('error', () => errors++);
    expect(t.send('one')).toBe(true);
    expect(t.send(BINARY)).toBe(true);
    expect(t.send(LARGE)).toBe(true);
    await t.close();

    expect((await serverGot).equals(lp('one', BINARY, LARGE))).toBe(true);
    expect(messages.map((m) => m.length)).toEqual([7, 0, 256]);
    expect(messages[0]!.toString()).toBe('reply-1');
    expect(messages[2]!.equals(BINARY)).toBe(true);
    expect(closes).toBe(1);
    expect(errors).toBe(0);
  });
});

describe('lines framing with node:net', () => {
  it('our server splits on \\n, strips one \\r, skips blank lines, delivers the last line at EOF, and echoes with \\n', async () => {
    const file = sock();
    const server = await listenAt(`unix:${file}`, { framing: 'lines' });
    const received: string[] = [];
    server.on('connection', (t: Transport) => {
      t.on('message', (f: Buffer) => {
        received.push(f.toString('latin1'));
        t.send(f);
      });
    });
    const client = await netClient(file);
    const all = collect(client);
    client.end('one\r\ntwo\n\n\nthr\x00e\re\r\nlast');
    const echoed = await all;
    expect(received).toEqual(['one', 'two', 'thr\x00e\re', 'last']);
    expect(echoed.toString('latin1')).toBe('one\ntwo\nthr\x00e\re\nlast\n');
  });

  it('our server strips only one trailing \\r of a line', async () => {
    const file = sock();
    const server = await listenAt(`unix:${file}`, { framing: 'lines' });
    const received: string[] = [];
    const closed = new Promise<void>((resolve) => {
      server.on('connection', (t: Transport) => {
        t.on('message', (f: Buffer) => received.push(f.toString('latin1')));
        t.once('close', () => resolve());
      });
    });
    const client = await netClient(file);
    client.end('a\r\r\n\rb\n');
    await closed;
    expect(received).toEqual(['a\r', '\rb']);
  });

  it('our client sends lines a net server reads verbatim, and reads the server\'s lines', async () => {
    let serverBytes!: Promise<Buffer>;
    const { file } = await netServer((s) => {
      serverBytes = collect(s);
      void serverBytes.then(() => s.end('x\r\ny\n\n\r\nz'));
    });
    const t = await connect(`unix:${file}`, { framing: 'lines' });
    onCleanup(() => t.destroy());
    const messages: string[] = [];
    t.on('message', (f: Buffer) => messages.push(f.toString()));
    t.send('alpha');
    t.send('βeta {"json":true}');
    await t.close();
    expect((await serverBytes).toString()).toBe('alpha\nβeta {"json":true}\n');
    // "\r\n" alone is a blank line once its \r is stripped, so it is skipped too.
    expect(messages).toEqual(['x', 'y', 'z']);
  });
});
