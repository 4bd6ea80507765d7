// The socket file a unix: server owns: its mode, what listen() does with whatever is already at the
// path (a stale socket, a live one, a plain file), and that close() removes only the file it created.
import { describe, it, expect, afterEach } from 'vitest';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { once } from 'node:events';
import { connect, listen, TransportError, MAX_UNIX_PATH, type Server, type Transport } from '../dist/index.js';
import { cleanupAll, dirPerTest, listenAt, onCleanup } from './helpers/common';
import { abstractName, makeStaleSocket } from './helpers/interop-util';
import { DARWIN, LINUX } from './helpers/platform';

afterEach(cleanupAll);

const tmp = dirPerTest('sipc-sockfile-');

async function serve(endpoint: string, opts: Parameters<typeof listen>[1] = {}): Promise<Server> {
  const server = await listenAt(endpoint, opts);
  server.on('connection', (t: Transport) => t.on('message', (f: Buffer) => t.send(f)));
  return server;
}

async function rejection(p: Promise<Server>): Promise<TransportError> {
  try {
    const s = await p;
    await s.close();
  } catch (e) {
    return e as TransportError;
  }
  throw new Error('listen() resolved; expected it to reject');
}

/** Connects, sends one frame, and returns what comes back (the servers here echo). */
async function roundTrip(endpoint: string, text: string): Promise<string> {
  const t = await connect(endpoint);
  try {
    t.send(text);
    const [frame] = (await once(t, 'message')) as [Buffer];
    return frame.toString();
  } finally {
    await t.close();
  }
}

/** Entries of the socket's directory other than the socket itself: the private bind directory must be gone. */
function leftovers(d: string, except: string[]): string[] {
  return fs.readdirSync(d).filter((n) => !except.includes(n));
}

describe('file mode', () => {
  it('is 0o600 by default, and the file is a socket', async () => {
    const file = path.join(tmp(), 'default.sock');
    await serve(`unix:${file}`);
    const st = fs.lstatSync(file);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(leftovers(tmp(), ['default.sock'])).toEqual([]);
  });

  it.each([0o660, 0o666, 0o700])('mode %o is applied exactly (no umask)', async (mode) => {
    const file = path.join(tmp(), `m${mode.toString(8)}.sock`);
    const server = await serve(`unix:${file}`, { mode });
    expect(fs.statSync(file).mode & 0o777).toBe(mode);
    expect(await roundTrip(server.endpoint, 'works')).toBe('works');
  });
});

describe('what is already at the path', () => {
  it('a stale socket file (nobody listening) is replaced and the server works', async () => {
    const file = path.join(tmp(), 'stale.sock');
    await makeStaleSocket(file);
    fs.chmodSync(file, 0o755);
    const server = await serve(`unix:${file}`);
    const st = fs.lstatSync(file);
    expect(st.isSocket()).toBe(true);
    // The file is a new one (its inode number may be the old one's, reused at once): ours, with our mode,
    // and it answers, which the stale socket could not.
    expect(st.mode & 0o777).toBe(0o600);
    expect(await roundTrip(`unix:${file}`, 'after stale')).toBe('after stale');
    expect(server.listening).toBe(true);
  });

  it('a live server of ours gives EADDRINUSE, and the first server keeps working', async () => {
    const file = path.join(tmp(), 'live.sock');
    const first = await serve(`unix:${file}`);
    const ino = fs.lstatSync(file).ino;
    const err = await rejection(listen(`unix:${file}`));
    expect(err).toBeInstanceOf(TransportError);
    expect(err.code).toBe('EADDRINUSE');
    expect(err.syscall).toBe('listen');
    expect(err.address).toBe(file);
    expect(err.message.startsWith(`listen EADDRINUSE ${file}`)).toBe(true);
    expect(fs.lstatSync(file).ino).toBe(ino);
    expect(await roundTrip(`unix:${file}`, 'still first')).toBe('still first');
    expect(first.listening).toBe(true);
    expect(leftovers(tmp(), ['live.sock'])).toEqual([]);
  });

  it('a live node:net server gives EADDRINUSE, and the net server keeps working', async () => {
    const file = path.join(tmp(), 'net.sock');
    const received: string[] = [];
    const netServer = net.createServer((s) => {
      s.on('data', (d) => received.push(d.toString()));
      // listen() probes the path with a connection it closes at once; writing to that one fails.
      s.on('error', () => {});
      s.end('hi from net');
    });
    netServer.listen(file);
    await once(netServer, 'listening');
    onCleanup(() => new Promise<void>((r) => netServer.close(() => r())));

    const err = await rejection(listen(`unix:${file}`));
    expect(err.code).toBe('EADDRINUSE');
    expect(err.address).toBe(file);

    const s = net.connect(file);
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.end('ping');
    await once(s, 'close');
    expect(Buffer.concat(chunks).toString()).toBe('hi from net');
    // The probe listen() made to find the server alive must not have sent it anything.
    expect(received.join('')).toBe('ping');
  });

  it('a regular file is left untouched and gives ERR_IPC_NOT_A_SOCKET', async () => {
    const file = path.join(tmp(), 'data.txt');
    fs.writeFileSync(file, 'precious data\n', { mode: 0o644 });
    const before = fs.lstatSync(file);
    const err = await rejection(listen(`unix:${file}`));
    expect(err).toBeInstanceOf(TransportError);
    expect(err.code).toBe('ERR_IPC_NOT_A_SOCKET');
    expect(err.syscall).toBe('listen');
    expect(err.address).toBe(file);
    expect(err.message).toContain(file);
    const after = fs.lstatSync(file);
    expect(fs.readFileSync(file, 'utf8')).toBe('precious data\n');
    expect(after.ino).toBe(before.ino);
    expect(after.mode).toBe(before.mode);
    expect(leftovers(tmp(), ['data.txt'])).toEqual([]);
  });

  it('a directory is left untouched and gives ERR_IPC_NOT_A_SOCKET', async () => {
    const sub = path.join(tmp(), 'adir');
    fs.mkdirSync(sub);
    fs.writeFileSync(path.join(sub, 'inside'), 'x');
    const err = await rejection(listen(`unix:${sub}`));
    expect(err.code).toBe('ERR_IPC_NOT_A_SOCKET');
    expect(fs.readdirSync(sub)).toEqual(['inside']);
  });

  it('a symlink to a live socket is not followed or replaced: ERR_IPC_NOT_A_SOCKET', async () => {
    const real = path.join(tmp(), 'real.sock');
    const link = path.join(tmp(), 'link.sock');
    await serve(`unix:${real}`);
    fs.symlinkSync(real, link);
    const err = await rejection(listen(`unix:${link}`));
    expect(err.code).toBe('ERR_IPC_NOT_A_SOCKET');
    expect(fs.readlinkSync(link)).toBe(real);
    expect(await roundTrip(`unix:${real}`, 'real')).toBe('real');
  });

  // The abstract namespace exists only on Linux.
  it.runIf(LINUX)('an abstract name already bound gives EADDRINUSE and the first server keeps working', async () => {
    const name = abstractName('dup');
    await serve(`unix:@${name}`);
    const err = await rejection(listen(`unix:@${name}`));
    expect(err.code).toBe('EADDRINUSE');
    expect(err.address).toBe(`unix:@${name}`);
    expect(await roundTrip(`unix:@${name}`, 'abstract')).toBe('abstract');
  });

  // macOS has no abstract namespace: listen() refuses unix:@name at the call, binding nothing.
  it.runIf(DARWIN)('macOS: listen() on an abstract name throws a TypeError with code ERR_INVALID_ARG_VALUE', () => {
    let err: (Error & { code?: string }) | undefined;
    try {
      void listen(`unix:@${abstractName('darwin')}`).then((s) => s.close());
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err).toBeInstanceOf(TypeError);
    expect(err!.code).toBe('ERR_INVALID_ARG_VALUE');
  });
});

describe('close()', () => {
  it('removes the socket file; a later connect gets ENOENT', async () => {
    const file = path.join(tmp(), 'gone.sock');
    const server = await listen(`unix:${file}`);
    expect(server.endpoint).toBe(file);
    expect(fs.existsSync(file)).toBe(true);
    let closes = 0;
    server.on('close', () => closes++);
    await server.close();
    expect(fs.existsSync(file)).toBe(false);
    expect(server.listening).toBe(false);
    expect(closes).toBe(1);
    await server.close();
    expect(closes).toBe(1);
    await expect(connect(`unix:${file}`)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(fs.readdirSync(tmp())).toEqual([]);
  });

  it("leaves alone a socket that replaced ours before close()", async () => {
    const file = path.join(tmp(), 'swap.sock');
    const first = await listen(`unix:${file}`);
    fs.unlinkSync(file);
    const second = await serve(`unix:${file}`);
    const secondIno = fs.lstatSync(file).ino;
    await first.close();
    const st = fs.lstatSync(file);
    expect(st.isSocket()).toBe(true);
    expect(st.ino).toBe(secondIno);
    expect(await roundTrip(`unix:${file}`, 'second')).toBe('second');
    expect(second.listening).toBe(true);
  });

  it("leaves alone a node:net server's socket that replaced ours", async () => {
    const file = path.join(tmp(), 'swapnet.sock');
    const first = await listen(`unix:${file}`);
    fs.unlinkSync(file);
    const netServer = net.createServer((s) => s.end('net'));
    netServer.listen(file);
    await once(netServer, 'listening');
    onCleanup(() => new Promise<void>((r) => netServer.close(() => r())));
    await first.close();
    expect(fs.lstatSync(file).isSocket()).toBe(true);
    const s = net.connect(file);
    const [data] = (await once(s, 'data')) as [Buffer];
    expect(data.toString()).toBe('net');
    s.destroy();
  });

  it('leaves alone a regular file that replaced ours', async () => {
    const file = path.join(tmp(), 'swapfile.sock');
    const first = await listen(`unix:${file}`);
    fs.unlinkSync(file);
    fs.writeFileSync(file, 'mine now');
    await first.close();
    expect(fs.readFileSync(file, 'utf8')).toBe('mine now');
  });
});

describe('path length', () => {
  // The limit is computed (MAX_UNIX_PATH: 107 on Linux, 103 on macOS), so this runs on both.
  it(`listen() on a ${MAX_UNIX_PATH + 1}-byte path rejects with ERR_IPC_PATH_TOO_LONG and creates nothing`, async () => {
    const base = tmp() + '/';
    const file = base + 'L'.repeat(MAX_UNIX_PATH + 1 - Buffer.byteLength(base));
    expect(Buffer.byteLength(file)).toBe(MAX_UNIX_PATH + 1);
    const err = await rejection(listen(`unix:${file}`));
    expect(err).toBeInstanceOf(TransportError);
    expect(err.code).toBe('ERR_IPC_PATH_TOO_LONG');
    expect(err.address).toBe(file);
    expect(err.message).toContain(String(MAX_UNIX_PATH));
    expect(fs.readdirSync(tmp())).toEqual([]);
  });

  it(`listen() takes a path of exactly ${MAX_UNIX_PATH} bytes (MAX_UNIX_PATH) and serves on it`, async () => {
    const base = tmp() + '/';
    const file = base + 'M'.repeat(MAX_UNIX_PATH - Buffer.byteLength(base));
    expect(Buffer.byteLength(file)).toBe(MAX_UNIX_PATH);
    // The private bind directory beside it ("<dir>/.sipc-XXXXXX/s") fits too: this is not the deep case below.
    expect(Buffer.byteLength(path.join(tmp(), '.sipc-XXXXXX', 's'))).toBeLessThanOrEqual(MAX_UNIX_PATH);
    const server = await serve(`unix:${file}`);
    expect(server.endpoint).toBe(file);
    expect(fs.lstatSync(file).isSocket()).toBe(true);
    expect(await roundTrip(`unix:${file}`, 'longest')).toBe('longest');
    expect(leftovers(tmp(), [path.basename(file)])).toEqual([]);
  });

  // Binding through /proc/self/fd/<dirfd> (the product's way around a too-long private directory) is Linux only.
  it.runIf(LINUX)('a 107-byte path in a directory too long for the private bind directory still works', async () => {
    // The server binds in a private directory beside the target ("<dir>/.sipc-XXXXXX/s") and links the
    // socket into place; here that inner path is over the limit although the target is not.
    const root = tmp();
    // root + '/' + deepName + '/s.s' is exactly MAX_UNIX_PATH bytes.
    const deepName = 'd'.repeat(MAX_UNIX_PATH - Buffer.byteLength(root) - 1 - 4);
    const deep = path.join(root, deepName);
    fs.mkdirSync(deep);
    const file = path.join(deep, 's.s');
    expect(Buffer.byteLength(file)).toBe(107);
    expect(Buffer.byteLength(path.join(deep, '.sipc-XXXXXX', 's'))).toBeGreaterThan(MAX_UNIX_PATH);

    const server = await serve(`unix:${file}`, { mode: 0o640 });
    expect(server.endpoint).toBe(file);
    const st = fs.lstatSync(file);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o640);
    expect(fs.readdirSync(deep)).toEqual(['s.s']);
    expect(await roundTrip(`unix:${file}`, 'deep')).toBe('deep');
    await server.close();
    expect(fs.existsSync(file)).toBe(false);
  });
});
