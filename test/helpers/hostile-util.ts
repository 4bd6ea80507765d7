// Plumbing for the hostile-peer, access-control and connect-flood tests, on top of ./common: a server
// that keeps every accepted connection in order, Python peers (test/helpers/hostile-peer.py) and child
// processes run as another user.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type ListenOptions, type Server, type Transport, type TransportOptions } from '../../dist/index.js';
import { LineChild, listenAt, onCleanup, record, tempDir, waitFor, type Recorder } from './common';

export const HELPERS = path.dirname(fileURLToPath(import.meta.url));
export const PY_PEER = path.join(HELPERS, 'hostile-peer.py');
export const NODE_CLIENT = path.join(HELPERS, 'hostile-client.js');
export const PY_CLIENT = path.join(HELPERS, 'hostile-client.py');
/** The framing hostile-client.js requires from beside it. */
export const WIRE = path.join(HELPERS, 'wire.cjs');
export const DIST_INDEX = path.resolve(HELPERS, '..', '..', 'dist', 'index.js');

/**
 * A copy of the built package that another user can load wherever the repository lives (a checkout
 * under /root is not searchable by others): dist/, package.json, the addon this process uses, and
 * node-gyp-build, in a world-readable temp directory. Returns the path of its dist/index.js.
 */
export function packageCopyForOtherUsers(): string {
  const root = path.resolve(HELPERS, '..', '..');
  const dir = tempDir('sipc-pkg-', 0o755);
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
  /** Set when a test made the server echo every frame itself: checkServes must not echo again. */
  echoes?: boolean;
}

/**
 * `where`: 'unix' (a socket file in a fresh directory of mode `dirMode`), 'tcp' (127.0.0.1, a free
 * port) or an explicit endpoint such as `unix:@name`.
 */
export async function startServer(opts: ListenOptions = {}, where: 'unix' | 'tcp' | `unix:${string}` = 'unix', dirMode = 0o700): Promise<TestServer> {
  const dir = tempDir('sipc-hostile-', dirMode);
  const p = where === 'unix' ? path.join(dir, 's.sock') : '';
  const server = await listenAt(where === 'unix' ? `unix:${p}` : where === 'tcp' ? 'tcp:127.0.0.1:0' : where, opts);
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
  if (!ts.echoes) for (const m of srec.messages) srec.t.send(m);
  await crec.waitMessages(count);
  if (srec.messages.map(String).join('|') !== frames.join('|')) throw new Error(`server got ${srec.messages.map(String).join('|')}`);
  if (crec.messages.map(String).join('|') !== frames.join('|')) throw new Error(`client got ${crec.messages.map(String).join('|')}`);
  if (crec.errors.length + srec.errors.length !== 0) throw new Error(`errors on the well-behaved connection: ${[...crec.errors, ...srec.errors].join('; ')}`);
  await client.close();
  await srec.waitClosed();
  if (srec.errors.length !== 0 || crec.errors.length !== 0) throw new Error(`errors while closing: ${[...crec.errors, ...srec.errors].join('; ')}`);
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
