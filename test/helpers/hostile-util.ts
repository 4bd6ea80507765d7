// Plumbing for the hostile-peer, access-control and connect-flood tests: temp directories, a recorder
// of a transport's events, a server that keeps every accepted connection in order, raw `node:net`
// peers, Python peers (test/helpers/hostile-peer.py) and child processes run as another user.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, listen, type ListenOptions, type Server, type Transport, type TransportOptions } from '../../dist/index.js';
import { FD_DIR } from './platform';

export const HELPERS = path.dirname(fileURLToPath(import.meta.url));
export const PY_PEER = path.join(HELPERS, 'hostile-peer.py');
export const NODE_CLIENT = path.join(HELPERS, 'hostile-client.js');
export const PY_CLIENT = path.join(HELPERS, 'hostile-client.py');
export const DIST_INDEX = path.resolve(HELPERS, '..', '..', 'dist', 'index.js');

/** Safety net for waits; no test asserts on how long anything took. */
export const WAIT_MS = 10_000;

const cleanups: Array<() => Promise<void> | void> = [];

export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

/** Runs the registered cleanups, latest first (call from afterEach). */
export async function cleanupAll(): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!;
    try {
      await fn();
    } catch {
      // One failing cleanup must not hide the others.
    }
  }
}

/** A fresh temp directory with `mode`, removed at cleanup. */
export function tempDir(mode = 0o700, prefix = 'sipc-hostile-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, mode);
  onCleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A copy of the built package that another user can load wherever the repository lives (a checkout
 * under /root is not searchable by others): dist/, package.json, the addon this process uses, and
 * node-gyp-build, in a world-readable temp directory. Returns the path of its dist/index.js.
 */
export function packageCopyForOtherUsers(): string {
  const root = path.resolve(HELPERS, '..', '..');
  const dir = tempDir(0o755, 'sipc-pkg-');
  fs.cpSync(path.join(root, 'dist'), path.join(dir, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
  fs.cpSync(path.join(root, 'node_modules', 'node-gyp-build'), path.join(dir, 'node_modules', 'node-gyp-build'), { recursive: true });
  // The addon in use: a sanitizer build named by SYMPHONY_IPC_ADDON, else the local build.
  const addon = process.env.SYMPHONY_IPC_ADDON ?? path.join(root, 'build', 'Release', 'symphony_ipc.node');
  fs.mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
  fs.copyFileSync(addon, path.join(dir, 'build', 'Release', 'symphony_ipc.node'));
  for (const d of ['dist', 'node_modules', 'build']) {
    for (const e of fs.readdirSync(path.join(dir, d), { recursive: true, withFileTypes: true })) {
      fs.chmodSync(path.join(e.parentPath, e.name), e.isDirectory() ? 0o755 : 0o644);
    }
    fs.chmodSync(path.join(dir, d), 0o755);
  }
  fs.chmodSync(path.join(dir, 'build', 'Release', 'symphony_ipc.node'), 0o755);
  return path.join(dir, 'dist', 'index.js');
}

/**
 * The environment for a process run as another user: without SYMPHONY_IPC_ADDON, which names an addon
 * build inside the repository (npm run test:asan) that the other user may not be able to read; the
 * package copy from packageCopyForOtherUsers() carries the same addon.
 */
export function envForOtherUsers(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.SYMPHONY_IPC_ADDON;
  return env;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Polls `cond` until it holds; throws after WAIT_MS, or at once when `hopeless()` gives a reason. */
export async function waitFor(cond: () => boolean, what: string, hopeless: () => string | null = () => null, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    const why = hopeless();
    if (why !== null) throw new Error(`gave up waiting for ${what}: ${why}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

export const code = (e: unknown): string | undefined => (e as { code?: string } | undefined)?.code;

export interface Recorder {
  t: Transport;
  messages: Buffer[];
  errors: Error[];
  closes: number;
  /** 'message', 'error', 'close' in the order they happened. */
  log: string[];
  waitMessages(n: number): Promise<void>;
  waitClosed(): Promise<void>;
}

export function record(t: Transport): Recorder {
  const rec: Recorder = {
    t,
    messages: [],
    errors: [],
    closes: 0,
    log: [],
    waitMessages: (n) =>
      waitFor(
        () => rec.messages.length >= n,
        `${n} messages (have ${rec.messages.length})`,
        () => (rec.closes > 0 ? `closed after ${rec.messages.length} messages${rec.errors[0] ? ` with ${String(rec.errors[0])}` : ''}` : null),
      ),
    waitClosed: async () => {
      await waitFor(() => rec.closes > 0, 'close');
      // Room for a second 'error' or 'close' to show up, if the product emitted one.
      await sleep(20);
    },
  };
  t.on('message', (m: Buffer) => {
    rec.messages.push(m);
    rec.log.push('message');
  });
  t.on('error', (e: Error) => {
    rec.errors.push(e);
    rec.log.push('error');
  });
  t.on('close', () => {
    rec.closes++;
    rec.log.push('close');
  });
  return rec;
}

/** A server of ours that records every connection it accepts, in order, from the first byte on. */
export interface TestServer {
  server: Server;
  endpoint: string;
  /** The socket file ('' for TCP). */
  path: string;
  dir: string;
  accepted: Recorder[];
  refused: unknown[];
  /** Resolves with the recorder of the n-th accepted connection (0-based). */
  nth(n: number): Promise<Recorder>;
}

/**
 * `where`: 'unix' (a socket file in a fresh directory of mode `dirMode`), 'tcp' (127.0.0.1, a free
 * port) or an explicit endpoint such as `unix:@name`.
 */
export async function startServer(opts: ListenOptions = {}, where: 'unix' | 'tcp' | `unix:${string}` = 'unix', dirMode = 0o700): Promise<TestServer> {
  const dir = tempDir(dirMode);
  const p = where === 'unix' ? path.join(dir, 's.sock') : '';
  const server = await listen(where === 'unix' ? `unix:${p}` : where === 'tcp' ? 'tcp:127.0.0.1:0' : where, opts);
  onCleanup(() => server.close());
  const accepted: Recorder[] = [];
  const refused: unknown[] = [];
  server.on('connection', (t: Transport) => {
    accepted.push(record(t));
    onCleanup(() => t.destroy());
  });
  server.on('refused', (peer: unknown) => refused.push(peer));
  return {
    server,
    // For an explicit endpoint, the one the test gave (server.endpoint spells an abstract name '@name').
    endpoint: where === 'unix' || where === 'tcp' ? server.endpoint : where,
    path: p,
    dir,
    accepted,
    refused,
    nth: async (n) => {
      await waitFor(() => accepted.length > n, `connection #${n + 1} to be accepted`);
      return accepted[n]!;
    },
  };
}

/**
 * Proves `ts` still serves: a fresh client of ours (same transport options) sends `count` frames, the
 * server side of that connection receives exactly them and sends them back, and the client receives
 * exactly them. Returns after closing the client.
 */
export async function checkServes(ts: TestServer, opts: TransportOptions = {}, count = 5): Promise<void> {
  const index = ts.accepted.length;
  const client = await connect(ts.endpoint, opts);
  onCleanup(() => client.destroy());
  const crec = record(client);
  const srec = await ts.nth(index);
  const frames = Array.from({ length: count }, (_, i) => `well-behaved ${i}`);
  for (const f of frames) client.send(f);
  await srec.waitMessages(count);
  for (const m of srec.messages) srec.t.send(m);
  await crec.waitMessages(count);
  if (srec.messages.map(String).join('|') !== frames.join('|')) throw new Error(`server got ${srec.messages.map(String).join('|')}`);
  if (crec.messages.map(String).join('|') !== frames.join('|')) throw new Error(`client got ${crec.messages.map(String).join('|')}`);
  if (crec.errors.length + srec.errors.length !== 0) throw new Error(`errors on the well-behaved connection: ${[...crec.errors, ...srec.errors].join('; ')}`);
  await client.close();
  await srec.waitClosed();
  if (srec.errors.length !== 0 || crec.errors.length !== 0) throw new Error(`errors while closing: ${[...crec.errors, ...srec.errors].join('; ')}`);
}

/** What a raw `node:net` peer saw. */
export interface RawPeer {
  sock: net.Socket;
  data: Buffer[];
  bytes(): Buffer;
  ended: boolean;
  closed: boolean;
  errors: Error[];
}

export function watch(sock: net.Socket): RawPeer {
  const st: RawPeer = { sock, data: [], bytes: () => Buffer.concat(st.data), ended: false, closed: false, errors: [] };
  sock.on('data', (d: Buffer) => st.data.push(d));
  sock.on('end', () => (st.ended = true));
  sock.on('close', () => (st.closed = true));
  sock.on('error', (e) => st.errors.push(e));
  onCleanup(() => {
    sock.destroy();
  });
  return st;
}

/** A raw `node:net` client connected to `target` (a path, or `{ host, port }`). */
export async function rawConnect(target: string | { host: string; port: number }, pauseOnConnect = false): Promise<RawPeer> {
  const sock = typeof target === 'string' ? net.connect(target) : net.connect(target.port, target.host);
  if (pauseOnConnect) sock.pause();
  const peer = watch(sock);
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  return peer;
}

/** A 4-byte big-endian length prefix and the payload. */
export function lp(payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length, 0);
  return Buffer.concat([h, body]);
}

/** A child process whose stdout is read line by line; killed at cleanup. */
export class LineChild {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: opts.cwd, env: opts.env ?? process.env });
    let partial = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      partial += chunk;
      let i: number;
      while ((i = partial.indexOf('\n')) !== -1) {
        this.lines.push(partial.slice(0, i));
        partial = partial.slice(i + 1);
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.child.stdin!.on('error', () => {});
    this.exited = new Promise((resolve) => {
      this.child.once('close', (c, signal) => {
        this.exit = { code: c, signal };
        resolve({ code: c, signal });
      });
    });
    onCleanup(async () => {
      if (this.exit === null) {
        this.child.kill('SIGKILL');
        await this.exited;
      }
    });
  }

  /** Waits for a line starting with `prefix` and returns it. */
  async line(prefix: string): Promise<string> {
    await waitFor(
      () => this.lines.some((l) => l.startsWith(prefix)),
      `'${prefix}' from ${this.child.spawnfile}`,
      () => (this.exit !== null ? `exited ${JSON.stringify(this.exit)}; stdout ${JSON.stringify(this.lines)}; stderr ${this.stderr}` : null),
    );
    return this.lines.find((l) => l.startsWith(prefix))!;
  }

  send(line: string): void {
    this.child.stdin!.write(line + '\n');
  }

  async done(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      this.exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`child did not exit; stdout ${JSON.stringify(this.lines)}; stderr ${this.stderr}`)), WAIT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
  }
}

/** Runs the Python peer (hostile-peer.py) in `mode`. */
export function pyPeer(mode: string, ...args: string[]): LineChild {
  return new LineChild('python3', [PY_PEER, mode, ...args]);
}

export const NOBODY_UID = 65534;

/**
 * The command prefix that runs a program as nobody/nogroup with no supplementary groups. Throws (never
 * skips) when the machine lacks setpriv and runuser: these tests are the only check of file modes.
 */
export function asNobody(): string[] {
  for (const [tool, args] of [
    ['setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups']],
    ['runuser', ['-u', 'nobody', '--']],
  ] as const) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    if (found.status === 0 && found.stdout.trim() !== '') return [found.stdout.trim(), ...args];
  }
  throw new Error('access-control tests need setpriv or runuser (util-linux) to run a peer as another user; neither was found');
}

/** Count of this process's open descriptors. */
export function fdCount(): number {
  return fs.readdirSync(FD_DIR).length;
}
